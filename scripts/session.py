"""Operator-side AWS access: one place that decides endpoint, region, profile and credentials.

Resolution follows the AWS CLI/SDK conventions (see docs/operations.md, "Where commands connect"):

- region: ``--region``, then ``AWS_REGION``, then ``AWS_DEFAULT_REGION``, then the profile's region;
  ``local``: ``--region``, else eu-west-2 (a differing ``AWS_REGION`` is named, not followed);
- profile: ``--profile``, then ``AWS_PROFILE`` (ignored for ``local``);
- endpoint: ``--endpoint-url``, then the standard ``AWS_ENDPOINT_URL``; for ``local`` without
  either, the `localstack-client` package resolves it (``LOCALSTACK_HOST``, default
  ``localhost:4566``) and provides the session with LocalStack's dummy credentials; a LocalStack
  found there is used only if this project started it (scripts/local.py, ``claim``);
- the retired ``AGGREGATOR_ENDPOINT_URL`` is an error while it is set.

Before any client is made for an explicit or local endpoint, a short TCP probe checks it answers,
so a stopped LocalStack fails in about a second with "is the local stack running? `make local-up`"
rather than after minutes of retries. Every client gets an explicit retry and timeout config.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConfigParseError, ProfileNotFound

from pipeline.contract.naming import DEFAULT_REGION
from pipeline.contract.naming import stack_name as stack_name
from pipeline.errors import AggregatorError, ConfigError, UsageError

LOCAL_ENV = "local"
DEFAULT_LOCAL_REGION = DEFAULT_REGION
#: the standard variable every AWS SDK and the AWS CLI read for an endpoint override
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL"
#: read by earlier versions of this project; now only reported, never used
RETIRED_ENDPOINT_VARIABLE = "AGGREGATOR_ENDPOINT_URL"
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")
PROFILE_VARIABLE = "AWS_PROFILE"
#: how long the endpoint probe waits for a TCP connection
PROBE_TIMEOUT_SECONDS = 2.0
LOCAL_HINT = "is the local stack running? `make local-up`"

CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8},
    connect_timeout=10,
    read_timeout=120,
    max_pool_connections=32,
)
#: for commands a person waits on (status, logs, diff, destroy): fail fast rather than retry long
INTERACTIVE_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=3,
    read_timeout=60,
    max_pool_connections=16,
)


class StackNotFoundError(AggregatorError, RuntimeError):
    """The environment's stack does not exist (or is not visible with these credentials)."""


class EndpointUnreachableError(AggregatorError, ConnectionError):
    """The endpoint did not accept a connection; the message says what to do."""


class RegionMissingError(ConfigError):
    """No region was given for an AWS environment (a usage error)."""


def error_code(error: ClientError) -> str:
    """The AWS error code of a failed call (``"NoSuchKey"``, ``"404"``, ...)."""
    return str(error.response.get("Error", {}).get("Code", "error"))


def error_reason(error: ClientError | BotoCoreError) -> str:
    """What went wrong, briefly: the AWS error code, or a client-side error's message."""
    return error_code(error) if isinstance(error, ClientError) else str(error)


def _interface_endpoint_region(endpoint: str | None) -> str | None:
    from scripts.interface_endpoint import endpoint_region

    return endpoint_region(endpoint)


def _localstack_client() -> Any:
    """The `localstack-client` package (the `deploy` extra): imported only for ``--env local``
    without an endpoint, so the slim consumer install never needs it."""
    try:
        import localstack_client.config
        import localstack_client.session
    except ModuleNotFoundError as error:
        raise UsageError(
            "--env local without --endpoint-url needs localstack-client (the deploy tools): "
            "pip install 's3-aggregator[deploy]', or pass --endpoint-url / AWS_ENDPOINT_URL"
        ) from error
    return localstack_client


