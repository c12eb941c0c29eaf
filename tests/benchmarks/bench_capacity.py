"""``capacity_model`` and ``capacity_scale_out``: the capacity model against the embedded stack.

The local stack runs with the faithful Firehose's DirectPut quota scaled down to ``1/SCALE`` of
eu-west-2's (the emulator's ``FIREHOSE_DIRECT_PUT_*`` variables), so one stream's quota is within
what this machine can drive. The capacity model (:mod:`scripts.capacity.model`) is given the same
scaled quotas through the config's ``[capacity.quotas]`` -- the way an operator overrides them --
and predicts the load at which the first limit breaks.

``capacity_model``: the ``local`` stack (one stream) is driven at multiples of that predicted break
point (``LEVELS``), each for ``LEVEL_SECONDS`` of paced uploads of the loader's small-file mix,
then drained, consumed and verified (every file, byte for byte). Per level, from Firehose's own
CloudWatch metrics (``AWS/Firehose``, what an operator sees): the share of records throttled, the
rate at which references entered the stream while the uploads ran, and the backlog left at the
end of the uploads (files uploaded minus references ingested). Throttling and backlog should
begin at the predicted break point and the ingest rate should level off at it: the line reports
the level where throttling began and the plateau against the prediction (tolerance
``TOLERANCE``).

``capacity_scale_out``: the same quota, the ``local`` configuration with ``firehose.streams = 2``
deployed as a second stack, driven at the level that throttled one stream: throttled records,
the files per stream, every file delivered and verified, and the p95 upload-to-Distribution
latency against the model's worst case for two streams.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localstack_plugins.firehose.limits import QUOTA_ENVIRONMENT
from localstack_plugins.firehose.usage import NAMESPACE as FIREHOSE_NAMESPACE
from pipeline.contract.quotas import DEFAULT_QUOTA
from pipeline.routing import stream_for
from scripts import local
from scripts.capacity.model import (
    LoadProfile,
    capacity_report,
    limits_for,
    worst_case_latency,
)
from scripts.capacity.model import (
    Pipeline as ModelPipeline,
)
from scripts.loadgen import MixConfig, UploadRecord, plan_mix
from scripts.session import delivery_stream_names
from templates.config import ENVIRONMENTS_DIR, EnvironmentConfig, parse_config
from tests.e2e.pipeline import ENV_NAME, Pipeline

#: the emulator's and the model's DirectPut quota: eu-west-2's divided by this
SCALE = 250
#: multiples of the predicted break point the one-stream stack is driven at
LEVELS = (0.5, 0.8, 0.9, 1.1, 1.25, 1.6, 2.0)
LEVEL_SECONDS = 30.0
#: the level the two-stream stack is driven at (one that throttles one stream)
SCALE_OUT_LEVEL = 1.6
#: a level "throttles" when more than this share of its records was throttled
THROTTLED_SHARE = 0.01
#: how close the observed plateau must be to the predicted break point
TOLERANCE = 0.15
REGION = "eu-west-2"
DRAIN_TIMEOUT_SECONDS = 600.0
#: the loader's small-file mix (27 KB average)
MEAN_SIZE_BYTES = 27_000


@dataclass(frozen=True)
class LevelResult:
    level: float
    offered: float  # files/s uploaded
    ingested: float  # references/s into the stream(s) while the uploads ran
    throttled_share: float
    backlog: int  # files uploaded but not yet in a stream when the uploads ended
    p95_latency: float
    files: int

    @property
    def throttles(self) -> bool:
        return self.throttled_share > THROTTLED_SHARE

    def describe(self) -> str:
        return (
            f"{self.level:.2f}x: offered {self.offered:.2f} files/s, ingested "
            f"{self.ingested:.2f}/s, {self.throttled_share:.1%} of record puts throttled, backlog "
            f"{self.backlog}, p95 {self.p95_latency:.0f} s"
        )


def scaled_environment() -> dict[str, str]:
    """The LocalStack process's variables that scale the faithful Firehose's quota."""
    return {
        variable: f"{getattr(DEFAULT_QUOTA, name) / SCALE:g}"
        for name, variable in QUOTA_ENVIRONMENT.items()
    }


def scaled_config(name: str, streams: int) -> EnvironmentConfig:
    """``local.toml`` with ``streams`` streams and the scaled quotas as ``[capacity.quotas]``."""
    data = tomllib.loads((ENVIRONMENTS_DIR / "local.toml").read_text())
    data["firehose"]["streams"] = streams
    data["alarms"].update(dashboard=False, anomaly_detection=False)
    data["capacity"] = {
        "region": REGION,
        "quotas": {
            "firehose_records_per_second": DEFAULT_QUOTA.records_per_second / SCALE,
            "firehose_requests_per_second": DEFAULT_QUOTA.requests_per_second / SCALE,
            "firehose_bytes_per_second": DEFAULT_QUOTA.bytes_per_second / SCALE,
        },
    }
    return parse_config(name, data, source=f"local.toml, 1/{SCALE} quota", deployable=False)


def _load(files_per_second: float, streams: int) -> LoadProfile:
    return LoadProfile(files_per_second, files_per_second, MEAN_SIZE_BYTES, REGION, streams)


def main() -> None:
    from scripts.deploy import deploy
    from tests.templates.local_stack import deploy_variant

    one = scaled_config(ENV_NAME, streams=1)
    report = capacity_report(one, _load(1.0, 1))
    first = report.first_to_break
    predicted = first.break_files_per_second
    state_dir = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    try:
        endpoint = local.start(
            port=local.free_port(),
            state_dir=state_dir,
            owner_pid=os.getpid(),
            environment=scaled_environment(),
        )
        pipeline = Pipeline(endpoint.url, deploy(ENV_NAME, endpoint_url=endpoint.url))
        results = []
        for level in LEVELS:
            result, _ = _level(pipeline, state_dir, f"level-{level}", level, level * predicted)
            print(f"  capacity_model level {result.describe()}", file=sys.stderr)
            results.append(result)
        _print_model_line(first.name, predicted, results)
        two = scaled_config("scaleout", streams=2)
        second = Pipeline(endpoint.url, deploy_variant(pipeline.session, two))
        scale_out, records = _level(
            second, state_dir, "scale-out", SCALE_OUT_LEVEL, SCALE_OUT_LEVEL * predicted
        )
        shares = _stream_shares(second, records)
    finally:
        local.stop(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)
    model = ModelPipeline.from_config(two)
    quotas, _ = limits_for(two, REGION)
    rate = SCALE_OUT_LEVEL * predicted
    worst = worst_case_latency(model, _load(rate, 2), quotas, rate).total
    two_streams_break = capacity_report(two, _load(1.0, 2)).first_to_break.break_files_per_second
    one_stream = next(r for r in results if r.level == SCALE_OUT_LEVEL)
    print(
        f"bench capacity_scale_out: {scale_out.files} files at {scale_out.offered:.2f} files/s "
        f"({SCALE_OUT_LEVEL:g} x one stream's predicted break; the model's break for two: "
        f"{two_streams_break:.2f} files/s) through 2 streams: throttled "
        f"{scale_out.throttled_share:.1%} (one stream: {one_stream.throttled_share:.1%}), backlog "
        f"{scale_out.backlog} (one stream: {one_stream.backlog}), every file delivered and "
        f"verified, p95 {scale_out.p95_latency:.0f} s (model's worst case "
        f"{worst:.0f} s; one stream: {one_stream.p95_latency:.0f} s); files per stream "
        + ", ".join(f"{share:.0%}" for share in shares)
    )


def _print_model_line(limit: str, predicted: float, results: Sequence[LevelResult]) -> None:
    overloaded = [r for r in results if r.level > 1.0]
    plateau = max((r.ingested for r in overloaded), default=math.nan)
    within = abs(plateau / predicted - 1) <= TOLERANCE
    print(
        f"bench capacity_model: predicted break {predicted:.2f} files/s ({limit}, quota 1/{SCALE} "
        f"of {REGION}); observed ingest plateau {plateau:.2f} files/s = "
        f"{plateau / predicted:.2f} x predicted ({'within' if within else 'OUTSIDE'} "
        f"+-{TOLERANCE:.0%}); {_onset(results)}; levels: "
        + "; ".join(r.describe() for r in results)
    )


def _onset(results: Sequence[LevelResult]) -> str:
    """The lowest level that throttled (levels ascend), and whether every higher one did."""
    onset = next((r for r in results if r.throttles), None)
    if onset is None:
        return "throttling never began"
    steady = all(r.throttles for r in results if r.level >= onset.level)
    above = "and at every level above" if steady else "but NOT at every level above"
    return f"throttling began at {onset.level:g} x (none below, {above})"


def _level(
    pipeline: Pipeline, state_dir: Path, name: str, level: float, rate: float
) -> tuple[LevelResult, list[UploadRecord]]:
    """Upload ``rate`` files/s for LEVEL_SECONDS, wait for every file, consume and verify."""
    count = max(1, round(rate * LEVEL_SECONDS))
    scenario = pipeline.scenario(name, state_dir / name)
    files = plan_mix(
        MixConfig(
            count=count,
            seed=int(level * 100),
            prefix=scenario.prefix,
            large_size=None,
            hostile_keys=False,
        )
    )
    streams = delivery_stream_names(pipeline.outputs)
    cloudwatch = pipeline.session.client("cloudwatch")
    scenario.tracker.start()  # sightings (and latency) while the uploads run
    try:
        started = time.time()
        records = scenario.upload(files, rate=rate, concurrency=8)
        ended = time.time()
        outcome = scenario.deliver(records, timeout=DRAIN_TIMEOUT_SECONDS)
    finally:
        scenario.tracker.stop()
    ingested = _ingested_once_published(cloudwatch, streams, started, len(records))
    drained = time.time()
    ingested_during = _firehose_sum(cloudwatch, streams, "IncomingRecords", started, ended)
    throttled = _firehose_sum(cloudwatch, streams, "ThrottledRecords", started, drained)
    span = max(ended - started, 1e-9)
    result = LevelResult(
        level=level,
        offered=len(records) / span,
        ingested=ingested_during / span,
        throttled_share=throttled / max(throttled + ingested, 1.0),
        backlog=max(0, len(records) - int(ingested_during)),
        p95_latency=outcome.delivery.latency.p95,
        files=len(records),
    )
    return result, records


def _ingested_once_published(
    cloudwatch: Any, streams: Sequence[str], start: float, files: int
) -> float:
    """``IncomingRecords`` since ``start``, polled until it counts every delivered file."""
    deadline = time.monotonic() + 30
    while True:
        ingested = _firehose_sum(cloudwatch, streams, "IncomingRecords", start, time.time())
        if ingested >= files or time.monotonic() > deadline:
            return ingested
        time.sleep(0.5)  # the emulator publishes its metrics once a second


def _firehose_sum(
    cloudwatch: Any, streams: Sequence[str], metric: str, start: float, end: float
) -> float:
    """Sum of an ``AWS/Firehose`` metric over the streams for ``start <= t <= end``.

    One-second periods: the emulator publishes each second's sums, stamped with the second
    they were flushed in (at most a second after the calls).
    """
    total = 0.0
    for stream in streams:
        points = cloudwatch.get_metric_statistics(
            Namespace=FIREHOSE_NAMESPACE,
            MetricName=metric,
            Dimensions=[{"Name": "DeliveryStreamName", "Value": stream}],
            StartTime=datetime.fromtimestamp(math.floor(start), UTC),
            EndTime=datetime.fromtimestamp(math.ceil(end) + 1, UTC),
            Period=1,
            Statistics=["Sum"],
        )["Datapoints"]
        total += sum(
            point["Sum"]
            for point in points
            if math.floor(start) <= point["Timestamp"].timestamp() <= math.ceil(end)
        )
    return total


def _stream_shares(pipeline: Pipeline, records: Sequence[UploadRecord]) -> list[float]:
    streams = delivery_stream_names(pipeline.outputs)
    counts = dict.fromkeys(streams, 0)
    for record in records:
        counts[stream_for(pipeline.landing, record.key, streams)] += 1
    return [counts[stream] / max(len(records), 1) for stream in streams]


if __name__ == "__main__":
    main()
