"""The transform benchmarks' measured side, run inside the Lambda package environment.

Started by ``bench_transform`` as ``python -I -S -B transform_worker.py <package dir> <mode>
<input.json>``: it imports only the function package and the standard library, like the function.
It prints one JSON document with its measurements.

Modes
    ``cpu``: the per-file work the transform does after a GET (SHA-256 as ``fetch_object`` does
    it, member header, member, base64 entry, response dict), and the Lambda runtime's JSON
    serialization of the response, against ``hashlib.sha256`` + ``base64.b64encode``.
    ``fetch``: ``process_batch`` over Firehose events against S3 (``AWS_ENDPOINT_URL``, a server
    that adds a fixed latency to every GET) with the chosen fetcher (``crt``: the function's,
    ``botocore``: the thread pool), then the same GETs one after another with botocore.
    ``fetch_cpu``: CPU per file of ``process_batch`` with each fetcher and of a sequential
    botocore ``get_object`` + read loop over the same objects, in alternating rounds.
"""

from __future__ import annotations

import sys

sys.path.insert(0, sys.argv[1])  # the unpacked package: the only import location besides stdlib

import base64
import hashlib
import importlib.util
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from pipeline import aws
from pipeline.bundle import BLOCK_SIZE, MemberMetadata, encode_member, member_header
from pipeline.deadline import Deadline
from transforms import crt_fetch
from transforms.batch import process_batch
from transforms.config import DEFAULT_FETCH_STALL_SECONDS, TransformConfig
from transforms.fetch import Fetcher
from transforms.records import Entry, ok_entry
from transforms.response import ok_entry_size, response

#: awslambdaric on python3.12+/3.13 serializes the handler's result with this encoder
_RUNTIME_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=True)


def _entries(contents: list[bytes]) -> list[Entry]:
    """What ``transforms.batch._pack_inline`` does per fetched file (after the GET)."""
    entries = []
    for index, content in enumerate(contents):
        record_id = f"4954698668313554428650745793632{index:06d}"
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
        header = member_header(metadata)
        member_size = len(header) + metadata.size + (-metadata.size % BLOCK_SIZE)
        ok_entry_size(record_id, member_size)
        entries.append(ok_entry(record_id, encode_member(metadata, content, header=header)))
    return entries


def _ours(contents: list[bytes]) -> object:
    return response(_entries(contents))


def _with_runtime_json(contents: list[bytes]) -> object:
    return _RUNTIME_ENCODER.encode(response(_entries(contents))).encode("utf-8")


def _baseline(contents: list[bytes]) -> object:
    return [
        (hashlib.sha256(content).hexdigest(), base64.b64encode(content)) for content in contents
    ]


def _cpu_median(function: Callable[[list[bytes]], object], contents: list[bytes]) -> float:
    timings = []
    for _ in range(21):
        started = time.process_time()
        function(contents)
        timings.append(time.process_time() - started)
    return statistics.median(timings)


def cpu(files: int, size: int) -> dict[str, float]:
    contents = [os.urandom(size) for _ in range(files)]
    built = _ours(contents)
    return {
        "megabytes": files * size / 1e6,
        "baseline": _cpu_median(_baseline, contents),
        "ours": _cpu_median(_ours, contents),
        "full": _cpu_median(_with_runtime_json, contents),
        "json_only": _cpu_median(
            lambda _: _RUNTIME_ENCODER.encode(built).encode("utf-8"), contents
        ),
    }


def _clients(concurrency: int) -> tuple[Any, Any]:
    s3 = aws.s3(max_attempts=1, max_pool_connections=concurrency + 4)
    return s3, aws.firehose(max_attempts=1)


