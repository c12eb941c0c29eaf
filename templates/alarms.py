"""Alarm topic and alarms: stream health, function errors, DLQs, error output, backlog, anomaly."""

from __future__ import annotations

from typing import Any

from troposphere import GetAtt, Ref, Template
from troposphere.cloudwatch import (
    Alarm,
    AnomalyDetector,
    MetricDimension,
    SingleMetricAnomalyDetector,
)
from troposphere.cloudwatch import Metric as CwMetric
from troposphere.cloudwatch import MetricDataQuery as CwQuery
from troposphere.cloudwatch import MetricStat as CwStat
from troposphere.sns import SubscriptionResource, Topic

from pipeline.contract import metrics
from pipeline.contract.prefixes import CANARY_ROOT
from pipeline.contract.slo import SLO_P999_SECONDS, SLO_TARGETS
from templates import names
from templates.config import EnvironmentConfig
from templates.metadata import checkov_skips
from transforms.outcomes import DEFERRED_METRIC, OLDEST_REFERENCE_AGE_METRIC, FailureReason

ANOMALY_DETECTOR = "IncomingRecordsAnomalyDetector"


def alarm_topic(config: EnvironmentConfig) -> Any:
    """What alarms notify: the configured existing topic, or the stack's own topic."""
    return config.alarms.topic_arn or Ref(names.ALARM_TOPIC)


def _dimensions(**values: Any) -> list[MetricDimension]:
    return [MetricDimension(Name=name, Value=value) for name, value in values.items()]


def _alarm(
    config: EnvironmentConfig,
    logical_id: str,
    description: str,
    *,
    namespace: str,
    metric: str,
    dimensions: dict[str, Any],
    statistic: str,
    threshold: float,
    comparison: str = "GreaterThanOrEqualToThreshold",
    period: int = 60,
    evaluation_periods: int = 1,
    missing: str = "notBreaching",
) -> Alarm:
    topic = alarm_topic(config)
    return Alarm(
        logical_id,
        AlarmDescription=description,
        Namespace=namespace,
        MetricName=metric,
        Dimensions=_dimensions(**dimensions),
        Statistic=statistic,
        Period=period,
        EvaluationPeriods=evaluation_periods,
        Threshold=threshold,
        ComparisonOperator=comparison,
        TreatMissingData=missing,
        AlarmActions=[topic],
        OKActions=[topic],
    )


def _which(config: EnvironmentConfig, stream: names.DeliveryStreamNames) -> str:
    """What an alarm description adds to name its stream when there are several."""
    return f" [stream {stream.name}]" if config.firehose.streams > 1 else ""


def stream_alarms(config: EnvironmentConfig) -> list[Alarm]:
    alarms = []
    for each in names.delivery_streams(config):
        stream = {"DeliveryStreamName": each.name}
        which = _which(config, each)
        alarms += [
            _alarm(
                config,
                "DataFreshnessAlarm" + each.suffix,
                f"Oldest record in Firehose older than {config.alarms.freshness_seconds} s: "
                "files are at risk of missing the delivery SLO" + which,
                namespace="AWS/Firehose",
                metric="DeliveryToS3.DataFreshness",
                dimensions=stream,
                statistic="Maximum",
                threshold=config.alarms.freshness_seconds,
                comparison="GreaterThanThreshold",
            ),
            _alarm(
                config,
                "ProcessorSuccessAlarm" + each.suffix,
                "Firehose processor invocations failed: batches go to the error output" + which,
                namespace="AWS/Firehose",
                metric="ExecuteProcessing.Success",
                dimensions=stream,
                statistic="Minimum",
                threshold=1,
                comparison="LessThanThreshold",
                period=300,
            ),
            _alarm(
                config,
                "DeliverySuccessAlarm" + each.suffix,
                "Firehose failed to deliver to the Archive bucket" + which,
                namespace="AWS/Firehose",
                metric="DeliveryToS3.Success",
                dimensions=stream,
                statistic="Minimum",
                threshold=1,
                comparison="LessThanThreshold",
                period=300,
            ),
        ]
    return [
        *alarms,
        _alarm(
            config,
            "ErrorOutputAlarm",
            "Firehose wrote objects under the error prefix (processing-failed records)",
            namespace="AWS/S3",
            metric="PutRequests",
            dimensions={
                "BucketName": names.bucket_name(config, "archive"),
                "FilterId": names.ERROR_METRICS_ID,
            },
            statistic="Sum",
            threshold=1,
            period=300,
        ),
    ]


