"""Names and ARNs of the stack's resources, computed without references to the resources.

Buckets, functions and the delivery stream get explicit names so that policies, Lambda permissions
and environment variables can name them with ``Fn::Sub`` instead of ``Ref``/``GetAtt``: that breaks
the cycles bucket → notification → permission → function → role → bucket, and function →
stream → processor function.
"""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import Sub

from pipeline.contract import metrics
from pipeline.contract.naming import stack_name as stack_name
from templates.config import EnvironmentConfig

BUCKET_KINDS = ("landing", "archive", "distribution")
METRICS_NAMESPACE = metrics.NAMESPACE


def artifacts_stack_name(env_name: str) -> str:
    return f"{stack_name(env_name)}-artifacts"


def bucket_name_expression(config: EnvironmentConfig, kind: str) -> str:
    """``Fn::Sub`` text of a bucket name: ≤ 63 characters for any region (env ≤ 8 characters)."""
    return f"{config.stack_name}-{kind}-${{AWS::AccountId}}-${{AWS::Region}}"


def bucket_name(config: EnvironmentConfig, kind: str) -> Sub:
    return Sub(bucket_name_expression(config, kind))


def bucket_arn(config: EnvironmentConfig, kind: str, suffix: str = "") -> Sub:
    """ARN of a bucket, or of objects in it when ``suffix`` is e.g. ``/*`` or ``/bundles/*``."""
    return Sub(f"arn:${{AWS::Partition}}:s3:::{bucket_name_expression(config, kind)}{suffix}")


def function_name(config: EnvironmentConfig, function: str) -> str:
    return function_name_of(config.name, function)


def function_name_of(env_name: str, function: str) -> str:
    """A function's name from the environment's name alone (operator commands, no config)."""
    return f"{stack_name(env_name)}-{function}"


def log_group_name_of(env_name: str, function: str) -> str:
    """The CloudWatch Logs group of a function: ``/aws/lambda/s3-aggregator-<env>-<function>``."""
    return f"/aws/lambda/{function_name_of(env_name, function)}"


def function_arn(config: EnvironmentConfig, function: str) -> Sub:
    return Sub(
        "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
        + function_name(config, function)
    )


def log_group_name(config: EnvironmentConfig, function: str) -> str:
    return log_group_name_of(config.name, function)


@dataclass(frozen=True, slots=True)
class DeliveryStreamNames:
    """The names of one of the environment's delivery streams and of what belongs to it.

    The first stream keeps the names a one-stream stack always had (``suffix`` empty), so going
    from one stream to N adds streams and never replaces the one that holds records.
    """

    index: int
    name: str
    #: appended to the logical ids of the stream's resources and alarms: "" or "Stream<n>"
    suffix: str

    @property
    def logical_id(self) -> str:
        return DELIVERY_STREAM + self.suffix

    @property
    def log_group_name(self) -> str:
        return f"/aws/kinesisfirehose/{self.name}"


def delivery_streams(config: EnvironmentConfig) -> tuple[DeliveryStreamNames, ...]:
    """Every delivery stream of the environment, in routing order (the ingest's hash index)."""
    return tuple(
        DeliveryStreamNames(
            index=index,
            name=config.stack_name if index == 0 else f"{config.stack_name}-{index + 1}",
            suffix="" if index == 0 else f"Stream{index + 1}",
        )
        for index in range(config.firehose.streams)
    )


def delivery_stream_arn(stream: DeliveryStreamNames) -> Sub:
    return Sub(
        "arn:${AWS::Partition}:firehose:${AWS::Region}:${AWS::AccountId}:deliverystream/"
        + stream.name
    )


# Logical ids shared between the modules of the stack.
LANDING_BUCKET = "LandingBucket"
ARCHIVE_BUCKET = "ArchiveBucket"
DISTRIBUTION_BUCKET = "DistributionBucket"
DELIVERY_STREAM = "DeliveryStream"
CONSUMER_ROLE = "ConsumerRole"
ALARM_TOPIC = "AlarmTopic"
FUNCTION_IDS = {
    "ingest": "IngestFunction",
    "transform": "TransformFunction",
    "copier": "CopierFunction",
    "monitor": "MonitorFunction",
}
ROLE_IDS = {
    "ingest": "IngestRole",
    "transform": "TransformRole",
    "copier": "CopierRole",
    "monitor": "MonitorRole",
    "firehose": "FirehoseRole",
}
#: the optional canary (``[canary] interval_minutes > 0``): not in FUNCTION_IDS/ROLE_IDS, whose
#: functions every stack has (their alarms, dashboard widgets and log commands loop over them)
CANARY = "canary"
CANARY_FUNCTION = "CanaryFunction"
CANARY_ROLE = "CanaryRole"
CANARY_SCHEDULE = "CanarySchedule"
CANARY_PERMISSION = "CanaryInvokeFromSchedule"
CANARY_MISSING_ALARM = "CanaryMissingAlarm"


def function_id(function: str) -> str:
    """The logical id of any function, the canary included."""
    return CANARY_FUNCTION if function == CANARY else FUNCTION_IDS[function]


def role_id(function: str) -> str:
    """The logical id of any function's role, the canary's included."""
    return CANARY_ROLE if function == CANARY else ROLE_IDS[function]


DLQ_IDS = {"ingest": "IngestDLQ", "copier": "CopierDLQ"}
LANDING_PERMISSION = "IngestInvokeFromLanding"
ARCHIVE_PERMISSION = "CopierInvokeFromArchive"
#: the S3 request-metrics filter counting objects Firehose writes under the error prefix
ERROR_METRICS_ID = "ErrorOutput"
