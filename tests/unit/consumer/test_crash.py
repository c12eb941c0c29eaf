"""Kill the consumer (in a subprocess, `os._exit`) at every step, restart it, check the result.

A moto server plays Distribution so that its state survives the killed process. After the
restart every file must be on disk with the right bytes, the bucket must be empty, no file that
was on disk after the crash may have been rewritten (same inode), and across both runs each file
must have been written exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

from scripts.consumer.faults import CRASH_EXIT_CODE, CRASH_VARIABLE
from scripts.consumer.paths import relative_name
from tests.unit.consumer.bundles import SourceFile, build_bundle, files_on_disk, stage

REPO = Path(__file__).resolve().parents[3]

#: Every step at which the consumer can be killed, in the order they happen for one bundle.
STEPS = (
    "download",  # part of the bundle is in the local temporary file
    "verified",  # the whole bundle is downloaded and its SHA-256 checked
    "begun",  # the ledger says the bundle is in progress, nothing unpacked yet
    "renamed",  # a batch of files is renamed into place and fsync'd, not yet in the ledger
    "recorded",  # a batch of files is recorded in the ledger (more may follow)
    "unpacked",  # every member is on disk and recorded; the bundle is not yet marked done
    "finished",  # the bundle is marked done in the ledger, not yet deleted from Distribution
    "deleted",  # the bundle is deleted from Distribution
)


def _client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def _consume(endpoint: str, bucket: str, output: Path, crash_at: str | None) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != CRASH_VARIABLE}
    if crash_at is not None:
        env[CRASH_VARIABLE] = crash_at
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.cli",
            "consume",
            "--env",
            "local",
            "--endpoint-url",
            endpoint,
            "--bucket",
            bucket,
            "--output",
            str(output),
            "--once",
            "--batch-files",
            "2",
            "--no-progress",
            "--json",
            "--log-level",
            "DEBUG",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.returncode, result.stderr


def _written_keys(stderr: str) -> list[str]:
    keys = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("message") == "file written":
                keys.append(record["key"])
    return keys


@pytest.mark.parametrize("step", STEPS)
def test_killed_at_any_step_then_restarted_delivers_each_file_exactly_once(
    endpoint: str, tmp_path: Path, step: str
) -> None:
    client = _client(endpoint)
    bucket = f"crash-{step}"
    client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
    )
    first = [SourceFile(f"one/{n}", f"first {n}".encode() * 100) for n in range(5)]
    second = [SourceFile(f"two/{n}", f"second {n}".encode() * 100) for n in range(3)]
    stage(client, bucket, "bundles/2026/01/01/00/a.gz", build_bundle(first))
    stage(client, bucket, "bundles/2026/01/01/00/b.gz", build_bundle([*second, first[0]]))
    stage(client, bucket, "bundles/2026/01/01/00/c.gz", build_bundle(first))  # a duplicate
    output = tmp_path / "out"

    code, crashed_log = _consume(endpoint, bucket, output, crash_at=step)
    assert code == CRASH_EXIT_CODE, crashed_log
    inodes_after_crash = {path: path.stat().st_ino for path in output.rglob("*") if path.is_file()}

    code, log = _consume(endpoint, bucket, output, crash_at=None)
    assert code == 0, log

    expected = {relative_name(f.key, f.version_id): f.content for f in first + second}
    assert files_on_disk(output) == expected
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    for path, inode in inodes_after_crash.items():
        if path.exists() and ".~consumer" not in path.parts:
            assert path.stat().st_ino == inode, f"{path} was rewritten"
    written = Counter(_written_keys(crashed_log) + _written_keys(log))
    assert written == Counter({f.key: 1 for f in first + second})
    assert [p.name for p in (output / ".~consumer" / "tmp").iterdir()] == []