def _botocore_fetcher(s3: Any) -> Fetcher:
    """The botocore thread-pool fetcher (the transform before awscrt), now a test double: loaded
    by file name, since only the package and the standard library are on this worker's path."""
    path = os.path.join(
        os.path.dirname(__file__), "..", "unit", "transforms", "botocore_fetcher.py"
    )
    spec = importlib.util.spec_from_file_location("botocore_fetcher", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    fetcher: Fetcher = module.BotocoreFetcher(s3)
    return fetcher


def _fetcher(kind: str, s3: Any, concurrency: int) -> Fetcher:
    if kind == "crt":
        return crt_fetch.fetcher(s3, concurrency, DEFAULT_FETCH_STALL_SECONDS)
    return _botocore_fetcher(s3)


def _batches(setup: dict[str, Any], kind: str) -> tuple[float, float, int]:
    """``process_batch`` over every event with the ``kind`` fetcher: (wall s, CPU s, inlined)."""
    settings = TransformConfig(
        archive_bucket="archive",
        delivery_stream_names=("stream",),
        fetch_concurrency=int(setup["concurrency"]),
    )
    s3, firehose = _clients(settings.fetch_concurrency)
    fetcher = _fetcher(kind, s3, settings.fetch_concurrency)
    warm = setup["events"][0]  # connect (and build the native client) before timing
    process_batch(warm, settings, Deadline.after(300), s3, firehose, fetcher=fetcher)
    inlined = 0
    wall, cpu_started = time.perf_counter(), time.process_time()
    for event in setup["events"]:
        _, summary = process_batch(
            event, settings, Deadline.after(300), s3, firehose, fetcher=fetcher
        )
        inlined += summary.inlined
    return time.perf_counter() - wall, time.process_time() - cpu_started, inlined


def _sequential(setup: dict[str, Any], count: int) -> tuple[float, float]:
    """Plain botocore ``get_object`` + read + SHA-256, one after another: (wall s, CPU s)."""
    s3, _ = _clients(int(setup["concurrency"]))
    s3.head_bucket(Bucket=setup["bucket"])  # connect before timing
    keys = setup["keys"][:count]
    wall, cpu_started = time.perf_counter(), time.process_time()
    for key in keys:
        content = s3.get_object(Bucket=setup["bucket"], Key=key)["Body"].read()
        hashlib.sha256(content).hexdigest()
    return time.perf_counter() - wall, time.process_time() - cpu_started


def fetch(setup: dict[str, Any]) -> dict[str, float]:
    """Wall clock of the batches (the server adds the latency) and of sequential GETs."""
    wall, cpu_seconds, inlined = _batches(setup, setup["fetcher"])
    count = int(setup["sequential_sample"])
    sequential_wall, sequential_cpu = _sequential(setup, count)
    return {
        "inlined": inlined,
        "concurrent_wall": wall,
        "concurrent_cpu": cpu_seconds,
        "sequential_wall_per_get": sequential_wall / count,
        "sequential_cpu_per_get": sequential_cpu / count,
    }


def fetch_cpu(setup: dict[str, Any]) -> dict[str, Any]:
    """CPU of the transform per file (native and botocore fetchers) and of sequential GETs,
    in alternating rounds; per round and per file."""
    files = len(setup["keys"])
    rounds: dict[str, list[float]] = {"sequential": [], "crt": [], "botocore": []}
    inlined: dict[str, int] = {}
    for _ in range(int(setup["rounds"])):
        rounds["sequential"].append(_sequential(setup, files)[1] / files)
        for kind in ("crt", "botocore"):
            _, cpu_seconds, inlined[kind] = _batches(setup, kind)
            rounds[kind].append(cpu_seconds / files)
    return {"per_file": rounds, "inlined": inlined, "peak_rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    """``VmHWM`` of this process (see docs/performance.md: ``ru_maxrss`` is the parent's)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    mode = sys.argv[2]
    if mode == "cpu":
        print(json.dumps(cpu(int(sys.argv[3]), int(sys.argv[4]))))
    elif mode in ("fetch", "fetch_cpu"):
        with open(sys.argv[3], encoding="utf-8") as source:
            setup = json.load(source)
        print(json.dumps(fetch(setup) if mode == "fetch" else fetch_cpu(setup)))
    else:
        raise SystemExit(f"unknown mode {mode!r}: use cpu, fetch or fetch_cpu")


if __name__ == "__main__":
    main()
