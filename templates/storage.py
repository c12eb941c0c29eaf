"""The pipeline's buckets (Landing, Archive, Distribution) and their policies."""

from __future__ import annotations

from typing import Any

from troposphere import GetAtt, Ref, Template
from troposphere.s3 import (
    AbortIncompleteMultipartUpload,
    Bucket,
    BucketEncryption,
    BucketPolicy,
    Filter,
    LambdaConfigurations,
    LifecycleConfiguration,
    LifecycleRule,
    LifecycleRuleTransition,
    MetricsConfiguration,
    NoncurrentVersionExpiration,
    NotificationConfiguration,
    OwnershipControls,
    OwnershipControlsRule,
    PublicAccessBlockConfiguration,
    Rules,
    S3Key,
    ServerSideEncryptionByDefault,
    ServerSideEncryptionRule,
    VersioningConfiguration,
)

from pipeline.contract.prefixes import static_prefix
from templates import names
from templates.config import BUNDLE_ROOT, EnvironmentConfig
from templates.consumer_access import distribution_statements
from templates.metadata import checkov_skips

ACCESS_LOGGING_REASON = (
    "S3 server access logs would add about one log object per request (~864k PUTs/day on "
    "Landing alone); object-level auditing is CloudTrail data events, enabled account-wide."
)
#: the copier is told only about new bundles; a copy onto itself (ObjectCreated:Copy) is not listed
COPIER_EVENTS = ("s3:ObjectCreated:Put", "s3:ObjectCreated:CompleteMultipartUpload")


#: buckets are kept when their stack is deleted, except when its first creation fails
RETAIN_DELETION_POLICY = "RetainExceptOnCreate"
RETAIN_REPLACE_POLICY = "Retain"


def hardened_bucket(logical_id: str, name: Any, **properties: Any) -> Bucket:
    """A retained bucket: SSE-S3 at rest, public access blocked, bucket-owner-enforced ownership.

    SSE-S3 rather than SSE-KMS: the external party writes cross-account and the consumer reads
    from on premise; a customer key would need grants to both and a KMS call per object
    (864k/day) for no stronger guarantee here (see docs/configuration.md).
    """
    if name is not None:
        properties["BucketName"] = name
    return Bucket(
        logical_id,
        # the data outlives the stack: `aggregator destroy` and a replacing update keep the bucket
        # (docs/operations.md, "Destroying an environment"); a failed first creation removes it
        DeletionPolicy=RETAIN_DELETION_POLICY,
        UpdateReplacePolicy=RETAIN_REPLACE_POLICY,
        BucketEncryption=BucketEncryption(
            ServerSideEncryptionConfiguration=[
                ServerSideEncryptionRule(
                    ServerSideEncryptionByDefault=ServerSideEncryptionByDefault(
                        SSEAlgorithm="AES256"
                    )
                )
            ]
        ),
        PublicAccessBlockConfiguration=PublicAccessBlockConfiguration(
            BlockPublicAcls=True,
            BlockPublicPolicy=True,
            IgnorePublicAcls=True,
            RestrictPublicBuckets=True,
        ),
        OwnershipControls=OwnershipControls(
            Rules=[OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]
        ),
        **properties,
    )


