"""Where operator commands connect: region/profile/endpoint precedence, dead-endpoint bound."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts import cli
from scripts.session import (
    DEFAULT_LOCAL_REGION,
    EndpointUnreachableError,
    EnvSession,
    RegionMissingError,
    RetiredVariableError,
    resolve_endpoint,
    resolve_profile,
    resolve_region,
)

ENV_VARIABLES = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "LOCALSTACK_HOST",
    "AGGREGATOR_ENDPOINT_URL",
    "AWS_CONFIG_FILE",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ENV_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    return monkeypatch


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nobody listens on (bound, never listening: connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_region_precedence_flag_then_aws_region_then_aws_default_region() -> None:
    both = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"}
    assert resolve_region("ap-south-1", both) == "ap-south-1"
    assert resolve_region(None, both) == "eu-west-1"
    assert resolve_region(None, {"AWS_DEFAULT_REGION": "us-east-1"}) == "us-east-1"
    assert resolve_region(None, {}) is None


def test_profile_precedence_flag_then_aws_profile() -> None:
    assert resolve_profile("ops", {"AWS_PROFILE": "dev"}) == "ops"
    assert resolve_profile(None, {"AWS_PROFILE": "dev"}) == "dev"
    assert resolve_profile(None, {}) is None


def test_endpoint_precedence_flag_then_aws_endpoint_url_then_localstack_client() -> None:
    standard = {"AWS_ENDPOINT_URL": "http://10.0.0.5:4566"}
    assert resolve_endpoint("prod", "http://a:1", standard) == "http://a:1"
    assert resolve_endpoint("prod", None, standard) == "http://10.0.0.5:4566"
    assert resolve_endpoint("prod", None, {}) is None  # real AWS
    assert resolve_endpoint("local", None, {}) == "http://localhost:4566"


def test_local_endpoint_honours_localstack_host(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LOCALSTACK_HOST", "127.0.0.1:4599")
    assert resolve_endpoint("local", None) == "http://127.0.0.1:4599"


def test_aws_region_is_used_for_an_aws_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AWS_REGION", "eu-west-1")
    clean_env.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert EnvSession.for_env("prod").region == "eu-west-1"
    assert EnvSession.for_env("prod", region="ap-south-1").region == "ap-south-1"


def test_profile_reaches_the_boto3_session(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("[profile ops]\nregion = ca-central-1\n")
    clean_env.setenv("AWS_CONFIG_FILE", str(config))
    clean_env.setenv("AWS_PROFILE", "ops")
    session = EnvSession.for_env("prod")
    assert (session.profile, session.region) == ("ops", "ca-central-1")
    clean_env.setenv("AWS_REGION", "eu-west-1")  # the variable beats the profile's region
    assert EnvSession.for_env("prod").region == "eu-west-1"


def test_missing_region_is_a_usage_error(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(RegionMissingError, match="--region"):
        EnvSession.for_env("prod")
    assert cli.main(["status", "--env", "prod"]) == cli.EXIT_USAGE


def test_local_session_comes_from_localstack_client(
    clean_env: pytest.MonkeyPatch, closed_port: int
) -> None:
    from localstack_client.session import Session as LocalStackSession

    session = EnvSession.for_env("local", probe=False)
    assert isinstance(session._session, LocalStackSession)
    assert session.client("s3").meta.endpoint_url == "http://localhost:4566"
    explicit = EnvSession.for_env("local", f"http://127.0.0.1:{closed_port}", probe=False)
    assert explicit.client("s3").meta.endpoint_url == f"http://127.0.0.1:{closed_port}"


def test_dead_endpoint_fails_fast_with_the_hint(
    clean_env: pytest.MonkeyPatch, closed_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port}")
    started = time.monotonic()
    with pytest.raises(EndpointUnreachableError, match="make local-up"):
        EnvSession.for_env("local")
    code = cli.main(["status", "--env", "local"])
    elapsed = time.monotonic() - started
    assert code == cli.EXIT_PROBLEM
    assert elapsed < 5.0
    err = capsys.readouterr().err
    assert err.startswith("aggregator status: cannot reach")
    assert "is the local stack running? `make local-up`" in err


def test_unroutable_endpoint_fails_within_the_probe_timeout(clean_env: pytest.MonkeyPatch) -> None:
    started = time.monotonic()
    # TEST-NET-1 is never routed; where a proxy answers instead, the probe still must not hang
    with contextlib.suppress(EndpointUnreachableError):
        EnvSession.for_env("local", "http://192.0.2.1:4566")
    assert time.monotonic() - started < 5.0


def test_retired_variable_is_an_error_not_ignored(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AGGREGATOR_ENDPOINT_URL", "http://127.0.0.1:1")
    with pytest.raises(RetiredVariableError, match=r"unset it.*AWS_ENDPOINT_URL"):
        EnvSession.for_env("local", probe=False)


def test_local_region_comes_from_the_local_environment_not_the_shell(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("AWS_REGION", "us-east-1")
    session = EnvSession.for_env("local", probe=False)
    assert session.region == DEFAULT_LOCAL_REGION
    assert session.client("s3").meta.region_name == DEFAULT_LOCAL_REGION
    err = capsys.readouterr().err
    assert "AWS_REGION=us-east-1 is not used for --env local" in err
    assert "--region us-east-1" in err  # how to follow it on purpose
    chosen = EnvSession.for_env("local", region="ap-south-1", probe=False)
    assert chosen.region == "ap-south-1" and capsys.readouterr().err == ""


def test_the_same_region_in_the_shell_says_nothing(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("AWS_DEFAULT_REGION", DEFAULT_LOCAL_REGION)
    assert EnvSession.for_env("local", probe=False).region == DEFAULT_LOCAL_REGION
    assert capsys.readouterr().err == ""


def test_a_command_names_the_ignored_region(
    clean_env: pytest.MonkeyPatch, closed_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("AWS_REGION", "us-east-1")
    url = f"http://127.0.0.1:{closed_port}"
    assert cli.main(["status", "--env", "local", "--endpoint-url", url]) == cli.EXIT_PROBLEM
    assert "AWS_REGION=us-east-1 is not used for --env local" in capsys.readouterr().err
