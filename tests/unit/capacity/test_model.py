"""The capacity model: each limit's use and break point, latency, and the cost arithmetic."""

from __future__ import annotations

import dataclasses
import math

import pytest

from pipeline.references import ObjectReference
from scripts.capacity.constants import GB, MIB, default_prices, default_quotas
from scripts.capacity.model import (
    COPIER_OVERHEAD_SECONDS,
    DELIVERY_SECONDS,
    DIRECT_BYTES_PER_SECOND,
    INGEST_LATENCY_SECONDS,
    INGEST_SECONDS,
    MONITOR_SECONDS,
    SECONDS_PER_DAY,
    SECONDS_PER_MONTH,
    TYPICAL_RECORD_ID,
    LoadProfile,
    Pipeline,
    Resource,
    billed_record_bytes,
    break_point,
    capacity_report,
    copier_seconds,
    files_per_invocation,
    first_to_break,
    member_bytes,
    monthly_cost,
    reference_bytes,
    references_per_buffer,
    resources,
    stream_flow,
    worst_case_latency,
)
from templates.config import load_config
from transforms.plan import Route, plan_batch
from transforms.records import InputRecord

PROD = Pipeline.from_config(load_config("prod", deployable=False))
BRIEF = LoadProfile(
    files_per_second=10, burst_files_per_second=100, mean_size_bytes=27_000, region="eu-west-2"
)
QUOTAS = default_quotas("eu-west-2")


def _by_name(items: tuple[Resource, ...], prefix: str) -> Resource:
    (item,) = [item for item in items if item.name.startswith(prefix)]
    return item


# ---------------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("size", "billed"), [(1, 5000), (327, 5000), (5000, 5000), (5001, 10_000), (12_000, 15_000)]
)
def test_firehose_bills_each_record_rounded_up_to_5_kb(size: int, billed: int) -> None:
    assert billed_record_bytes(size) == billed


