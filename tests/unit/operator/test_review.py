"""The change-set review of `aggregator deploy`: the table, red buckets, the prompt, its modes."""

from __future__ import annotations

import argparse
import io

import pytest

from scripts import cli
from scripts.changeset import (
    Change,
    ConfirmationError,
    Decision,
    parse_changes,
    render_changes,
)
from scripts.deploy import discarding_review, terminal_review


class FakeTerminal(io.StringIO):
    """Standard input that says it is a terminal, with the operator's answer typed in."""

    def isatty(self) -> bool:
        return True


DESCRIBED = {
    "Changes": [
        {
            "Type": "Resource",
            "ResourceChange": {
                "Action": "Modify",
                "LogicalResourceId": "ArchiveBucket",
                "ResourceType": "AWS::S3::Bucket",
                "Replacement": "True",
            },
        },
        {
            "Type": "Resource",
            "ResourceChange": {
                "Action": "Modify",
                "LogicalResourceId": "IngestFunction",
                "ResourceType": "AWS::Lambda::Function",
                "Replacement": "True",
            },
        },
        {
            "Type": "Resource",
            "ResourceChange": {
                "Action": "Add",
                "LogicalResourceId": "NewAlarm",
                "ResourceType": "AWS::CloudWatch::Alarm",
            },
        },
    ]
}
CHANGES = parse_changes(DESCRIBED)


def test_change_set_is_parsed_into_rows() -> None:
    assert CHANGES[0] == Change("Modify", "ArchiveBucket", "AWS::S3::Bucket", "True")
    assert CHANGES[2] == Change("Add", "NewAlarm", "AWS::CloudWatch::Alarm", "")


def test_only_a_replaced_or_removed_bucket_is_dangerous() -> None:
    assert [change.dangerous for change in CHANGES] == [True, False, False]
    assert Change("Remove", "LandingBucket", "AWS::S3::Bucket", "").dangerous
    assert Change("Modify", "LandingBucket", "AWS::S3::Bucket", "Conditional").dangerous
    assert not Change("Modify", "LandingBucket", "AWS::S3::Bucket", "False").dangerous


def test_table_has_a_header_and_flags_the_bucket_in_red() -> None:
    plain = render_changes(CHANGES).splitlines()
    assert plain[0].split() == ["ACTION", "LOGICAL", "ID", "TYPE", "REPLACEMENT"]
    assert "ArchiveBucket" in plain[1] and "REPLACED" in plain[1]
    assert "\033[31m" not in "\n".join(plain)
    colored = render_changes(CHANGES, color=True).splitlines()
    assert colored[1].startswith("\033[31m") and "ArchiveBucket" in colored[1]
    assert "\033[31m" not in colored[2]  # a replaced function is not painted red
    assert "-" in plain[3].split()  # not applicable shows as '-'


@pytest.mark.parametrize(
    ("answer", "decision"),
    [
        ("y\n", Decision.APPLY),
        ("yes\n", Decision.APPLY),
        ("n\n", Decision.DISCARD),
        ("\n", Decision.DISCARD),
    ],
)
def test_prompt_on_a_terminal(answer: str, decision: Decision) -> None:
    out = io.StringIO()
    review = terminal_review(FakeTerminal(answer), out, assume_yes=False, no_execute=False)
    assert review("s3-aggregator-prod", CHANGES) is decision
    shown = out.getvalue()
    assert "ArchiveBucket" in shown and "WARNING: bucket(s) ArchiveBucket" in shown
    assert "execute this change set on s3-aggregator-prod? [y/N]" in shown


def test_yes_applies_without_reading_input() -> None:
    stdin = FakeTerminal("n\n")
    review = terminal_review(stdin, io.StringIO(), assume_yes=True, no_execute=False)
    assert review("stack", CHANGES) is Decision.APPLY
    assert stdin.read() == "n\n"  # nothing was read


def test_no_execute_keeps_the_change_set() -> None:
    review = terminal_review(FakeTerminal(""), io.StringIO(), assume_yes=False, no_execute=True)
    assert review("stack", CHANGES) is Decision.KEEP


def test_diff_shows_and_discards() -> None:
    out = io.StringIO()
    assert discarding_review(out)("stack", CHANGES) is Decision.DISCARD
    assert "REPLACED" in out.getvalue()


def test_without_a_terminal_and_without_yes_nothing_is_executed() -> None:
    review = terminal_review(io.StringIO("y\n"), io.StringIO(), assume_yes=False, no_execute=False)
    with pytest.raises(ConfirmationError, match="pass --yes"):
        review("stack", CHANGES)
    code, _message = cli.classify(ConfirmationError("x")) or (0, "")
    assert code == cli.EXIT_USAGE


def test_deploy_refuses_an_unfilled_prod_config_before_any_aws_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # no endpoint, no credentials needed: validation comes first, and it is a usage error (2)
    assert cli.main(["deploy", "--env", "prod", "--yes"]) == cli.EXIT_USAGE
    assert cli.main(["template", "--env", "prod"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("aggregator deploy: ") and "aggregator template: " in err
    assert "account 111122223333" in err


def test_namespace_defaults_are_what_run_reads() -> None:
    args = cli.build_parser().parse_args(["deploy", "--env", "local"])
    assert isinstance(args, argparse.Namespace)
    assert (args.yes, args.no_execute, args.json, args.region, args.profile) == (
        False,
        False,
        False,
        None,
        None,
    )
