"""Run benchmark code the way Lambda runs the functions: the real package, a bare interpreter.

The function package is built by ``scripts/package.py`` (``build_package`` for this machine's
architecture) and unpacked under ``build/bench/``. Code runs in a fresh ``python -I -S -B`` with
only the unpacked package (and the standard library) on ``sys.path``: no project venv, none of
LocalStack's dependencies (pyOpenSSL, cryptography) that botocore would pick up if present, no
bytecode written next to the code (Lambda's ``/var/task`` is read-only).

Two copies are kept: ``plain`` is exactly the zip (it ships no ``.pyc``, so every cold start
compiles every module it imports) and ``compiled`` adds ``__pycache__`` written with
``compileall --invalidation-mode unchecked-hash`` (reproducible: no timestamps), which is what the
package would hold if ``build_package`` precompiled it.
"""

from __future__ import annotations

import platform
import subprocess
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
    plain = root / "plain"
    if not (plain / ".complete").is_file():
        plain.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(package) as archive:
            archive.extractall(plain)
        (plain / ".complete").write_text("", encoding="utf-8")
    if not compiled:
        return LambdaEnv(_interpreter(), plain, package)
    precompiled = root / "compiled"
    if not (precompiled / ".complete").is_file():
        precompiled.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(package) as archive:
            archive.extractall(precompiled)
        subprocess.run(
            [_interpreter(), "-I", "-S", "-m", "compileall", "-q", "-j", "0",
             "--invalidation-mode", "unchecked-hash", str(precompiled)],
            check=True,
        )  # fmt: skip
        (precompiled / ".complete").write_text("", encoding="utf-8")
    return LambdaEnv(_interpreter(), precompiled, package)