def resolve_region(cli_region: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """``--region``, else ``AWS_REGION``, else ``AWS_DEFAULT_REGION`` (None: ask the profile)."""
    environ = os.environ if environ is None else environ
    if cli_region:
        return cli_region
    for variable in REGION_VARIABLES:
        if environ.get(variable):
            return environ[variable]
    return None


def resolve_profile(
    cli_profile: str | None, environ: Mapping[str, str] | None = None
) -> str | None:
    """``--profile``, else ``AWS_PROFILE``, else None (the default credential chain)."""
    environ = os.environ if environ is None else environ
    return cli_profile or environ.get(PROFILE_VARIABLE) or None


def resolve_endpoint(
    env_name: str, cli_endpoint: str | None, environ: Mapping[str, str] | None = None
) -> str | None:
    """``--endpoint-url``, else ``AWS_ENDPOINT_URL``; for ``local``, localstack-client's answer."""
    environ = os.environ if environ is None else environ
    if cli_endpoint:
        return cli_endpoint
    if environ.get(ENDPOINT_VARIABLE, "").strip():
        return environ[ENDPOINT_VARIABLE].strip()
    if env_name == LOCAL_ENV:
        endpoint: str | None = _localstack_client().config.get_service_endpoint("s3")
        return endpoint
    return None


def probe_endpoint(url: str, env_name: str, timeout: float = PROBE_TIMEOUT_SECONDS) -> None:
    """Raise :class:`EndpointUnreachableError` unless ``url`` accepts a TCP connection in time."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as error:
        hint = LOCAL_HINT if env_name == LOCAL_ENV else "check --endpoint-url / AWS_ENDPOINT_URL"
        reason = error.strerror or type(error).__name__
        raise EndpointUnreachableError(f"cannot reach {url} ({reason}): {hint}") from error


class RetiredVariableError(UsageError):
    """``AGGREGATOR_ENDPOINT_URL`` is set: it is no longer read, and ignoring it would act on
    another endpoint than the one the operator meant."""


def _refuse_retired_variable(environ: Mapping[str, str]) -> None:
    if environ.get(RETIRED_ENDPOINT_VARIABLE):
        raise RetiredVariableError(
            f"{RETIRED_ENDPOINT_VARIABLE} is set but no longer read: unset it, and name the "
            f"endpoint with {ENDPOINT_VARIABLE} (the AWS SDK's standard variable) or --endpoint-url"
        )


class AwsConfigError(ConfigError):
    """The AWS profile asked for does not exist, or the AWS config files cannot be read."""


def _aws_session(profile: str | None, region: str | None) -> Any:
    """A boto3 session; a missing profile or unreadable config file is a configuration error."""
    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
        _ = session.available_profiles  # reads the config files now, not at the first call
    except (ProfileNotFound, ConfigParseError) as error:
        raise AwsConfigError(
            f"{error}: check --profile / AWS_PROFILE and the AWS config files "
            "(`aws configure list-profiles`)"
        ) from error
    return session


def local_region(cli_region: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The region of ``--env local``: ``--region``, else the local environment's own
    (:data:`DEFAULT_LOCAL_REGION`); a shell ``AWS_REGION`` that differs is named on stderr, not
    followed (it would look for the stack elsewhere and report it missing)."""
    environ = os.environ if environ is None else environ
    chosen = cli_region or DEFAULT_LOCAL_REGION
    for variable in REGION_VARIABLES:
        value = environ.get(variable)
        if value and value != chosen and not cli_region:
            print(
                f"aggregator: {variable}={value} is not used for --env local, which is in "
                f"{chosen} (pass --region {value} to look there)",
                file=sys.stderr,
            )
            break
    return chosen


@dataclass(frozen=True)
class EnvSession:
    """Where an environment lives: endpoint (None for real AWS), region and a session."""

    env_name: str
    region: str
    endpoint_url: str | None
    _session: Any = field(repr=False, compare=False)
    profile: str | None = None
    interactive: bool = False

    @classmethod
    def for_env(
        cls,
        env_name: str,
        endpoint_url: str | None = None,
        *,
        region: str | None = None,
        profile: str | None = None,
        interactive: bool = False,
        probe: bool = True,
    ) -> EnvSession:
        """Resolve region/profile/endpoint (see the module); probe a local or explicit endpoint."""
        _refuse_retired_variable(os.environ)
        endpoint = resolve_endpoint(env_name, endpoint_url)
        wanted_region = resolve_region(region)
        session: Any
        if env_name == LOCAL_ENV:
            resolved_region = local_region(region)  # never moved by AWS_REGION
            resolved_profile = None
            credentials: dict[str, Any] = {
                "aws_access_key_id": "test",
                "aws_secret_access_key": "test",  # LocalStack's fixed dummy credentials
                "region_name": resolved_region,
            }
            if endpoint_url is None and not os.environ.get(ENDPOINT_VARIABLE, "").strip():
                session = _localstack_client().session.Session(**credentials)
                if probe and endpoint:  # not named: only a LocalStack this project started
                    from scripts.local import claim

                    claim(endpoint)
            else:
                session = boto3.session.Session(**credentials)
        else:
            resolved_profile = resolve_profile(profile)
            session = _aws_session(resolved_profile, wanted_region)
            # an S3 interface endpoint names its region (scripts/interface_endpoint.py)
            resolved_region = session.region_name or _interface_endpoint_region(endpoint) or ""
            if resolved_region and not session.region_name:
                session = _aws_session(resolved_profile, resolved_region)
            if not resolved_region:
                raise RegionMissingError(
                    f"no AWS region for environment {env_name!r}: pass --region, or set "
                    "AWS_REGION or AWS_DEFAULT_REGION, or a region in your AWS profile"
                )
        if probe and endpoint:
            probe_endpoint(endpoint, env_name)
        return cls(
            env_name=env_name,
            region=resolved_region,
            endpoint_url=endpoint,
            _session=session,
            profile=resolved_profile,
            interactive=interactive,
        )

    @classmethod
    def from_args(cls, args: Any, *, interactive: bool = False) -> EnvSession:
        """The session a subcommand's ``--env/--endpoint-url/--region/--profile`` ask for."""
        return cls.for_env(
            args.env,
            getattr(args, "endpoint_url", None),
            region=getattr(args, "region", None),
            profile=getattr(args, "profile", None),
            interactive=interactive,
        )

    @property
    def where(self) -> str:
        """Human description of the target: the endpoint, or ``AWS <region>``."""
        return self.endpoint_url or f"AWS {self.region}"

    def client(self, service_name: str, config: Config | None = None) -> Any:
        """A boto3 client for this environment with the project's retry/timeout config."""
        base = INTERACTIVE_CONFIG if self.interactive else CLIENT_CONFIG
        merged = base.merge(config) if config else base
        if type(self._session).__module__ == "localstack_client.session":  # resolves endpoints
            return self._session.client(service_name, config=merged)
        return self._session.client(service_name, endpoint_url=self.endpoint_url, config=merged)


def stack_outputs(session: EnvSession, env_name: str | None = None) -> dict[str, str]:
    """The outputs of an environment's deployed stack, by OutputKey."""
    return outputs_of(describe_stack(session, env_name))


def outputs_of(stack: Mapping[str, Any]) -> dict[str, str]:
    """A described stack's outputs, by OutputKey."""
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def deployed_at(stack: Mapping[str, Any]) -> datetime | None:
    """When a described stack was last created or updated (None: not said)."""
    when = stack.get("LastUpdatedTime") or stack.get("CreationTime")
    return when if isinstance(when, datetime) else None


def describe_stack(session: EnvSession, env_name: str | None = None) -> dict[str, Any]:
    """An environment's deployed stack as CloudFormation describes it (outputs, times, status)."""
    name = stack_name(env_name or session.env_name)
    cloudformation = session.client("cloudformation")
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            in_region = f" in region {session.region}" if session.endpoint_url else ""
            raise StackNotFoundError(
                f"stack {name!r} not found at {session.where}{in_region}: "
                f"deploy it first with `make deploy ENV={session.env_name}`"
            ) from error
        raise
    stack: dict[str, Any] = stacks[0]
    return stack


def delivery_stream_names(outputs: Mapping[str, str]) -> tuple[str, ...]:
    """The stack's delivery streams in routing order (``DeliveryStreamNames``; a stack deployed
    before N streams has only ``DeliveryStreamName``)."""
    listed = outputs.get("DeliveryStreamNames") or outputs.get("DeliveryStreamName", "")
    return tuple(name for name in (part.strip() for part in listed.split(",")) if name)
