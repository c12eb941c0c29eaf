from __future__ import annotations

import sqlite3
from pathlib import Path

from scripts.consumer.ledger import DeliveredFile, Ledger
from tests.unit.consumer.bundles import bundles_in_progress, ledger_file_count


def _file(key: str, version: str | None, sha: str = "a" * 64) -> DeliveredFile:
    return DeliveredFile(key, version, sha, 3, f"{key}~{version}", "bundles/b1.gz")


def test_records_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with Ledger(path) as ledger:
        ledger.record_files([_file("k", "v1"), _file("k", "v2", "b" * 64), _file("n", None)])
        ledger.begin_bundle("c" * 64, "bundles/b1.gz")
    with Ledger(path) as ledger:
        assert ledger_file_count(ledger) == 3
        delivered = ledger.delivered("k", "v2")
        assert delivered is not None
        assert delivered.sha256 == "b" * 64
        assert ledger.delivered("n", None) is not None
        assert ledger.delivered("n", "null") is not None  # absent and "null": one identity
        assert ledger.delivered("k", "v3") is None
        assert ledger.bundle_state("c" * 64) == "in_progress"
        assert bundles_in_progress(ledger) == ["bundles/b1.gz"]


def test_recording_a_file_twice_keeps_the_first_record(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.db") as ledger:
        ledger.record_files([_file("k", "v1")])
        ledger.record_files([_file("k", "v1", "f" * 64)])
        assert ledger_file_count(ledger) == 1
        delivered = ledger.delivered("k", "v1")
        assert delivered is not None
        assert delivered.sha256 == "a" * 64


def test_bundle_lifecycle_and_rejections(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.db") as ledger:
        assert ledger.bundle_state("d" * 64) is None
        ledger.begin_bundle("d" * 64, "bundles/x.gz")
        ledger.begin_bundle("d" * 64, "replay/bundles/x.gz")
        ledger.finish_bundle("d" * 64, files_written=5, files_duplicate=1)
        assert ledger.bundle_state("d" * 64) == "done"
        assert bundles_in_progress(ledger) == []
        ledger.reject("bundles/bad.gz", '"etag"', "SHA-256 mismatch")
        assert ledger.rejection("bundles/bad.gz", '"etag"') == "SHA-256 mismatch"
        assert ledger.rejection("bundles/bad.gz", '"other"') is None
        assert ledger.forget_rejections() == 1
        assert ledger.rejection("bundles/bad.gz", '"etag"') is None


def test_absent_and_null_version_are_one_identity_also_in_an_older_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with Ledger(path) as ledger:
        ledger.record_files([_file("n", "null")])
        ledger.record_files([_file("n", None, "f" * 64)])  # the same identity: ignored
        assert ledger_file_count(ledger) == 1
    with sqlite3.connect(path) as db:  # a row as ledgers before this change stored it
        db.execute(
            "INSERT INTO files VALUES ('old', '', ?, 1, 'old~null', 'bundles/0.gz', 'then')",
            ("e" * 64,),
        )
    db.close()
    with Ledger(path) as ledger:
        delivered = ledger.delivered("old", "null")
        assert delivered is not None
        assert delivered.sha256 == "e" * 64
        assert ledger_file_count(ledger) == 2
