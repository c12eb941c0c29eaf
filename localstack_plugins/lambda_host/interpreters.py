"""Find the host interpreter that matches a Lambda runtime (``python3.13`` -> a Python 3.13)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

_PYTHON_RUNTIME = re.compile(r"^python(\d+)\.(\d+)$")


class UnsupportedRuntimeError(RuntimeError):
    """The function's runtime cannot be run by the host executor on this machine."""


def _version_of(executable: str) -> str | None:
    try:
        completed = subprocess.run(  # noqa: S603 - a fixed argv of a local interpreter
            [executable, "-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def _candidates(version: str) -> list[str]:
    found: list[str] = []
    override = os.environ.get(f"LAMBDA_HOST_PYTHON_{version.replace('.', '_')}")
    if override:
        found.append(override)
    base = getattr(sys, "_base_executable", sys.executable)
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        found.append(base)
    on_path = shutil.which(f"python{version}")
    if on_path:
        found.append(on_path)
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found.extend(
        str(p) for p in sorted(pyenv_root.glob(f"versions/{version}*/bin/python{version}"))
    )
    return found


@cache
def interpreter_for(runtime: str) -> str:
    """Path of a host Python for ``runtime``; :class:`UnsupportedRuntimeError` if none."""
    match = _PYTHON_RUNTIME.match(runtime or "")
    if not match:
        raise UnsupportedRuntimeError(
            f"The host Lambda executor runs Python runtimes only; got '{runtime}'. "
            "Use a python3.X runtime or run LocalStack with its Docker executor."
        )
    version = f"{match.group(1)}.{match.group(2)}"
    for candidate in _candidates(version):
        if _version_of(candidate) == version:
            return candidate
    raise UnsupportedRuntimeError(
        f"No Python {version} found for runtime '{runtime}'. Install it (e.g. `pyenv install "
        f"{version}`) or point LAMBDA_HOST_PYTHON_{version.replace('.', '_')} at its executable."
    )