def function_alarms(config: EnvironmentConfig) -> list[Alarm]:
    alarms = []
    for function, logical_id in names.FUNCTION_IDS.items():
        name = names.function_name(config, function)
        for metric in ("Throttles",):  # errors: error_rate_alarms (M-of-N rates)
            alarms.append(
                _alarm(
                    config,
                    f"{logical_id}{metric}Alarm",
                    f"{metric} of the {function} function",
                    namespace="AWS/Lambda",
                    metric=metric,
                    dimensions={"FunctionName": name},
                    statistic="Sum",
                    threshold=1,
                    period=300,
                )
            )
    for function, queue in names.DLQ_IDS.items():
        alarms.append(
            _alarm(
                config,
                f"{queue}DepthAlarm",
                f"Events the {function} function failed to process after retries",
                namespace="AWS/SQS",
                metric="ApproximateNumberOfMessagesVisible",
                dimensions={"QueueName": GetAtt(queue, "QueueName")},
                statistic="Maximum",
                threshold=1,
            )
        )
    return alarms


def backlog_alarms(config: EnvironmentConfig) -> list[Alarm]:
    service = {"service": names.function_name(config, "monitor")}
    common: dict[str, Any] = {
        "namespace": names.METRICS_NAMESPACE,
        "dimensions": service,
        "statistic": "Maximum",
        "comparison": "GreaterThanThreshold",
        "evaluation_periods": 5,
        # no data means the monitor is not running: the backlog is unknown, so alarm
        "missing": "breaching",
    }
    return [
        _alarm(
            config,
            "BacklogCountAlarm",
            f"More than {config.alarms.backlog_count_threshold} bundles wait in Distribution",
            metric=metrics.DISTRIBUTION_BACKLOG_COUNT,
            threshold=config.alarms.backlog_count_threshold,
            **common,
        ),
        _alarm(
            config,
            "BacklogAgeAlarm",
            f"A bundle waited in Distribution over {config.alarms.backlog_oldest_age_seconds} s",
            metric=metrics.DISTRIBUTION_OLDEST_AGE_SECONDS,
            threshold=config.alarms.backlog_oldest_age_seconds,
            **common,
        ),
    ]


def anomaly_alarm(config: EnvironmentConfig) -> list[Any]:
    """Denial of wallet: incoming records above the learned band of each stream's normal rate."""
    resources: list[Any] = []
    for each in names.delivery_streams(config):
        resources += _anomaly_alarm(config, each)
    return resources


def _anomaly_alarm(config: EnvironmentConfig, each: names.DeliveryStreamNames) -> list[Any]:
    stream = each.name
    detector = AnomalyDetector(
        ANOMALY_DETECTOR + each.suffix,
        SingleMetricAnomalyDetector=SingleMetricAnomalyDetector(
            Namespace="AWS/Firehose",
            MetricName="IncomingRecords",
            Dimensions=_dimensions(DeliveryStreamName=stream),
            Stat="Sum",
        ),
    )
    topic = alarm_topic(config)
    alarm = Alarm(
        "IncomingRecordsAnomalyAlarm" + each.suffix,
        AlarmDescription="Incoming records far above the usual rate (denial-of-wallet guard)"
        + _which(config, each),
        ComparisonOperator="GreaterThanUpperThreshold",
        EvaluationPeriods=3,
        DatapointsToAlarm=2,
        ThresholdMetricId="band",
        TreatMissingData="notBreaching",
        Metrics=[
            CwQuery(
                Id="records",
                ReturnData=True,
                MetricStat=CwStat(
                    Metric=CwMetric(
                        Namespace="AWS/Firehose",
                        MetricName="IncomingRecords",
                        Dimensions=_dimensions(DeliveryStreamName=stream),
                    ),
                    Period=300,
                    Stat="Sum",
                ),
            ),
            CwQuery(
                Id="band",
                ReturnData=True,
                Expression=f"ANOMALY_DETECTION_BAND(records, {config.alarms.anomaly_band_width:g})",
            ),
        ],
        AlarmActions=[topic],
        OKActions=[topic],
        DependsOn=[ANOMALY_DETECTOR + each.suffix],
    )
    return [detector, alarm]


def topic_resources(config: EnvironmentConfig) -> list[Any]:
    if config.alarms.topic_arn:
        return []
    topic = Topic(
        names.ALARM_TOPIC,
        DisplayName=f"{config.stack_name} alarms",
        Metadata=checkov_skips(
            CKV_AWS_26=(
                "Alarm notifications carry alarm names and metric values only; CloudWatch cannot "
                "publish to a topic under the AWS-managed SNS key, and a customer key adds a key "
                "policy to maintain for no data at risk."
            )
        ),
    )
    resources: list[Any] = [topic]
    if config.alarms.email:
        resources.append(
            SubscriptionResource(
                "AlarmEmailSubscription",
                TopicArn=Ref(names.ALARM_TOPIC),
                Protocol="email",
                Endpoint=config.alarms.email,
            )
        )
    return resources


