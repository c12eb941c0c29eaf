"""The capacity and cost model: pure functions from (config, load profile, limits) to a report.

What flows where (docs/capacity.md has the derivation):

- every landing file is one S3 event -> one ingest invocation -> one ``PutRecordBatch`` request
  carrying one object reference (~330 bytes) into a stream;
- Firehose invokes the transform with up to ``processor.buffer_size_mb`` of references; one
  invocation can return at most ``N`` files inline (its response budget over the member size); the
  rest are deferred (``Dropped`` + re-put). Once a batch holds more than ``N`` references, batches
  are cut by size, so a stream carries ``B / N`` records per file (``B`` = references per full
  processor buffer) and makes ``files / N`` invocations;
- the transform's output (the members) fills the destination buffer: one bundle per
  ``firehose.buffer_interval_seconds`` or per ``buffer_size_mb``, whichever comes first; each
  bundle is one copier run and one consumer download.

Each limited resource is a function of the total files/s; its break point is found by bisection,
so non-linear uses (deferrals) need no closed form. Rate limits are evaluated at the burst rate;
the consumer, a sustained drain that may fall behind during a burst and catch up, at the baseline.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace

from pipeline.bundle import encoded_member_size
from pipeline.contract.naming import stack_name
from pipeline.contract.quotas import MAX_BATCH_RECORDS
from pipeline.contract.slo import SLO_P95_SECONDS as SLO_P95_SECONDS  # the delivery SLO
from pipeline.references import ObjectReference
from scripts.capacity.constants import (
    GB,
    KB,
    MIB,
    PRICE_NAMES,
    PRICED_REGIONS,
    QUOTA_NAMES,
    Prices,
    Quotas,
    default_prices,
    default_quotas,
)
from templates.config import ConfigError, EnvironmentConfig
from transforms.config import DEFAULT_DIRECT_BUNDLE_MAX_BYTES
from transforms.plan import estimated_metadata
from transforms.response import entry_size, inline_entry_size, response_size

#: Use of a limit from which the report says NEAR: the rate limits are per second and arrivals
#: clump, so a stream throttles before its average use reaches 100 % (measured: one stream of two
#: at ~87 % of its request quota had 24.5 % of its record puts throttled, `bench
#: capacity_scale_out`, docs/capacity.md); the quota alarms fire at the same ratio.
NEAR_LIMIT_RATIO = 0.8
#: Firehose bills each DirectPut record rounded up to the next 5 KB (FIREHOSE_PRICING_URL)
BILLING_INCREMENT_BYTES = 5 * KB
SECONDS_PER_MONTH = 730 * 3600  # AWS pricing pages' month
SECONDS_PER_DAY = 86_400
#: a Firehose record id as the processor sees it (56 digits in AWS events)
TYPICAL_RECORD_ID = "4" * 56
#: CPU share of one vCPU at this memory size (Lambda: 1,769 MB = one vCPU)
FULL_VCPU_MEMORY_MB = 1769

# Performance estimates (not AWS quotas): measured here or assumed, stated in docs/capacity.md.
#: S3 first-byte latency of one GET from Lambda in the same region (assumption)
S3_GET_LATENCY_SECONDS = 0.03
#: one connection's GET throughput for the body (assumption)
S3_GET_BYTES_PER_SECOND = 80_000_000.0
#: transform CPU per MiB of inlined content incl. the runtime's JSON serialization, at one vCPU
#: (docs/performance.md `bench transform_cpu_with_runtime_json`: 10.65 ms/MB)
TRANSFORM_CPU_SECONDS_PER_MIB = 0.01065
#: the transform's direct path (files over inline_max_bytes): streaming GET + gzip level 1 +
#: SHA-256 + multipart upload, one file at a time. Assumption: about half the 128 MB/s that gzip
#: level 1 alone measured (transforms/direct.py GZIP_LEVEL)
DIRECT_BYTES_PER_SECOND = 60_000_000.0
#: fixed cost of one processor invocation (invoke, decode, plan, metrics)
TRANSFORM_OVERHEAD_SECONDS = 0.1
#: one ingest invocation (decode one event, one PutRecordBatch)
INGEST_SECONDS = 0.05
#: from the upload to the reference in the stream: S3 event delivery + ingest (estimate)
INGEST_LATENCY_SECONDS = 1.0
#: S3 event delivery to the copier and its fixed work (HEAD, metadata copy)
COPIER_OVERHEAD_SECONDS = 1.0
#: Firehose PUT of one bundle to Archive
DELIVERY_SECONDS = 2.0
#: the monitor runs once a minute for about this long
MONITOR_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class LoadProfile:
    files_per_second: float  # sustained baseline
    burst_files_per_second: float  # peak the rate limits must carry
    mean_size_bytes: int
    region: str
    streams: int = 1


@dataclass(frozen=True, slots=True)
class Pipeline:
    """What the model needs from an environment's config."""

    env: str
    processor_buffer_bytes: float
    processor_interval_seconds: int
    buffer_bytes: float
    buffer_interval_seconds: int
    response_budget_bytes: int
    inline_max_bytes: int
    fetch_concurrency: int
    architecture: str
    memory_mb: Mapping[str, int]
    copier_timeout_seconds: int
    transform_timeout_seconds: int
    landing_days: int
    standard_days: int
    direct_bundle_max_bytes: int = DEFAULT_DIRECT_BUNDLE_MAX_BYTES

    @classmethod
    def from_config(cls, config: EnvironmentConfig) -> Pipeline:
        functions = config.functions
        return cls(
            env=config.name,
            processor_buffer_bytes=config.processor.size_mb * MIB,
            processor_interval_seconds=config.processor.interval_seconds,
            buffer_bytes=config.firehose.size_mb * MIB,
            buffer_interval_seconds=config.firehose.interval_seconds,
            response_budget_bytes=config.transform.response_budget_bytes,
            inline_max_bytes=config.transform.inline_max_bytes,
            direct_bundle_max_bytes=config.transform.direct_bundle_max_bytes,
            fetch_concurrency=config.transform.fetch_concurrency,
            architecture=functions.architecture,
            memory_mb={
                name: functions.settings(name).memory_mb
                for name in ("ingest", "transform", "copier", "monitor")
            },
            copier_timeout_seconds=functions.copier.timeout_seconds,
            transform_timeout_seconds=functions.transform.timeout_seconds,
            landing_days=config.retention.landing_expiration_days,
            standard_days=config.retention.archive_deep_archive_after_days,
        )


