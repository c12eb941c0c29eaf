"""Per-environment configuration: `templates/environments/<env>.toml`, validated once.

Every value is checked before any AWS call; a bad value raises :class:`ConfigError` naming the key,
the value and what is allowed. The result is a tree of frozen dataclasses the troposphere code
reads.
See docs/configuration.md for the meaning of every key.
"""

from __future__ import annotations

import difflib
import ipaddress
import platform
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from transforms.config import DEFAULT_DIRECT_BUNDLE_MAX_BYTES, DIRECT_BUNDLE_MAX_BYTES_RANGE

ENVIRONMENTS_DIR = Path(__file__).resolve().parent / "environments"

#: the prefix every bundle key starts with (fixed in docs/architecture.md)
BUNDLE_ROOT = "bundles/"
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


class ConfigError(ValueError):
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
    direct_bundle_max_bytes: int = DEFAULT_DIRECT_BUNDLE_MAX_BYTES


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
    #: `[tags]`: extra tags for the stack (and so every resource), besides project/environment
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def stack_name(self) -> str:
        return f"s3-aggregator-{self.name}"


# --------------------------------------------------------------------------------------------
# Reading helpers: each takes the table, the dotted path for messages and the key.


class _Invalid(Exception):
    """A table had invalid values; they are recorded, so checks across its keys are skipped."""


@dataclass
class _Problems:
    """Every problem found in one document, unknown keys first when reported."""

    unknown: list[str]
    other: list[str]

    def add(self, error: ConfigError, unknown: bool = False) -> None:
        (self.unknown if unknown else self.other).append(str(error))

    def all(self) -> list[str]:
        return self.unknown + self.other