# ---------------------------------------------------------------- the SLO and what an SRE expects

#: where each alarm's runbook lives (its description ends with the link)
RUNBOOK = "docs/operations.md"
#: the SLO (pipeline/contract/slo.py): 95 % of files in Distribution within 120 s of landing,
#: 99.9 % within 180 s, as (extended statistic, seconds)
SLO_PERCENTILES = tuple((target.statistic, target.seconds) for target in SLO_TARGETS)
QUOTA_RATIO_THRESHOLD = 0.8
TIMEOUT_RATIO_THRESHOLD = 0.8
ERROR_RATE_PERCENT = 5
ASYNC_EVENT_AGE_SECONDS = 60
#: Firehose DirectPut usage metrics and the limit each is measured against (per second)
QUOTA_METRICS = (
    ("IncomingBytes", "BytesPerSecondLimit", "Bytes"),
    ("IncomingRecords", "RecordsPerSecondLimit", "Records"),
    ("IncomingPutRequests", "PutRequestsPerSecondLimit", "PutRequests"),
)


def runbook(anchor: str) -> str:
    return f" Runbook: {RUNBOOK}#{anchor}"


def _stat(
    query_id: str, namespace: str, metric: str, dimensions: dict[str, Any], stat: str, period: int
) -> CwQuery:
    return CwQuery(
        Id=query_id,
        ReturnData=False,
        MetricStat=CwStat(
            Metric=CwMetric(
                Namespace=namespace, MetricName=metric, Dimensions=_dimensions(**dimensions)
            ),
            Period=period,
            Stat=stat,
        ),
    )


def _math_alarm(
    config: EnvironmentConfig,
    logical_id: str,
    description: str,
    queries: list[CwQuery],
    expression: str,
    threshold: float,
    *,
    datapoints: int,
    periods: int,
) -> Alarm:
    topic = alarm_topic(config)
    return Alarm(
        logical_id,
        AlarmDescription=description,
        Metrics=[*queries, CwQuery(Id="result", Expression=expression, ReturnData=True)],
        EvaluationPeriods=periods,
        DatapointsToAlarm=datapoints,
        Threshold=threshold,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[topic],
        OKActions=[topic],
    )


def slo_alarms(config: EnvironmentConfig) -> list[Alarm]:
    """The SLO as CloudWatch sees it: percentiles of every staged file's end-to-end age."""
    topic = alarm_topic(config)
    service = {"service": names.function_name(config, "copier")}
    return [
        Alarm(
            f"FileAge{percentile.replace('.', '').upper()}Alarm",
            AlarmDescription=(
                f"{percentile} of the files' landing-to-Distribution age above {seconds} s over "
                "5 minutes (twice in 15): the delivery SLO is being missed."
                + runbook("runbook-files-are-late")
            ),
            Namespace=names.METRICS_NAMESPACE,
            MetricName=metrics.FILE_AGE_SECONDS,
            Dimensions=_dimensions(**service),
            ExtendedStatistic=percentile,
            Period=300,
            EvaluationPeriods=3,
            DatapointsToAlarm=2,
            Threshold=seconds,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
            AlarmActions=[topic],
            OKActions=[topic],
        )
        for percentile, seconds in SLO_PERCENTILES
    ]


def error_rate_alarms(config: EnvironmentConfig) -> list[Alarm]:
    """Errors as a rate in 3 of 5 minutes: a failure the retries absorb does not page."""
    alarms = []
    for function, logical_id in names.FUNCTION_IDS.items():
        name = {"FunctionName": names.function_name(config, function)}
        alarms.append(
            _math_alarm(
                config,
                f"{logical_id}ErrorRateAlarm",
                f"More than {ERROR_RATE_PERCENT} % of the {function} function's invocations "
                "failed in 3 of the last 5 minutes." + runbook("runbook-function-errors"),
                [
                    _stat("errors", "AWS/Lambda", "Errors", name, "Sum", 60),
                    _stat("invocations", "AWS/Lambda", "Invocations", name, "Sum", 60),
                ],
                "100 * errors / MAX([invocations, 1])",
                ERROR_RATE_PERCENT,
                datapoints=3,
                periods=5,
            )
        )
    return alarms


