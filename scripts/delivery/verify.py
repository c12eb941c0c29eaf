"""Compare what a consumer wrote to disk with what was uploaded, byte for byte."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from scripts.loadgen import UploadRecord, same_content

#: Where the consumer puts one version of one key (``scripts.consumer.paths.destination``).
Locate = Callable[[Path, str, str | None], Path]


@dataclass(frozen=True, slots=True)
class OutputCheck:
    """Per-file verdicts of one output directory."""

    verified: tuple[UploadRecord, ...]
    missing: tuple[UploadRecord, ...]  # no file where the consumer should have written it
    different: tuple[UploadRecord, ...]  # a file, but not the uploaded bytes

    @property
    def ok(self) -> bool:
        return not self.missing and not self.different


def check_output(
    output_dir: Path, records: Iterable[UploadRecord], locate: Locate, threads: int = 4
) -> OutputCheck:
    """Regenerate each uploaded file and compare it with the consumer's copy (streaming)."""

    def verdict(record: UploadRecord) -> str:
        path = locate(output_dir, record.key, record.version_id)
        if not path.is_file():
            return "missing"
        return "verified" if same_content(path, record.spec) else "different"

    records = list(records)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="verify") as pool:
        verdicts = list(pool.map(verdict, records))
    by = {
        name: tuple(r for r, v in zip(records, verdicts, strict=True) if v == name)
        for name in ("verified", "missing", "different")
    }
    return OutputCheck(verified=by["verified"], missing=by["missing"], different=by["different"])