def did_you_mean(key: str, known: set[str] | list[str] | tuple[str, ...]) -> str:
    """`` (did you mean X?)`` for the closest known key, or "" when none is close."""
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Table:
    """A TOML table that remembers its dotted path and refuses unknown keys when closed.

    A value outside its range is recorded (not raised) and a placeholder returned, so one run
    reports every problem of the document; :meth:`close` then raises :class:`_Invalid` so checks
    that combine several keys are not run on placeholders.
    """

    def __init__(
        self,
        data: Mapping[str, Any],
        path: str,
        source: str,
        problems: _Problems | None = None,
        absent: bool = False,
    ) -> None:
        self._data = data
        self._path = path
        self._source = source
        self._used: set[str] = set()
        self._problems = problems if problems is not None else _Problems([], [])
        self._failed = absent
        self._absent = absent  # a missing required table: already reported, reads stay silent

    def _key(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def error(self, key: str, value: object, allowed: str) -> ConfigError:
        return ConfigError(
            f"{self._source}: {self._key(key)} = {value!r} is not allowed: expected {allowed}"
        )

    def _soft[T](self, read: Callable[[], T], placeholder: T) -> T:
        if self._absent:
            return placeholder
        try:
            return read()
        except ConfigError as error:
            self._problems.add(error)
            self._failed = True
            return placeholder

    def _raw(self, key: str, default: object = ...) -> object:
        self._used.add(key)
        if key in self._data:
            return self._data[key]
        if default is ...:
            raise ConfigError(f"{self._source}: missing required key {self._key(key)}")
        return default

    def _table(self, key: str, required: bool) -> _Table | None:
        value = self._raw(key, ... if required else None)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(key, value, "a table")
        return _Table(value, self._key(key), self._source, self._problems)

    def table(self, key: str, required: bool = True) -> _Table | None:
        absent = _Table({}, self._key(key), self._source, self._problems, absent=True)
        return self._soft(lambda: self._table(key, required), absent if required else None)

    def keys(self) -> tuple[str, ...]:
        return tuple(str(key) for key in self._data)

    def require_table(self, key: str) -> _Table:
        table = self.table(key)
        assert table is not None
        return table

    def integer(
        self, key: str, low: int, high: int, default: int | None = None, allowed: str = ""
    ) -> int:
        def read() -> int:
            value = self._raw(key, ... if default is None else default)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise self.error(key, value, allowed or f"an integer from {low} to {high}")
            return value

        return self._soft(read, low if default is None else default)

    def number(self, key: str, low: float, high: float, default: float | None = None) -> float:
        def read() -> float:
            value = self._raw(key, ... if default is None else default)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not low <= value <= high
            ):
                raise self.error(key, value, f"a number from {low} to {high}")
            return float(value)

        return self._soft(read, float(low if default is None else default))

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None) -> str:
        def read() -> str:
            value = self._raw(key, ... if default is None else default)
            if value not in choices:
                raise self.error(key, value, "one of " + ", ".join(choices))
            return str(value)

        return self._soft(read, default or choices[0])

    def boolean(self, key: str, default: bool) -> bool:
        def read() -> bool:
            value = self._raw(key, default)
            if not isinstance(value, bool):
                raise self.error(key, value, "true or false")
            return value

        return self._soft(read, default)

    def string(self, key: str, pattern: re.Pattern[str], allowed: str, default: str = "") -> str:
        def read() -> str:
            value = self._raw(key, default if default else ...)
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise self.error(key, value, allowed)
            return value

        return self._soft(read, default)

    def optional_string(self, key: str, pattern: re.Pattern[str], allowed: str) -> str | None:
        def read() -> str | None:
            value = self._raw(key, "")
            if value == "":
                return None
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise self.error(key, value, allowed + ' (or "" for none)')
            return value

        return self._soft(read, None)

    def strings(
        self, key: str, pattern: re.Pattern[str], allowed: str, required: bool = True
    ) -> tuple[str, ...]:
        def read() -> tuple[str, ...]:
            value = self._raw(key, ... if required else [])
            if not isinstance(value, list) or (required and not value):
                raise self.error(
                    key, value, f"a {'non-empty ' if required else ''}list of {allowed}"
                )
            for item in value:
                if not isinstance(item, str) or not pattern.fullmatch(item):
                    raise self.error(key, item, allowed)
            return tuple(value)

        return self._soft(read, ())

    def raw_string(self, key: str) -> str:
        def read() -> str:
            value = self._raw(key)
            if not isinstance(value, str):
                raise self.error(key, value, "a string")
            return value

        return self._soft(read, "")

    def string_map(self, key: str, pattern: re.Pattern[str], allowed: str) -> dict[str, str]:
        """An optional table of string values (``[tags]``), keys and values matching ``pattern``."""

        def read() -> dict[str, str]:
            value = self._raw(key, {})
            if not isinstance(value, dict):
                raise self.error(key, value, "a table of strings")
            for name, item in value.items():
                if not pattern.fullmatch(name) or not isinstance(item, str):
                    raise self.error(f"{key}.{name}", item, allowed)
                if not pattern.fullmatch(item):
                    raise self.error(f"{key}.{name}", item, allowed)
            return dict(value)

        return self._soft(read, {})

    def close(self) -> None:
        if self._absent:
            raise _Invalid
        for key in sorted(set(self._data) - self._used):
            self._problems.add(
                ConfigError(
                    f"{self._source}: unknown key {self._key(key)}"
                    f"{did_you_mean(key, self._used)}: see docs/configuration.md"
                ),
                unknown=True,
            )
            self._failed = True
        if self._failed:
            raise _Invalid


# --------------------------------------------------------------------------------------------
# Sections


def _firehose(table: _Table) -> FirehoseBuffering:
    result = FirehoseBuffering(
        size_mb=table.integer("buffer_size_mb", 1, 128),
        interval_seconds=table.integer("buffer_interval_seconds", 0, 900),
        streams=table.integer(
            "streams",
            1,
            MAX_STREAMS,
            default=1,
            allowed=(
                f"an integer from 1 to {MAX_STREAMS}; to carry more, ask AWS to raise the "
                "per-stream DirectPut quota (docs/capacity.md#how-to-scale)"
            ),
        ),
    )
    table.close()
    return result


def _processor(table: _Table) -> ProcessorBuffering:
    result = ProcessorBuffering(
        size_mb=table.number("buffer_size_mb", 0.2, 3.0),
        interval_seconds=table.integer("buffer_interval_seconds", 0, 900),
        number_of_retries=table.integer("number_of_retries", 0, 300, default=3),
    )
    table.close()
    return result


