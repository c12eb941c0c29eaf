"""Benchmark `consume`: files/s written and verified, against ``tar -xzf`` of the same bundle.

Bundles of 1,000 x 27 KB files are built with :mod:`pipeline.bundle` (half random, half text, so
gzip has something to do), staged in an in-process moto S3, and drained by the real consumer:
download + bundle SHA-256 + per-member SHA-256 + atomic durable writes (the writer's barrier:
``syncfs`` twice per batch on Linux 5.8+, else ``fsync`` per file) + ledger + delete. The
baseline is GNU ``tar -xzf`` of the same bundle file into a directory on the same disk, which does
no verification and no fsync. Both write under the repository's ``build/`` folder (the working
disk, not a tmpfs).

The cost of creating files on a shared disk drifts by several times within minutes (other
processes' journal traffic), so the two are measured in alternating rounds — tar, then the
consumer, on fresh directories — and the median of the per-round ratios is the headline.

``consume_durable``: the same consumer runs against a durable baseline: ``tar -xzf`` followed by
``sync -f`` on the output file system (the consumer makes every file durable before it records
it; tar does not, so ``consume`` compares durable writes with page-cache writes). Timed in the
same rounds.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from pipeline.bundle import MemberMetadata, encode_member
from scripts.consumer import writer
from scripts.consumer.drain import drain
from scripts.consumer.ledger import Ledger

FILES = 1000
FILE_SIZE = 27 * 1024
BUNDLES = 3
ROUNDS = 5
BUCKET = "bench-distribution"
REPO = Path(__file__).resolve().parents[2]


def _bundle(seed: int) -> bytes:
    rng = random.Random(seed)
    text = b"timestamp,sensor,value\n" * (FILE_SIZE // 46)
    members = []
    for index in range(FILES):
        content = (rng.randbytes(FILE_SIZE // 2) + text)[:FILE_SIZE]
        meta = MemberMetadata(
            key=f"bench/{seed}/dir{index % 10}/file-{index:04d}.csv",
            version_id=f"v{seed}",
            etag='"0"',
            event_time="2026-01-01T00:00:00+00:00",
            sequencer="00",
            bucket="landing",
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
        )
        members.append(encode_member(meta, content))
    return gzip.compress(b"".join(members), compresslevel=6)


def _cpu(times: os.times_result, children: bool) -> float:
    if children:
        return times.children_user + times.children_system
    return times.user + times.system


def _tar_seconds(bundle_path: Path, target: Path, cpu: list[float]) -> float:
    """Wall seconds of ``tar -xzf``; its CPU seconds (tar and gzip) are appended to ``cpu``."""
    target.mkdir()
    before = os.times()
    started = time.perf_counter()
    subprocess.run(["tar", "-xzf", str(bundle_path), "-C", str(target)], check=True)
    seconds = time.perf_counter() - started
    cpu.append(_cpu(os.times(), True) - _cpu(before, True))
    return seconds


def _sync_seconds(target: Path) -> float:
    """``sync -f``: flush the file system holding ``target`` (what tar wrote, and anyone else's)."""
    started = time.perf_counter()
    subprocess.run(["sync", "-f", str(target)], check=True)
    return time.perf_counter() - started


def _stage(client: Any, bundles: list[bytes]) -> None:
    for index, bundle in enumerate(bundles):
        client.put_object(
            Bucket=BUCKET,
            Key=f"bundles/2026/01/01/00/bench-{index}.gz",
            Body=bundle,
            Metadata={"content-sha256": hashlib.sha256(bundle).hexdigest()},
        )


def _consume_seconds(client: Any, bundles: list[bytes], work: Path, cpu: list[float]) -> float:
    """Wall seconds of one drain; its CPU seconds (every thread of this process) go to ``cpu``."""
    _stage(client, bundles)
    with Ledger(work / "ledger.db") as ledger:
        before = os.times()
        started = time.perf_counter()
        summary = drain(client, BUCKET, work / "consumed", ledger)
        seconds = time.perf_counter() - started
        cpu.append(_cpu(os.times(), False) - _cpu(before, False))
    if summary.files_written != FILES * len(bundles) or not summary.ok:
        raise RuntimeError(f"consumer did not deliver every file: {summary}")
    return seconds


def main() -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    bundles = [_bundle(seed) for seed in range(BUNDLES)]
    (REPO / "build").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-consume-", dir=REPO / "build"))
    total = FILES * BUNDLES
    tar_rates: list[float] = []
    durable_rates: list[float] = []
    rates: list[float] = []
    tar_cpu: list[float] = []
    consume_cpu: list[float] = []
    try:
        paths = []
        for index, bundle in enumerate(bundles):
            paths.append(work / f"bundle-{index}.gz")
            paths[-1].write_bytes(bundle)
        with mock_aws():
            client = boto3.client("s3", region_name="eu-west-2")
            client.create_bucket(
                Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
            )
            for round_ in range(ROUNDS):
                subprocess.run(["sync", "-f", str(work)], check=True)  # start from a clean disk
                tar_seconds = sum(
                    _tar_seconds(path, work / f"tar-{round_}-{index}", tar_cpu)
                    for index, path in enumerate(paths)
                )
                tar_rates.append(total / tar_seconds)
                durable_rates.append(total / (tar_seconds + _sync_seconds(work)))
                seconds = _consume_seconds(client, bundles, work / f"run-{round_}", consume_cpu)
                rates.append(total / seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    barrier = (
        "syncfs barriers per batch" if writer.SYNCFS is not None else "fsync per file and folder"
    )
    ratios = sorted(rate / tar for rate, tar in zip(rates, tar_rates, strict=True))
    cpu_us = statistics.median(consume_cpu) / total * 1e6
    tar_cpu_us = statistics.median(tar_cpu) * BUNDLES / total * 1e6  # tar_cpu: one per bundle
    durable = sorted(rate / tar for rate, tar in zip(rates, durable_rates, strict=True))
    print(
        f"bench consume: {statistics.median(rates):,.0f} files/s "
        f"({statistics.median(ratios):.2f} x tar -xzf {statistics.median(tar_rates):,.0f} files/s; "
        f"median of {ROUNDS} alternating rounds, per-round ratios "
        f"{ratios[0]:.2f}-{ratios[-1]:.2f}; "
        f"{BUNDLES} bundles of {FILES} x 27 KB, verified + durable: {barrier})"
    )
    print(
        f"bench consume_durable: {statistics.median(rates):,.0f} files/s "
        f"({statistics.median(durable):.2f} x tar -xzf + sync -f at "
        f"{statistics.median(durable_rates):,.0f} files/s; target 0.6 x; the same "
        f"{ROUNDS} alternating rounds, per-round ratios {durable[0]:.2f}-{durable[-1]:.2f}; "
        f"sync -f flushes the output file system once after tar; the consumer: {barrier}; "
        f"CPU per file: consumer {cpu_us:.0f} us (all threads), tar+gzip {tar_cpu_us:.0f} us)"
    )


if __name__ == "__main__":
    main()