def deny_insecure_transport(bucket: str) -> dict[str, Any]:
    """Policy statement refusing every request to the bucket that does not use TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:*",
        "Resource": [GetAtt(bucket, "Arn"), {"Fn::Sub": f"${{{bucket}.Arn}}/*"}],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


#: the lowest TLS version any bucket accepts (NFR-10)
MINIMUM_TLS_VERSION = 1.2


def deny_outdated_tls(bucket: str) -> dict[str, Any]:
    """Policy statement refusing every request to the bucket made with TLS below 1.2."""
    return {
        "Sid": "DenyOutdatedTls",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:*",
        "Resource": [GetAtt(bucket, "Arn"), {"Fn::Sub": f"${{{bucket}.Arn}}/*"}],
        "Condition": {"NumericLessThan": {"s3:TlsVersion": MINIMUM_TLS_VERSION}},
    }


def bucket_policy(bucket: str, *statements: dict[str, Any]) -> BucketPolicy:
    return BucketPolicy(
        f"{bucket}Policy",
        Bucket=Ref(bucket),
        PolicyDocument={
            "Version": "2012-10-17",
            "Statement": [deny_insecure_transport(bucket), deny_outdated_tls(bucket), *statements],
        },
    )


def _abort_uploads() -> AbortIncompleteMultipartUpload:
    return AbortIncompleteMultipartUpload(DaysAfterInitiation=1)


def landing_bucket(config: EnvironmentConfig) -> list[Any]:
    retention = config.retention
    bucket = hardened_bucket(
        names.LANDING_BUCKET,
        names.bucket_name(config, "landing"),
        VersioningConfiguration=VersioningConfiguration(Status="Enabled"),
        LifecycleConfiguration=LifecycleConfiguration(
            Rules=[
                LifecycleRule(
                    Id="ExpireLandedFiles",
                    Status="Enabled",
                    ExpirationInDays=retention.landing_expiration_days,
                    NoncurrentVersionExpiration=NoncurrentVersionExpiration(
                        NoncurrentDays=retention.landing_expiration_days
                    ),
                    AbortIncompleteMultipartUpload=_abort_uploads(),
                ),
                LifecycleRule(
                    Id="RemoveExpiredDeleteMarkers",
                    Status="Enabled",
                    ExpiredObjectDeleteMarker=True,
                ),
            ]
        ),
        NotificationConfiguration=NotificationConfiguration(
            LambdaConfigurations=[
                LambdaConfigurations(
                    Event="s3:ObjectCreated:*",
                    Function=GetAtt(names.FUNCTION_IDS["ingest"], "Arn"),
                )
            ]
        ),
        DependsOn=[names.LANDING_PERMISSION],
        Metadata=checkov_skips(CKV_AWS_18=ACCESS_LOGGING_REASON),
    )
    access = config.access
    policy = bucket_policy(
        names.LANDING_BUCKET,
        {
            "Sid": "ExternalPartyPutOnly",
            "Effect": "Allow",
            "Principal": {"AWS": access.external_principal},
            "Action": "s3:PutObject",
            "Resource": {"Fn::Sub": f"${{{names.LANDING_BUCKET}.Arn}}/*"},
            "Condition": {"IpAddress": {"aws:SourceIp": list(access.external_cidrs)}},
        },
        {
            "Sid": "ExternalPartyOnlyFromAllowedAddresses",
            "Effect": "Deny",
            "Principal": {"AWS": access.external_principal},
            "Action": "s3:PutObject",
            "Resource": {"Fn::Sub": f"${{{names.LANDING_BUCKET}.Arn}}/*"},
            "Condition": {"NotIpAddress": {"aws:SourceIp": list(access.external_cidrs)}},
        },
    )
    return [bucket, policy]


def archive_bucket(config: EnvironmentConfig) -> list[Any]:
    retention = config.retention
    error_root = static_prefix(config.prefixes.error)
    bucket = hardened_bucket(
        names.ARCHIVE_BUCKET,
        names.bucket_name(config, "archive"),
        VersioningConfiguration=VersioningConfiguration(Status="Enabled"),
        LifecycleConfiguration=LifecycleConfiguration(
            Rules=[
                LifecycleRule(
                    Id="BundlesToDeepArchive",
                    Status="Enabled",
                    Transitions=[
                        LifecycleRuleTransition(
                            StorageClass="DEEP_ARCHIVE",
                            TransitionInDays=retention.archive_deep_archive_after_days,
                        )
                    ],
                    NoncurrentVersionExpiration=NoncurrentVersionExpiration(
                        NoncurrentDays=retention.noncurrent_version_expiration_days
                    ),
                    AbortIncompleteMultipartUpload=_abort_uploads(),
                )
            ]
        ),
        MetricsConfigurations=[MetricsConfiguration(Id=names.ERROR_METRICS_ID, Prefix=error_root)],
        NotificationConfiguration=NotificationConfiguration(
            LambdaConfigurations=[
                LambdaConfigurations(
                    Event=event,
                    Filter=Filter(
                        S3Key=S3Key(
                            Rules=[
                                Rules(Name="prefix", Value=BUNDLE_ROOT),
                                Rules(Name="suffix", Value=".gz"),
                            ]
                        )
                    ),
                    Function=GetAtt(names.FUNCTION_IDS["copier"], "Arn"),
                )
                for event in COPIER_EVENTS
            ]
        ),
        DependsOn=[names.ARCHIVE_PERMISSION],
        Metadata=checkov_skips(CKV_AWS_18=ACCESS_LOGGING_REASON),
    )
    return [bucket, bucket_policy(names.ARCHIVE_BUCKET)]


def distribution_bucket(config: EnvironmentConfig) -> list[Any]:
    bucket = hardened_bucket(
        names.DISTRIBUTION_BUCKET,
        names.bucket_name(config, "distribution"),
        LifecycleConfiguration=LifecycleConfiguration(
            Rules=[
                LifecycleRule(
                    Id="AbortIncompleteUploads",
                    Status="Enabled",
                    AbortIncompleteMultipartUpload=_abort_uploads(),
                )
            ]
        ),
        Metadata=checkov_skips(
            CKV_AWS_18=ACCESS_LOGGING_REASON,
            CKV_AWS_21=(
                "Distribution is a staging queue: the consumer deletes each bundle once stored, "
                "and versioning would keep every deleted bundle; Archive (versioned) is the "
                "authoritative copy and replay restores from it."
            ),
        ),
    )
    policy = bucket_policy(
        names.DISTRIBUTION_BUCKET,
        {
            "Sid": "ConsumerList",
            "Effect": "Allow",
            "Principal": {"AWS": GetAtt(names.CONSUMER_ROLE, "Arn")},
            "Action": "s3:ListBucket",
            "Resource": GetAtt(names.DISTRIBUTION_BUCKET, "Arn"),
        },
        {
            "Sid": "ConsumerGetDelete",
            "Effect": "Allow",
            "Principal": {"AWS": GetAtt(names.CONSUMER_ROLE, "Arn")},
            "Action": ["s3:GetObject", "s3:DeleteObject"],
            "Resource": {"Fn::Sub": f"${{{names.DISTRIBUTION_BUCKET}.Arn}}/*"},
        },
        *distribution_statements(config),
    )
    return [bucket, policy]


def add_storage(template: Template, config: EnvironmentConfig) -> None:
    for resource in (
        *landing_bucket(config),
        *archive_bucket(config),
        *distribution_bucket(config),
    ):
        template.add_resource(resource)