def _prefixes(table: _Table) -> Prefixes:
    bundle = table.raw_string("bundle")
    error = table.raw_string("error")
    table.close()
    if not bundle.startswith(BUNDLE_ROOT) or not bundle.endswith("/"):
        raise table.error(
            "bundle", bundle, f"a prefix starting with {BUNDLE_ROOT!r} and ending '/'"
        )
    if "!{firehose:error-output-type}" in bundle:
        raise table.error(
            "bundle", bundle, "no !{firehose:error-output-type} (allowed only in prefixes.error)"
        )
    if "!{" in bundle and not error:
        raise table.error(
            "error",
            error,
            "a non-empty error prefix, because prefixes.bundle uses expressions "
            f"({bundle!r}) and Firehose then requires an ErrorOutputPrefix",
        )
    if error and (error.startswith(BUNDLE_ROOT) or not error.endswith("/")):
        raise table.error(
            "error", error, f"a prefix ending '/' outside {BUNDLE_ROOT!r} (the copier's prefix)"
        )
    if not error:
        raise table.error(
            "error",
            error,
            "a non-empty error prefix: without one Firehose writes failures under "
            f"'{bundle}processing-failed/...', inside the copier's prefix {BUNDLE_ROOT!r}",
        )
    _firehose_prefix_rules(table, bundle, error)
    return Prefixes(bundle=bundle, error=error)


def _firehose_prefix_rules(table: _Table, bundle: str, error: str) -> None:
    """What Firehose refuses at deploy time (expressions, error-output-type, 512 characters)."""
    from localstack_plugins.firehose.naming import PrefixError, validate_prefixes

    try:
        validate_prefixes(bundle, error)
    except PrefixError as refused:
        key, value = ("error", error) if "ErrorOutputPrefix" in str(refused) else ("bundle", bundle)
        raise table.error(key, value, f"a prefix Firehose accepts ({refused})") from refused


def _transform(table: _Table) -> TransformSettings:
    result = TransformSettings(
        inline_max_bytes=table.integer("inline_max_bytes", 0, 4_000_000),
        fetch_concurrency=table.integer("fetch_concurrency", 1, 64),
        response_budget_bytes=table.integer(
            "response_budget_bytes", 1_000_000, 6_000_000, default=6_000_000
        ),
        direct_bundle_max_bytes=table.integer(
            "direct_bundle_max_bytes",
            *DIRECT_BUNDLE_MAX_BYTES_RANGE,
            default=DEFAULT_DIRECT_BUNDLE_MAX_BYTES,
        ),
    )
    table.close()
    if result.inline_max_bytes * 4 // 3 > result.response_budget_bytes:
        raise table.error(
            "inline_max_bytes",
            result.inline_max_bytes,
            "at most 3/4 of transform.response_budget_bytes "
            f"({result.response_budget_bytes * 3 // 4}): inlined content is base64 in the response",
        )
    return result


def _function(table: _Table, name: str) -> FunctionSettings:
    max_timeout = 300 if name == "transform" else 900  # Firehose invokes the processor ≤ 5 min
    result = FunctionSettings(
        memory_mb=table.integer("memory_mb", 128, 10240),
        timeout_seconds=table.integer("timeout_seconds", 1, max_timeout),
    )
    table.close()
    return result


def _architecture(value: str) -> Architecture:
    return host_architecture() if value == HOST_ARCHITECTURE else cast(Architecture, value)


def _functions(table: _Table) -> Functions:
    settings: dict[str, FunctionSettings] = {}
    invalid = False
    for name in FUNCTION_NAMES:  # check every function, not only up to the first bad one
        try:
            settings[name] = _function(table.require_table(name), name)
        except _Invalid:
            invalid = True
            settings[name] = FunctionSettings(memory_mb=128, timeout_seconds=1)
    result = Functions(
        architecture=_architecture(
            table.choice("architecture", (*ARCHITECTURES, HOST_ARCHITECTURE), "arm64")
        ),
        log_level=table.choice("log_level", LOG_LEVELS, "INFO"),
        max_retry_attempts=table.integer("max_retry_attempts", 0, 2, default=2),
        max_event_age_seconds=table.integer("max_event_age_seconds", 60, 21600, default=21600),
        **settings,
    )
    table.close()
    if invalid:
        raise _Invalid
    return result


