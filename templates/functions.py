"""The Lambda functions (four, and the optional canary), their log groups, failure queues,
triggers and permissions."""

from __future__ import annotations

from typing import Any

from troposphere import GetAtt, Ref, Sub, Template
from troposphere.awslambda import (
    Code,
    DestinationConfig,
    Environment,
    EventInvokeConfig,
    Function,
    OnFailure,
    Permission,
)
from troposphere.events import Rule, Target
from troposphere.logs import LogGroup
from troposphere.sqs import Queue

from pipeline.contract import environment as variables
from pipeline.contract.prefixes import CANARY_ROOT, static_prefix
from templates import names
from templates.config import EnvironmentConfig, FunctionSettings
from templates.metadata import checkov_skips
from templates.network import vpc_config

ARTIFACTS_BUCKET_PARAMETER = "ArtifactsBucket"
CODE_KEY_PARAMETER = "CodeKey"
MONITOR_SCHEDULE = "MonitorSchedule"
RUNTIME = "python3.13"

HANDLERS = {
    "ingest": "pipeline.ingest.handler.lambda_handler",
    "transform": "transforms.handler.lambda_handler",
    "copier": "pipeline.copier.handler.lambda_handler",
    "monitor": "pipeline.monitor.handler.lambda_handler",
    "canary": "pipeline.canary.handler.lambda_handler",
}
DESCRIPTIONS = {
    "ingest": "Landing S3 events -> object references -> Firehose PutRecordBatch",
    "transform": "Firehose processor: fetch referenced files, pack them as bundle members",
    "copier": "New Archive bundle -> SHA-256 metadata -> staged in Distribution",
    "monitor": "Every minute: Distribution backlog count and oldest age as metrics",
    "canary": f"On a schedule: one canary file under {CANARY_ROOT} in Landing (the real path)",
}
#: the canary puts one small object: the smallest memory, time for the client's retries
CANARY_SETTINGS = FunctionSettings(memory_mb=128, timeout_seconds=60)
#: functions invoked asynchronously by S3, with a failure queue
ASYNC_FUNCTIONS = ("ingest", "copier")

_SKIPS = {
    "CKV_AWS_115": (
        "No reserved concurrency: a reservation takes capacity from the account pool (new "
        "accounts have 10) and throttling ingest/copier would delay files against the SLO; "
        "throttles alarm instead."
    ),
    "CKV_AWS_173": (
        "Environment variables hold only names and tuning numbers, no secrets; Lambda encrypts "
        "them at rest with its service key."
    ),
}
_DLQ_SKIP = {
    "ingest": "Asynchronous S3 trigger: failures go to an on-failure destination (IngestDLQ).",
    "copier": "Asynchronous S3 trigger: failures go to an on-failure destination (CopierDLQ).",
    "transform": (
        "Invoked synchronously by Firehose, which retries and then writes the batch to the "
        "error output prefix; a DLQ would never receive anything."
    ),
    "monitor": "Scheduled every minute and stateless: a failed run is superseded by the next.",
    "canary": (
        "Scheduled and stateless: a failed put is superseded by the next, and a canary that "
        "never reaches Distribution raises CanaryMissing."
    ),
}
_VPC_SKIP = (
    "VPC placement is optional per environment ([network] in the config); this environment "
    "reaches S3 and Firehose over their public TLS endpoints."
)