def capacity_alarms(config: EnvironmentConfig) -> list[Alarm]:
    """Firehose throttling and DirectPut quota use; functions running close to their timeout."""
    alarms: list[Alarm] = []
    for each in names.delivery_streams(config):
        alarms += _stream_capacity_alarms(config, each)
    for function, logical_id in names.FUNCTION_IDS.items():
        timeout_ms = config.functions.settings(function).timeout_seconds * 1000
        alarms.append(
            _alarm(
                config,
                f"{logical_id}DurationAlarm",
                f"The {function} function ran longer than {TIMEOUT_RATIO_THRESHOLD:.0%} of its "
                f"{timeout_ms // 1000} s timeout (2 of 3 periods of 5 minutes)."
                + runbook("runbook-function-near-timeout"),
                namespace="AWS/Lambda",
                metric="Duration",
                dimensions={"FunctionName": names.function_name(config, function)},
                statistic="Maximum",
                threshold=timeout_ms * TIMEOUT_RATIO_THRESHOLD,
                period=300,
                evaluation_periods=3,
            )
        )
        alarms[-1].DatapointsToAlarm = 2
    for function in names.DLQ_IDS:
        logical_id = names.FUNCTION_IDS[function]
        name = {"FunctionName": names.function_name(config, function)}
        alarms.append(
            _alarm(
                config,
                f"{logical_id}AsyncEventAgeAlarm",
                f"Events wait more than {ASYNC_EVENT_AGE_SECONDS} s in the {function} "
                "function's asynchronous queue (3 of 5 minutes): throttling or retries are "
                "delaying files." + runbook("runbook-function-errors"),
                namespace="AWS/Lambda",
                metric="AsyncEventAge",
                dimensions=name,
                statistic="Maximum",
                threshold=ASYNC_EVENT_AGE_SECONDS * 1000,
                evaluation_periods=5,
            )
        )
        alarms[-1].DatapointsToAlarm = 3
        alarms.append(
            _alarm(
                config,
                f"{logical_id}DestinationFailuresAlarm",
                f"The {function} function could not deliver a failed event to its DLQ: that "
                "event is lost unless replayed." + runbook("runbook-function-errors"),
                namespace="AWS/Lambda",
                metric="DestinationDeliveryFailures",
                dimensions=name,
                statistic="Sum",
                threshold=1,
            )
        )
    return alarms


def _stream_capacity_alarms(
    config: EnvironmentConfig, each: names.DeliveryStreamNames
) -> list[Alarm]:
    stream = {"DeliveryStreamName": each.name}
    which = _which(config, each)
    throttled = _alarm(
        config,
        "FirehoseThrottledRecordsAlarm" + each.suffix,
        "Firehose throttled records (DirectPut quota exceeded): ingest retries them, "
        "latency grows." + which + runbook("runbook-firehose-quota"),
        namespace="AWS/Firehose",
        metric="ThrottledRecords",
        dimensions=stream,
        statistic="Sum",
        threshold=1,
        period=300,
        evaluation_periods=3,
    )
    throttled.DatapointsToAlarm = 2
    alarms = [throttled]
    for usage, limit, label in QUOTA_METRICS:
        alarms.append(
            _math_alarm(
                config,
                f"FirehoseQuota{label}Alarm{each.suffix}",
                f"Firehose {usage} above {QUOTA_RATIO_THRESHOLD:.0%} of {limit} in 3 of 5 "
                "minutes: ask for a quota increase before records are throttled."
                + which
                + runbook("runbook-firehose-quota"),
                [
                    _stat("usage", "AWS/Firehose", usage, stream, "Sum", 60),
                    _stat("limit", "AWS/Firehose", limit, stream, "Maximum", 60),
                ],
                "usage / PERIOD(usage) / MAX([limit, 1])",
                QUOTA_RATIO_THRESHOLD,
                datapoints=3,
                periods=5,
            )
        )
    return alarms


def operator_alarms(config: EnvironmentConfig) -> list[Alarm]:
    """The alarms of issue 13: the SLO, error rates, capacity (also listed on the dashboard)."""
    return [*slo_alarms(config), *error_rate_alarms(config), *capacity_alarms(config)]


def canary_alarm_period_seconds(interval_minutes: int) -> int:
    """The CanaryMissing window: one canary interval plus the SLO's 180 s, in whole minutes.

    A canary is put every ``interval`` and reaches Distribution within 180 s when the pipeline
    meets its SLO, so two consecutive deliveries are at most ``interval + 180 s`` apart: any window
    that long holds one. A window without one means the last canary is later than the SLO allows
    (or was never put): broken, not idle. With prod's 5 minutes: an 8-minute window.
    """
    return (interval_minutes * 60 + SLO_P999_SECONDS + 59) // 60 * 60


