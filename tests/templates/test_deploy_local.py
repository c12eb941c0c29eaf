"""`aggregator deploy --env local` against the embedded LocalStack: create, no-change, failure."""

from __future__ import annotations

import json

import pytest

from scripts.changeset import DeployError, TemplateSource, apply_stack, stack_status
from scripts.deploy import deploy
from scripts.session import EnvSession
from tests.integration.conftest import localstack  # noqa: F401 - the session fixture

pytestmark = pytest.mark.integration

OUTPUTS = {
    "LandingBucketName", "ArchiveBucketName", "DistributionBucketName", "DeliveryStreamName",
    "DeliveryStreamNames", "ConsumerRoleArn", "IngestDLQUrl", "CopierDLQUrl", "AlarmTopicArn",
}  # fmt: skip


def test_deploy_creates_the_stack_then_reports_no_changes(
    localstack: str,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    outputs = deploy("local", localstack)
    assert set(outputs) == OUTPUTS
    cloudformation = EnvSession.for_env("local", localstack).client("cloudformation")
    assert stack_status(cloudformation, "s3-aggregator-local") in {
        "CREATE_COMPLETE", "UPDATE_COMPLETE"
    }  # fmt: skip
    s3 = EnvSession.for_env("local", localstack).client("s3")
    s3.head_bucket(Bucket=outputs["LandingBucketName"])
    capsys.readouterr()

    assert deploy("local", localstack) == outputs
    assert "s3-aggregator-local: no changes" in capsys.readouterr().out


def _bucket_policy_template(bucket: str) -> str:
    return json.dumps(
        {
            "Resources": {
                "Policy": {
                    "Type": "AWS::S3::BucketPolicy",
                    "Properties": {
                        "Bucket": bucket,
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Deny",
                                    "Principal": {"AWS": "*"},
                                    "Action": "s3:*",
                                    "Resource": f"arn:aws:s3:::{bucket}/*",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            ],
                        },
                    },
                }
            }
        }
    )


def test_failed_creation_names_the_resource_and_a_retry_recovers(
    localstack: str,  # noqa: F811
) -> None:
    session = EnvSession.for_env("local", localstack)
    cloudformation = session.client("cloudformation")
    name = "aggregator-test-failing"
    with pytest.raises(DeployError) as caught:
        apply_stack(
            cloudformation,
            name,
            TemplateSource(body=_bucket_policy_template("no-such-bucket-for-this-test")),
            show_progress=False,
        )
    message = str(caught.value)
    assert "Policy (AWS::S3::BucketPolicy)" in message and "FAILED" in message

    session.client("s3").create_bucket(
        Bucket="aggregator-test-bucket",
        CreateBucketConfiguration={"LocationConstraint": session.region},
    )
    result = apply_stack(
        cloudformation,
        name,
        TemplateSource(body=_bucket_policy_template("aggregator-test-bucket")),
        show_progress=False,
    )
    assert result.changed
    assert stack_status(cloudformation, name) == "CREATE_COMPLETE"
    cloudformation.delete_stack(StackName=name)
