"""The consumer works with only the consumer role's permissions (issue 5).

The role's trust and inline policies come from the real template (``local`` environment), with
``Fn::Sub`` resolved to moto's account and region; the Distribution bucket gets the template's
name. moto enforces IAM: the fixtures stage the world while authentication is off (moto's
default), then each test body runs under ``set_initial_no_auth_action_count(0)``, so every call
the test makes is signed by the assumed consumer role and checked against its policy. The role
is assumed through STS (as in production); moto does not evaluate a ``:root`` trust principal
against a caller, so the trust policy is stored with the role but the AssumeRole itself happens
during setup.

moto authorizes HeadObject and GetObjectAttributes as ``s3:GetObject``, so enforcement alone
cannot show the consumer avoids them: the drain's client also records every S3 operation it
calls, and the test asserts that set.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import random
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count
from moto.core.models import DEFAULT_ACCOUNT_ID

from scripts import consume
from scripts.cli import EXIT_OK
from scripts.consumer.drain import drain, list_bundles
from scripts.consumer.ledger import Ledger
from scripts.consumer.paths import destination
from scripts.session import CLIENT_CONFIG
from tests.unit.consumer.bundles import (
    SourceFile,
    build_bundle,
    files_on_disk,
    ledger_file_count,
    stage,
)
from tests.unit.consumer.template_iam import (
    ConsumerRole,
    PseudoParameters,
    consumer_role,
    distribution_bucket_name,
    template_resources,
    without_action,
)

REGION: Final = "eu-west-2"
PSEUDO = PseudoParameters(partition="aws", region=REGION, account_id=DEFAULT_ACCOUNT_ID)
OTHER_BUCKET = f"another-team-{DEFAULT_ACCOUNT_ID}-{REGION}"
CONSUMER_OPERATIONS = {"ListObjectsV2", "GetObject", "DeleteObject"}

_data = random.Random(5)
BUNDLES: dict[str, list[SourceFile]] = {
    "bundles/2026/01/01/00/s3-aggregator-local-1-a.gz": [
        SourceFile("in/a.csv", b"a,b\n1,2\n" * 100),
        SourceFile("in/empty", b""),
    ],
    "bundles/2026/01/01/00/s3-aggregator-local-1-b.gz": [
        SourceFile("in/large.bin", _data.randbytes(1_500_000)),  # streamed, not pooled
        SourceFile("in/a.csv", b"second version", version_id="v2"),
    ],
    "bundles/2026/01/01/01/s3-aggregator-local-2-c.gz": [
        SourceFile("other/ü name.txt", _data.randbytes(3000)),
    ],
}
ALL_FILES = [source for files in BUNDLES.values() for source in files]


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str

    def client(self, service: str) -> Any:
        session = boto3.session.Session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            aws_session_token=self.session_token,
            region_name=REGION,
        )
        return session.client(service, config=CLIENT_CONFIG)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def role() -> ConsumerRole:
    return consumer_role(template_resources("local"), PSEUDO)


@pytest.fixture(scope="module")
def bucket() -> str:
    return distribution_bucket_name(template_resources("local"), PSEUDO)


@pytest.fixture
def aws(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("AGGREGATOR_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def distribution(aws: None, bucket: str) -> str:
    """Distribution with the bundles staged as the copier stages them; another team's bucket."""
    admin = boto3.client("s3", region_name=REGION)
    for name in (bucket, OTHER_BUCKET):
        admin.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    admin.put_object(Bucket=OTHER_BUCKET, Key="secret.txt", Body=b"not for the consumer")
    for key, files in BUNDLES.items():
        stage(admin, bucket, key, build_bundle(files))
    return bucket


def _assume(role: ConsumerRole, name: str) -> Credentials:
    iam = boto3.client("iam", region_name=REGION)
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(role.trust_policy))[
        "Role"
    ]["Arn"]
    for policy_name, document in role.policies.items():
        iam.put_role_policy(
            RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document)
        )
    sts = boto3.client("sts", region_name=REGION)
    granted = sts.assume_role(RoleArn=arn, RoleSessionName="on-premise-consumer")["Credentials"]
    return Credentials(granted["AccessKeyId"], granted["SecretAccessKey"], granted["SessionToken"])


@pytest.fixture
def consumer(distribution: str, role: ConsumerRole) -> Credentials:
    return _assume(role, "s3-aggregator-local-consumer")


@pytest.fixture
def consumer_without_delete(distribution: str, role: ConsumerRole) -> Credentials:
    return _assume(without_action(role, "s3:DeleteObject"), "consumer-without-delete")


