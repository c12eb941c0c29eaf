"""The pipeline stack: `build_template(config)` assembles every concern into one template."""

from __future__ import annotations

from troposphere import GetAtt, Join, Output, Parameter, Ref, Template

from pipeline.contract.naming import PROJECT
from templates import names
from templates.alarms import add_alarms, alarm_topic
from templates.config import EnvironmentConfig
from templates.consumer_access import add_consumer_access
from templates.dashboard import add_dashboard
from templates.functions import ARTIFACTS_BUCKET_PARAMETER, CODE_KEY_PARAMETER, add_functions
from templates.iam import add_iam
from templates.network import add_network
from templates.storage import add_storage
from templates.stream import add_stream


def _parameters(template: Template) -> None:
    template.add_parameter(
        Parameter(
            ARTIFACTS_BUCKET_PARAMETER,
            Type="String",
            Description="Bucket holding the Lambda package (output of the artifacts stack)",
            AllowedPattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        )
    )
    template.add_parameter(
        Parameter(
            CODE_KEY_PARAMETER,
            Type="String",
            Description="Key of the Lambda package, named by its content hash",
            AllowedPattern=r"^lambda/[A-Za-z0-9._-]+\.zip$",
        )
    )


def _outputs(template: Template, config: EnvironmentConfig) -> None:
    outputs = {
        "LandingBucketName": (Ref(names.LANDING_BUCKET), "Where the external party puts files"),
        "ArchiveBucketName": (Ref(names.ARCHIVE_BUCKET), "Authoritative bundles"),
        "DistributionBucketName": (Ref(names.DISTRIBUTION_BUCKET), "Bundles for the consumer"),
        "DeliveryStreamName": (Ref(names.DELIVERY_STREAM), "The first Firehose delivery stream"),
        "DeliveryStreamNames": (
            Join(",", [Ref(each.logical_id) for each in names.delivery_streams(config)]),
            "Every Firehose delivery stream, comma-separated, in routing order",
        ),
        "ConsumerRoleArn": (GetAtt(names.CONSUMER_ROLE, "Arn"), "Role the consumer assumes"),
        "IngestDLQUrl": (Ref(names.DLQ_IDS["ingest"]), "Ingest events that failed after retries"),
        "CopierDLQUrl": (Ref(names.DLQ_IDS["copier"]), "Copier events that failed after retries"),
        "AlarmTopicArn": (alarm_topic(config), "SNS topic every alarm notifies"),
    }
    for key, (value, description) in outputs.items():
        template.add_output(Output(key, Value=value, Description=description))


def build_template(config: EnvironmentConfig) -> Template:
    """The whole pipeline of one environment as a troposphere template."""
    template = Template(
        Description=f"{PROJECT} {config.name}: S3 -> Firehose -> S3 aggregation pipeline"
    )
    template.set_version("2010-09-09")
    _parameters(template)
    add_network(template, config)
    add_iam(template, config)
    add_functions(template, config)
    add_storage(template, config)
    add_consumer_access(template, config)
    add_stream(template, config)
    add_alarms(template, config)
    add_dashboard(template, config)
    _outputs(template, config)
    return template


def render(template: Template) -> str:
    """Deterministic JSON text of a template: sorted keys, fixed indent, trailing newline."""
    text: str = template.to_json(indent=2, sort_keys=True)
    return text + "\n"
