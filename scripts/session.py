"""Operator-side AWS access: one place that decides endpoint, region and credentials.

``EnvSession.for_env("local")`` talks to the embedded LocalStack (dummy credentials, the endpoint
from ``AGGREGATOR_ENDPOINT_URL`` or ``http://127.0.0.1:4566``); any other environment uses the
standard AWS credential chain and region. Every client gets an explicit retry and timeout config.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

LOCAL_ENV = "local"
DEFAULT_LOCAL_ENDPOINT = "http://127.0.0.1:4566"
DEFAULT_LOCAL_REGION = "eu-west-2"
ENDPOINT_VARIABLE = "AGGREGATOR_ENDPOINT_URL"

CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8},
    connect_timeout=10,
    read_timeout=120,
    max_pool_connections=32,
)


class StackNotFoundError(RuntimeError):
    """The environment's stack does not exist (or is not visible with these credentials)."""


def error_code(error: ClientError) -> str:
    """The AWS error code of a failed call (``"NoSuchKey"``, ``"404"``, ...)."""
    return str(error.response.get("Error", {}).get("Code", "error"))


def error_reason(error: ClientError | BotoCoreError) -> str:
    """What went wrong, briefly: the AWS error code, or a client-side error's message."""
    return error_code(error) if isinstance(error, ClientError) else str(error)


def _interface_endpoint_region(endpoint: str | None) -> str | None:
    from scripts.interface_endpoint import endpoint_region

    return endpoint_region(endpoint)


def stack_name(env_name: str) -> str:
    """The CloudFormation stack name of an environment (see docs/architecture.md)."""
    return f"s3-aggregator-{env_name}"


@dataclass(frozen=True)
class EnvSession:
    """Where an environment lives: endpoint (None for real AWS), region and a boto3 session."""

    env_name: str
    region: str
    endpoint_url: str | None
    _session: boto3.session.Session = field(repr=False, compare=False)

    @classmethod
    def for_env(cls, env_name: str, endpoint_url: str | None = None) -> EnvSession:
        endpoint = endpoint_url or os.environ.get(ENDPOINT_VARIABLE)
        if env_name == LOCAL_ENV:
            endpoint = endpoint or DEFAULT_LOCAL_ENDPOINT
            region = os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_LOCAL_REGION
            session = boto3.session.Session(
                aws_access_key_id="test",
                aws_secret_access_key="test",  # noqa: S106 - LocalStack's fixed dummy credentials
                region_name=region,
            )
        else:
            session = boto3.session.Session()
            # an S3 interface endpoint names its region (scripts/interface_endpoint.py)
            region = session.region_name or _interface_endpoint_region(endpoint) or ""
            if not session.region_name and region:
                session = boto3.session.Session(region_name=region)
            if not region:
                raise ValueError(
                    f"no AWS region configured for environment {env_name!r}: "
                    "set AWS_REGION or AWS_DEFAULT_REGION, or a region in your AWS profile"
                )
        return cls(env_name=env_name, region=region, endpoint_url=endpoint, _session=session)

    def client(self, service_name: str, config: Config | None = None) -> Any:
        """A boto3 client for this environment with the project's retry/timeout config."""
        merged = CLIENT_CONFIG.merge(config) if config else CLIENT_CONFIG
        return self._session.client(  # type: ignore[call-overload]
            service_name, endpoint_url=self.endpoint_url, config=merged
        )


def stack_outputs(session: EnvSession, env_name: str | None = None) -> dict[str, str]:
    """The outputs of an environment's deployed stack, by OutputKey."""
    name = stack_name(env_name or session.env_name)
    cloudformation = session.client("cloudformation")
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            raise StackNotFoundError(
                f"stack {name!r} not found at {session.endpoint_url or 'AWS ' + session.region}: "
                f"deploy it first with `make deploy ENV={session.env_name}`"
            ) from error
        raise
    outputs = stacks[0].get("Outputs", [])
    return {output["OutputKey"]: output["OutputValue"] for output in outputs}