def _retention(table: _Table) -> Retention:
    log_days = table.integer("log_retention_days", 1, 1827, default=30)
    result = Retention(
        landing_expiration_days=table.integer("landing_expiration_days", 1, 3650, default=7),
        archive_deep_archive_after_days=table.integer("archive_deep_archive_after_days", 1, 36500),
        noncurrent_version_expiration_days=table.integer(
            "noncurrent_version_expiration_days", 1, 3650
        ),
        log_retention_days=log_days,
    )
    table.close()
    if log_days not in LOG_RETENTION_DAYS:
        raise table.error(
            "log_retention_days", log_days, "one of " + ", ".join(map(str, LOG_RETENTION_DAYS))
        )
    return result


def _alarms(table: _Table, firehose: FirehoseBuffering) -> Alarms:
    result = Alarms(
        email=table.optional_string("email", EMAIL_PATTERN, "an e-mail address"),
        topic_arn=table.optional_string("topic_arn", SNS_ARN_PATTERN, "an SNS topic ARN"),
        backlog_count_threshold=table.integer("backlog_count_threshold", 1, 100_000_000),
        backlog_oldest_age_seconds=table.integer("backlog_oldest_age_seconds", 60, 1_209_600),
        freshness_seconds=table.integer("freshness_seconds", 60, 3600),
        anomaly_band_width=table.number("anomaly_band_width", 1.0, 10.0, default=3.0),
        anomaly_detection=table.boolean("anomaly_detection", default=True),
        dashboard=table.boolean("dashboard", default=True),
    )
    table.close()
    if result.email and result.topic_arn:
        raise table.error(
            "email", result.email, '"" when alarms.topic_arn is set (subscribe to that topic)'
        )
    if result.freshness_seconds <= firehose.interval_seconds:
        raise table.error(
            "freshness_seconds",
            result.freshness_seconds,
            "more than firehose.buffer_interval_seconds "
            f"({firehose.interval_seconds}), or the alarm fires on every buffer",
        )
    return result


def _cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError:
        return False
    return True


def _cidrs(table: _Table, key: str, required: bool) -> tuple[str, ...]:
    cidrs = table.strings(
        key, re.compile(r".+"), "CIDR blocks like 203.0.113.0/24", required=required
    )
    for cidr in cidrs:
        if not _cidr(cidr):
            raise table.error(key, cidr, "a CIDR block like 203.0.113.0/24")
    if any(ipaddress.ip_network(cidr).prefixlen == 0 for cidr in cidrs):
        raise table.error(key, list(cidrs), "CIDR blocks narrower than /0")
    return cidrs


def _privatelink(table: _Table, cidrs: tuple[str, ...]) -> PrivateLink:
    endpoint_id = table.optional_string(
        "endpoint_id", VPC_ENDPOINT_PATTERN, "an endpoint id like vpce-0123456789abcdef0"
    )
    vpc_id = table.optional_string("vpc_id", VPC_PATTERN, "a VPC id like vpc-0123456789abcdef0")
    subnet_ids = table.strings(
        "subnet_ids", SUBNET_PATTERN, "subnet ids like subnet-0123abcd", required=False
    )
    table.close()
    if endpoint_id is not None:
        if vpc_id is not None or subnet_ids:
            raise table.error(
                "endpoint_id", endpoint_id, "either endpoint_id or vpc_id + subnet_ids, not both"
            )
        if cidrs:
            raise table.error(
                "endpoint_id",
                endpoint_id,
                "no access.consumer_cidrs with an existing endpoint (its own security group "
                "admits the on-premise networks)",
            )
    elif vpc_id is None or not subnet_ids:
        raise table.error(
            "vpc_id", vpc_id or "", "a VPC id and a non-empty subnet_ids (or an endpoint_id)"
        )
    elif not cidrs:
        raise table.error(
            "vpc_id",
            vpc_id,
            "a non-empty access.consumer_cidrs with it: the endpoint's security group admits "
            "HTTPS only from these on-premise networks",
        )
    return PrivateLink(vpc_id=vpc_id, subnet_ids=subnet_ids, endpoint_id=endpoint_id)


