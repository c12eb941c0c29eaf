"""Run benchmark code the way Lambda runs the functions: the real package, a bare interpreter.

The function package is built by ``scripts/package.py`` (``build_package`` for this machine's
architecture) and unpacked under ``build/bench/``. Code runs in a fresh ``python -I -S -B`` with
only the unpacked package (and the standard library) on ``sys.path``: no project venv, none of
LocalStack's dependencies (pyOpenSSL, cryptography) that botocore would pick up if present, no
bytecode written next to the code (Lambda's ``/var/task`` is read-only).

Two copies are kept: ``compiled`` is exactly the zip (which ships ``__pycache__`` bytecode,
``unchecked-hash``, see ``scripts/package.py``) and ``plain`` is the zip without its ``.pyc``
files: what every cold start would compile if the package shipped no bytecode.
"""

from __future__ import annotations

import platform
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from scripts.package import PROJECT_ROOT, build_package

BENCH_DIR = PROJECT_ROOT / "build" / "bench"
_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass(frozen=True, slots=True)
class LambdaEnv:
    """An unpacked function package and the bare interpreter that runs it."""

    interpreter: str
    code_dir: Path
    package: Path

    def command(self, *args: str) -> list[str]:
        """``python -I -S -B <args>``: isolated, no site-packages, no bytecode writes."""
        return [self.interpreter, "-I", "-S", "-B", *args]

    def code(self, source: str, *options: str) -> list[str]:
        """A command running ``source`` with the package first (and only) on ``sys.path``.

        ``options`` are interpreter options such as ``-X importtime``.
        """
        prelude = f"import sys; sys.path.insert(0, {str(self.code_dir)!r})\n"
        return self.command(*options, "-c", prelude + source)

    def script(self, path: Path, *args: str) -> list[str]:
        """A command running a standalone script; it gets the package directory as argv[1]."""
        return self.command(str(path), str(self.code_dir), *args)


def _interpreter() -> str:
    """The base interpreter of the project venv (Python 3.13, as the functions run on)."""
    return str(getattr(sys, "_base_executable", sys.executable))


def host_architecture() -> str:
    machine = platform.machine().lower()
    if machine not in _ARCHITECTURES:
        raise RuntimeError(f"no Lambda architecture for machine {machine!r}")
    return _ARCHITECTURES[machine]


def lambda_env(*, compiled: bool = True) -> LambdaEnv:
    """The function package for this machine, unpacked (cached by the package's content hash)."""
    package = build_package(host_architecture())
    root = BENCH_DIR / package.stem
    target = root / ("compiled" if compiled else "plain")
    if not (target / ".complete").is_file():
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(package) as archive:
            members = [name for name in archive.namelist() if compiled or not name.endswith(".pyc")]
            archive.extractall(target, members)
        (target / ".complete").write_text("", encoding="utf-8")
    return LambdaEnv(_interpreter(), target, package)
