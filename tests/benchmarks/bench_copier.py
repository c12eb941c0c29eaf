"""Copier: hashing + staging one large bundle; throughput vs hashlib.sha256, and peak RSS.

moto runs as a server subprocess and the copier runs in its own fresh subprocess, so the peak RSS
printed is the copier's alone. The bundle is 256 MB rather than 1 GB: moto keeps objects in
memory and copies them whole on CopyObject, which at 1 GB takes minutes on a 2-core machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import time
from typing import Any

import boto3
from botocore.config import Config

from tests.benchmarks.moto_server import moto_server

SIZE_MB = 256
CHUNK = 32 * 1024 * 1024
KEY = "bundles/2026/01/02/03/stream-1-2026-01-02-03-04-05-bench.gz"
RSS_TARGET_MB = 128

_STAGER = """
import json, resource, sys, time
from pipeline import aws
from pipeline.copier.staging import stage_bundle, sha256_of_stream, HASH_CHUNK_SIZE
s3 = aws.s3()
started = time.perf_counter()
body = s3.get_object(Bucket="archive", Key=sys.argv[1])["Body"]
digest, size = sha256_of_stream(body.iter_chunks(HASH_CHUNK_SIZE))
hashing = time.perf_counter() - started
started = time.perf_counter()
staged = stage_bundle(s3, bucket="archive", key=sys.argv[1], version_id=None,
    distribution_bucket="distribution", multipart_threshold=5 * 1024**3,
    part_size=512 * 1024**2)
total = time.perf_counter() - started
assert staged.sha256 == digest
print(json.dumps({"hashing": hashing, "total": total, "size": size,
    "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _chunks() -> Any:
    rng = random.Random(20260102)
    for _ in range(SIZE_MB * 1024 * 1024 // CHUNK):
        yield rng.randbytes(CHUNK)


def main() -> None:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "eu-west-2",
    }
    with moto_server() as endpoint:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="eu-west-2",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=Config(retries={"mode": "standard", "total_max_attempts": 3}),
        )
        location: Any = {"LocationConstraint": "eu-west-2"}
        for bucket in ("archive", "distribution"):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration=location)
        upload = s3.create_multipart_upload(Bucket="archive", Key=KEY)["UploadId"]
        parts: list[Any] = []
        baseline_seconds = 0.0
        digest = hashlib.sha256()
        for number, chunk in enumerate(_chunks(), start=1):
            started = time.perf_counter()
            digest.update(chunk)
            baseline_seconds += time.perf_counter() - started
            etag = s3.upload_part(
                Bucket="archive", Key=KEY, UploadId=upload, PartNumber=number, Body=chunk
            )["ETag"]
            parts.append({"ETag": etag, "PartNumber": number})
        s3.complete_multipart_upload(
            Bucket="archive", Key=KEY, UploadId=upload, MultipartUpload={"Parts": parts}
        )
        done = subprocess.run(
            [sys.executable, "-c", _STAGER, KEY],
            capture_output=True,
            text=True,
            check=True,
            env={**env, "AWS_ENDPOINT_URL": endpoint},
        )
    result = json.loads(done.stdout)
    baseline = SIZE_MB / baseline_seconds
    staged = SIZE_MB / result["total"]
    hashing = SIZE_MB / result["hashing"]
    rss_mb = result["maxrss_kb"] / 1024
    print(
        f"bench copier: {staged:.0f} MB/s ({staged / baseline:.2f} x hashlib.sha256 at "
        f"{baseline:.0f} MB/s; streaming hash pass alone {hashing:.0f} MB/s = "
        f"{hashing / baseline:.2f} x; {SIZE_MB} MB bundle, moto server subprocess)"
    )
    print(
        f"bench copier_peak_rss: {rss_mb:.0f} MB ({rss_mb / RSS_TARGET_MB:.2f} x "
        f"{RSS_TARGET_MB} MB target; whole copier process incl. boto3)"
    )


if __name__ == "__main__":
    main()