def environment_variables(config: EnvironmentConfig, function: str) -> dict[str, Any]:
    """Each function's variables, named and written as :mod:`pipeline.contract.environment`
    says (its ``from_env`` reads them with the same module)."""
    common: dict[str, Any] = {
        variables.POWERTOOLS_SERVICE_NAME: names.function_name(config, function),
        variables.POWERTOOLS_METRICS_NAMESPACE: names.METRICS_NAMESPACE,
        variables.POWERTOOLS_LOG_LEVEL: config.functions.log_level,
    }
    streams = ",".join(stream.name for stream in names.delivery_streams(config))
    distribution = names.bucket_name(config, "distribution")
    transform = config.transform
    specific: dict[str, dict[str, Any]] = {
        "ingest": {variables.DELIVERY_STREAM_NAMES: streams},
        "transform": {
            variables.ARCHIVE_BUCKET: names.bucket_name(config, "archive"),
            variables.DELIVERY_STREAM_NAMES: streams,
            variables.BUNDLE_PREFIX: static_prefix(config.prefixes.bundle),
            variables.BUNDLE_PREFIX_EXPRESSION: config.prefixes.bundle,
            variables.INLINE_MAX_BYTES: variables.write_integer(transform.inline_max_bytes),
            variables.DIRECT_BUNDLE_MAX_BYTES: variables.write_integer(
                transform.direct_bundle_max_bytes
            ),
            variables.FETCH_CONCURRENCY: variables.write_integer(transform.fetch_concurrency),
            variables.RESPONSE_BUDGET_BYTES: variables.write_integer(
                transform.response_budget_bytes
            ),
        },
        "copier": {variables.DISTRIBUTION_BUCKET: distribution},
        "monitor": {variables.DISTRIBUTION_BUCKET: distribution},
        "canary": {
            variables.LANDING_BUCKET: names.bucket_name(config, "landing"),
            variables.CANARY_INTERVAL_MINUTES: variables.write_integer(
                config.canary.interval_minutes
            ),
        },
    }
    return {**common, **specific[function]}


def log_group(config: EnvironmentConfig, function: str) -> LogGroup:
    return LogGroup(
        f"{names.function_id(function)}Logs",
        LogGroupName=names.log_group_name(config, function),
        RetentionInDays=config.retention.log_retention_days,
        Metadata=checkov_skips(
            CKV_AWS_158=(
                "Logs carry metadata only (never file content); CloudWatch Logs encrypts them "
                "at rest with its service key."
            )
        ),
    )


def _settings(config: EnvironmentConfig, name: str) -> FunctionSettings:
    return CANARY_SETTINGS if name == names.CANARY else config.functions.settings(name)


def function(config: EnvironmentConfig, name: str) -> Function:
    settings = _settings(config, name)
    skips = {**_SKIPS, "CKV_AWS_116": _DLQ_SKIP[name]}
    if config.network is None:
        skips["CKV_AWS_117"] = _VPC_SKIP
    properties: dict[str, Any] = {}
    vpc = vpc_config(config)
    if vpc is not None:
        properties["VpcConfig"] = vpc
    return Function(
        names.function_id(name),
        FunctionName=names.function_name(config, name),
        Description=DESCRIPTIONS[name],
        Handler=HANDLERS[name],
        Runtime=RUNTIME,
        Architectures=[config.functions.architecture],
        MemorySize=settings.memory_mb,
        Timeout=settings.timeout_seconds,
        Role=GetAtt(names.role_id(name), "Arn"),
        Code=Code(S3Bucket=Ref(ARTIFACTS_BUCKET_PARAMETER), S3Key=Ref(CODE_KEY_PARAMETER)),
        Environment=Environment(Variables=environment_variables(config, name)),
        DependsOn=[f"{names.function_id(name)}Logs"],
        Metadata=checkov_skips(**skips),
        **properties,
    )


def failure_queue(function_name: str) -> Queue:
    return Queue(
        names.DLQ_IDS[function_name],
        SqsManagedSseEnabled=True,
        MessageRetentionPeriod=14 * 24 * 3600,
        Metadata=checkov_skips(
            CKV_AWS_27=(
                "Encrypted at rest with SQS-managed SSE (SqsManagedSseEnabled); the check only "
                "recognises KMS keys, which would add kms grants to the sending roles for no gain."
            )
        ),
    )


