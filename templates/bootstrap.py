"""The small bootstrap stack holding the artifacts bucket the Lambda code is uploaded to.

CloudFormation cannot upload code into a bucket the same stack creates, so the pipeline stack takes
the bucket name as a parameter (see docs/architecture.md).
"""

from __future__ import annotations

from troposphere import Output, Ref, Template
from troposphere.s3 import (
    LifecycleConfiguration,
    LifecycleRule,
    NoncurrentVersionExpiration,
    VersioningConfiguration,
)

from pipeline.contract.naming import PROJECT
from templates.config import EnvironmentConfig
from templates.metadata import checkov_skips
from templates.storage import ACCESS_LOGGING_REASON, bucket_policy, hardened_bucket

ARTIFACTS_BUCKET = "ArtifactsBucket"
ARTIFACTS_OUTPUT = "ArtifactsBucketName"


def build_bootstrap_template(config: EnvironmentConfig) -> Template:
    template = Template(
        Description=f"{PROJECT} {config.name}: artifacts bucket for Lambda code and templates"
    )
    template.set_version("2010-09-09")
    template.add_resource(
        hardened_bucket(
            ARTIFACTS_BUCKET,
            None,
            VersioningConfiguration=VersioningConfiguration(Status="Enabled"),
            LifecycleConfiguration=LifecycleConfiguration(
                Rules=[
                    LifecycleRule(
                        Id="ExpireReplacedArtifacts",
                        Status="Enabled",
                        NoncurrentVersionExpiration=NoncurrentVersionExpiration(NoncurrentDays=30),
                    )
                ]
            ),
            Metadata=checkov_skips(CKV_AWS_18=ACCESS_LOGGING_REASON),
        )
    )
    template.add_resource(bucket_policy(ARTIFACTS_BUCKET))
    template.add_output(
        Output(
            ARTIFACTS_OUTPUT,
            Description="Bucket holding the Lambda packages (by content hash)",
            Value=Ref(ARTIFACTS_BUCKET),
        )
    )
    return template
