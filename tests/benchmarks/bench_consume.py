"""Benchmark `consume`: files/s written and verified, against ``tar -xzf`` of the same bundle.

Bundles of 1,000 x 27 KB files are built with :mod:`pipeline.bundle` (half random, half text, so
gzip has something to do), staged in an in-process moto S3, and drained by the real consumer:
download + bundle SHA-256 + per-member SHA-256 + atomic fsync'd writes + ledger + delete. The
baseline is GNU ``tar -xzf`` of the same bundle file into a directory on the same disk, which does
no verification and no fsync. Both write under the repository's ``build/`` folder (the working
disk, not a tmpfs).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import boto3
from moto import mock_aws

from pipeline.bundle import MemberMetadata, encode_member
from scripts.consumer.drain import drain
from scripts.consumer.ledger import Ledger

FILES = 1000
FILE_SIZE = 27 * 1024
BUNDLES = 3
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


def _tar_seconds(bundle_path: Path, target: Path) -> float:
    target.mkdir()
    started = time.perf_counter()
    subprocess.run(["tar", "-xzf", str(bundle_path), "-C", str(target)], check=True)
    return time.perf_counter() - started


def main() -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    bundles = [_bundle(seed) for seed in range(BUNDLES)]
    (REPO / "build").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-consume-", dir=REPO / "build"))
    try:
        tar_seconds = 0.0
        for index, bundle in enumerate(bundles):
            path = work / f"bundle-{index}.gz"
            path.write_bytes(bundle)
            tar_seconds += _tar_seconds(path, work / f"tar-{index}")
        with mock_aws():
            client = boto3.client("s3", region_name="eu-west-2")
            client.create_bucket(
                Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
            )
            for index, bundle in enumerate(bundles):
                client.put_object(
                    Bucket=BUCKET,
                    Key=f"bundles/2026/01/01/00/bench-{index}.gz",
                    Body=bundle,
                    Metadata={"content-sha256": hashlib.sha256(bundle).hexdigest()},
                )
            output = work / "consumed"
            with Ledger(work / "ledger.db") as ledger:
                started = time.perf_counter()
                summary = drain(client, BUCKET, output, ledger)
                consume_seconds = time.perf_counter() - started
        if summary.files_written != FILES * BUNDLES or not summary.ok:
            raise RuntimeError(f"consumer did not deliver every file: {summary}")
        total = FILES * BUNDLES
        tar_rate = total / tar_seconds
        rate = total / consume_seconds
        print(
            f"bench consume: {rate:,.0f} files/s ({rate / tar_rate:.2f} x tar -xzf "
            f"{tar_rate:,.0f} files/s; {BUNDLES} bundles of {FILES} x 27 KB, verified + fsync'd)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
