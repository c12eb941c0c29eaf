"""The Firehose delivery stream: DirectPut → Lambda processor → GZIP → Archive bucket."""

from __future__ import annotations

from troposphere import GetAtt, Template
from troposphere.firehose import (
    BufferingHints,
    CloudWatchLoggingOptions,
    DeliveryStream,
    DeliveryStreamEncryptionConfigurationInput,
    ExtendedS3DestinationConfiguration,
    ProcessingConfiguration,
    Processor,
    ProcessorParameter,
)
from troposphere.logs import LogGroup, LogStream

from templates import names
from templates.config import EnvironmentConfig
from templates.metadata import checkov_skips

LOG_GROUP = "DeliveryStreamLogs"
LOG_STREAM = "DeliveryStreamDestinationLogs"
LOG_STREAM_NAME = "DestinationDelivery"


def _number(value: float) -> str:
    """Processor parameters are strings; keep "0.2" as is and "1.0" as "1"."""
    return f"{value:g}"


def processor(config: EnvironmentConfig) -> Processor:
    buffering = config.processor
    parameters = {
        "LambdaArn": GetAtt(names.FUNCTION_IDS["transform"], "Arn"),
        "NumberOfRetries": str(buffering.number_of_retries),
        "BufferSizeInMBs": _number(buffering.size_mb),
        "BufferIntervalInSeconds": str(buffering.interval_seconds),
    }
    return Processor(
        Type="Lambda",
        Parameters=[
            ProcessorParameter(ParameterName=name, ParameterValue=value)
            for name, value in parameters.items()
        ],
    )


def delivery_stream(config: EnvironmentConfig, stream: names.DeliveryStreamNames) -> DeliveryStream:
    """One stream. Every stream writes the same prefixes of the same Archive bucket: Firehose
    names each object ``<stream name>-<version>-<timestamp>-<uuid>`` (and the transform's direct
    bundles ``<stream name>-direct-…``), so streams never write the same key."""
    return DeliveryStream(
        stream.logical_id,
        DeliveryStreamName=stream.name,
        DeliveryStreamType="DirectPut",
        DeliveryStreamEncryptionConfigurationInput=DeliveryStreamEncryptionConfigurationInput(
            KeyType="AWS_OWNED_CMK"
        ),
        ExtendedS3DestinationConfiguration=ExtendedS3DestinationConfiguration(
            BucketARN=GetAtt(names.ARCHIVE_BUCKET, "Arn"),
            RoleARN=GetAtt(names.ROLE_IDS["firehose"], "Arn"),
            BufferingHints=BufferingHints(
                SizeInMBs=config.firehose.size_mb,
                IntervalInSeconds=config.firehose.interval_seconds,
            ),
            CompressionFormat="GZIP",
            Prefix=config.prefixes.bundle,
            ErrorOutputPrefix=config.prefixes.error,
            ProcessingConfiguration=ProcessingConfiguration(
                Enabled=True, Processors=[processor(config)]
            ),
            CloudWatchLoggingOptions=CloudWatchLoggingOptions(
                Enabled=True,
                LogGroupName=stream.log_group_name,
                LogStreamName=LOG_STREAM_NAME,
            ),
        ),
        DependsOn=[LOG_STREAM + stream.suffix],
    )


def add_stream(template: Template, config: EnvironmentConfig) -> None:
    """Every delivery stream with its own delivery log group; one processor function for all."""
    for stream in names.delivery_streams(config):
        template.add_resource(
            LogGroup(
                LOG_GROUP + stream.suffix,
                LogGroupName=stream.log_group_name,
                RetentionInDays=config.retention.log_retention_days,
                Metadata=checkov_skips(
                    CKV_AWS_158="Delivery error logs hold no data; encrypted by the service key."
                ),
            )
        )
        template.add_resource(
            LogStream(
                LOG_STREAM + stream.suffix,
                LogGroupName=stream.log_group_name,
                LogStreamName=LOG_STREAM_NAME,
                DependsOn=[LOG_GROUP + stream.suffix],
            )
        )
        template.add_resource(delivery_stream(config, stream))