def _access(table: _Table) -> Access:
    principal_help = "an IAM ARN like arn:aws:iam::123456789012:root or …:role/name"
    cidrs = _cidrs(table, "external_cidrs", required=True)
    consumer_path = cast(ConsumerPath, table.choice("consumer_path", CONSUMER_PATHS, "internet"))
    consumer_cidrs = _cidrs(table, "consumer_cidrs", required=False)
    endpoint_url = table.optional_string(
        "consumer_endpoint_url",
        S3_INTERFACE_ENDPOINT_URL,
        "an S3 interface endpoint URL like "
        "https://bucket.vpce-0123456789abcdef0-abcd1234.s3.eu-west-2.vpce.amazonaws.com",
    )
    privatelink_table = table.table("privatelink", required=False)
    if consumer_path == "privatelink":
        if privatelink_table is None:
            raise table.error(
                "consumer_path",
                consumer_path,
                '"internet", or add [access.privatelink] with vpc_id + subnet_ids (the stack '
                "creates the endpoint) or endpoint_id (an existing S3 interface endpoint)",
            )
        privatelink: PrivateLink | None = _privatelink(privatelink_table, consumer_cidrs)
        match = S3_INTERFACE_ENDPOINT_URL.fullmatch(endpoint_url or "")
        existing = privatelink.endpoint_id if privatelink else None
        if match and existing and not match["endpoint"].startswith(existing + "-"):
            raise table.error(
                "consumer_endpoint_url",
                endpoint_url,
                f"the DNS name of access.privatelink.endpoint_id ({existing}-….s3.…)",
            )
    elif privatelink_table is not None:
        raise table.error(
            "privatelink", "{...}", 'no [access.privatelink] unless consumer_path = "privatelink"'
        )
    else:
        privatelink = None
        if endpoint_url is not None:
            raise table.error(
                "consumer_endpoint_url", endpoint_url, '"" unless consumer_path = "privatelink"'
            )
    result = Access(
        external_principal=table.string("external_principal", PRINCIPAL_PATTERN, principal_help),
        external_cidrs=cidrs,
        consumer_principal=table.string("consumer_principal", PRINCIPAL_PATTERN, principal_help),
        consumer_path=consumer_path,
        consumer_cidrs=consumer_cidrs,
        consumer_endpoint_url=endpoint_url,
        privatelink=privatelink,
    )
    table.close()
    return result


def _network(table: _Table | None) -> Network | None:
    if table is None:
        return None
    result = Network(
        vpc_id=table.string("vpc_id", VPC_PATTERN, "a VPC id like vpc-0123456789abcdef0"),
        subnet_ids=table.strings("subnet_ids", SUBNET_PATTERN, "subnet ids like subnet-0123abcd"),
        route_table_ids=table.strings(
            "route_table_ids", ROUTE_TABLE_PATTERN, "route table ids like rtb-0123abcd"
        ),
    )
    table.close()
    return result


REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
OVERRIDE_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _overrides(table: _Table | None) -> tuple[tuple[str, float], ...]:
    if table is None:
        return ()
    result = []
    for key in sorted(table.keys()):
        if not OVERRIDE_NAME_PATTERN.fullmatch(key):
            raise table.error(key, key, "a lowercase name (see docs/capacity.md)")
        result.append((key, table.number(key, 0.0, 1e15)))
    table.close()
    return tuple(result)


def _capacity(table: _Table | None) -> Capacity | None:
    if table is None:
        return None
    result = Capacity(
        region=table.string(
            "region", REGION_PATTERN, "an AWS region like eu-west-2", default="eu-west-2"
        ),
        quotas=_overrides(table.table("quotas", required=False)),
        prices=_overrides(table.table("prices", required=False)),
    )
    table.close()
    return result


def _tags(root: _Table) -> dict[str, str]:
    return root.string_map(
        "tags", TAG_PATTERN, "tag keys and values of 1-256 letters, digits, spaces or _.:/=+-@"
    )


def _account_ids(config: EnvironmentConfig) -> list[tuple[str, str]]:
    found = [
        ("access.external_principal", config.access.external_principal),
        ("access.consumer_principal", config.access.consumer_principal),
    ]
    if config.alarms.topic_arn:
        found.append(("alarms.topic_arn", config.alarms.topic_arn))
    return [(key, match.group(1)) for key, arn in found if (match := ACCOUNT_IN_ARN.search(arn))]