def canary_alarms(config: EnvironmentConfig) -> list[Alarm]:
    """CanaryMissing, when ``[canary]`` is on: no canary reached Distribution within its window.

    One period of :func:`canary_alarm_period_seconds`, evaluated once (the alarm fires at the end
    of the first window without a delivery, i.e. about ``interval + 180 s`` after the last one);
    missing data is breaching: the copier publishes ``CanariesDelivered`` only for bundles holding
    a canary, so silence is exactly what this alarm is for.
    """
    if not config.canary.enabled:
        return []
    period = canary_alarm_period_seconds(config.canary.interval_minutes)
    return [
        _alarm(
            config,
            names.CANARY_MISSING_ALARM,
            f"No canary file (put under {CANARY_ROOT} in Landing every "
            f"{config.canary.interval_minutes} min) reached Distribution in the last {period} s: "
            "the pipeline is broken, not idle." + runbook("runbook-canary-missing"),
            namespace=names.METRICS_NAMESPACE,
            metric=metrics.CANARIES_DELIVERED,
            dimensions={"service": names.function_name(config, "copier")},
            statistic="Sum",
            threshold=1,
            comparison="LessThanThreshold",
            period=period,
            missing="breaching",
        )
    ]


def add_alarms(template: Template, config: EnvironmentConfig) -> None:
    resources: list[Any] = [
        *topic_resources(config),
        *stream_alarms(config),
        *function_alarms(config),
        *backlog_alarms(config),
        *operator_alarms(config),
        *transform_failure_alarms(config),
        *canary_alarms(config),
    ]
    if config.alarms.anomaly_detection:
        resources.extend(anomaly_alarm(config))
    for resource in resources:
        template.add_resource(resource)


#: Alarm thresholds of the transform's failure paths (issue 11), with their reasoning:
#: sustained deferrals: a burst defers for a minute or two; 15 minutes of deferrals every minute
#: means files loop (throttled Landing, a file that never finishes, a re-put storm).
DEFERRAL_ALARM_MINUTES = 15
#: the oldest reference packed: past 10 minutes a file has missed the 3-minute SLO by far
#: and DataFreshness cannot see it (a re-put resets the record's arrival time).
OLDEST_REFERENCE_AGE_ALARM_SECONDS = 600


def transform_failure_alarms(config: EnvironmentConfig) -> list[Alarm]:
    """Deferrals that go on, a reference getting old, reads refused, files given up on.

    Runbooks: docs/reliability.md, "Alarms of the failure paths".
    """
    common: dict[str, Any] = {
        "namespace": names.METRICS_NAMESPACE,
        "dimensions": {"service": names.function_name(config, "transform")},
    }
    return [
        _alarm(
            config,
            "FilesDeferredAlarm",
            f"Files deferred (re-put) every minute for {DEFERRAL_ALARM_MINUTES} minutes: files "
            "loop instead of arriving (runbook: docs/reliability.md#filesdeferredalarm)",
            metric=DEFERRED_METRIC,
            statistic="Sum",
            threshold=1,
            evaluation_periods=DEFERRAL_ALARM_MINUTES,
            **common,
        ),
        _alarm(
            config,
            "OldestReferenceAgeAlarm",
            f"A file was packed more than {OLDEST_REFERENCE_AGE_ALARM_SECONDS} s after it landed "
            "(runbook: docs/reliability.md#oldestreferenceagealarm)",
            metric=OLDEST_REFERENCE_AGE_METRIC,
            statistic="Maximum",
            threshold=OLDEST_REFERENCE_AGE_ALARM_SECONDS,
            comparison="GreaterThanThreshold",
            **common,
        ),
        _alarm(
            config,
            "ObjectsAccessDeniedAlarm",
            "The transform was refused a read of Landing or a write of Archive: an IAM or bucket "
            "policy problem (runbook: docs/reliability.md#objectsaccessdeniedalarm)",
            metric=FailureReason.ACCESS_DENIED.metric,
            statistic="Sum",
            threshold=1,
            **common,
        ),
        _alarm(
            config,
            "FilesGivenUpAlarm",
            "Files finished as ProcessingFailed after too many deferrals or too long "
            "(runbook: docs/reliability.md#filesgivenupalarm)",
            metric=FailureReason.TOO_MANY_DEFERRALS.metric,
            statistic="Sum",
            threshold=1,
            **common,
        ),
        _alarm(
            config,
            "FilesTooOldAlarm",
            "Files finished as ProcessingFailed because their reference got too old "
            "(runbook: docs/reliability.md#filestoooldalarm)",
            metric=FailureReason.TOO_OLD.metric,
            statistic="Sum",
            threshold=1,
            **common,
        ),
    ]
