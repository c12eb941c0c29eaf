"""The processor response and its size: what each entry costs, and the budget it is charged to.

The one owner of response-size accounting. Sizes are exact ``json.dumps`` lengths of the
response (what the Lambda runtime serializes), computed without serializing any payload:

- pure cost functions: what an ``Ok`` entry for a member of some size, a ``Dropped`` entry, a
  ``ProcessingFailed`` entry (the record echoed) and the least a record can cost;
- :class:`ResponseBudget`: one size per record, their total as a response, and the budget it
  must stay within. The plan (:mod:`transforms.plan`) asks it which inline files fit; the batch
  (:mod:`transforms.batch`) charges every entry it sets and asks it before packing one more.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from pipeline.bundle import MemberMetadata, encoded_member_size
from transforms.config import RESPONSE_LIMIT_BYTES
from transforms.records import Entry, InputRecord, Result

_RECORDS_OPEN = len('{"records": [')
_RECORDS_CLOSE = len("]}")
_SEPARATOR = len(", ")


def base64_length(size: int) -> int:
    return 4 * ((size + 2) // 3)


def entry_size(record_id: str, result: Result, data_length: int) -> int:
    """Exact ``json.dumps`` length of an entry whose base64 ``data`` has ``data_length`` chars."""
    return (
        len('{"recordId": ')
        + _json_string_length(record_id)
        + len(', "result": "')
        + len(result)
        + len('", "data": "')
        + data_length
        + len('"}')
    )


def _json_string_length(text: str) -> int:
    """``len(json.dumps(text))``; record ids are plain ASCII, which needs no escaping."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return len(text) + 2
    return len(json.dumps(text))


def response_size(entry_sizes: Iterable[int]) -> int:
    """Exact ``json.dumps`` length of ``{"records": [...]}`` given each entry's length."""
    sizes = list(entry_sizes)
    return _RECORDS_OPEN + sum(sizes) + _SEPARATOR * max(0, len(sizes) - 1) + _RECORDS_CLOSE


def ok_entry_size(record_id: str, member_size: int) -> int:
    """What the ``Ok`` entry of a ``member_size``-byte bundle member costs."""
    return entry_size(record_id, "Ok", base64_length(member_size))


def inline_entry_size(record_id: str, metadata: MemberMetadata) -> int:
    """What the ``Ok`` entry for a member with ``metadata`` costs."""
    return ok_entry_size(record_id, encoded_member_size(metadata))


def dropped_entry_size(record_id: str) -> int:
    return entry_size(record_id, "Dropped", 0)


def failed_entry_size(record: InputRecord) -> int:
    """What a ``ProcessingFailed`` entry (the record's original data echoed) costs."""
    return entry_size(record.record_id, "ProcessingFailed", base64_length(len(record.data)))


def minimal_entry_size(record: InputRecord) -> int:
    """What a record costs at the least: an unreadable one is ProcessingFailed (the record
    echoed), a reference Dropped. A reference that fails later echoes its record too; the batch
    makes room for it by demoting an Ok entry (transforms/batch.py)."""
    if record.reference is None:
        return failed_entry_size(record)
    return dropped_entry_size(record.record_id)


def cost(entry: Entry) -> int:
    """What ``entry`` costs in the response."""
    return entry_size(entry.record_id, entry.result, len(entry.data))


def serialized_size(entries: Sequence[Entry]) -> int:
    """Exact serialized size of :func:`response` (without serializing the payloads)."""
    return response_size(cost(entry) for entry in entries)


def response(entries: Sequence[Entry]) -> dict[str, list[dict[str, str]]]:
    return {"records": [entry.as_dict() for entry in entries]}


class ResponseBudget:
    """One entry size per record (each starts at its least), their total, and the limit."""

    __slots__ = ("_sizes", "_total", "limit")

    def __init__(self, records: Sequence[InputRecord], limit: int) -> None:
        self.limit = min(limit, RESPONSE_LIMIT_BYTES)
        self._sizes = [minimal_entry_size(record) for record in records]
        self._total = response_size(self._sizes)

    @property
    def total(self) -> int:
        """The serialized size of the response as charged so far."""
        return self._total

    def fits(self, index: int, size: int) -> bool:
        """Whether record ``index``'s entry may cost ``size`` and the response stay in budget."""
        return self._total + size - self._sizes[index] <= self.limit

    def charge(self, index: int, size: int) -> None:
        """Record ``index``'s entry now costs ``size``."""
        self._total += size - self._sizes[index]
        self._sizes[index] = size

    def over(self) -> bool:
        return self._total > self.limit
