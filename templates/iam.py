"""One IAM role per function, one for Firehose and one for the consumer: only what each uses.

Resources are named with ``Fn::Sub`` (see :mod:`templates.names`) so roles never depend on the
buckets, functions or stream they grant access to.
"""

from __future__ import annotations

from typing import Any

from troposphere import GetAtt, Sub, Template
from troposphere.iam import Policy, Role

from pipeline.contract.prefixes import CANARY_ROOT, static_prefix
from templates import names
from templates.config import EnvironmentConfig

VERSION = "2012-10-17"


def statement(sid: str, actions: list[str], resources: list[Any]) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": resources[0] if len(resources) == 1 else resources,
    }


def _trust(principal: dict[str, Any], condition: dict[str, Any] | None = None) -> dict[str, Any]:
    grant: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    if condition:
        grant["Condition"] = condition
    return {"Version": VERSION, "Statement": [grant]}


def _log_statement(config: EnvironmentConfig, function: str) -> dict[str, Any]:
    return statement(
        "WriteOwnLogs",
        ["logs:CreateLogStream", "logs:PutLogEvents"],
        [
            Sub(
                "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
                f"{names.log_group_name(config, function)}:*"
            )
        ],
    )


def function_statements(config: EnvironmentConfig, function: str) -> list[dict[str, Any]]:
    """The statements of a function's role, beyond writing its own logs."""
    bundles = static_prefix(config.prefixes.bundle)
    streams = [names.delivery_stream_arn(stream) for stream in names.delivery_streams(config)]
    if function == "ingest":
        return [
            statement("PutReferences", ["firehose:PutRecordBatch"], streams),
            statement(
                "FailedEventsToDLQ", ["sqs:SendMessage"], [GetAtt(names.DLQ_IDS[function], "Arn")]
            ),
        ]
    if function == "transform":
        return [
            statement(
                "ReadLandedFiles",
                ["s3:GetObject", "s3:GetObjectVersion"],
                [names.bucket_arn(config, "landing", "/*")],
            ),
            # without ListBucket S3 answers 403 instead of 404 for a file deleted before its fetch
            statement(
                "TellMissingFromDenied", ["s3:ListBucket"], [names.bucket_arn(config, "landing")]
            ),
            # GetObject(Version) on its own bundles: HeadObject checks a committed upload's size
            statement(
                "WriteDirectBundles",
                [
                    "s3:PutObject",
                    "s3:AbortMultipartUpload",
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                ],
                [names.bucket_arn(config, "archive", f"/{bundles}*")],
            ),
            # a deferred reference goes back to the stream that invoked the transform: any of them
            statement("RePutDeferredReferences", ["firehose:PutRecordBatch"], streams),
        ]
    if function == "copier":
        return [
            statement(
                "ReadAndTagArchivedBundles",
                ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:AbortMultipartUpload"],
                [names.bucket_arn(config, "archive", f"/{bundles}*")],
            ),
            statement(
                "StageBundles",
                ["s3:PutObject", "s3:AbortMultipartUpload"],
                [names.bucket_arn(config, "distribution", f"/{bundles}*")],
            ),
            statement(
                "FailedEventsToDLQ", ["sqs:SendMessage"], [GetAtt(names.DLQ_IDS[function], "Arn")]
            ),
        ]
    if function == "monitor":
        return [
            statement("CountBacklog", ["s3:ListBucket"], [names.bucket_arn(config, "distribution")])
        ]
    if function == names.CANARY:
        return [
            statement(
                "PutCanaryFiles",
                ["s3:PutObject"],
                [names.bucket_arn(config, "landing", f"/{CANARY_ROOT}*")],
            )
        ]
    raise ValueError(f"unknown function {function!r}")


def function_role(config: EnvironmentConfig, function: str) -> Role:
    properties: dict[str, Any] = {}
    if config.network is not None:
        # ENI management for VPC placement; AWS allows only "*" for these actions
        properties["ManagedPolicyArns"] = [
            Sub(
                "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
            )
        ]
    return Role(
        names.role_id(function),
        AssumeRolePolicyDocument=_trust({"Service": "lambda.amazonaws.com"}),
        Policies=[
            Policy(
                PolicyName=f"{function}-function",
                PolicyDocument={
                    "Version": VERSION,
                    "Statement": [
                        _log_statement(config, function),
                        *function_statements(config, function),
                    ],
                },
            )
        ],
        **properties,
    )


def firehose_statements(config: EnvironmentConfig) -> list[dict[str, Any]]:
    bundles = static_prefix(config.prefixes.bundle)
    errors = static_prefix(config.prefixes.error)
    return [
        statement(
            "DeliverToArchiveBucket",
            ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
            [names.bucket_arn(config, "archive")],
        ),
        statement(
            "DeliverToArchiveObjects",
            ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
            [
                names.bucket_arn(config, "archive", f"/{bundles}*"),
                names.bucket_arn(config, "archive", f"/{errors}*"),
            ],
        ),
        statement(
            "InvokeProcessor",
            ["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"],
            [names.function_arn(config, "transform")],
        ),
        statement(
            "WriteDeliveryLogs",
            ["logs:PutLogEvents"],
            [
                Sub(
                    "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
                    f"{stream.log_group_name}:*"
                )
                for stream in names.delivery_streams(config)
            ],
        ),
    ]


def firehose_role(config: EnvironmentConfig) -> Role:
    return Role(
        names.ROLE_IDS["firehose"],
        AssumeRolePolicyDocument=_trust(
            {"Service": "firehose.amazonaws.com"},
            {"StringEquals": {"sts:ExternalId": Sub("${AWS::AccountId}")}},
        ),
        Policies=[
            Policy(
                PolicyName="delivery-stream",
                PolicyDocument={"Version": VERSION, "Statement": firehose_statements(config)},
            )
        ],
    )


def consumer_role(config: EnvironmentConfig) -> Role:
    return Role(
        names.CONSUMER_ROLE,
        AssumeRolePolicyDocument=_trust({"AWS": config.access.consumer_principal}),
        Policies=[
            Policy(
                PolicyName="distribution-consumer",
                PolicyDocument={
                    "Version": VERSION,
                    "Statement": [
                        statement(
                            "ListStagedBundles",
                            ["s3:ListBucket"],
                            [names.bucket_arn(config, "distribution")],
                        ),
                        statement(
                            "FetchAndRemoveBundles",
                            ["s3:GetObject", "s3:DeleteObject"],
                            [names.bucket_arn(config, "distribution", "/*")],
                        ),
                    ],
                },
            )
        ],
    )


def add_iam(template: Template, config: EnvironmentConfig) -> None:
    for function in names.FUNCTION_IDS:
        template.add_resource(function_role(config, function))
    if config.canary.enabled:
        template.add_resource(function_role(config, names.CANARY))
    template.add_resource(firehose_role(config))
    template.add_resource(consumer_role(config))
