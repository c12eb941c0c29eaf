"""Run every benchmark: each ``tests/benchmarks/bench_*.py`` module's ``main()``, in name order.

Each prints lines ``bench <name>: <value> <unit> (<ratio> x <baseline>)``. Benchmarks assert
nothing; they report.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    failures = 0
    for module_path in sorted(here.glob("bench_*.py")):
        module = importlib.import_module(f"tests.benchmarks.{module_path.stem}")
        try:
            module.main()
        except Exception as error:
            print(f"bench {module_path.stem}: FAILED ({type(error).__name__}: {error})")
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