def _override[T: (Quotas, Prices)](
    base: T,
    overrides: tuple[tuple[str, float], ...],
    names: tuple[str, ...],
) -> T:
    unknown = [name for name, _ in overrides if name not in names]
    if unknown:
        raise ConfigError(
            f"[capacity] unknown override(s) {', '.join(unknown)}: expected any of "
            + ", ".join(names)
        )
    return replace(base, **dict(overrides))


def limits_for(config: EnvironmentConfig, region: str) -> tuple[Quotas, Prices]:
    """The default quotas and prices of ``region`` with the config's ``[capacity]`` overrides."""
    quotas, prices = default_quotas(region), default_prices(region)
    if config.capacity is not None:
        quotas = _override(quotas, config.capacity.quotas, QUOTA_NAMES)
        prices = _override(prices, config.capacity.prices, PRICE_NAMES)
    return quotas, prices


def prices_are_regional(region: str) -> bool:
    return region in PRICED_REGIONS


# --------------------------------------------------------------------------------------------
# Sizes


def typical_reference(env: str, region: str, size: int) -> ObjectReference:
    return ObjectReference(
        bucket=f"{stack_name(env)}-landing-123456789012-{region}",
        key="incoming/2026/12/01/partner-file-0000001234.dat",
        version_id="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nrjfkd",
        size=size,
        etag='"d41d8cd98f00b204e9800998ecf8427e"',
        sequencer="0062E99A88DC407460",
        event_time="2026-12-01T14:00:00.000Z",
    )


def reference_bytes(pipeline: Pipeline, load: LoadProfile) -> int:
    """Bytes of one Firehose record (a serialized object reference)."""
    return len(typical_reference(pipeline.env, load.region, load.mean_size_bytes).to_record())


def billed_record_bytes(record_bytes: int) -> int:
    """What Firehose bills for one DirectPut record: rounded up to the next 5 KB."""
    return max(1, math.ceil(record_bytes / BILLING_INCREMENT_BYTES)) * BILLING_INCREMENT_BYTES


def member_bytes(pipeline: Pipeline, load: LoadProfile) -> int:
    """Bytes one file adds to a bundle (pax headers + content + padding, before gzip)."""
    reference = typical_reference(pipeline.env, load.region, load.mean_size_bytes)
    return encoded_member_size(estimated_metadata(reference))


