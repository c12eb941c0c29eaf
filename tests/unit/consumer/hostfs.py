"""Real file-system faults for the consumer's tests: tmpfs with size/inode limits, read-only mounts.

Mounting needs root (and a kernel that lets this process mount); :func:`can_mount` says whether
it works here. Where it does not, the tests that need it are skipped and the permission-based
equivalents (``chmod``, which root ignores) run instead.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


@functools.cache
def can_mount() -> bool:
    if os.geteuid() != 0:
        return False
    with tempfile.TemporaryDirectory() as scratch:
        try:
            _run("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", scratch)
        except (OSError, subprocess.CalledProcessError):
            return False
        _run("umount", scratch)
    return True


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=30)


@contextlib.contextmanager
def tmpfs(where: Path, size: str = "64m", nr_inodes: int | None = None) -> Iterator[Path]:
    """A tmpfs mounted at ``where`` (created) with the given limits; unmounted afterwards."""
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (f",nr_inodes={nr_inodes}" if nr_inodes else "")
    _run("mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where))
    try:
        yield where
    finally:
        _unmount(where)


def remount(where: Path, options: str) -> None:
    """Change the options of the mount at ``where`` (``size=…``, ``nr_inodes=…``, ``ro``)."""
    _run("mount", "-o", f"remount,{options}", str(where))


@contextlib.contextmanager
def read_only_bind(source: Path, where: Path) -> Iterator[Path]:
    """``source`` bind-mounted read-only at ``where`` (created); unmounted afterwards."""
    source.mkdir(parents=True, exist_ok=True)
    where.mkdir(parents=True, exist_ok=True)
    _run("mount", "--bind", str(source), str(where))
    try:
        _run("mount", "-o", "remount,bind,ro", str(where))
        yield where
    finally:
        _unmount(where)


def _unmount(where: Path) -> None:
    try:
        _run("umount", str(where))
    except subprocess.CalledProcessError:
        _run("umount", "-l", str(where))  # busy (a descriptor still open): detach it


def fill(folder: Path) -> None:
    """Fill the file system of ``folder`` to the last byte with one file."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for block in (1024 * 1024, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * block)
    finally:
        os.close(fd)
