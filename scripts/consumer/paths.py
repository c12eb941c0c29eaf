"""Where a delivered file lands on disk: a safe relative path derived from its key and version.

The layout is the bundle's own member name (:func:`pipeline.bundle.member_name`), so
``aggregator consume`` and a plain ``tar -xzf`` of a bundle produce the same tree:

* the key's ``/``-separated folders are kept; every byte outside ``[A-Za-z0-9-_.,=+@()!]`` is
  percent-escaped (``%XX`` of its UTF-8 bytes), so odd bytes, control characters and non-ASCII
  letters never reach the filesystem raw;
* ``""``, ``.`` and ``..`` components are escaped in full (``%``, ``%2E``, ``%2E%2E``);
* over-long components (> 180 bytes escaped) are shortened and end in ``#<hash>``;
* **versions**: the leaf always ends in ``~<version id>`` (``~null`` for an unversioned object; a
  version id with unsafe bytes or over 64 bytes becomes ``~#<hash>``). Two versions of one key
  are two files side by side, ``report.csv~v1`` and ``report.csv~v2``; a key that is also a
  "folder" of another key (``a`` and ``a/b``) never collides, since folders never contain ``~``.

The member name stored inside a bundle is untrusted input and is never used: the path is rebuilt
from the verified metadata and checked again here, so nothing can escape the output directory.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.bundle import member_name

_MAX_COMPONENT_BYTES = 255


class UnsafePathError(ValueError):
    """A derived path would leave the output directory (a bug in the name derivation)."""


def relative_name(key: str, version_id: str | None) -> str:
    """The relative on-disk path of one version of ``key``, ``/``-separated (see the docstring)."""
    name = member_name(key, version_id)
    parts = name.split("/")
    if (
        name.startswith("/")
        or "\0" in name
        or "\\" in name
        or any(part in ("", ".", "..") for part in parts)
        or any(len(part.encode("utf-8")) > _MAX_COMPONENT_BYTES for part in parts)
    ):
        raise UnsafePathError(f"refusing unsafe on-disk name {name!r} derived from key {key!r}")
    return name


def destination(output_dir: Path, key: str, version_id: str | None) -> Path:
    """Where the consumer puts one version of ``key`` under ``output_dir`` (for comparisons)."""
    return output_dir / relative_name(key, version_id)