def files_per_invocation(pipeline: Pipeline, load: LoadProfile) -> int:
    """N: how many files of the mean size one full processor batch returns inline.

    Mirrors ``transforms.plan.plan_batch``: every record of the batch costs at least its
    ``Dropped`` entry, and inline entries are admitted while the response fits the budget. The
    batch is a full processor buffer (the case where deferral happens). Files over
    ``inline_max_bytes`` take the direct path (a small ``Dropped`` entry): the transform streams
    them one after another into the batch's direct bundle until its deadline and defers the
    rest, so N is what fits in ``functions.transform.timeout_seconds``.
    """
    batch = references_per_buffer(pipeline, load)
    if is_direct(pipeline, load):
        budget = pipeline.transform_timeout_seconds * DIRECT_BYTES_PER_SECOND
        return min(batch, max(1, int(budget // max(load.mean_size_bytes, 1))))
    reference = typical_reference(pipeline.env, load.region, load.mean_size_bytes)
    inline = inline_entry_size(TYPICAL_RECORD_ID, estimated_metadata(reference))
    dropped = entry_size(TYPICAL_RECORD_ID, "Dropped", 0)
    floor = response_size([dropped] * batch)
    count = min(batch, max(0, (pipeline.response_budget_bytes - floor) // (inline - dropped)))
    while count > 0 and (
        response_size([inline] * count + [dropped] * (batch - count))
        > pipeline.response_budget_bytes
    ):
        count -= 1
    return max(1, count)


def is_direct(pipeline: Pipeline, load: LoadProfile) -> bool:
    """Files of the mean size take the transform's direct path (one bundle per invocation, split
    past ``direct_bundle_max_bytes``)."""
    return load.mean_size_bytes > pipeline.inline_max_bytes


def references_per_buffer(pipeline: Pipeline, load: LoadProfile) -> int:
    """B_max: references in one full processor buffer (``processor.buffer_size_mb``)."""
    return max(1, int(pipeline.processor_buffer_bytes // reference_bytes(pipeline, load)))


# --------------------------------------------------------------------------------------------
# One stream's flow at a given rate


@dataclass(frozen=True, slots=True)
class StreamFlow:
    files_per_second: float  # into this stream
    batch: float  # references per processor invocation
    files_per_invocation: int  # N
    reputs_per_file: float
    records_per_second: float
    requests_per_second: float
    bytes_per_second: float
    billed_bytes_per_second: float
    invocations_per_second: float
    invocation_seconds: float
    output_bytes_per_second: float
    bundles_per_second: float
    bundle_bytes: float


def invocation_seconds(pipeline: Pipeline, load: LoadProfile, files: float) -> float:
    """Estimated duration of one processor invocation handling ``files`` files."""
    size = load.mean_size_bytes
    if is_direct(pipeline, load):
        return TRANSFORM_OVERHEAD_SECONDS + files * size / DIRECT_BYTES_PER_SECOND
    waves = math.ceil(files / pipeline.fetch_concurrency) if files > 0 else 0
    fetch = waves * (S3_GET_LATENCY_SECONDS + size / S3_GET_BYTES_PER_SECOND)
    cpu_scale = max(1.0, FULL_VCPU_MEMORY_MB / pipeline.memory_mb["transform"])
    cpu = files * size / MIB * TRANSFORM_CPU_SECONDS_PER_MIB * cpu_scale
    return TRANSFORM_OVERHEAD_SECONDS + fetch + cpu


def stream_flow(pipeline: Pipeline, load: LoadProfile, files_per_second: float) -> StreamFlow:
    """Steady state of one stream fed ``files_per_second`` (see the module docstring)."""
    rate = max(files_per_second, 1e-9)
    record = reference_bytes(pipeline, load)
    n = files_per_invocation(pipeline, load)
    full = references_per_buffer(pipeline, load)
    interval = max(pipeline.processor_interval_seconds, 1)
    triggered = min(full, rate * interval)
    if triggered <= n:
        batch, reputs, invocations = max(triggered, 1.0), 0.0, rate / max(triggered, 1.0)
    else:
        batch, reputs, invocations = float(full), full / n - 1.0, rate / n
    records = rate * (1.0 + reputs)
    reput_requests = invocations * math.ceil((batch - n) / MAX_BATCH_RECORDS) if reputs else 0.0
    output = rate * member_bytes(pipeline, load)
    if is_direct(pipeline, load):
        # one direct bundle per invocation, more past direct_bundle_max_bytes (a larger file: alone)
        per_bundle = max(1, pipeline.direct_bundle_max_bytes // max(load.mean_size_bytes, 1))
        bundles = invocations * math.ceil(min(batch, n) / per_bundle)
    else:
        per_interval = 1.0 / max(pipeline.buffer_interval_seconds, 1)
        bundles = max(per_interval, output / pipeline.buffer_bytes)
    return StreamFlow(
        files_per_second=files_per_second,
        batch=batch,
        files_per_invocation=n,
        reputs_per_file=reputs,
        records_per_second=records,
        requests_per_second=rate + reput_requests,
        bytes_per_second=records * record,
        billed_bytes_per_second=records * billed_record_bytes(record),
        invocations_per_second=invocations,
        invocation_seconds=invocation_seconds(pipeline, load, min(batch, n)),
        output_bytes_per_second=output,
        bundles_per_second=bundles,
        bundle_bytes=output / bundles,
    )


# --------------------------------------------------------------------------------------------
# Limited resources


@dataclass(frozen=True, slots=True)
class Resource:
    name: str
    unit: str
    evaluated_at: str  # "burst" or "baseline"
    at_files_per_second: float  # the total load it is evaluated at
    use: float
    limit: float
    break_files_per_second: float  # total files/s at which use reaches the limit (inf: never)
    config_that_carries_it: str

    @property
    def utilisation(self) -> float:
        return self.use / self.limit if self.limit else math.inf

    @property
    def exceeded(self) -> bool:
        return self.use > self.limit

    @property
    def near(self) -> bool:
        """Within the limit on average but close enough to it that bursts go over."""
        return not self.exceeded and self.utilisation >= NEAR_LIMIT_RATIO

    @property
    def headroom(self) -> float:
        """How many times the evaluated load this resource carries before it breaks."""
        return self.break_files_per_second / max(self.at_files_per_second, 1e-9)


UseFunction = Callable[[float], float]

#: search bound for break points: a billion files per second means "does not break"
_NEVER = 1e9


def break_point(use: UseFunction, limit: float, start: float) -> float:
    """The total files/s at which ``use`` reaches ``limit`` (``use`` non-decreasing in load)."""
    if limit <= 0:
        return 0.0
    low, high = 0.0, max(start, 1e-3)
    while use(high) <= limit:
        low, high = high, high * 2
        if high > _NEVER:
            return math.inf
    for _ in range(60):
        middle = (low + high) / 2
        if use(middle) <= limit:
            low = middle
        else:
            high = middle
    return low


def resources(pipeline: Pipeline, load: LoadProfile, quotas: Quotas) -> tuple[Resource, ...]:
    """Every limited resource: expected use at the load against its limit, and its break point."""
    streams = max(1, load.streams)

    def per_stream(total: float) -> StreamFlow:
        return stream_flow(pipeline, load, total / streams)

    def lambda_concurrency(total: float) -> float:
        flow = per_stream(total)
        copier = flow.bundles_per_second * streams * copier_seconds(flow.bundle_bytes, quotas)
        transform = streams * flow.invocations_per_second * flow.invocation_seconds
        return total * INGEST_SECONDS + transform + copier + MONITOR_SECONDS / 60

    uses: list[tuple[str, str, str, UseFunction, float, str]] = [
        (
            "firehose records/s per stream (incl. re-puts)",
            "records/s",
            "burst",
            lambda total: per_stream(total).records_per_second,
            quotas.firehose_records_per_second,
            "firehose.streams (N streams) or a quota increase; processor.buffer_size_mb "
            "lowers re-puts",
        ),
        (
            "firehose bytes/s per stream",
            "bytes/s",
            "burst",
            lambda total: per_stream(total).bytes_per_second,
            quotas.firehose_bytes_per_second,
            "firehose.streams or a quota increase (the three quotas scale together)",
        ),
        (
            "firehose requests/s per stream (ingest puts + re-puts)",
            "requests/s",
            "burst",
            lambda total: per_stream(total).requests_per_second,
            quotas.firehose_requests_per_second,
            "firehose.streams or a quota increase (one PutRecordBatch per S3 event)",
        ),
        (
            "processor concurrency per stream",
            "invocations",
            "burst",
            lambda total: (
                per_stream(total).invocations_per_second * per_stream(total).invocation_seconds
            ),
            quotas.processor_concurrency_per_stream,
            "transform.fetch_concurrency / functions.transform.memory_mb (shorter invocations) "
            "or firehose.streams",
        ),
        (
            "lambda concurrent executions (account)",
            "executions",
            "burst",
            lambda_concurrency,
            quotas.lambda_concurrency,
            "Lambda 'Concurrent executions' quota increase",
        ),
        (
            "landing PUT requests/s per prefix",
            "requests/s",
            "burst",
            lambda total: total,
            quotas.s3_put_per_second_per_prefix,
            "the external party spreading keys over prefixes (S3 also scales by itself)",
        ),
        (
            "landing GET requests/s per prefix (transform fetches)",
            "requests/s",
            "burst",
            lambda total: total,
            quotas.s3_get_per_second_per_prefix,
            "key prefixes (S3 partitions a busy prefix over time)",
        ),
        (
            "copier seconds per bundle",
            "seconds",
            "burst",
            lambda total: copier_seconds(per_stream(total).bundle_bytes, quotas),
            float(pipeline.copier_timeout_seconds),
            "firehose.buffer_size_mb (smaller bundles) or functions.copier.timeout_seconds",
        ),
        (
            "consumer files/s (sustained)",
            "files/s",
            "baseline",
            lambda total: total,
            quotas.consumer_files_per_second,
            "more consumer hosts (one per prefix) or a faster disk",
        ),
    ]
    result = []
    for name, unit, at, use, limit, carry in uses:
        load_rate = load.burst_files_per_second if at == "burst" else load.files_per_second
        result.append(
            Resource(
                name=name,
                unit=unit,
                evaluated_at=at,
                at_files_per_second=load_rate,
                use=use(load_rate),
                limit=limit,
                break_files_per_second=break_point(use, limit, max(load_rate, 1.0)),
                config_that_carries_it=carry,
            )
        )
    return tuple(result)


def copier_seconds(bundle_bytes: float, quotas: Quotas) -> float:
    return COPIER_OVERHEAD_SECONDS + bundle_bytes / quotas.copier_bytes_per_second


def first_to_break(items: tuple[Resource, ...]) -> Resource:
    """The resource with the least headroom over the load it is evaluated at."""
    return min(items, key=lambda item: item.headroom)


# --------------------------------------------------------------------------------------------
# Latency


@dataclass(frozen=True, slots=True)
class Latency:
    ingest: float
    processor_buffer: float
    deferral: float
    transform: float
    destination_buffer: float
    delivery_and_copy: float

    @property
    def total(self) -> float:
        return float(sum(getattr(self, item.name) for item in fields(self)))


def worst_case_latency(
    pipeline: Pipeline, load: LoadProfile, quotas: Quotas, files_per_second: float
) -> Latency:
    """Worst case for one file while the stream keeps up (inf when a rate limit is exceeded)."""
    flow = stream_flow(pipeline, load, files_per_second / max(1, load.streams))
    overloaded = (
        flow.records_per_second > quotas.firehose_records_per_second
        or flow.bytes_per_second > quotas.firehose_bytes_per_second
        or flow.requests_per_second > quotas.firehose_requests_per_second
        or flow.invocations_per_second * flow.invocation_seconds
        > quotas.processor_concurrency_per_stream
    )
    if overloaded:
        return Latency(INGEST_LATENCY_SECONDS, math.inf, math.inf, math.inf, math.inf, math.inf)
    fill = flow.batch / max(flow.records_per_second, 1e-9)
    processor_wait = min(float(max(pipeline.processor_interval_seconds, 0)), fill)
    rounds = math.ceil(flow.batch / flow.files_per_invocation) - 1 if flow.reputs_per_file else 0
    deferral = rounds * max(fill, flow.invocation_seconds)
    destination = (
        0.0  # direct bundles skip the destination buffer
        if is_direct(pipeline, load)
        else min(
            float(pipeline.buffer_interval_seconds),
            pipeline.buffer_bytes / max(flow.output_bytes_per_second, 1e-9),
        )
    )
    return Latency(
        ingest=INGEST_LATENCY_SECONDS,
        processor_buffer=processor_wait,
        deferral=deferral,
        transform=flow.invocation_seconds,
        destination_buffer=destination,
        delivery_and_copy=DELIVERY_SECONDS + copier_seconds(flow.bundle_bytes, quotas),
    )


# --------------------------------------------------------------------------------------------
# Cost


@dataclass(frozen=True, slots=True)
class MonthlyCost:
    firehose: float
    lambda_: float
    s3_requests: float
    s3_storage: float
    deep_archive_added: float  # one more month of bundles in Deep Archive: grows every month
    transfer_out: float

    @property
    def total(self) -> float:
        return float(sum(getattr(self, item.name) for item in fields(self)))


def monthly_cost(
    pipeline: Pipeline, load: LoadProfile, quotas: Quotas, prices: Prices
) -> MonthlyCost:
    """The month's bill at the sustained baseline (bursts are short against a month)."""
    streams = max(1, load.streams)
    total = load.files_per_second
    flow = stream_flow(pipeline, load, total / streams)
    month = SECONDS_PER_MONTH
    files = total * month
    records = flow.records_per_second * streams * month
    invocations = flow.invocations_per_second * streams * month
    bundles = flow.bundles_per_second * streams * month
    bundle_bytes = flow.output_bytes_per_second * streams * month
    firehose = records * billed_record_bytes(reference_bytes(pipeline, load)) / GB
    firehose *= prices.firehose_ingest_per_gb

    gb_second = (
        prices.lambda_per_gb_second_arm64
        if pipeline.architecture == "arm64"
        else prices.lambda_per_gb_second_x86_64
    )
    memory = pipeline.memory_mb
    monitor_runs = month / 60
    gb_seconds = (
        files * INGEST_SECONDS * memory["ingest"]
        + invocations * flow.invocation_seconds * memory["transform"]
        + bundles * copier_seconds(flow.bundle_bytes, quotas) * memory["copier"]
        + monitor_runs * MONITOR_SECONDS * memory["monitor"]
    ) / 1024
    requests = files + invocations + bundles + monitor_runs
    lambda_cost = gb_seconds * gb_second + requests / 1e6 * prices.lambda_per_million_requests

    # Landing PUT (the party's uploads, billed to the bucket owner) + GET (transform);
    # per bundle: Firehose PUT, copier GET + metadata copy on Archive + copy to Distribution,
    # consumer GET (+ LIST, DELETE free); the transition to Deep Archive.
    puts = files + bundles * 3
    gets = files + bundles * 2
    s3_requests = (
        puts / 1000 * prices.s3_put_per_1000
        + gets / 1000 * prices.s3_get_per_1000
        + bundles / 1000 * prices.s3_deep_archive_transition_per_1000
    )
    content_per_second = total * load.mean_size_bytes
    landing_gb = content_per_second * pipeline.landing_days * SECONDS_PER_DAY / GB
    archive_gb = bundle_bytes / month * pipeline.standard_days * SECONDS_PER_DAY / GB
    s3_storage = (landing_gb + archive_gb) * prices.s3_standard_per_gb_month
    deep_archive = bundle_bytes / GB * prices.s3_deep_archive_per_gb_month
    transfer = bundle_bytes / GB * prices.transfer_out_per_gb
    return MonthlyCost(
        firehose=firehose,
        lambda_=lambda_cost,
        s3_requests=s3_requests,
        s3_storage=s3_storage,
        deep_archive_added=deep_archive,
        transfer_out=transfer,
    )


# --------------------------------------------------------------------------------------------
# The whole report


@dataclass(frozen=True, slots=True)
class CapacityReport:
    env: str
    load: LoadProfile
    quotas: Quotas
    prices: Prices
    regional_prices: bool
    reference_bytes: int
    billed_reference_bytes: int
    files_per_invocation: int
    references_per_buffer: int
    burst_flow: StreamFlow
    resources: tuple[Resource, ...]
    first_to_break: Resource
    latency_baseline: Latency
    latency_burst: Latency
    cost: MonthlyCost


def capacity_report(config: EnvironmentConfig, load: LoadProfile) -> CapacityReport:
    pipeline = Pipeline.from_config(config)
    quotas, prices = limits_for(config, load.region)
    items = resources(pipeline, load, quotas)
    record = reference_bytes(pipeline, load)
    return CapacityReport(
        env=config.name,
        load=load,
        quotas=quotas,
        prices=prices,
        regional_prices=prices_are_regional(load.region),
        reference_bytes=record,
        billed_reference_bytes=billed_record_bytes(record),
        files_per_invocation=files_per_invocation(pipeline, load),
        references_per_buffer=references_per_buffer(pipeline, load),
        burst_flow=stream_flow(pipeline, load, load.burst_files_per_second / max(1, load.streams)),
        resources=items,
        first_to_break=first_to_break(items),
        latency_baseline=worst_case_latency(pipeline, load, quotas, load.files_per_second),
        latency_burst=worst_case_latency(pipeline, load, quotas, load.burst_files_per_second),
        cost=monthly_cost(pipeline, load, quotas, prices),
    )
