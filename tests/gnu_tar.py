"""GNU tar, a declared prerequisite of the test suite (``make prerequisites``).

The bundle contract says a stock ``tar -xzf`` reads every bundle silently; the tests that prove it
must fail, never skip, on a machine without GNU tar — the check would otherwise vanish unseen.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

INSTALL_HINT = "install GNU tar (Debian: apt-get install tar; macOS: brew install gnu-tar)"


def gnu_tar() -> str:
    """The path of GNU tar; fails the calling test when there is none."""
    path = shutil.which("tar")
    if path is None:
        pytest.fail(f"tar is not installed: {INSTALL_HINT}")
    version = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    if "GNU tar" not in version.stdout:
        pytest.fail(f"{path} is not GNU tar ({version.stdout.splitlines()[:1]}): {INSTALL_HINT}")
    return path
