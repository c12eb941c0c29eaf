from __future__ import annotations

import os
from pathlib import Path

import pytest

from scripts.consumer.paths import destination, relative_name

HOSTILE_KEYS = [
    "../../etc/passwd",
    "/absolute/path",
    "a/../../b",
    "..",
    ".",
    "",
    "a//b",
    "trailing/",
    "back\\slash\\..\\..\\x",
    "nul\0byte",
    "new\nline\rcarriage\ttab",
    "ümlaut/日本語/emoji-🙂",
    "spaces and + plus",
    "%2e%2e/%2F",
    "~user/file~v1",
    "#long/abc",
    "x" * 1024,
    "/".join(["d" * 200] * 5),
    "a/" * 500 + "z",
]


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_keys_stay_inside_the_output_dir(tmp_path: Path, key: str) -> None:
    target = destination(tmp_path, key, "v1")
    assert os.path.commonpath([tmp_path, target]) == str(tmp_path)
    assert target != tmp_path
    relative = target.relative_to(tmp_path)
    assert all(part not in ("", ".", "..") for part in relative.parts)
    assert all(len(part.encode()) <= 255 for part in relative.parts)
    assert all(32 <= ord(ch) < 127 for ch in str(relative))


def test_distinct_keys_and_versions_never_share_a_path(tmp_path: Path) -> None:
    pairs = [(key, version) for key in HOSTILE_KEYS for version in ("v1", "v2", None)]
    paths = {destination(tmp_path, key, version) for key, version in pairs}
    assert len(paths) == len(pairs)


def test_versions_sit_side_by_side_with_a_version_suffix() -> None:
    assert relative_name("data/report.csv", "3HL4kqtJ") == "data/report.csv~3HL4kqtJ"
    assert relative_name("data/report.csv", None) == "data/report.csv~null"


def test_a_key_that_is_also_a_folder_of_another_key_does_not_collide(tmp_path: Path) -> None:
    leaf = destination(tmp_path, "a", "v1")
    nested = destination(tmp_path, "a/b", "v1")
    assert nested.parent != leaf
    assert leaf not in nested.parents