def test_reference_size_is_the_serialized_reference() -> None:
    size = reference_bytes(PROD, BRIEF)
    assert 250 < size < 400  # one JSON line: bucket, key, version id, etag, sequencer, time
    assert references_per_buffer(PROD, BRIEF) == int(0.2 * MIB // size)


@pytest.mark.parametrize("mean_size", [0, 1_000, 27_000, 200_000, 1_000_000])
def test_files_per_invocation_is_what_the_transform_planner_inlines(mean_size: int) -> None:
    load = dataclasses.replace(BRIEF, mean_size_bytes=mean_size)
    n = files_per_invocation(PROD, load)
    reference = ObjectReference(
        bucket=f"s3-aggregator-prod-landing-123456789012-{load.region}",
        key="incoming/2026/12/01/partner-file-0000001234.dat",
        version_id="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nrjfkd",
        size=mean_size,
        etag='"d41d8cd98f00b204e9800998ecf8427e"',
        sequencer="0062E99A88DC407460",
        event_time="2026-12-01T14:00:00.000Z",
    )
    batch = references_per_buffer(PROD, load)  # a full processor buffer
    records = [
        InputRecord(TYPICAL_RECORD_ID, reference.to_record(), 0, reference) for _ in range(batch)
    ]
    routes = plan_batch(
        records,
        inline_max_bytes=PROD.inline_max_bytes,
        budget_bytes=PROD.response_budget_bytes,
    )
    assert routes[:n] == (Route.INLINE,) * n
    assert routes[n:] == (Route.DEFER,) * (batch - n)


def test_direct_path_files_are_bounded_by_the_transform_deadline_not_the_response() -> None:
    load = dataclasses.replace(BRIEF, mean_size_bytes=300_000_000)
    expected = int(300 * DIRECT_BYTES_PER_SECOND // 300_000_000)  # what one 5-min call streams
    assert files_per_invocation(PROD, load) == min(expected, references_per_buffer(PROD, load))
    flow = stream_flow(PROD, load, 0.1)
    assert flow.bundles_per_second == pytest.approx(0.1)  # one bundle per file
    assert flow.bundle_bytes == pytest.approx(member_bytes(PROD, load))
    assert worst_case_latency(PROD, load, QUOTAS, 0.1).destination_buffer == 0
    # five concurrent invocations streaming one file after another
    item = _by_name(resources(PROD, load, QUOTAS), "processor concurrency")
    assert item.break_files_per_second == pytest.approx(
        5 * DIRECT_BYTES_PER_SECOND / 300_000_000, rel=0.05
    )


# ---------------------------------------------------------------------------------- flow


def test_baseline_fits_one_response_so_nothing_is_re_put() -> None:
    flow = stream_flow(PROD, BRIEF, 10)  # P = 10 s -> 100 references per batch < N
    assert flow.reputs_per_file == 0
    assert flow.batch == pytest.approx(100)
    assert flow.records_per_second == pytest.approx(10)
    assert flow.requests_per_second == pytest.approx(10)  # one PutRecordBatch per S3 event
    assert flow.invocations_per_second == pytest.approx(0.1)
    assert flow.bytes_per_second == pytest.approx(10 * reference_bytes(PROD, BRIEF))


def test_burst_over_one_response_re_puts_every_overflow_record() -> None:
    n = files_per_invocation(PROD, BRIEF)
    full = references_per_buffer(PROD, BRIEF)
    assert full > n  # 0.2 MB of references hold more than one response can return
    flow = stream_flow(PROD, BRIEF, 100)
    assert flow.batch == full
    assert flow.reputs_per_file == pytest.approx(full / n - 1)
    assert flow.records_per_second == pytest.approx(100 * full / n)
    assert flow.invocations_per_second == pytest.approx(100 / n)
    reput_calls = math.ceil((full - n) / 500)
    assert flow.requests_per_second == pytest.approx(100 + 100 / n * reput_calls)
    assert flow.billed_bytes_per_second == pytest.approx(flow.records_per_second * 5000)


def test_bundles_are_cut_by_interval_at_low_rates_and_by_size_at_high_rates() -> None:
    low = stream_flow(PROD, BRIEF, 10)
    assert low.bundles_per_second == pytest.approx(1 / 60)
    high = stream_flow(PROD, BRIEF, 1000)
    assert high.bundle_bytes == pytest.approx(64 * MIB)
    assert high.bundles_per_second == pytest.approx(1000 * member_bytes(PROD, BRIEF) / (64 * MIB))


# ---------------------------------------------------------------------------------- limits


def test_break_point_finds_where_use_reaches_the_limit() -> None:
    assert break_point(lambda x: 3 * x, 300, 1) == pytest.approx(100, rel=1e-6)
    assert break_point(lambda x: 0 * x, 300, 1) == math.inf
    assert break_point(lambda x: x, 0, 1) == 0


def test_firehose_bytes_limit_includes_re_puts() -> None:
    items = resources(PROD, BRIEF, QUOTAS)
    item = _by_name(items, "firehose bytes/s")
    ratio = references_per_buffer(PROD, BRIEF) / files_per_invocation(PROD, BRIEF)
    expected = MIB / (ratio * reference_bytes(PROD, BRIEF))  # files/s at 1 MiB/s incl. re-puts
    assert item.break_files_per_second == pytest.approx(expected, rel=1e-6)
    assert item.use == pytest.approx(100 * ratio * reference_bytes(PROD, BRIEF))
    assert item.limit == MIB


def test_firehose_records_limit() -> None:
    item = _by_name(resources(PROD, BRIEF, QUOTAS), "firehose records/s")
    ratio = references_per_buffer(PROD, BRIEF) / files_per_invocation(PROD, BRIEF)
    assert item.limit == 100_000
    assert item.break_files_per_second == pytest.approx(100_000 / ratio, rel=1e-6)


def test_firehose_requests_limit_is_one_put_per_file_plus_re_puts() -> None:
    item = _by_name(resources(PROD, BRIEF, QUOTAS), "firehose requests/s")
    n = files_per_invocation(PROD, BRIEF)
    calls = math.ceil((references_per_buffer(PROD, BRIEF) - n) / 500)
    assert item.limit == 1000
    assert item.break_files_per_second == pytest.approx(1000 / (1 + calls / n), rel=1e-6)


def test_us_east_1_has_the_larger_firehose_quota() -> None:
    east = default_quotas("us-east-1")
    assert (east.firehose_bytes_per_second, east.firehose_requests_per_second) == (5 * MIB, 2000)
    assert east.firehose_records_per_second == 500_000
    load = dataclasses.replace(BRIEF, region="us-east-1")
    west = _by_name(resources(PROD, BRIEF, QUOTAS), "firehose bytes/s").break_files_per_second
    bigger = _by_name(resources(PROD, load, east), "firehose bytes/s").break_files_per_second
    # five times the bytes; the reference names the region, so its size differs slightly
    assert bigger == pytest.approx(5 * west, rel=0.02)


def test_processor_concurrency_is_invocation_rate_times_duration() -> None:
    item = _by_name(resources(PROD, BRIEF, QUOTAS), "processor concurrency")
    flow = stream_flow(PROD, BRIEF, 100)
    assert item.use == pytest.approx(flow.invocations_per_second * flow.invocation_seconds)
    assert item.limit == 5
    serial = dataclasses.replace(QUOTAS, processor_concurrency_per_stream=1)
    one = _by_name(resources(PROD, BRIEF, serial), "processor concurrency")
    assert one.break_files_per_second == pytest.approx(item.break_files_per_second / 5, rel=1e-6)


def test_lambda_concurrency_sums_every_function() -> None:
    item = _by_name(resources(PROD, BRIEF, QUOTAS), "lambda concurrent")
    flow = stream_flow(PROD, BRIEF, 100)
    expected = (
        100 * INGEST_SECONDS
        + flow.invocations_per_second * flow.invocation_seconds
        + flow.bundles_per_second * copier_seconds(flow.bundle_bytes, QUOTAS)
        + MONITOR_SECONDS / 60
    )
    assert item.use == pytest.approx(expected)
    assert item.limit == 1000
    small = dataclasses.replace(QUOTAS, lambda_concurrency=10)
    assert _by_name(resources(PROD, BRIEF, small), "lambda concurrent").exceeded is False
    tiny = dataclasses.replace(QUOTAS, lambda_concurrency=2)
    assert _by_name(resources(PROD, BRIEF, tiny), "lambda concurrent").exceeded is True


def test_s3_prefix_limits_are_one_put_and_one_get_per_file() -> None:
    items = resources(PROD, BRIEF, QUOTAS)
    assert _by_name(items, "landing PUT").break_files_per_second == pytest.approx(3500)
    assert _by_name(items, "landing GET").break_files_per_second == pytest.approx(5500)


def test_copier_time_per_bundle_against_its_timeout() -> None:
    item = _by_name(resources(PROD, BRIEF, QUOTAS), "copier seconds")
    assert item.limit == 900
    assert item.use == pytest.approx(COPIER_OVERHEAD_SECONDS + 64 * MIB / 100_000_000)
    slow = dataclasses.replace(QUOTAS, copier_bytes_per_second=50_000)  # 64 MiB takes > 900 s
    assert _by_name(resources(PROD, BRIEF, slow), "copier seconds").exceeded is True


def test_consumer_is_evaluated_at_the_sustained_baseline() -> None:
    item = _by_name(resources(PROD, BRIEF, QUOTAS), "consumer")
    assert (item.evaluated_at, item.use, item.limit) == ("baseline", 10, 1305)
    assert item.break_files_per_second == pytest.approx(1305)
    assert item.headroom == pytest.approx(130.5)


def test_two_streams_double_every_per_stream_limit() -> None:
    one = resources(PROD, BRIEF, QUOTAS)
    two = resources(PROD, dataclasses.replace(BRIEF, streams=2), QUOTAS)
    for prefix in ("firehose records", "firehose bytes", "firehose requests", "processor"):
        single = _by_name(one, prefix).break_files_per_second
        assert _by_name(two, prefix).break_files_per_second == pytest.approx(2 * single, rel=1e-6)


def test_first_to_break_has_the_least_headroom() -> None:
    items = resources(PROD, BRIEF, QUOTAS)
    first = first_to_break(items)
    assert all(first.headroom <= item.headroom for item in items)
    # the brief's load in eu-west-2: the re-puts of a burst make bytes/s the first limit
    assert first.name.startswith("firehose bytes/s")
    assert 5 < first.headroom < 10


# ---------------------------------------------------------------------------------- latency


def test_baseline_worst_case_is_the_two_buffer_intervals_plus_work() -> None:
    latency = worst_case_latency(PROD, BRIEF, QUOTAS, 10)
    flow = stream_flow(PROD, BRIEF, 10)
    assert latency.ingest == INGEST_LATENCY_SECONDS
    assert latency.processor_buffer == 10  # P
    assert latency.deferral == 0
    assert latency.destination_buffer == 60  # I: 16 MB a minute never fills 64 MB
    assert latency.delivery_and_copy == pytest.approx(
        DELIVERY_SECONDS + copier_seconds(flow.bundle_bytes, QUOTAS)
    )
    assert latency.total < 120


def test_deferral_rounds_add_to_a_burst_file_latency() -> None:
    latency = worst_case_latency(PROD, BRIEF, QUOTAS, 100)
    flow = stream_flow(PROD, BRIEF, 100)
    rounds = math.ceil(flow.batch / flow.files_per_invocation) - 1
    assert rounds >= 1
    assert latency.deferral == pytest.approx(rounds * flow.batch / flow.records_per_second)


def test_latency_is_unbounded_past_a_stream_limit() -> None:
    assert math.isinf(worst_case_latency(PROD, BRIEF, QUOTAS, 5000).total)


# ---------------------------------------------------------------------------------- cost


def test_monthly_cost_arithmetic_at_the_brief_baseline() -> None:
    prices = default_prices("eu-west-2")
    cost = monthly_cost(PROD, BRIEF, QUOTAS, prices)
    files = 10 * SECONDS_PER_MONTH
    assert cost.firehose == pytest.approx(files * 5000 / GB * prices.firehose_ingest_per_gb)

    bundles = SECONDS_PER_MONTH / 60
    flow = stream_flow(PROD, BRIEF, 10)
    invocations = files / 100
    gb_seconds = (
        files * INGEST_SECONDS * 256
        + invocations * flow.invocation_seconds * 2048
        + bundles * copier_seconds(flow.bundle_bytes, QUOTAS) * 1024
        + SECONDS_PER_MONTH / 60 * MONITOR_SECONDS * 256
    ) / 1024
    requests = files + invocations + bundles + SECONDS_PER_MONTH / 60
    assert cost.lambda_ == pytest.approx(
        gb_seconds * prices.lambda_per_gb_second_arm64
        + requests / 1e6 * prices.lambda_per_million_requests
    )
    assert cost.s3_requests == pytest.approx(
        (files + 3 * bundles) / 1000 * prices.s3_put_per_1000
        + (files + 2 * bundles) / 1000 * prices.s3_get_per_1000
        + bundles / 1000 * prices.s3_deep_archive_transition_per_1000
    )
    bundle_bytes = 10 * member_bytes(PROD, BRIEF) * SECONDS_PER_MONTH
    landing = 10 * 27_000 * 7 * SECONDS_PER_DAY / GB
    archive = 10 * member_bytes(PROD, BRIEF) * 30 * SECONDS_PER_DAY / GB
    assert cost.s3_storage == pytest.approx((landing + archive) * prices.s3_standard_per_gb_month)
    assert cost.transfer_out == pytest.approx(bundle_bytes / GB * prices.transfer_out_per_gb)
    assert cost.deep_archive_added == pytest.approx(
        bundle_bytes / GB * prices.s3_deep_archive_per_gb_month
    )
    assert cost.total == pytest.approx(
        cost.firehose
        + cost.lambda_
        + cost.s3_requests
        + cost.s3_storage
        + cost.transfer_out
        + cost.deep_archive_added
    )


def test_x86_functions_cost_more_per_gb_second() -> None:
    prices = default_prices("eu-west-2")
    arm = monthly_cost(PROD, BRIEF, QUOTAS, prices)
    x86 = monthly_cost(dataclasses.replace(PROD, architecture="x86_64"), BRIEF, QUOTAS, prices)
    assert x86.lambda_ > arm.lambda_
    assert x86.firehose == arm.firehose


def test_cost_scales_with_load_and_with_re_puts() -> None:
    prices = default_prices("eu-west-2")
    base = monthly_cost(PROD, BRIEF, QUOTAS, prices)
    more = monthly_cost(PROD, dataclasses.replace(BRIEF, files_per_second=15), QUOTAS, prices)
    assert more.firehose == pytest.approx(1.5 * base.firehose)  # P x 15/s still fits N
    ten = monthly_cost(PROD, dataclasses.replace(BRIEF, files_per_second=100), QUOTAS, prices)
    assert ten.transfer_out == pytest.approx(10 * base.transfer_out)
    # at 100 files/s a 10 s processor interval overfills one response: every file is re-put
    ratio = references_per_buffer(PROD, BRIEF) / files_per_invocation(PROD, BRIEF)
    assert ten.firehose == pytest.approx(10 * ratio * base.firehose)


def test_report_for_the_shipped_prod_config() -> None:
    report = capacity_report(load_config("prod", deployable=False), BRIEF)
    assert report.first_to_break.name.startswith("firehose bytes/s")
    assert not any(item.exceeded for item in report.resources)
    assert report.latency_burst.total < 120
    assert report.regional_prices


def test_direct_files_of_an_invocation_share_one_bundle() -> None:
    load = dataclasses.replace(BRIEF, mean_size_bytes=MIB + 1)  # just over the inline limit
    flow = stream_flow(PROD, load, 25.0)
    per_invocation = min(flow.batch, flow.files_per_invocation)
    bundles_per_invocation = flow.bundles_per_second / flow.invocations_per_second
    assert bundles_per_invocation == pytest.approx(
        math.ceil(per_invocation / (PROD.direct_bundle_max_bytes // (MIB + 1)))
    )
    assert flow.bundles_per_second < 25.0 / 10  # not one bundle per file any more
