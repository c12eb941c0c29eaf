"""Hand-off: a manifest per delivered bundle (atomic, idempotent, equal to the files on disk) and
the --on-bundle hook (called with the path; a failure reported, retried, bounded, never blocking
the delivery or the delete)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scripts import consume
from scripts.cli import EXIT_OK
from scripts.consumer.drain import list_bundles, state_dir
from scripts.consumer.faults import CRASH_EXIT_CODE, CRASH_VARIABLE
from scripts.consumer.hook import (
    FAILED_DIR,
    MAX_ATTEMPTS,
    PENDING_DIR,
    HookOutcome,
    HookRunner,
    run_command,
)
from scripts.consumer.paths import relative_name
from tests.unit.consumer.bundles import SourceFile, build_bundle, files_on_disk, stage
from tests.unit.consumer.conftest import BUCKET, consume_args

REPO = Path(__file__).resolve().parents[3]
NAME = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{16}\.jsonl$")

FIRST = [SourceFile(f"one/{n}", f"first {n}".encode() * 100) for n in range(5)]
SECOND = [SourceFile(f"two/{n}", f"second {n}".encode() * 100) for n in range(3)]


def stage_three(client: Any, bucket: str) -> None:
    """a: five files; b: three new files and one of a's (a duplicate); c: a again (a duplicate
    bundle: no manifest)."""
    stage(client, bucket, "bundles/2026/01/01/00/a.gz", build_bundle(FIRST))
    stage(client, bucket, "bundles/2026/01/01/00/b.gz", build_bundle([*SECOND, FIRST[0]]))
    stage(client, bucket, "bundles/2026/01/01/00/c.gz", build_bundle(FIRST))


def manifests(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Every visible manifest (``*.jsonl``) by name, parsed."""
    return {
        path.name: [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        for path in sorted(folder.glob("*.jsonl"))
    }


def assert_manifests_match_the_disk(folder: Path, output: Path) -> None:
    """Each delivered file is in exactly one manifest, and each line describes the file on disk:
    its size, its SHA-256 recomputed from the disk, its source key and version."""
    found = manifests(folder)
    assert all(NAME.match(name) for name in found), list(found)
    lines = [line for entries in found.values() for line in entries]
    on_disk = files_on_disk(output)
    assert sorted(line["path"] for line in lines) == sorted(on_disk)  # each once, all of them
    for line in lines:
        content = on_disk[line["path"]]
        assert line["size"] == len(content)
        assert line["sha256"] == hashlib.sha256(content).hexdigest()
        assert line["path"] == relative_name(line["key"], line["version_id"])
        assert line["event_time"] == "2026-01-01T00:00:00+00:00"


def test_one_manifest_per_delivered_bundle_equal_to_the_files_on_disk(
    cli: None, s3: Any, output: Path, tmp_path: Path
) -> None:
    stage_three(s3, BUCKET)
    folder = tmp_path / "manifests"

    args = consume_args(output, "--once", "--manifests", str(folder), "--batch-files", "2")
    assert consume.run(args) == EXIT_OK

    found = manifests(folder)
    by_size = sorted(found.values(), key=len)
    assert [len(entries) for entries in by_size] == [3, 4 + 1]  # b (without a's file), a
    assert [e["key"] for e in by_size[1]] == [f.key for f in FIRST]  # in bundle order
    assert_manifests_match_the_disk(folder, output)
    assert list_bundles(s3, BUCKET) == []
    assert [p.name for p in folder.iterdir() if not p.name.endswith(".jsonl")] == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--manifests", "{output}/manifests"], "is inside --output"),
        (["--on-bundle", "true"], "give --manifests DIR too"),
    ],
)
def test_hand_off_options_that_cannot_work_are_refused(
    cli: None,
    s3: Any,
    output: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    stage(s3, BUCKET, "bundles/a.gz", build_bundle([SourceFile("k", b"v")]))
    args = consume_args(output, "--once", *(e.format(output=output) for e in extra))
    assert consume.run(args) == consume.EXIT_CONFIG
    assert message in capsys.readouterr().err
    assert len(list_bundles(s3, BUCKET)) == 1


# ------------------------------------------------------------------------------ the hook


def hook_script(tmp_path: Path) -> tuple[str, Path, Path]:
    """A hook that logs its argument, and fails (exit 3) while ``fail`` exists."""
    script, log, fail = tmp_path / "hook.py", tmp_path / "hook.log", tmp_path / "fail"
    script.write_text(
        "import pathlib, sys\n"
        f"log, fail = pathlib.Path({str(log)!r}), pathlib.Path({str(fail)!r})\n"
        "with log.open('a') as out: out.write(sys.argv[1] + '\\n')\n"
        "if fail.exists(): sys.exit('downstream is down')\n"
    )
    return f"{sys.executable} {script}", log, fail


def metric(textfile: Path, name: str) -> float:
    for family in text_string_to_metric_families(textfile.read_text(encoding="utf-8")):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    raise AssertionError(f"{name} not in {textfile}")


def test_the_hook_is_called_with_each_manifest_path(
    cli: None, s3: Any, output: Path, tmp_path: Path
) -> None:
    stage_three(s3, BUCKET)
    command, log, _fail = hook_script(tmp_path)
    folder = tmp_path / "manifests"

    args = consume_args(output, "--once", "--manifests", str(folder), "--on-bundle", command)
    assert consume.run(args) == EXIT_OK

    calls = log.read_text().splitlines()
    assert sorted(calls) == [str(folder / name) for name in manifests(folder)]
    assert list((state_dir(output) / PENDING_DIR).iterdir()) == []


def test_a_failing_hook_is_reported_and_retried_and_delivery_goes_on(
    cli: None, s3: Any, output: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stage_three(s3, BUCKET)
    command, log, fail = hook_script(tmp_path)
    fail.touch()
    folder, textfile = tmp_path / "manifests", tmp_path / "consumer.prom"
    args = consume_args(
        output,
        "--once",
        "--manifests",
        str(folder),
        "--on-bundle",
        command,
        "--metrics-file",
        str(textfile),
    )

    assert consume.run(args) == EXIT_OK  # the files are delivered: the hook does not change it

    assert_manifests_match_the_disk(folder, output)
    assert list_bundles(s3, BUCKET) == []  # and the bundles deleted
    assert metric(textfile, "aggregator_consumer_hook_failures_total") == 2
    assert metric(textfile, "aggregator_consumer_hooks_pending") == 2
    pending = sorted((state_dir(output) / PENDING_DIR).glob("*.json"))
    assert [p.name.removesuffix(".json") for p in pending] == list(manifests(folder))
    record = json.loads(pending[0].read_text())
    assert record["attempts"] == 1
    assert "exit 1: downstream is down" in record["last_error"]

    fail.unlink()  # downstream is back: the next run (a restart) retries both
    assert consume.run(args) == EXIT_OK
    calls = log.read_text().splitlines()
    assert sorted(calls) == sorted(2 * [str(folder / name) for name in manifests(folder)])
    assert list((state_dir(output) / PENDING_DIR).iterdir()) == []
    assert metric(textfile, "aggregator_consumer_hooks_pending") == 0


def test_retries_are_bounded_then_the_record_moves_to_failed(tmp_path: Path) -> None:
    manifest = tmp_path / "m" / "20260101T000000Z-0123456789abcdef.jsonl"
    manifest.parent.mkdir()
    manifest.write_text("{}\n")
    calls: list[list[str]] = []

    def failing(argv: list[str], timeout: float) -> HookOutcome:
        calls.append(argv)
        return HookOutcome(False, "exit 1")

    runner = HookRunner("notify --queue x", tmp_path / "state", run=failing)
    runner.prepare(manifest)
    assert runner.run(manifest) is False
    for _ in range(MAX_ATTEMPTS + 2):
        runner.retry_pending()

    assert len(calls) == MAX_ATTEMPTS
    assert calls[0] == ["notify", "--queue", "x", str(manifest)]
    assert runner.pending() == []
    assert [p.name for p in (tmp_path / "state" / FAILED_DIR).iterdir()] == [
        manifest.name + ".json"
    ]


def test_a_pending_record_without_its_manifest_is_dropped(tmp_path: Path) -> None:
    runner = HookRunner("true", tmp_path / "state")
    runner.prepare(tmp_path / "never-written.jsonl")  # killed before the manifest was written
    assert runner.retry_pending() == 0
    assert runner.pending() == []


def test_a_hook_that_hangs_is_killed_at_its_timeout() -> None:
    outcome = run_command([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert outcome == HookOutcome(False, "timed out after 0.5 s")
    assert not run_command(["/nonexistent/hook"], 5).ok


# ------------------------------------------------------------------- crashes (real processes)


def _consume(endpoint: str, bucket: str, output: Path, folder: Path, crash_at: str | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != CRASH_VARIABLE}
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    if crash_at is not None:
        env[CRASH_VARIABLE] = crash_at
    argv = [sys.executable, "-m", "scripts.cli", "consume", "--env", "local"]
    argv += ["--endpoint-url", endpoint, "--bucket", bucket, "--output", str(output)]
    argv += ["--manifests", str(folder), "--once", "--batch-files", "2", "--no-progress"]
    result = subprocess.run(
        argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    return result.returncode


@pytest.mark.parametrize("step", ["recorded", "manifest-synced", "unpacked", "finished"])
def test_killed_around_the_manifest_then_restarted_leaves_one_complete_manifest_per_bundle(
    endpoint: str, tmp_path: Path, step: str
) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    bucket = f"manifest-{step}"
    client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
    )
    stage_three(client, bucket)
    output, folder = tmp_path / "out", tmp_path / "manifests"

    assert _consume(endpoint, bucket, output, folder, crash_at=step) == CRASH_EXIT_CODE
    after_crash = {p.name: p.read_bytes() for p in folder.glob("*.jsonl")}
    if step in ("recorded", "manifest-synced"):
        assert after_crash == {}  # no partial manifest is ever visible
    else:
        assert len(after_crash) == 1  # written before the bundle was marked done

    assert _consume(endpoint, bucket, output, folder, crash_at=None) == 0

    assert_manifests_match_the_disk(folder, output)
    assert len(manifests(folder)) == 2
    for name, content in after_crash.items():  # a re-run replaces it with the same bytes
        assert (folder / name).read_bytes() == content
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
