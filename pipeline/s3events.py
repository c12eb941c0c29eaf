"""Helpers for S3 event notifications shared by the functions S3 triggers."""

from __future__ import annotations

from urllib.parse import unquote_plus


def decode_key(raw_key: str) -> str:
    """Undo the S3 event's key encoding: ``+`` is a space, ``%xx`` are UTF-8 bytes."""
    return unquote_plus(raw_key, encoding="utf-8", errors="strict")
