"""A deploy that cannot ask leaves nothing behind; `diff` previews a first deploy.

On moto's CloudFormation: a refused deploy must not leave a change set or a stack in
``REVIEW_IN_PROGRESS``; a review that fails after the change set exists (no terminal, Ctrl-C at
the question) deletes it with its empty stack; ``diff`` of a stack that does not exist lists every
resource as an addition, even with a template over the inline limit and no artifacts bucket.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Any

import boto3
import pytest
from moto import mock_aws

from scripts import cli, deploy
from scripts.changeset import Change, ConfirmationError, Decision, TemplateSource, apply_stack
from scripts.session import EnvSession
from templates.bootstrap import build_bootstrap_template
from templates.config import load_config
from templates.names import artifacts_stack_name
from templates.stack import build_template

REGION = "eu-west-2"


@pytest.fixture
def aws() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("cloudformation", region_name=REGION)


def _left_behind(cloudformation: Any) -> list[tuple[str, str]]:
    return [
        (stack["StackName"], stack["StackStatus"])
        for stack in cloudformation.list_stacks()["StackSummaries"]
        if stack["StackStatus"] != "DELETE_COMPLETE"
    ]


def test_deploy_without_a_terminal_creates_nothing(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "scripts.target.load_config", lambda name: load_config(name, deployable=False)
    )
    args = cli.build_parser().parse_args(["deploy", "--env", "dev", "--region", REGION])
    with pytest.raises(ConfirmationError, match="nothing was created"):
        deploy.run(args, stdin=io.StringIO(""), out=io.StringIO())
    assert _left_behind(aws) == []
    assert boto3.client("s3", region_name=REGION).list_buckets()["Buckets"] == []
    assert cli.classify(ConfirmationError("x")) == (cli.EXIT_USAGE, "x")


@pytest.mark.parametrize("failure", [ConfirmationError("no terminal"), KeyboardInterrupt()])
def test_a_review_that_fails_deletes_the_change_set_and_its_empty_stack(
    aws: Any, failure: BaseException
) -> None:
    config = load_config("local")
    name = artifacts_stack_name(config.name)

    def review(_name: str, _rows: Sequence[Change]) -> Decision:
        raise failure

    body = deploy._compact(build_bootstrap_template(config))
    with pytest.raises(type(failure)):
        apply_stack(aws, name, TemplateSource(body=body), review=review, show_progress=False)
    assert _left_behind(aws) == []


def test_yes_and_no_execute_together_are_a_usage_error() -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.build_parser().parse_args(["deploy", "--env", "dev", "--yes", "--no-execute"])
    assert stopped.value.code == cli.EXIT_USAGE


def test_diff_of_a_first_deploy_lists_every_resource_as_added(aws: Any) -> None:
    config = load_config("local")
    session = EnvSession.for_env("dev", region=REGION)
    seen: dict[str, list[Change]] = {}

    def review(name: str, rows: Sequence[Change]) -> Decision:
        seen[name] = list(rows)
        return Decision.DISCARD

    body = deploy._compact(build_template(config))
    assert len(body) > deploy.INLINE_TEMPLATE_LIMIT  # the case that used to fail
    plan = deploy.deploy_stacks(config, session, review, account="123456789012", dry_run=True)

    expected = deploy.first_deploy_changes(body)
    assert [stack.name for stack in plan.stacks] == [
        artifacts_stack_name(config.name),
        config.stack_name,
    ]
    assert seen[config.stack_name] == expected and len(expected) > 20
    assert {change.action for change in expected} == {"Add"}
    assert {"AWS::Lambda::Function", "AWS::KinesisFirehose::DeliveryStream"} <= {
        change.resource_type for change in expected
    }
    assert _left_behind(aws) == []  # the bootstrap change set was discarded too
