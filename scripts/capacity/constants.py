"""AWS quotas and list prices the capacity model uses: each one documented, each one overridable.

Every figure below is a default. An environment overrides any of them by name in its optional
``[capacity.quotas]`` / ``[capacity.prices]`` tables (templates/config/ parses them; unknown names
are refused by :func:`scripts.capacity.model.apply_overrides`). Check the figures against your
account before relying on them: quotas are per account and region and can be raised, and prices
change. "Confirmed" below means the figure was read on the cited page on 2026-12-01 (through the
project's documentation search); "not confirmed" means it is the AWS list price as recorded by the
author from the cited page but the search could not show the page's table that day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pipeline.contract.quotas import PROCESSOR_CONCURRENCY_PER_STREAM, direct_put_quota

#: the date the figures below were recorded
AS_OF = "2026-12-01"

FIREHOSE_QUOTAS_URL = "https://docs.aws.amazon.com/firehose/latest/dev/limits.html"
FIREHOSE_PRICING_URL = "https://aws.amazon.com/firehose/pricing/"
LAMBDA_QUOTAS_URL = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
LAMBDA_PRICING_URL = "https://aws.amazon.com/lambda/pricing/"
S3_PERFORMANCE_URL = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html"
)
S3_PRICING_URL = "https://aws.amazon.com/s3/pricing/"

MIB = 1024 * 1024
#: AWS bills data and storage in "GB" of 2^30 bytes
GB = 1024 * 1024 * 1024
KB = 1000


@dataclass(frozen=True, slots=True)
class Quotas:
    """Limits one deployment lives with (per stream where the name says so)."""

    #: Firehose DirectPut, per stream, PutRecord + PutRecordBatch combined (FIREHOSE_QUOTAS_URL,
    #: confirmed 2026-12-01)
    firehose_records_per_second: float
    firehose_requests_per_second: float
    firehose_bytes_per_second: float
    #: Concurrent processor (transform) invocations Firehose runs for one stream (pipeline/
    #: contract/quotas.py PROCESSOR_CONCURRENCY_PER_STREAM, NOT CONFIRMED by AWS; the Firehose
    #: plugin runs as many at once). Override when measured.
    processor_concurrency_per_stream: float
    #: Lambda concurrent executions per account and region, default (LAMBDA_QUOTAS_URL: "1,000";
    #: new accounts may start lower; adjustable). Shared by every function in the account.
    lambda_concurrency: float
    #: S3 per partitioned prefix (S3_PERFORMANCE_URL: "at least 3,500 PUT/COPY/POST/DELETE or
    #: 5,500 GET/HEAD requests per second per partitioned prefix"). S3 partitions further under
    #: sustained load, so these are the rates before it has scaled, not hard ceilings.
    s3_put_per_second_per_prefix: float
    s3_get_per_second_per_prefix: float
    #: The reference consumer's drain rate, files/s, measured (docs/performance.md `bench consume`:
    #: 1,305 files/s on a 2-core host, 27 KB files, verified and fsync'd). Not an AWS figure: set
    #: it to what your on-premise host measures.
    consumer_files_per_second: float
    #: The copier's hash + stage rate, bytes/s. Estimate: the GET + SHA-256 pass measured 622 MB/s
    #: against moto (`bench copier_hash`); the server-side copies to Distribution and back are S3's
    #: work. 100 MB/s is a conservative single-stream S3 GET rate for one Lambda; override when
    #: measured on AWS.
    copier_bytes_per_second: float


@dataclass(frozen=True, slots=True)
class Prices:
    """List prices in USD (on-demand, first pricing tier)."""

    #: Firehose DirectPut ingestion per GB, each record rounded up to the next 5 KB (FIREHOSE_
    #: PRICING_URL; the 5 KB rounding is confirmed 2026-12-01; the per-GB figure is NOT CONFIRMED
    #: by search that day: us-east-1 $0.029/GB for the first 500 TB/month as recorded by the
    #: author; eu-west-2 assumed the same, override if your bill differs).
    firehose_ingest_per_gb: float
    #: Lambda (LAMBDA_PRICING_URL, NOT CONFIRMED by search 2026-12-01; list prices as recorded:
    #: $0.20 per 1M requests; arm64 $0.0000133334, x86_64 $0.0000166667 per GB-second, first
    #: tier, same in us-east-1 and eu-west-2)
    lambda_per_million_requests: float
    lambda_per_gb_second_arm64: float
    lambda_per_gb_second_x86_64: float
    #: S3 (S3_PRICING_URL, NOT CONFIRMED by search 2026-12-01; list prices as recorded)
    s3_put_per_1000: float
    s3_get_per_1000: float
    s3_standard_per_gb_month: float
    s3_deep_archive_per_gb_month: float
    s3_deep_archive_transition_per_1000: float
    #: Data transfer out of AWS to the on-premise consumer per GB. Default: internet egress, first
    #: 10 TB/month tier ($0.09/GB, NOT CONFIRMED by search 2026-12-01). Over Direct Connect the
    #: rate is lower (~$0.02/GB plus port hours): override with your path's rate.
    transfer_out_per_gb: float


_COMMON_QUOTAS = {
    "processor_concurrency_per_stream": float(PROCESSOR_CONCURRENCY_PER_STREAM),
    "lambda_concurrency": 1_000.0,
    "s3_put_per_second_per_prefix": 3_500.0,
    "s3_get_per_second_per_prefix": 5_500.0,
    "consumer_files_per_second": 1_305.0,
    "copier_bytes_per_second": 100_000_000.0,
}

_US_EAST_1_PRICES = {
    "firehose_ingest_per_gb": 0.029,
    "lambda_per_million_requests": 0.20,
    "lambda_per_gb_second_arm64": 0.0000133334,
    "lambda_per_gb_second_x86_64": 0.0000166667,
    "s3_put_per_1000": 0.005,
    "s3_get_per_1000": 0.0004,
    "s3_standard_per_gb_month": 0.023,
    "s3_deep_archive_per_gb_month": 0.00099,
    "s3_deep_archive_transition_per_1000": 0.05,
    "transfer_out_per_gb": 0.09,
}
#: eu-west-2 (London) S3 list prices as recorded: PUT $0.0053/1000, GET $0.00042/1000, Standard
#: $0.024/GB-month, Deep Archive $0.0018/GB-month, transition $0.054/1000 (NOT CONFIRMED).
_EU_WEST_2_PRICES = {
    **_US_EAST_1_PRICES,
    "s3_put_per_1000": 0.0053,
    "s3_get_per_1000": 0.00042,
    "s3_standard_per_gb_month": 0.024,
    "s3_deep_archive_per_gb_month": 0.0018,
    "s3_deep_archive_transition_per_1000": 0.054,
}
#: Regions with their own price table; any other region uses us-east-1's (and says so).
PRICED_REGIONS: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {"us-east-1": _US_EAST_1_PRICES, "eu-west-2": _EU_WEST_2_PRICES}
)

QUOTA_NAMES = tuple(Quotas.__dataclass_fields__)
PRICE_NAMES = tuple(Prices.__dataclass_fields__)


def default_quotas(region: str) -> Quotas:
    """AWS's defaults for ``region``: the Firehose DirectPut figures are the contract's
    (pipeline/contract/quotas.py, FIREHOSE_QUOTAS_URL, confirmed 2026-12-01)."""
    firehose = direct_put_quota(region)
    return Quotas(
        firehose_records_per_second=float(firehose.records_per_second),
        firehose_requests_per_second=float(firehose.requests_per_second),
        firehose_bytes_per_second=float(firehose.bytes_per_second),
        **_COMMON_QUOTAS,
    )


def default_prices(region: str) -> Prices:
    return Prices(**PRICED_REGIONS.get(region, _US_EAST_1_PRICES))
