"""The configuration's schema: the frozen dataclasses the troposphere code reads, their error and
the patterns and allowed values the sections check (docs/configuration.md)."""

from __future__ import annotations

import ipaddress
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

from pipeline import errors
from pipeline.contract import naming
from pipeline.contract.limits import DIRECT_BUNDLE_MAX_BYTES
from pipeline.contract.prefixes import BUNDLE_ROOT, ERROR_ROOT

__all__ = ["BUNDLE_ROOT", "ERROR_ROOT"]

ENVIRONMENTS_DIR = Path(__file__).resolve().parent.parent / "environments"

#: retention values CloudWatch Logs accepts
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827)
ENV_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]{0,7}$")
PRINCIPAL_PATTERN = re.compile(
    r"^arn:aws[a-z-]*:iam::\d{12}:(root|role/[\w+=,.@/-]+|user/[\w+=,.@/-]+)$"
)
SNS_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SUBNET_PATTERN = re.compile(r"^subnet-[0-9a-f]{8,17}$")
VPC_PATTERN = re.compile(r"^vpc-[0-9a-f]{8,17}$")
ROUTE_TABLE_PATTERN = re.compile(r"^rtb-[0-9a-f]{8,17}$")
VPC_ENDPOINT_PATTERN = re.compile(r"^vpce-[0-9a-f]{8,17}$")
#: the endpoint-specific DNS name of an S3 interface endpoint, bucket form (docs/architecture.md)
S3_INTERFACE_ENDPOINT_URL = re.compile(
    r"^https://bucket\.(?P<endpoint>vpce-[0-9a-z]+-[0-9a-z]+)(-(?P<zone>[a-z0-9-]+))?"
    r"\.s3\.(?P<region>[a-z]{2}(-[a-z]+)+-\d)\.vpce\.amazonaws\.com/?$"
)
CONSUMER_PATHS = ("internet", "privatelink")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
ARCHITECTURES = ("arm64", "x86_64")
#: ``architecture = "host"``: this machine's CPU, for a stack whose functions run on this machine
#: (the embedded LocalStack's host executor). The package is then built for the CPU that runs it,
#: as on AWS, so native extensions (awscrt, the transform's fetcher) load there too.
HOST_ARCHITECTURE = "host"
_MACHINE_ARCHITECTURES = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "aarch64": "arm64",
    "arm64": "arm64",
}


def host_architecture() -> Architecture:
    """The Lambda architecture of this machine's CPU."""
    machine = platform.machine().lower()
    if machine not in _MACHINE_ARCHITECTURES:
        raise ValueError(f"no Lambda architecture runs {machine!r} code: set arm64 or x86_64")
    return cast(Architecture, _MACHINE_ARCHITECTURES[machine])


FUNCTION_NAMES = ("ingest", "transform", "copier", "monitor")

Architecture = Literal["arm64", "x86_64"]

LOCAL_ENV_NAME = "local"
#: account ids that appear in the AWS documentation's examples (and LocalStack's default account):
#: refused outside `local` so a copied example never becomes a trust relationship
EXAMPLE_ACCOUNT_IDS = frozenset(
    {
        "123456789012",
        "111122223333",
        "444455556666",
        "777788889999",
        "555555555555",
        "999999999999",
        "111111111111",
        "000000000000",
    }
)
#: documentation address ranges (RFC 5737 TEST-NET-1/2/3 and RFC 3849)
EXAMPLE_NETWORKS = tuple(
    ipaddress.ip_network(cidr)
    for cidr in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
ACCOUNT_IN_ARN = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12}):")
#: CloudFormation tag keys/values (a conservative subset of what AWS accepts)
TAG_PATTERN = re.compile(r"^[\w .:/=+\-@]{1,256}$")


class ConfigError(errors.ConfigError):
    """An environment file is missing, malformed or holds a value outside its allowed range."""

    #: every problem found, when one run found several (see :func:`config_error`)
    problems: list[str]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.problems = [message]


#: ``firehose.streams`` upper bound: each stream adds a log group, a log stream, the stream, eight
#: alarms and an anomaly detector to the template (CloudFormation allows 500 resources; 16 streams
#: make ~250) and uses one of the region's delivery streams; past it, raise the per-stream
#: DirectPut quota instead.
MAX_STREAMS = 16


