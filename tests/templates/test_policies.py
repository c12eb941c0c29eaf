"""Security and contract properties read from the generated template of every environment."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from templates.config import EnvironmentConfig
from templates.functions import HANDLERS

Template = dict[str, Any]

#: every action each role may have: what its function (or Firehose) calls, nothing more
EXPECTED_ACTIONS = {
    "IngestRole": {
        "logs:CreateLogStream", "logs:PutLogEvents", "firehose:PutRecordBatch", "sqs:SendMessage",
    },
    "TransformRole": {
        "logs:CreateLogStream", "logs:PutLogEvents", "s3:GetObject", "s3:GetObjectVersion",
        "s3:ListBucket", "s3:PutObject", "s3:AbortMultipartUpload", "firehose:PutRecordBatch",
    },
    "CopierRole": {
        "logs:CreateLogStream", "logs:PutLogEvents", "s3:GetObject", "s3:GetObjectVersion",
        "s3:PutObject", "s3:AbortMultipartUpload", "sqs:SendMessage",
    },
    "MonitorRole": {"logs:CreateLogStream", "logs:PutLogEvents", "s3:ListBucket"},
    "CanaryRole": {"logs:CreateLogStream", "logs:PutLogEvents", "s3:PutObject"},
    "FirehoseRole": {
        "s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads",
        "s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject", "lambda:InvokeFunction",
        "lambda:GetFunctionConfiguration", "logs:PutLogEvents",
    },
    "ConsumerRole": {"s3:ListBucket", "s3:GetObject", "s3:DeleteObject"},
}  # fmt: skip
FUNCTION_ROLES = ("IngestRole", "TransformRole", "CopierRole", "MonitorRole", "CanaryRole")
#: resources only an environment with ``[canary] interval_minutes > 0`` has
CANARY_ONLY = {"CanaryRole", "CanaryFunction", "CanarySchedule", "CanaryInvokeFromSchedule"}
BUCKETS = ("LandingBucket", "ArchiveBucket", "DistributionBucket")


def _resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(role: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in role["Properties"].get("Policies", []):
        yield from policy["PolicyDocument"]["Statement"]


def _text(resource: Any) -> str:
    """A policy resource as text: plain ARN, or the Fn::Sub / Fn::GetAtt it is built from."""
    if isinstance(resource, str):
        return resource
    if "Fn::Sub" in resource:
        return str(resource["Fn::Sub"])
    if "Fn::GetAtt" in resource:
        return ".".join(resource["Fn::GetAtt"])
    return repr(resource)


def _bucket_of(resource: Any) -> str | None:
    match = re.search(r":s3:::s3-aggregator-\w+-(\w+)-\$\{AWS::AccountId\}", _text(resource))
    return match.group(1) if match else None


def _function_roles(template: Template) -> list[str]:
    return [name for name in FUNCTION_ROLES if name in template["Resources"]]


def test_roles_have_exactly_the_actions_their_function_uses(
    template: Template, config: EnvironmentConfig
) -> None:
    roles = _resources(template, "AWS::IAM::Role")
    optional = set() if config.canary.enabled else {"CanaryRole"}
    assert set(roles) == set(EXPECTED_ACTIONS) - optional
    for name, role in roles.items():
        actions = {a for s in _statements(role) for a in _as_list(s["Action"])}
        assert actions == EXPECTED_ACTIONS[name], name


def test_no_wildcards_in_role_policies(template: Template) -> None:
    for name, role in _resources(template, "AWS::IAM::Role").items():
        for statement in _statements(role):
            assert statement["Effect"] == "Allow"
            assert all("*" not in action for action in _as_list(statement["Action"])), name
            for resource in _as_list(statement["Resource"]):
                assert _text(resource) != "*", name


def test_consumer_role_reaches_only_distribution(
    template: Template, config: EnvironmentConfig
) -> None:
    role = template["Resources"]["ConsumerRole"]
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"AWS": config.access.consumer_principal}]
    for statement in _statements(role):
        for resource in _as_list(statement["Resource"]):
            assert _bucket_of(resource) == "distribution"


def test_no_function_role_can_delete_from_archive(template: Template) -> None:
    for name in _function_roles(template):
        for statement in _statements(template["Resources"][name]):
            deletes = [a for a in _as_list(statement["Action"]) if a.startswith("s3:Delete")]
            assert not deletes, f"{name} may {deletes}"


def test_functions_write_to_archive_only_under_the_bundle_prefix(template: Template) -> None:
    for name in _function_roles(template):
        for statement in _statements(template["Resources"][name]):
            if "s3:PutObject" in _as_list(statement["Action"]):
                for resource in _as_list(statement["Resource"]):
                    if _bucket_of(resource) == "archive":
                        assert _text(resource).endswith("/bundles/*"), name


def test_functions_write_to_landing_only_under_the_canary_prefix(template: Template) -> None:
    """Only the canary writes Landing, and only its reserved ``_canary/`` prefix."""
    writers = []
    for name in _function_roles(template):
        for statement in _statements(template["Resources"][name]):
            for resource in _as_list(statement["Resource"]):
                if _bucket_of(resource) == "landing" and "s3:PutObject" in _as_list(
                    statement["Action"]
                ):
                    writers.append(name)
                    assert _text(resource).endswith("/_canary/*"), name
                    assert _as_list(statement["Action"]) == ["s3:PutObject"], name
    assert writers == (["CanaryRole"] if "CanaryRole" in template["Resources"] else [])


def test_the_canary_role_reaches_nothing_but_its_logs_and_landing_canary_files(
    template: Template, config: EnvironmentConfig
) -> None:
    resources = template["Resources"]
    present = CANARY_ONLY & set(resources)
    assert present == (CANARY_ONLY if config.canary.enabled else set())
    if not config.canary.enabled:
        return
    targets = [
        _text(resource)
        for statement in _statements(resources["CanaryRole"])
        for resource in _as_list(statement["Resource"])
    ]
    assert targets == [
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
        f"/aws/lambda/s3-aggregator-{config.name}-canary:*",
        "arn:${AWS::Partition}:s3:::"
        f"s3-aggregator-{config.name}-landing-${{AWS::AccountId}}-${{AWS::Region}}/_canary/*",
    ]


def test_the_canary_schedule_invokes_the_canary_at_its_interval(
    template: Template, config: EnvironmentConfig
) -> None:
    if not config.canary.enabled:
        return
    rule = template["Resources"]["CanarySchedule"]["Properties"]
    interval = config.canary.interval_minutes
    assert rule["ScheduleExpression"] == f"rate({interval} minute{'s' if interval > 1 else ''})"
    assert rule["State"] == ("ENABLED" if config.canary.scheduled else "DISABLED")
    assert rule["Targets"] == [{"Id": "canary", "Arn": {"Fn::GetAtt": ["CanaryFunction", "Arn"]}}]
    permission = template["Resources"]["CanaryInvokeFromSchedule"]["Properties"]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["CanarySchedule", "Arn"]}
    assert permission["FunctionName"] == {"Fn::GetAtt": ["CanaryFunction", "Arn"]}


def test_external_party_can_only_put_into_landing(
    template: Template, config: EnvironmentConfig
) -> None:
    external = config.access.external_principal
    for name, policy in _resources(template, "AWS::S3::BucketPolicy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            principals = _as_list(statement["Principal"].get("AWS"))
            if external not in principals:
                continue
            assert name == "LandingBucketPolicy"
            assert statement["Action"] == "s3:PutObject"
            condition = statement["Condition"]
            cidrs = (condition.get("IpAddress") or condition["NotIpAddress"])["aws:SourceIp"]
            assert cidrs == list(config.access.external_cidrs)
            if statement["Effect"] == "Allow":
                assert "IpAddress" in condition


def test_every_bucket_denies_insecure_transport_and_is_hardened(template: Template) -> None:
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]["Statement"]
        for p in _resources(template, "AWS::S3::BucketPolicy").values()
    }
    buckets = _resources(template, "AWS::S3::Bucket")
    assert set(buckets) == set(BUCKETS) == set(policies)
    for name, bucket in buckets.items():
        deny = [s for s in policies[name] if s.get("Sid") == "DenyInsecureTransport"]
        assert len(deny) == 1
        assert deny[0]["Effect"] == "Deny" and deny[0]["Action"] == "s3:*"
        assert deny[0]["Principal"] == {"AWS": "*"}
        assert deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert len(deny[0]["Resource"]) == 2  # the bucket and its objects
        tls = [s for s in policies[name] if s.get("Sid") == "DenyOutdatedTls"]
        assert len(tls) == 1, name
        assert (tls[0]["Effect"], tls[0]["Action"], tls[0]["Principal"]) == (
            "Deny", "s3:*", {"AWS": "*"}
        )  # fmt: skip
        assert tls[0]["Condition"] == {"NumericLessThan": {"s3:TlsVersion": 1.2}}
        assert tls[0]["Resource"] == deny[0]["Resource"]
        properties = bucket["Properties"]
        assert all(properties["PublicAccessBlockConfiguration"].values())
        assert properties["OwnershipControls"]["Rules"] == [
            {"ObjectOwnership": "BucketOwnerEnforced"}
        ]
        rule = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_distribution_grants_only_the_consumer_role(template: Template) -> None:
    statements = template["Resources"]["DistributionBucketPolicy"]["Properties"]
    allowed = [s for s in statements["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert {a for s in allowed for a in _as_list(s["Action"])} == {
        "s3:GetObject", "s3:ListBucket", "s3:DeleteObject"
    }  # fmt: skip
    assert all(s["Principal"] == {"AWS": {"Fn::GetAtt": ["ConsumerRole", "Arn"]}} for s in allowed)


def test_lambda_permissions_are_scoped_by_source(
    template: Template, config: EnvironmentConfig
) -> None:
    permissions = _resources(template, "AWS::Lambda::Permission")
    assert len(permissions) == (4 if config.canary.enabled else 3)
    for permission in permissions.values():
        properties = permission["Properties"]
        assert properties["SourceArn"] and properties["SourceAccount"]


def test_bucket_notifications_wait_for_their_permissions(template: Template) -> None:
    resources = template["Resources"]
    assert resources["LandingBucket"]["DependsOn"] == ["IngestInvokeFromLanding"]
    assert resources["ArchiveBucket"]["DependsOn"] == ["CopierInvokeFromArchive"]


def test_copier_is_notified_only_of_new_bundles(template: Template) -> None:
    notification = template["Resources"]["ArchiveBucket"]["Properties"]["NotificationConfiguration"]
    configs = notification["LambdaConfigurations"]
    assert {c["Event"] for c in configs} == {
        "s3:ObjectCreated:Put", "s3:ObjectCreated:CompleteMultipartUpload"
    }  # fmt: skip
    for config in configs:
        assert config["Filter"]["S3Key"]["Rules"] == [
            {"Name": "prefix", "Value": "bundles/"},
            {"Name": "suffix", "Value": ".gz"},
        ]


def test_functions_follow_the_architecture_contract(
    template: Template, config: EnvironmentConfig
) -> None:
    functions = _resources(template, "AWS::Lambda::Function")
    expected_variables = {
        "IngestFunction": {"DELIVERY_STREAM_NAMES"},
        "TransformFunction": {
            "ARCHIVE_BUCKET", "DELIVERY_STREAM_NAMES", "BUNDLE_PREFIX", "INLINE_MAX_BYTES",
            "FETCH_CONCURRENCY", "RESPONSE_BUDGET_BYTES", "BUNDLE_PREFIX_EXPRESSION",
            "DIRECT_BUNDLE_MAX_BYTES",
        },
        "CopierFunction": {"DISTRIBUTION_BUCKET"},
        "MonitorFunction": {"DISTRIBUTION_BUCKET"},
        "CanaryFunction": {"LANDING_BUCKET", "CANARY_INTERVAL_MINUTES"},
    }  # fmt: skip
    common = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}
    if not config.canary.enabled:
        del expected_variables["CanaryFunction"]
    assert set(functions) == set(expected_variables)
    for name, function in functions.items():
        properties = function["Properties"]
        assert properties["Runtime"] == "python3.13"
        assert properties["Architectures"] == [config.functions.architecture]
        assert properties["Handler"] == HANDLERS[name.removesuffix("Function").lower()]
        variables = properties["Environment"]["Variables"]
        assert set(variables) == common | expected_variables[name]
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "S3Aggregator"
    transform = functions["TransformFunction"]["Properties"]["Environment"]["Variables"]
    assert transform["BUNDLE_PREFIX"] == "bundles/"
    # direct bundles are named with the stream's own Prefix expression
    assert transform["BUNDLE_PREFIX_EXPRESSION"] == config.prefixes.bundle


def test_async_functions_have_failure_queues(template: Template) -> None:
    configs = _resources(template, "AWS::Lambda::EventInvokeConfig")
    targets = {
        c["Properties"]["FunctionName"]["Ref"]: c["Properties"]["DestinationConfig"]["OnFailure"]
        for c in configs.values()
    }
    assert targets == {
        "IngestFunction": {"Destination": {"Fn::GetAtt": ["IngestDLQ", "Arn"]}},
        "CopierFunction": {"Destination": {"Fn::GetAtt": ["CopierDLQ", "Arn"]}},
    }
    for queue in _resources(template, "AWS::SQS::Queue").values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True


def test_delivery_stream_matches_the_config(template: Template, config: EnvironmentConfig) -> None:
    stream = template["Resources"]["DeliveryStream"]["Properties"]
    assert stream["DeliveryStreamType"] == "DirectPut"
    assert stream["DeliveryStreamEncryptionConfigurationInput"] == {"KeyType": "AWS_OWNED_CMK"}
    s3 = stream["ExtendedS3DestinationConfiguration"]
    assert s3["CompressionFormat"] == "GZIP"
    assert s3["Prefix"] == config.prefixes.bundle
    assert s3["ErrorOutputPrefix"] == config.prefixes.error
    assert s3["BufferingHints"] == {
        "IntervalInSeconds": config.firehose.interval_seconds,
        "SizeInMBs": config.firehose.size_mb,
    }
    parameters = {
        p["ParameterName"]: p["ParameterValue"]
        for p in s3["ProcessingConfiguration"]["Processors"][0]["Parameters"]
    }
    assert float(parameters["BufferSizeInMBs"]) == config.processor.size_mb
    assert int(parameters["BufferIntervalInSeconds"]) == config.processor.interval_seconds
    assert s3["CloudWatchLoggingOptions"]["Enabled"] is True


def test_outputs_are_the_documented_ones(template: Template, config: EnvironmentConfig) -> None:
    private = {"ConsumerEndpointId"} if config.access.consumer_path == "privatelink" else set()
    assert set(template["Outputs"]) == {
        "LandingBucketName", "ArchiveBucketName", "DistributionBucketName", "DeliveryStreamName",
        "DeliveryStreamNames", "ConsumerRoleArn", "IngestDLQUrl", "CopierDLQUrl", "AlarmTopicArn",
    } | private  # fmt: skip


def test_alarms_cover_the_pipeline(template: Template, config: EnvironmentConfig) -> None:
    alarms = _resources(template, "AWS::CloudWatch::Alarm")
    metrics = {a["Properties"].get("MetricName") for a in alarms.values()} | {
        query["MetricStat"]["Metric"]["MetricName"]  # metric-math alarms (error rates, quotas)
        for a in alarms.values()
        for query in a["Properties"].get("Metrics", [])
        if "MetricStat" in query
    }
    assert {
        "DeliveryToS3.DataFreshness", "ExecuteProcessing.Success", "DeliveryToS3.Success",
        "Errors", "Throttles", "ApproximateNumberOfMessagesVisible", "PutRequests",
        "DistributionBacklogCount", "DistributionOldestAgeSeconds",
    } <= metrics  # fmt: skip
    freshness = alarms["DataFreshnessAlarm"]["Properties"]
    assert freshness["Threshold"] == config.alarms.freshness_seconds
    assert all(a["Properties"]["AlarmActions"] for a in alarms.values())
    if config.alarms.anomaly_detection:
        anomaly = alarms["IncomingRecordsAnomalyAlarm"]["Properties"]
        assert anomaly["ComparisonOperator"] == "GreaterThanUpperThreshold"
