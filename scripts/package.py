"""The Lambda package: `build_package(arch) -> Path`, one reproducible zip for all four functions.

Contents: `pipeline/`, `transforms/` and the locked `lambda` dependency group, installed as wheels
for Python 3.13 on the target architecture, plus the bytecode of every module
(`__pycache__/*.cpython-313.pyc`, `unchecked-hash` mode: no timestamps, never re-validated; Lambda's
code folder is read-only, so without them every cold start compiles every module it imports).
Entries are sorted, timestamps and permissions fixed, so the same inputs give the same bytes; the
file is named by its SHA-256. Builds are cached by a
hash of their inputs (dependency pins, architecture, source files), so a deploy without code
changes reuses the zip and the artifacts bucket already holds it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from pipeline.errors import AggregatorError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SOURCE_PACKAGES = ("pipeline", "transforms")
CACHE_DIR = PROJECT_ROOT / "build" / "lambda"
PYTHON_VERSION = "3.13"
PLATFORMS = {"arm64": "aarch64-manylinux2014", "x86_64": "x86_64-manylinux2014"}
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644
EXCLUDED_PARTS = frozenset({"__pycache__"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
#: Bytecode is only valid for the interpreter version of the runtime.
BYTECODE_TAG = "cpython-313"


class PackageError(AggregatorError, RuntimeError):
    """The package could not be built (dependency resolution or installation failed)."""


def _uv() -> str:
    bundled = PROJECT_ROOT / ".tools" / "bin" / "uv"
    found = str(bundled) if bundled.is_file() else shutil.which("uv")
    if not found:
        raise PackageError("uv not found: run `make setup` (it installs .tools/bin/uv)")
    return found


def _run(command: list[str]) -> str:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    result = subprocess.run(
        command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False, env=env
    )
    if result.returncode != 0:
        raise PackageError(
            f"`{' '.join(command)}` failed (exit {result.returncode}):\n{result.stderr.strip()}"
        )
    return result.stdout


def lambda_requirements() -> str:
    """The pinned `lambda` dependency group, from uv.lock (no hashes, no project)."""
    return _run(
        [
            _uv(), "export", "--frozen", "--only-group", "lambda", "--no-hashes",
            "--no-emit-project", "--no-header", "--no-annotate",
        ]
    )  # fmt: skip


def _included(path: Path) -> bool:
    return not (EXCLUDED_PARTS & set(path.parts)) and not path.name.endswith(EXCLUDED_SUFFIXES)


def _files(root: Path) -> Iterator[tuple[str, Path]]:
    """(archive name, file) pairs under ``root``, archive names relative to ``root``."""
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if path.is_file() and _included(relative):
            yield relative.as_posix(), path


def source_files(project_root: Path = PROJECT_ROOT) -> list[tuple[str, Path]]:
    files: list[tuple[str, Path]] = []
    for package in SOURCE_PACKAGES:
        files.extend((f"{package}/{name}", path) for name, path in _files(project_root / package))
    return sorted(files)


def _digest(parts: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def install_dependencies(arch: str, requirements: str, cache_dir: Path) -> Path:
    """Install the pinned wheels for ``arch`` once per requirements hash; returns the folder."""
    platform = PLATFORMS[arch]
    target = cache_dir / f"deps-{arch}-{_digest([requirements.encode()])[:16]}"
    if target.is_dir():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix="deps-tmp-") as tmp:
        requirements_file = Path(tmp) / "requirements.txt"
        requirements_file.write_text(requirements, encoding="utf-8")
        staging = Path(tmp) / "site"
        _run(
            [
                _uv(), "pip", "install", "--quiet", "--no-deps", "--no-config",
                "--target", str(staging), "--python-platform", platform,
                "--python-version", PYTHON_VERSION, "--only-binary", ":all:",
                "--requirement", str(requirements_file),
            ]
        )  # fmt: skip
        staging.rename(target)
    return target


def _bytecode_name(name: str) -> str:
    folder, _, leaf = name.rpartition("/")
    pyc = f"__pycache__/{leaf[: -len('.py')]}.{BYTECODE_TAG}.pyc"
    return f"{folder}/{pyc}" if folder else pyc


def bytecode(entries: list[tuple[str, Path]], cache_dir: Path) -> list[tuple[str, Path]]:
    """(archive name, .pyc file) for every module in ``entries``, compiled once and cached.

    `unchecked-hash` bytecode holds no timestamp or path of this machine (the file name recorded
    is the archive name; the interpreter replaces it with the real path on import), so equal
    sources give equal bytes. Modules that do not compile on 3.13 (e.g. templates) get none.
    """
    if sys.implementation.cache_tag != BYTECODE_TAG:
        raise PackageError(
            f"the package needs {BYTECODE_TAG} bytecode but this is "
            f"{sys.implementation.cache_tag}: run the build with the project's Python 3.13 "
            "(`uv run`)"
        )
    store = cache_dir / "bytecode"
    store.mkdir(parents=True, exist_ok=True)
    compiled: list[tuple[str, Path]] = []
    for name, path in entries:
        if not name.endswith(".py"):
            continue
        key = _digest([importlib.util.MAGIC_NUMBER, name.encode(), path.read_bytes()])[:32]
        target, failed = store / f"{key}.pyc", store / f"{key}.none"
        if not target.is_file() and not failed.is_file():
            staging = store / f"{key}.{os.getpid()}.tmp"
            try:
                py_compile.compile(
                    str(path),
                    cfile=str(staging),
                    dfile=name,
                    doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                )
            except py_compile.PyCompileError:
                failed.touch()
                continue
            staging.replace(target)
        if target.is_file():
            compiled.append((_bytecode_name(name), target))
    return compiled


def write_zip(entries: list[tuple[str, Path]], destination: Path) -> None:
    """A reproducible zip: sorted entries, fixed time and mode, fixed compression level."""
    with zipfile.ZipFile(destination, "w") as archive:
        for name, path in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so external_attr carries the mode
            info.external_attr = FILE_MODE << 16
            archive.writestr(info, path.read_bytes(), compresslevel=9)


def build_package(
    arch: str, *, project_root: Path = PROJECT_ROOT, cache_dir: Path = CACHE_DIR
) -> Path:
    """Build (or reuse) the function package for ``arch`` ("arm64" or "x86_64")."""
    if arch not in PLATFORMS:
        raise PackageError(
            f"architecture {arch!r} is not supported: use one of {sorted(PLATFORMS)}"
        )
    requirements = lambda_requirements()
    sources = source_files(project_root)
    key = _digest(
        [arch.encode(), requirements.encode(), BYTECODE_TAG.encode()]
        + [part for name, path in sources for part in (name.encode(), path.read_bytes())]
    )
    index = cache_dir / f"index-{key[:32]}"
    if index.is_file():
        cached = cache_dir / index.read_text(encoding="utf-8").strip()
        if cached.is_file():
            return cached
    deps = install_dependencies(arch, requirements, cache_dir)
    entries = sources + [(name, path) for name, path in _files(deps)]
    if len({name for name, _ in entries}) != len(entries):
        raise PackageError("a dependency ships a top-level `pipeline` or `transforms` package")
    entries += bytecode(entries, cache_dir)
    with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".zip", delete=False) as tmp:
        temporary = Path(tmp.name)
    try:
        write_zip(entries, temporary)
        content = hashlib.sha256(temporary.read_bytes()).hexdigest()
        final = cache_dir / f"lambda-{arch}-{content[:16]}.zip"
        temporary.replace(final)
    finally:
        temporary.unlink(missing_ok=True)
    index.write_text(final.name + "\n", encoding="utf-8")
    return final