def event_invoke_config(config: EnvironmentConfig, name: str) -> EventInvokeConfig:
    return EventInvokeConfig(
        f"{names.FUNCTION_IDS[name]}InvokeConfig",
        FunctionName=Ref(names.FUNCTION_IDS[name]),
        Qualifier="$LATEST",
        MaximumRetryAttempts=config.functions.max_retry_attempts,
        MaximumEventAgeInSeconds=config.functions.max_event_age_seconds,
        DestinationConfig=DestinationConfig(
            OnFailure=OnFailure(Destination=GetAtt(names.DLQ_IDS[name], "Arn"))
        ),
    )


def s3_permission(config: EnvironmentConfig, logical_id: str, name: str, bucket: str) -> Permission:
    return Permission(
        logical_id,
        Action="lambda:InvokeFunction",
        FunctionName=GetAtt(names.FUNCTION_IDS[name], "Arn"),
        Principal="s3.amazonaws.com",
        SourceArn=names.bucket_arn(config, bucket),
        SourceAccount=Sub("${AWS::AccountId}"),
    )


def monitor_schedule() -> list[Any]:
    rule = Rule(
        MONITOR_SCHEDULE,
        Description="Publish the Distribution backlog metrics every minute",
        ScheduleExpression="rate(1 minute)",
        State="ENABLED",
        Targets=[Target(Id="monitor", Arn=GetAtt(names.FUNCTION_IDS["monitor"], "Arn"))],
    )
    permission = Permission(
        "MonitorInvokeFromSchedule",
        Action="lambda:InvokeFunction",
        FunctionName=GetAtt(names.FUNCTION_IDS["monitor"], "Arn"),
        Principal="events.amazonaws.com",
        SourceArn=GetAtt(MONITOR_SCHEDULE, "Arn"),
        SourceAccount=Sub("${AWS::AccountId}"),
    )
    return [rule, permission]


def canary_schedule_expression(interval_minutes: int) -> str:
    """EventBridge's rate expression (singular unit for 1)."""
    unit = "minute" if interval_minutes == 1 else "minutes"
    return f"rate({interval_minutes} {unit})"


def canary_schedule(config: EnvironmentConfig) -> list[Any]:
    """The schedule that invokes the canary every ``[canary] interval_minutes``."""
    arn = GetAtt(names.CANARY_FUNCTION, "Arn")
    rule = Rule(
        names.CANARY_SCHEDULE,
        Description=f"Put a canary file under {CANARY_ROOT} in Landing (CanaryMissing alarm)",
        ScheduleExpression=canary_schedule_expression(config.canary.interval_minutes),
        State="ENABLED" if config.canary.scheduled else "DISABLED",
        Targets=[Target(Id=names.CANARY, Arn=arn)],
    )
    permission = Permission(
        names.CANARY_PERMISSION,
        Action="lambda:InvokeFunction",
        FunctionName=arn,
        Principal="events.amazonaws.com",
        SourceArn=GetAtt(names.CANARY_SCHEDULE, "Arn"),
        SourceAccount=Sub("${AWS::AccountId}"),
    )
    return [rule, permission]


def canary_resources(config: EnvironmentConfig) -> list[Any]:
    """The canary's log group, function and schedule; none when ``[canary]`` is off."""
    if not config.canary.enabled:
        return []
    return [
        log_group(config, names.CANARY),
        function(config, names.CANARY),
        *canary_schedule(config),
    ]


def add_functions(template: Template, config: EnvironmentConfig) -> None:
    for name in names.FUNCTION_IDS:
        template.add_resource(log_group(config, name))
        template.add_resource(function(config, name))
    for name in ASYNC_FUNCTIONS:
        template.add_resource(failure_queue(name))
        template.add_resource(event_invoke_config(config, name))
    template.add_resource(s3_permission(config, names.LANDING_PERMISSION, "ingest", "landing"))
    template.add_resource(s3_permission(config, names.ARCHIVE_PERMISSION, "copier", "archive"))
    for resource in [*monitor_schedule(), *canary_resources(config)]:
        template.add_resource(resource)
