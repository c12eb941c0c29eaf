"""Benchmarks of the transform: fetch concurrency and the CPU cost of the processor response.

``transform_fetch``: 1,000 references x 27 KB in a moto server (subprocess), with 20 ms added to
every request by a botocore ``before-send`` hook (S3 first-byte latency), processed by the real
``process_batch`` in response-sized batches; baseline: the same GETs one after another.

``transform_cpu``: building the processor response for ~4.3 MB of 27 KB files already in memory
(SHA-256, bundle members, base64, entries, and ``json.dumps`` of the response as the Lambda
runtime does), as a ratio to ``hashlib.sha256`` + ``base64.b64encode`` of the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import statistics
import time
from typing import Any

from pipeline import aws
from pipeline.bundle import MemberMetadata, encode_member
from pipeline.deadline import Deadline
from tests.benchmarks.moto_server import moto_server
from tests.unit.transforms.helpers import firehose_event, reference
from transforms.batch import process_batch
from transforms.config import TransformConfig
from transforms.records import ok_entry, response

FILES = 1000
FILE_SIZE = 27_000
LATENCY_SECONDS = 0.020
REGION = "eu-west-2"


def _env() -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_METRICS_NAMESPACE": "S3Aggregator",
        "POWERTOOLS_SERVICE_NAME": "bench",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }.items():
        os.environ[name] = value
    os.environ.pop("AWS_ENDPOINT_URL", None)


def _add_latency(**_: Any) -> None:
    time.sleep(LATENCY_SECONDS)


def bench_fetch() -> None:
    _env()
    with moto_server() as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        try:
            _fetch_against(endpoint)
        finally:
            os.environ.pop("AWS_ENDPOINT_URL", None)
            aws.reset_clients()


def _fetch_against(endpoint: str) -> None:
    aws.reset_clients()
    s3 = aws.s3(max_attempts=1, max_pool_connections=40)
    firehose = aws.firehose(max_attempts=1)
    location: Any = {"LocationConstraint": REGION}
    s3.create_bucket(Bucket="landing", CreateBucketConfiguration=location)
    body = os.urandom(FILE_SIZE)
    refs = []
    for index in range(FILES):
        key = f"bench/{index:05d}.bin"
        s3.put_object(Bucket="landing", Key=key, Body=body)
        refs.append(reference("landing", key, None, FILE_SIZE))
    s3.meta.events.register("before-send.s3.GetObject", _add_latency)
    settings = TransformConfig(
        archive_bucket="archive", delivery_stream_name="stream", fetch_concurrency=32
    )

    started = time.perf_counter()
    done = 0
    for start in range(0, FILES, 150):  # 150 x 27 KB fit one 6 MB response
        _, summary = process_batch(
            firehose_event(refs[start : start + 150]), settings, Deadline.after(300), s3, firehose
        )
        done += summary.inlined
    concurrent = time.perf_counter() - started

    sample = 200
    started = time.perf_counter()
    for ref in refs[:sample]:
        content = s3.get_object(Bucket="landing", Key=ref.key)["Body"].read()
        hashlib.sha256(content).hexdigest()
    sequential = (time.perf_counter() - started) / sample * FILES
    note = "" if done == FILES else f"; only {done} of {FILES} inlined"
    print(
        f"bench transform_fetch: {FILES / concurrent:.0f} files/s "
        f"({sequential / concurrent:.1f} x sequential GETs at {FILES / sequential:.0f} files/s; "
        f"+20 ms per request, FETCH_CONCURRENCY=32, moto server subprocess{note})"
    )


def _build_response(contents: list[bytes]) -> str:
    entries = []
    for index, content in enumerate(contents):
        metadata = MemberMetadata(
            key=f"incoming/partner/{index:06d}.json",
            version_id="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
            etag="9b2cf535f27731c974343645a3985328",
            event_time="2026-01-02T03:04:05.678Z",
            sequencer="0055AED6DCD90281E5",
            bucket="landing",
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
        )
        entries.append(
            ok_entry(
                f"4954698668313554428650745793632{index:06d}", encode_member(metadata, content)
            )
        )
    return json.dumps(response(entries))


def _baseline(contents: list[bytes]) -> None:
    for content in contents:
        hashlib.sha256(content).hexdigest()
        base64.b64encode(content)


def _best(function: Any, contents: list[bytes], rounds: int = 15) -> float:
    timings = []
    for _ in range(rounds):
        started = time.process_time()
        function(contents)
        timings.append(time.process_time() - started)
    return statistics.median(timings)


def bench_cpu() -> None:
    contents = [os.urandom(FILE_SIZE) for _ in range(160)]
    megabytes = sum(map(len, contents)) / 1e6
    full = _best(_build_response, contents)
    base = _best(_baseline, contents)
    json_only_payload = base64.b64encode(b"".join(contents)).decode()
    json_cost = _best(lambda _: json.dumps({"data": json_only_payload}), contents)
    per_mb = 1000 / megabytes
    print(
        f"bench transform_cpu: {full * per_mb:.2f} ms/MB "
        f"({full / base:.2f} x hashlib.sha256+base64.b64encode at {base * per_mb:.2f} ms/MB; "
        f"json.dumps of the response, done by the Lambda runtime, {json_cost * per_mb:.2f} ms/MB "
        f"of it: {(full - json_cost) / base:.2f} x without it)"
    )


def main() -> None:
    bench_cpu()
    bench_fetch()


if __name__ == "__main__":
    main()