def deployable_problems(config: EnvironmentConfig, source: str) -> list[str]:
    """What makes a valid-looking file unsafe to deploy outside ``local`` (docs/configuration.md).

    Example account ids from the AWS documentation, documentation CIDR blocks (RFC 5737/3849) and
    alarms that notify nobody are refused, so a copied example never reaches a real account.
    """
    if config.name == LOCAL_ENV_NAME:
        return []
    problems = []
    for key, account in _account_ids(config):
        if account in EXAMPLE_ACCOUNT_IDS:
            problems.append(
                f"{source}: {key} uses account {account}, an example id from the AWS "
                "documentation (or LocalStack's): replace it with the real account"
            )
    cidrs = [
        ("external_cidrs", "the external party's", cidr) for cidr in config.access.external_cidrs
    ]
    cidrs += [("consumer_cidrs", "the consumer's", cidr) for cidr in config.access.consumer_cidrs]
    for key, whose, cidr in cidrs:
        network = ipaddress.ip_network(cidr)
        if any(network.overlaps(example) for example in EXAMPLE_NETWORKS):
            problems.append(
                f"{source}: access.{key} has {cidr}, a documentation range "
                f"(RFC 5737/3849): replace it with {whose} real source addresses"
            )
    if not config.alarms.email and not config.alarms.topic_arn:
        problems.append(
            f"{source}: alarms.email and alarms.topic_arn are both empty, so every alarm would "
            "notify nobody: set one of them (required outside local)"
        )
    return problems


def parse_config(
    name: str, data: Mapping[str, Any], source: str = "<config>", *, deployable: bool = True
) -> EnvironmentConfig:
    """Validate a parsed TOML document into an :class:`EnvironmentConfig`.

    Every problem is collected and reported in one :class:`ConfigError` (unknown keys first,
    each with a "did you mean" suggestion when a known key is close). ``deployable=False`` skips
    :func:`deployable_problems`: for readers that deploy nothing (the capacity model, the
    consumer's endpoint lookup), a shipped placeholder account or CIDR changes no answer.
    """
    if not ENV_NAME_PATTERN.fullmatch(name):
        raise ConfigError(
            f"environment name {name!r} is not allowed: expected 1-8 lowercase letters/digits "
            "starting with a letter (it is part of every bucket name)"
        )
    problems = _Problems([], [])
    root = _Table(data, "", source, problems)

    def section[T](build: Callable[..., T], *args: Any) -> T | None:
        try:
            return build(*args)
        except _Invalid:  # its problems are recorded already
            return None
        except ConfigError as error:  # a check across several keys of the section
            problems.add(error)
            return None

    firehose = section(_firehose, root.require_table("firehose"))
    parts: dict[str, Any] = {
        "firehose": firehose,
        "processor": section(_processor, root.require_table("processor")),
        "prefixes": section(_prefixes, root.require_table("prefixes")),
        "transform": section(_transform, root.require_table("transform")),
        "functions": section(_functions, root.require_table("functions")),
        "retention": section(_retention, root.require_table("retention")),
        "alarms": section(
            _alarms, root.require_table("alarms"), firehose or FirehoseBuffering(1, 0)
        ),
        "access": section(_access, root.require_table("access")),
    }
    network_table = root.table("network", required=False)
    network = section(_network, network_table)
    capacity = section(_capacity, root.table("capacity", required=False))
    tags = _tags(root)
    section(root.close)
    if problems.all() or any(part is None for part in parts.values()):
        raise config_error(problems.all(), source)
    config = EnvironmentConfig(name=name, network=network, capacity=capacity, tags=tags, **parts)
    refused = deployable_problems(config, source) if deployable else []
    if refused:
        raise config_error(refused, source)
    return config


def config_error(problems: list[str], source: str) -> ConfigError:
    """One error carrying every problem (``.problems``), one per line when there are several."""
    if len(problems) == 1:
        error = ConfigError(problems[0])
    else:
        lines = "\n".join(f"  - {problem.removeprefix(source + ': ')}" for problem in problems)
        error = ConfigError(f"{source}: {len(problems)} problems:\n{lines}")
    error.problems = list(problems)
    return error


def available_environments(directory: Path = ENVIRONMENTS_DIR) -> tuple[str, ...]:
    return tuple(sorted(path.stem for path in directory.glob("*.toml")))


def load_config(
    name: str, directory: Path = ENVIRONMENTS_DIR, *, deployable: bool = True
) -> EnvironmentConfig:
    """Read and validate `<directory>/<name>.toml` (``deployable``: see :func:`parse_config`)."""
    path = directory / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(available_environments(directory)) or "none"
        raise ConfigError(f"no configuration for environment {name!r} at {path} (known: {known})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from error
    return parse_config(name, data, source=str(path), deployable=deployable)