@dataclass(frozen=True)
class FirehoseBuffering:
    size_mb: int
    interval_seconds: int
    #: delivery streams the ingest spreads references over (by a hash of bucket and key)
    streams: int = 1


@dataclass(frozen=True)
class ProcessorBuffering:
    size_mb: float
    interval_seconds: int
    number_of_retries: int


@dataclass(frozen=True)
class Prefixes:
    bundle: str
    error: str


@dataclass(frozen=True)
class TransformSettings:
    inline_max_bytes: int
    fetch_concurrency: int
    response_budget_bytes: int
    direct_bundle_max_bytes: int = DIRECT_BUNDLE_MAX_BYTES.default


@dataclass(frozen=True)
class FunctionSettings:
    memory_mb: int
    timeout_seconds: int


@dataclass(frozen=True)
class Functions:
    architecture: Architecture
    log_level: str
    max_retry_attempts: int
    max_event_age_seconds: int
    ingest: FunctionSettings
    transform: FunctionSettings
    copier: FunctionSettings
    monitor: FunctionSettings

    def settings(self, name: str) -> FunctionSettings:
        return cast(FunctionSettings, getattr(self, name))


@dataclass(frozen=True)
class Retention:
    landing_expiration_days: int
    archive_deep_archive_after_days: int
    noncurrent_version_expiration_days: int
    log_retention_days: int


@dataclass(frozen=True)
class Alarms:
    email: str | None
    topic_arn: str | None
    backlog_count_threshold: int
    backlog_oldest_age_seconds: int
    freshness_seconds: int
    anomaly_band_width: float
    anomaly_detection: bool
    dashboard: bool


ConsumerPath = Literal["internet", "privatelink"]


@dataclass(frozen=True)
class PrivateLink:
    """Where the consumer's S3 interface endpoint is: created in a VPC, or an existing one."""

    vpc_id: str | None
    subnet_ids: tuple[str, ...]
    endpoint_id: str | None


@dataclass(frozen=True)
class Access:
    external_principal: str
    external_cidrs: tuple[str, ...]
    consumer_principal: str
    #: "internet" (optionally narrowed to consumer_cidrs) or "privatelink" (interface endpoint)
    consumer_path: ConsumerPath = "internet"
    #: internet: aws:SourceIp allow-list (empty = anywhere); privatelink: the on-premise networks
    consumer_cidrs: tuple[str, ...] = ()
    #: the interface endpoint URL `aggregator consume` uses unless --endpoint-url is given
    consumer_endpoint_url: str | None = None
    privatelink: PrivateLink | None = None


@dataclass(frozen=True)
class Network:
    """Optional VPC placement of the functions, with S3 and Firehose endpoints."""

    vpc_id: str
    subnet_ids: tuple[str, ...]
    route_table_ids: tuple[str, ...]


@dataclass(frozen=True)
class Capacity:
    """Optional `[capacity]`: the region and quota/price overrides of `aggregator capacity`.

    The override names are checked against the model's constants by `scripts/capacity`, which owns
    them; here they are only checked to be names with non-negative numbers.
    """

    region: str
    quotas: tuple[tuple[str, float], ...]
    prices: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Canary:
    """`[canary]`: the scheduled canary put (issue 22, docs/operations.md "Runbook: canary
    missing"); ``interval_minutes = 0`` (the default) deploys no canary."""

    interval_minutes: int = 0
    #: the schedule rule's state: ``false`` deploys it DISABLED (the function is then invoked by
    #: hand or by tests; local.toml, where LocalStack fires rates on wall-clock minutes)
    scheduled: bool = True

    @property
    def enabled(self) -> bool:
        return self.interval_minutes > 0


@dataclass(frozen=True)
class EnvironmentConfig:
    name: str
    firehose: FirehoseBuffering
    processor: ProcessorBuffering
    prefixes: Prefixes
    transform: TransformSettings
    functions: Functions
    retention: Retention
    alarms: Alarms
    access: Access
    network: Network | None
    capacity: Capacity | None = None
    canary: Canary = Canary()
    #: `[tags]`: extra tags for the stack (and so every resource), besides project/environment
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def stack_name(self) -> str:
        return naming.stack_name(self.name)
