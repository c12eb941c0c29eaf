"""The Lambda package is reproducible, complete and cached."""

from __future__ import annotations

import importlib.util
import shutil
import zipfile
from pathlib import Path

from scripts.package import FIXED_TIME, build_package


def test_package_is_reproducible_and_cached(tmp_path: Path) -> None:
    first = build_package("arm64", cache_dir=tmp_path / "a")
    again = build_package("arm64", cache_dir=tmp_path / "a")
    assert again == first  # served from the cache
    shutil.rmtree(tmp_path / "a" / next(p.name for p in (tmp_path / "a").glob("deps-*")))
    rebuilt = build_package("arm64", cache_dir=tmp_path / "b")
    assert rebuilt.name == first.name
    assert rebuilt.read_bytes() == first.read_bytes()


def test_package_contents(tmp_path: Path) -> None:
    package = build_package("x86_64", cache_dir=tmp_path)
    assert package.name.startswith("lambda-x86_64-")
    with zipfile.ZipFile(package) as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]
    assert names == sorted(names)
    assert {"pipeline/__init__.py", "transforms/__init__.py"} <= set(names)
    assert any(name.startswith("aws_lambda_powertools/") for name in names)
    # Bytecode: only our own, one unchecked-hash .pyc next to each module (see scripts/package.py).
    compiled = [name for name in names if name.endswith(".pyc") or "__pycache__" in name]
    assert "pipeline/__pycache__/bundle.cpython-313.pyc" in compiled
    for name in compiled:
        folder, _, leaf = name.rpartition("__pycache__/")
        assert leaf.endswith(".cpython-313.pyc"), name
        assert f"{folder}{leaf.removesuffix('.cpython-313.pyc')}.py" in names, name
    with zipfile.ZipFile(package) as archive:
        header = archive.read("pipeline/__pycache__/bundle.cpython-313.pyc")[:8]
    assert header[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, not checked
    assert not any(name.startswith(("templates/", "scripts/", "tests/")) for name in names)
    assert {info.date_time for info in infos} == {FIXED_TIME}
