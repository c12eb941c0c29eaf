"""Copier: hashing + staging a 1 GB bundle; throughput vs hashlib.sha256, CPU, and peak RSS.

The bundle is generated as a stream and uploaded to a moto server (its own process) by multipart
upload. The copier runs in the Lambda package environment (``lambda_env``: bare interpreter, only
the function package on ``sys.path``), in a fresh process, so the peak RSS printed is what the
function itself would use. It first times the streaming hash pass alone, then the whole
``stage_bundle`` (hash pass + metadata self-copy + copy to Distribution). The copier's own CPU
seconds are printed next to the server's, so readers see how much of the wall time is the mock.
Baseline: ``hashlib.sha256`` over the same bytes in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config

from tests.benchmarks.lambda_env import lambda_env
from tests.moto_server import moto_server_process

SIZE_MB = 1024
PART = 64 * 1024 * 1024
KEY = "bundles/2026/01/02/03/stream-1-2026-01-02-03-04-05-bench.gz"
RSS_TARGET_MB = 128
REGION = "eu-west-2"

_WORKER = """
import json, sys, time
from pipeline import aws
from pipeline.copier.staging import stage_bundle
from pipeline.hashing import HASH_CHUNK_SIZE, READ_AHEAD_CHUNKS, sha256_read_ahead
key = sys.argv[1] if len(sys.argv) > 1 else {key!r}
s3 = aws.s3()
wall, cpu = time.perf_counter(), time.process_time()
body = s3.get_object(Bucket="archive", Key=key)["Body"]
digest, size = sha256_read_ahead(body.iter_chunks(HASH_CHUNK_SIZE))
hashing = (time.perf_counter() - wall, time.process_time() - cpu)
body.close()
wall, cpu = time.perf_counter(), time.process_time()
staged = stage_bundle(s3, bucket="archive", key=key, version_id=None,
    distribution_bucket="distribution", multipart_threshold=5 * 1024**3,
    part_size=512 * 1024**2)
total = (time.perf_counter() - wall, time.process_time() - cpu)
assert staged.sha256 == digest and staged.size == size
# VmHWM, not ru_maxrss: Linux carries the parent's high-water mark across fork+exec into
# ru_maxrss, so a child started by a big parent would report the parent's peak
with open("/proc/self/status") as status:
    hwm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({{"hashing": hashing, "total": total, "size": size, "maxrss_kb": hwm_kb,
    "chunk": HASH_CHUNK_SIZE, "depth": READ_AHEAD_CHUNKS}}))
"""


def _parts() -> Iterator[bytes]:
    rng = random.Random(20260102)
    for _ in range(SIZE_MB * 1024 * 1024 // PART):
        yield rng.randbytes(PART)


def _upload(endpoint: str) -> float:
    """Upload the bundle part by part; returns the seconds hashlib.sha256 took over its bytes."""
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"mode": "standard", "total_max_attempts": 3}, read_timeout=600),
    )
    location: Any = {"LocationConstraint": REGION}
    for bucket in ("archive", "distribution"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration=location)
    upload = s3.create_multipart_upload(Bucket="archive", Key=KEY)["UploadId"]
    parts: list[Any] = []
    baseline = 0.0
    digest = hashlib.sha256()
    for number, chunk in enumerate(_parts(), start=1):
        started = time.perf_counter()
        digest.update(chunk)
        baseline += time.perf_counter() - started
        etag = s3.upload_part(
            Bucket="archive", Key=KEY, UploadId=upload, PartNumber=number, Body=chunk
        )["ETag"]
        parts.append({"ETag": etag, "PartNumber": number})
    s3.complete_multipart_upload(
        Bucket="archive", Key=KEY, UploadId=upload, MultipartUpload={"Parts": parts}
    )
    return baseline


def main() -> None:
    env = lambda_env()
    with moto_server_process() as server:
        baseline_seconds = _upload(server.endpoint)
        server_before = server.cpu_seconds()
        done = subprocess.run(
            env.code(_WORKER.format(key=KEY)),
            capture_output=True,
            text=True,
            check=True,
            env={
                "PATH": os.environ.get("PATH", ""),
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ENDPOINT_URL": server.endpoint,
            },
        )
        server_cpu = server.cpu_seconds() - server_before
    result = json.loads(done.stdout)
    size_mb = result["size"] / 1024 / 1024
    baseline = size_mb / baseline_seconds
    (hash_wall, hash_cpu), (total_wall, total_cpu) = result["hashing"], result["total"]
    staged = size_mb / total_wall
    hashing = size_mb / hash_wall
    per_cpu = size_mb / hash_cpu
    rss_mb = result["maxrss_kb"] / 1024
    print(
        f"bench copier: {staged:.0f} MB/s ({staged / baseline:.2f} x hashlib.sha256 at "
        f"{baseline:.0f} MB/s; {size_mb:.0f} MB bundle hashed + staged in {total_wall:.1f} s, "
        f"copier CPU {total_cpu:.1f} s; moto server (own process) CPU for both runs "
        f"{server_cpu:.1f} s, incl. its in-memory copies and SHA-256 checksum)"
    )
    print(
        f"bench copier_hash: {hashing:.0f} MB/s ({hashing / baseline:.2f} x hashlib.sha256; "
        f"streaming GET + SHA-256, reader thread {result['depth']} x "
        f"{result['chunk'] / 2**20:g} MiB ahead, "
        f"{hash_wall:.1f} s wall; copier CPU {hash_cpu:.2f} s = {per_cpu:.0f} MB per CPU-second "
        f"= {per_cpu / baseline:.2f} x hashlib: the rest of the wall time is the moto server "
        f"producing the stream on the same 2 cores)"
    )
    print(
        f"bench copier_peak_rss: {rss_mb:.0f} MB ({rss_mb / RSS_TARGET_MB:.2f} x "
        f"{RSS_TARGET_MB} MB target; VmHWM of the whole copier process in the Lambda package "
        f"environment, interpreter + botocore ~48 MB of it)"
    )


if __name__ == "__main__":
    main()
