"""One home for "not found": no module spells the S3 not-found codes itself."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.errors import ACCESS_DENIED_CODES, NOT_FOUND_CODES

ROOT = Path(__file__).resolve().parents[3]
#: a code literal inside a tuple/set/comparison, e.g. ``in ("404", "NoSuchKey")``
_SPELLED = re.compile(r"""[(\[{,=]\s*["'](NoSuchKey|NoSuchVersion|NotFound)["']""")


def test_not_found_codes_are_spelled_only_in_pipeline_errors() -> None:
    offenders = []
    for package in ("pipeline", "transforms", "scripts"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "pipeline" / "errors.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if _SPELLED.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == [], "import pipeline.errors.NOT_FOUND_CODES instead"


def test_not_found_and_access_denied_do_not_overlap() -> None:
    assert {"NoSuchKey", "NoSuchVersion", "404"} <= NOT_FOUND_CODES
    assert "AccessDenied" in ACCESS_DENIED_CODES
    assert not NOT_FOUND_CODES & ACCESS_DENIED_CODES