def _recorded_operations(client: Any) -> list[str]:
    """Every S3 operation ``client`` calls from now on, in order (retries counted once)."""
    calls: list[str] = []

    def note(model: Any, **_: Any) -> None:
        calls.append(str(model.name))

    client.meta.events.register("before-call.s3", note)
    return calls


def _error_code(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def _assert_every_file_delivered(output: Path) -> None:
    for source in ALL_FILES:
        assert destination(output, source.key, source.version_id).read_bytes() == source.content
    assert len(files_on_disk(output)) == len(ALL_FILES)


@set_initial_no_auth_action_count(0)
def test_the_consumer_role_drains_distribution(
    consumer: Credentials, bucket: str, tmp_path: Path
) -> None:
    s3 = consumer.client("s3")
    # enforcement is on: the role may not stage into Distribution nor read another bucket
    put = lambda: s3.put_object(Bucket=bucket, Key="bundles/x.gz", Body=b"x")  # noqa: E731
    assert _error_code(put) == "AccessDenied"
    assert _error_code(lambda: s3.get_object(Bucket=OTHER_BUCKET, Key="secret.txt")) == (
        "AccessDenied"
    )
    operations = _recorded_operations(s3)
    output = tmp_path / "out"

    with Ledger(tmp_path / "ledger.db") as ledger:
        summary = drain(s3, bucket, output, ledger)

    assert summary.ok, summary
    assert (summary.bundles_listed, summary.bundles_delivered) == (len(BUNDLES), len(BUNDLES))
    assert summary.files_written == len(ALL_FILES)
    _assert_every_file_delivered(output)
    assert list_bundles(s3, bucket) == []
    assert set(operations) == CONSUMER_OPERATIONS, operations
    assert operations.count("DeleteObject") == len(BUNDLES)


@set_initial_no_auth_action_count(0)
def test_without_delete_permission_files_arrive_and_bundles_are_reported(
    consumer_without_delete: Credentials, bucket: str, tmp_path: Path
) -> None:
    s3 = consumer_without_delete.client("s3")
    output = tmp_path / "out"

    with Ledger(tmp_path / "ledger.db") as ledger:
        first = drain(s3, bucket, output, ledger)
        again = drain(s3, bucket, output, ledger)
        recorded = ledger_file_count(ledger)

    assert not first.ok
    assert first.bundles_delivered == len(BUNDLES)
    assert first.failed == ()
    assert sorted(problem.key for problem in first.undeleted) == sorted(BUNDLES)
    for problem in first.undeleted:
        assert problem.reason.startswith("AccessDenied:"), problem
        assert "DeleteObject" in problem.reason, problem
    _assert_every_file_delivered(output)
    assert recorded == len(ALL_FILES)
    assert sorted(b.key for b in list_bundles(s3, bucket)) == sorted(BUNDLES)  # nothing lost
    # the next pass recognises the bundles as delivered: nothing written twice, still reported
    assert (again.ok, again.files_written, again.bundles_duplicate) == (False, 0, len(BUNDLES))
    assert len(again.undeleted) == len(BUNDLES)


def _cli_args(output: Path, bucket: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    consume.add_arguments(parser)
    argv = ["--env", "prod", "--output", str(output), "--once", "--json", "--no-progress"]
    return parser.parse_args(argv + (["--bucket", bucket] if bucket else []))


@set_initial_no_auth_action_count(0)
def test_cli_with_the_consumer_role_needs_an_explicit_bucket(
    consumer: Credentials,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `--env prod` uses the standard credential chain: the consumer role's session
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", consumer.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", consumer.secret_access_key)
    monkeypatch.setenv("AWS_SESSION_TOKEN", consumer.session_token)
    # run() configures the "aggregator" logger and a SIGTERM handler: undone after the test
    logger = logging.getLogger("aggregator")
    for attribute in ("handlers", "level", "propagate"):
        monkeypatch.setattr(logger, attribute, copy.copy(getattr(logger, attribute)))
    monkeypatch.setattr(signal, "signal", lambda *_: None)
    output = tmp_path / "out"

    assert consume.run(_cli_args(output, bucket=None)) == consume.EXIT_CONFIG
    error = capsys.readouterr().err
    assert "DescribeStacks" in error and "AccessDenied" in error
    assert "pass --bucket" in error

    assert consume.run(_cli_args(output, bucket=bucket)) == EXIT_OK
    summary = json.loads(capsys.readouterr().out)
    assert (summary["ok"], summary["files_written"]) == (True, len(ALL_FILES))
    _assert_every_file_delivered(output)
