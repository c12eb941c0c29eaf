"""One exit-code table, really: every command meets the same failure the same way.

Each AWS command is walked through the failures any of them can meet before doing its work — an
endpoint nothing listens on, no region, a profile that does not exist, an AWS config file that
cannot be read, a stack that is not deployed (a moto server that answers but holds nothing) — and
must exit with the one code of cli.py's table and report ``aggregator <command>: …`` on stderr.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import scripts.target
from scripts import cli
from templates.config import load_config
from tests.moto_server import moto_server

#: command -> its arguments besides the target (--env, --endpoint-url, --region, --profile)
COMMANDS: dict[str, list[str]] = {
    "status": ["status"],
    "logs": ["logs", "ingest"],
    "diff": ["diff"],
    "deploy": ["deploy", "--yes"],
    "destroy": ["destroy", "--yes"],
    "loadgen": ["loadgen", "--files", "1", "--quiet"],
    "consume": ["consume", "--once"],
    "replay": ["replay", "--since", "2026-01-01", "--dry-run"],
    "redrive errors": ["redrive", "errors", "--dry-run"],
    "redrive dlq": ["redrive", "dlq", "--function", "ingest", "--dry-run"],
}
#: the commands that read a deployed stack (deploy creates it; diff shows it as all additions)
NEED_A_STACK = sorted(set(COMMANDS) - {"deploy", "diff"})


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No region, profile or endpoint from the machine; AWS config files that do not exist; the
    example environments' placeholder values accepted (the walk is about the target, not them)."""
    for name in (
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "LOCALSTACK_HOST",
        "AGGREGATOR_ENDPOINT_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setattr(
        scripts.target, "load_config", functools.partial(load_config, deployable=False)
    )
    monkeypatch.chdir(tmp_path)  # consume's default output folder
    return monkeypatch


@pytest.fixture(scope="module")
def empty_aws() -> Iterator[str]:
    """An endpoint that answers every AWS API and holds no stack."""
    with moto_server() as endpoint:
        yield endpoint


def _walk(name: str, target: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main([*COMMANDS[name], *target])
    err = capsys.readouterr().err
    first = name.split()[0]
    lines = [line for line in err.splitlines() if line.startswith("aggregator ")]
    assert lines and lines[-1].startswith(f"aggregator {first}: "), err
    return code, err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_an_unreachable_endpoint_exits_1(
    name: str, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        code, err = _walk(name, ["--env", "local", "--endpoint-url", url], capsys)
    assert (code, f"cannot reach {url}" in err) == (cli.EXIT_PROBLEM, True), err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_no_region_exits_2(
    name: str, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("AWS_ACCESS_KEY_ID", "testing")
    env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    code, err = _walk(name, ["--env", "dev"], capsys)
    assert (code, "no AWS region" in err) == (cli.EXIT_USAGE, True), err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_missing_profile_exits_2(
    name: str, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _walk(
        name, ["--env", "dev", "--region", "eu-west-2", "--profile", "nosuch"], capsys
    )
    assert (code, "(nosuch) could not be found" in err) == (cli.EXIT_USAGE, True), err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_an_unreadable_aws_config_exits_2(
    name: str, env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken-config"
    broken.write_text("[profile ops\nregion = eu-west-2\n")
    env.setenv("AWS_CONFIG_FILE", str(broken))
    code, err = _walk(name, ["--env", "dev", "--region", "eu-west-2"], capsys)
    assert (code, "Unable to parse config file" in err) == (cli.EXIT_USAGE, True), err


@pytest.mark.parametrize("name", ["deploy", "diff", "template"])
def test_an_unknown_environment_exits_2(
    name: str, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["template", "--env", "nosuch"] if name == "template" else [*COMMANDS[name]]
    code = cli.main(argv if name == "template" else [*argv, "--env", "nosuch"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    assert err.startswith(f"aggregator {name}: no configuration for environment 'nosuch'"), err


@pytest.mark.parametrize("name", NEED_A_STACK)
def test_a_stack_that_is_not_deployed_exits_1(
    name: str, env: pytest.MonkeyPatch, empty_aws: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _walk(name, ["--env", "local", "--endpoint-url", empty_aws], capsys)
    assert code == cli.EXIT_PROBLEM, err
    assert "not found" in err, err
