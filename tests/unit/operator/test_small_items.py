"""Issue 21's smaller items: clear time errors, help that states a default once, destroy's
no-terminal hint, progress bars only on a terminal, consumer output git-ignored."""

from __future__ import annotations

import argparse
import io
import re
import subprocess
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from scripts import cli, destroy
from scripts.changeset import ConfirmationError
from scripts.loadgen import FileKind, FileSpec, upload_all

ROOT = Path(__file__).resolve().parents[3]


def _leaf_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = []
    children = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not children:
        found.append(parser)
    for action in children:
        for child in action.choices.values():
            found.extend(_leaf_parsers(child))
    return found


def test_a_bad_time_says_what_a_time_looks_like(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["replay", "--since", "2026-13-01"])
    err = capsys.readouterr().err
    assert stopped.value.code == cli.EXIT_USAGE
    assert "'2026-13-01' is not a time" in err and "2026-01-31T08:00Z" in err
    assert "invalid iso_timestamp value" not in err


def test_help_states_each_default_once() -> None:
    for parser in _leaf_parsers(cli.build_parser()):
        text = " ".join(parser.format_help().split())
        twice = re.findall(r"\(([\d.]+)\) \(default: ([\d.]+)\)", text)
        assert not twice, f"{parser.prog}: {twice}"


@mock_aws
def test_destroy_without_a_terminal_says_pass_yes() -> None:
    args = cli.build_parser().parse_args(["destroy", "--env", "dev", "--region", "eu-west-2"])
    with pytest.raises(ConfirmationError) as refused:
        destroy.run(args, stdin=io.StringIO(""), out=io.StringIO())
    assert "pass --yes" in str(refused.value) and "aggregator diff" not in str(refused.value)


@mock_aws
def test_progress_bars_only_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    s3 = boto3.client("s3", region_name="eu-west-2")
    s3.create_bucket(
        Bucket="landing", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
    )
    specs = [FileSpec(f"f{i}.txt", FileKind.TEXT, 100, seed=i) for i in range(3)]
    upload_all(s3, "landing", specs, progress=True)
    assert "\r" not in capsys.readouterr().err  # stderr is not a terminal here


def test_the_consumer_output_is_git_ignored() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "consumed/some/file"], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0


def test_the_demo_keeps_deploy_events_off_its_output_unless_the_deploy_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import scripts.deploy
    from scripts import demo

    def deploy(env_name: str, endpoint_url: str | None = None) -> dict[str, str]:
        print("12:00:00 s3-aggregator-local  CREATE_IN_PROGRESS")
        if endpoint_url == "http://fails":
            raise RuntimeError("deploy failed")
        return {"LandingBucketName": "landing"}

    monkeypatch.setattr(scripts.deploy, "deploy", deploy)
    assert demo._quiet_deploy("http://works") == {"LandingBucketName": "landing"}
    assert capsys.readouterr() == ("", "")
    with pytest.raises(RuntimeError):
        demo._quiet_deploy("http://fails")
    assert "CREATE_IN_PROGRESS" in capsys.readouterr().err
