"""AWS clients with explicit retry and timeout configuration, shared within one process.

Every function creates its clients here so retries, timeouts and connection pools are set in one
place. Clients are cached per configuration: botocore clients are thread-safe, so one client
serves a whole fetch pool (give it ``max_pool_connections`` at least the pool size). Tests that
switch mocked accounts call :func:`reset_clients`.

Clients come from a plain botocore session, not boto3: the functions use no boto3 feature
(resources, ``s3transfer``), and importing boto3 costs a cold start more than botocore alone.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, TypedDict, Unpack, cast

import botocore.session
from botocore.config import Config

if TYPE_CHECKING:
    from botocore.credentials import Credentials
    from mypy_boto3_firehose import FirehoseClient
    from mypy_boto3_s3 import S3Client

#: Connect timeout (s): S3 and Firehose answer in milliseconds; a stuck connect is retried.
CONNECT_TIMEOUT = 5
#: Read timeout (s) per socket read (not per request); large streams keep reading chunks.
READ_TIMEOUT = 30
#: The connect and read timeouts (s) of clients bound by an invocation deadline (ingest, transform).
DEADLINE_CONNECT_TIMEOUT = 2.0
DEADLINE_READ_TIMEOUT = 3.0
#: No deadline-bound call starts with less time than this left: one hung connect plus one hung
#: read still end before the deadline, so no call outlives the invocation.
CALL_ALLOWANCE_SECONDS = DEADLINE_CONNECT_TIMEOUT + DEADLINE_READ_TIMEOUT


class Timeouts(TypedDict, total=False):
    """The connect and read timeouts (s) of a client."""

    connect_timeout: float
    read_timeout: float


class ClientOptions(Timeouts, total=False):
    """What a caller of :func:`s3` or :func:`firehose` may set (:func:`client` has the defaults)."""

    max_attempts: int
    max_pool_connections: int


def client_config(
    *,
    max_attempts: int = 3,
    max_pool_connections: int = 10,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
) -> Config:
    """The botocore configuration every client uses (``standard`` retry mode).

    ``max_attempts`` counts every attempt, the first included (botocore's ``total_max_attempts``).
    Callers bound by an invocation deadline pass small timeouts and check the time left before
    every call (transforms/config.py ``CALL_ALLOWANCE_SECONDS``).
    """
    return Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_pool_connections=max_pool_connections,
        tcp_keepalive=True,
    )


@functools.cache
def _session() -> botocore.session.Session:
    """One botocore session per process (credentials, region and endpoint from the environment)."""
    return botocore.session.get_session()


def client(
    service_name: str,
    *,
    max_attempts: int = 3,
    max_pool_connections: int = 10,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
) -> Any:
    """A cached client for ``service_name``: one per configuration, however the call spells it.

    ``max_attempts=1`` turns botocore's own retries off, for callers that retry themselves within
    a deadline (the transform's fetches, the Firehose partial-failure loop).
    """
    return _cached_client(
        service_name, max_attempts, max_pool_connections, connect_timeout, read_timeout
    )


@functools.cache
def _cached_client(
    service_name: str,
    max_attempts: int,
    max_pool_connections: int,
    connect_timeout: float,
    read_timeout: float,
) -> Any:
    config = client_config(
        max_attempts=max_attempts,
        max_pool_connections=max_pool_connections,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    return _session().create_client(service_name, config=config)


def s3(**options: Unpack[ClientOptions]) -> S3Client:
    """The S3 client (typed)."""
    return cast("S3Client", client("s3", **options))


def firehose(**options: Unpack[ClientOptions]) -> FirehoseClient:
    """The Firehose client (typed)."""
    return cast("FirehoseClient", client("firehose", **options))


def credentials() -> Credentials:
    """The session's credentials (refreshed by botocore), for signers outside botocore."""
    found = _session().get_credentials()
    if found is None:
        raise RuntimeError("no AWS credentials found (environment, profile or role)")
    return found


def reset_clients() -> None:
    """Forget cached clients and the session (tests switching between mocked environments)."""
    _cached_client.cache_clear()
    _session.cache_clear()
