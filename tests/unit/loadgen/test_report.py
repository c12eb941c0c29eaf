"""Report formatting and the byte-for-byte output check."""

from __future__ import annotations

import re
from pathlib import Path

from scripts.delivery import BundleSeen, Sighting, match
from scripts.delivery.report import report_lines, summary_line
from scripts.delivery.verify import check_output
from scripts.loadgen import FileKind, FileSpec, UploadRecord
from scripts.loadgen.content import content_bytes, sha256_of

SUMMARY = re.compile(
    r"^demo: (\d+) uploaded, (\d+) verified, (\d+) bundles, p95 ([\d.]+) s, p99 ([\d.]+) s$"
)


def _record(key: str, kind: FileKind = FileKind.TEXT, size: int = 300) -> UploadRecord:
    spec = FileSpec(key, kind, size, seed=len(key))
    return UploadRecord(spec, "v1", '"e"', sha256_of(spec), 10.0, 11.0)


def _locate(output: Path, key: str, version_id: str | None) -> Path:
    return output / f"{key.replace('/', '_')}~{version_id}"


def test_summary_line_has_the_contract_format() -> None:
    line = summary_line(200, 199, 12, 6.04, 7.96)
    assert line == "demo: 200 uploaded, 199 verified, 12 bundles, p95 6.0 s, p99 8.0 s"
    assert SUMMARY.match(line)


def test_check_output_finds_verified_missing_and_different(tmp_path: Path) -> None:
    good, gone, bad = (_record(k) for k in ("a/good", "a/gone", "a/bad"))
    empty = _record("a/empty", FileKind.EMPTY, 0)
    _locate(tmp_path, good.key, "v1").write_bytes(content_bytes(good.spec))
    _locate(tmp_path, bad.key, "v1").write_bytes(content_bytes(bad.spec)[:-1] + b"!")
    _locate(tmp_path, empty.key, "v1").write_bytes(b"")
    check = check_output(tmp_path, [good, gone, bad, empty], _locate)
    assert [r.key for r in check.verified] == ["a/good", "a/empty"]
    assert [r.key for r in check.missing] == ["a/gone"]
    assert [r.key for r in check.different] == ["a/bad"]
    assert not check.ok


def test_report_lists_problems_by_name(tmp_path: Path) -> None:
    ok, gone = _record("ok"), _record("gone")
    sighting = Sighting("ok", "v1", ok.sha256, ok.size, "b", seen_at=13.0, archived_at=12.0)
    delivery = match([ok, gone], [sighting], {"b": BundleSeen("b", 100, 1, 13.0)})
    check = check_output(tmp_path, [ok, gone], _locate)
    text = "\n".join(report_lines(delivery, check))
    assert "files uploaded         2" in text
    assert "1 never reached Distribution" in text and "'gone'" in text
    assert "2 missing from the consumer output" in text
    assert "p95 2.0 s" in text
