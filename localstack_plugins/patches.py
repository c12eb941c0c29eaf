"""The registry of every patch of LocalStack, twisted and moto internals, and how they apply.

Each :class:`Patch` names what it replaces (its :class:`Target`s: ``module:attribute``, with the
parameter names the replacement relies on), its :class:`Kind`, why it exists, the AWS behaviour or
measurement it rests on and the LocalStack version it was written against. :func:`apply` is the
only caller of the patches' installers; the launcher (:mod:`localstack_plugins.launch`) calls it
before LocalStack starts:

1. the installed ``localstack-core`` must be :data:`PINNED_LOCALSTACK`, else nothing is applied;
2. every target of every patch is resolved and its signature compared (:func:`problems_of`);
3. a fidelity, isolation or test-machinery patch whose targets moved stops the start
   (:class:`PatchError`, naming the patch and the target); a speed patch whose targets moved is
   skipped with a warning (LocalStack without it is slower, not wrong);
4. the rest are installed in registry order (order matters: two patches wrap ``Poller.__init__``).

``aggregator local patches [--json]`` prints the table with whether each patch applied (the
launcher writes :func:`report` into the state folder). A unit test checks every target against the
installed (pinned) version; moving the pin is described in docs/localstack.md.
"""

from __future__ import annotations

import enum
import importlib
import importlib.metadata
import inspect
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from localstack_plugins import (
    cfn_retain,
    cloudwatch_alarms,
    direct_invoke,
    faults,
    lambda_logs,
    lambda_metrics,
    launch_patches,
    s3_listing,
    s3_multipart,
    security_group_rules,
)

LOG = logging.getLogger(__name__)
PINNED_LOCALSTACK = "2026.3.0"
LOCALSTACK_DISTRIBUTION = "localstack-core"
#: a parameter list ending with this accepts anything after the names before it
MORE = "..."


class Kind(enum.StrEnum):
    FIDELITY = "fidelity"  # makes LocalStack behave as AWS does
    SPEED = "speed"  # removes a cost or limit that is LocalStack's, not AWS's
    ISOLATION = "isolation"  # keeps the instance on loopback and in its state folder
    TEST_MACHINERY = "test machinery"  # only for the test suites (inert otherwise)


class PatchError(RuntimeError):
    """A patch that must apply cannot: the start stops; the message says which and what to do."""


@dataclass(frozen=True)
class Target:
    """An attribute a patch replaces or relies on, e.g. ``S3Provider.list_objects_v2``.

    ``parameters``: the parameter names of the callable as the patch expects them (``MORE`` at the
    end: any further ones); ``mentions``: text its source must contain (an instance attribute
    set there, which cannot be looked up on the class); None: not checked. ``inherited``: the
    class may inherit the attribute (the patch overrides it there, or only calls it); otherwise
    the class must define it itself.
    """

    module: str
    attribute: str
    parameters: tuple[str, ...] | None = None
    mentions: str | None = None
    inherited: bool = False

    def __str__(self) -> str:
        return f"{self.module}:{self.attribute}"


@dataclass(frozen=True)
class Patch:
    name: str
    kind: Kind
    targets: tuple[Target, ...]
    install: Callable[[], object] = field(repr=False)
    reason: str
    rests_on: str
    written_for: str = PINNED_LOCALSTACK
    #: speed patches: the group measured together by ``make bench-patches``
    group: str = ""
    #: measured gain of a speed patch (the group's A/B; before it, py-spy --gil profile shares)
    gain: str = ""


@dataclass(frozen=True)
class Outcome:
    patch: Patch
    applied: bool
    problems: tuple[str, ...] = ()
    note: str = ""


def _resolve(target: Target) -> Any:
    """The target's object. An attribute of a class must be the class's own: a method that
    moved or was renamed in the class would otherwise resolve to an inherited one (the
    provider's abstract API stub), and the patch would wrap what is never called."""
    found: Any = importlib.import_module(target.module)
    parts = target.attribute.split(".")
    for index, part in enumerate(parts):
        own = not (target.inherited and index == len(parts) - 1)
        if own and isinstance(found, type) and part not in vars(found):
            raise AttributeError(f"{found.__name__} does not define {part!r} itself")
        found = getattr(found, part)
    return found


def _parameters(found: Any) -> tuple[str, ...] | None:
    try:
        return tuple(inspect.signature(found).parameters)
    except (TypeError, ValueError):
        return None


def problem_of(target: Target) -> str | None:
    """Why ``target`` is not as the patch expects it in the installed packages, or None."""
    try:
        found = _resolve(target)
    except (ImportError, AttributeError) as error:
        return f"{target} not found ({error})"
    if target.parameters is not None:
        actual = _parameters(found)
        expected = target.parameters
        if expected and expected[-1] == MORE:
            fits = actual is not None and actual[: len(expected) - 1] == expected[:-1]
        else:
            fits = actual == expected
        if not fits:
            shown = ", ".join(expected)
            return f"{target} has parameters ({', '.join(actual or ())}), expected ({shown})"
    if target.mentions is not None:
        try:
            source = inspect.getsource(found)
        except (OSError, TypeError):
            source = ""
        if target.mentions not in source:
            return f"{target} no longer mentions {target.mentions!r}"
    return None


def problems_of(patch: Patch) -> tuple[str, ...]:
    return tuple(problem for target in patch.targets if (problem := problem_of(target)))


def installed_localstack() -> str | None:
    try:
        return importlib.metadata.version(LOCALSTACK_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None


def version_problem(installed: str | None) -> str | None:
    if installed == PINNED_LOCALSTACK:
        return None
    return (
        f"{LOCALSTACK_DISTRIBUTION} {installed or '(not installed)'} is installed; the patch "
        f"registry (localstack_plugins/patches.py) was checked against {PINNED_LOCALSTACK}. "
        "Run `make setup` to restore the locked version, or move the pin as docs/localstack.md "
        'says ("Moving the LocalStack pin").'
    )


def check(registry: Sequence[Patch]) -> list[Outcome]:
    """Every patch with the problems of its targets (``applied``: whether it could apply)."""
    return [
        Outcome(patch, not problems, problems)
        for patch in registry
        for problems in [problems_of(patch)]
    ]


def speed_selection(registry: Sequence[Patch], names: str) -> frozenset[str]:
    """The speed patches named in ``names`` (comma-separated), checked against ``registry``.

    Raises :class:`PatchError` for a name that is not a speed patch of the registry."""
    chosen = frozenset(name.strip() for name in names.split(",") if name.strip())
    speed = {patch.name for patch in registry if patch.kind is Kind.SPEED}
    unknown = sorted(chosen - speed)
    if unknown:
        raise PatchError(
            f"not a speed patch of the registry: {', '.join(unknown)}. Only speed patches can be "
            f"left out; they are: {', '.join(sorted(speed))} (aggregator local patches)."
        )
    return chosen


def plan(
    registry: Sequence[Patch], speed: bool = True, skip: frozenset[str] = frozenset()
) -> list[Outcome]:
    """What :func:`apply` would do, without installing anything (a pure check of the targets).

    ``speed=False`` leaves out every speed patch, ``skip`` the speed patches it names (for the
    per-patch A/B of ``make bench-patches``). Raises :class:`PatchError` if a patch other than a
    speed patch cannot apply."""
    outcomes: list[Outcome] = []
    for patch in registry:
        if patch.kind is Kind.SPEED and not speed:
            outcomes.append(Outcome(patch, False, note="speed patches switched off"))
            continue
        if patch.name in skip:
            outcomes.append(Outcome(patch, False, note="left out on request"))
            continue
        problems = problems_of(patch)
        if problems and patch.kind is not Kind.SPEED:
            raise PatchError(
                f"{patch.kind} patch {patch.name!r} cannot apply to this LocalStack: "
                f"{'; '.join(problems)}. Its reason: {patch.reason} Update the patch and its "
                "registry entry (localstack_plugins/patches.py) before starting LocalStack."
            )
        if problems:
            LOG.warning(
                "speed patch %r skipped (LocalStack runs slower, not differently): %s",
                patch.name,
                "; ".join(problems),
            )
            outcomes.append(Outcome(patch, False, problems, "skipped: targets moved"))
            continue
        outcomes.append(Outcome(patch, True))
    return outcomes


def apply(
    registry: Sequence[Patch] | None = None,
    speed: bool = True,
    installed: str | None = None,
    skip: str = "",
) -> list[Outcome]:
    """Check the pinned version and every target, then install the patches that apply
    (``skip``: comma-separated speed patches to leave out)."""
    problem = version_problem(installed if installed is not None else installed_localstack())
    if problem:
        raise PatchError(problem)
    chosen = REGISTRY if registry is None else registry
    outcomes = plan(chosen, speed, speed_selection(chosen, skip))
    for outcome in outcomes:
        if outcome.applied:
            outcome.patch.install()
    return outcomes


def report(outcomes: Sequence[Outcome], applied_known: bool = True) -> list[dict[str, Any]]:
    """The registry as JSON-ready rows (``applied``: None when nothing was applied yet)."""
    return [
        {
            "name": outcome.patch.name,
            "kind": str(outcome.patch.kind),
            "targets": [str(target) for target in outcome.patch.targets],
            "reason": outcome.patch.reason,
            "rests_on": outcome.patch.rests_on,
            "written_for": outcome.patch.written_for,
            "group": outcome.patch.group,
            "gain": outcome.patch.gain,
            "applied": outcome.applied if applied_known else None,
            "problems": list(outcome.problems),
            "note": outcome.note,
        }
        for outcome in outcomes
    ]


_S3 = "localstack.services.s3.provider"
_LISTING = ("self", "context", "bucket", "delimiter", "encoding_type")
_CW = "localstack.services.cloudwatch.provider_v2"
#: what :mod:`localstack_plugins.direct_services` reads: the running provider of a service plugin
_SERVICE_PROVIDER = Target("localstack.services.plugins", "Service.for_provider", None, "_provider")
_PUT_METRIC_DATA = Target(_CW, "CloudwatchProvider.put_metric_data", ("self", "context", MORE))
_LOGS_BACKEND = Target("moto.logs.models", "LogsBackend.__init__", None, "self.filters")
_TWISTED = "rolo.serving.twisted"
_LAMBDA = "localstack.services.lambda_.invocation"

#: Each speed group left out alone, LocalStack's CPU while it delivers 2,000 small files (and
#: the wall time), against every patch on: 44.9 cpu-s, 39.9 s (``make bench-patches``,
#: tests/benchmarks/speed_patches.py; one round on the shared 2-core machine, 2026-12-08).
GAINS = {
    "lambda-invoke": "without the group x1.38 CPU (61.8 cpu-s), x1.49 wall (59.4 s)",
    "lambda-metrics": "without the group x1.56 CPU (70.2 cpu-s), x1.72 wall (68.5 s)",
    "gateway": "without the group x1.13 CPU (50.6 cpu-s), x1.18 wall (46.9 s)",
    "threads": "without the group x0.96 CPU (43.2 cpu-s), x0.98 wall (39.2 s) in that round",
}

REGISTRY: tuple[Patch, ...] = (
    Patch(
        "gil-switch-interval",
        Kind.SPEED,
        (Target("sys", "setswitchinterval"),),
        launch_patches.set_gil_switch_interval,
        "every HTTP byte passes through the twisted reactor thread, which waits up to one GIL "
        "switch interval (5 ms) behind each busy thread; 0.5 ms instead",
        "measurement: reactor thread latency under load (docs/localstack.md, Throughput)",
        group="threads",
        gain=GAINS["threads"]
        + "; alone (2 rounds): x0.96 CPU, x1.13 wall (50.3 s against 44.5 s); upkeep nil (stdlib)",
    ),
    Patch(
        "gateway-binds-configured-host",
        Kind.ISOLATION,
        (
            Target(
                "localstack.runtime.server.twisted",
                "TwistedRuntimeServer.register",
                ("self", "gateway", "listen", "ssl_creds"),
            ),
        ),
        launch_patches.bind_gateway_to_configured_host,
        "the twisted gateway listens on every interface whatever GATEWAY_LISTEN says; it binds "
        "127.0.0.1 as configured",
        "seen: LocalStack 2026.3.0 listened on 0.0.0.0 (docs/localstack.md)",
    ),
    Patch(
        "s3-data-in-state-dir",
        Kind.ISOLATION,
        (
            Target(
                "localstack.services.s3.storage.ephemeral",
                "EphemeralS3ObjectStore.__init__",
                ("self", "root_directory"),
            ),
        ),
        launch_patches.keep_s3_data_in_state_dir,
        "S3 object data defaults to /tmp/localstack-s3-storage, shared by every instance on the "
        "machine; it moves under the state folder",
        "seen: two instances shared one S3 data folder",
    ),
    Patch(
        "s3-notification-pool",
        Kind.SPEED,
        (
            Target(
                "localstack.services.s3.notifications",
                "NotificationDispatcher.__init__",
                ("self", "num_thread"),
            ),
        ),
        launch_patches.widen_s3_notification_pool,
        "S3 notifications of every bucket share one FIFO pool of 3 threads: a burst of landing "
        "events delayed the copier's notifications by minutes; S3_NOTIFICATION_THREADS (16)",
        "AWS delivers notifications of each bucket independently, within seconds",
        group="threads",
        gain=GAINS["threads"]
        + "; alone (2 rounds): x1.49 CPU, x2.0 wall (89.5 s against 44.5 s); before: "
        "latency: copier notifications minutes -> seconds behind in a backlog",
    ),
    Patch(
        "lambda-async-invoker-pool",
        Kind.SPEED,
        (Target(f"{_LAMBDA}.event_manager", "Poller.__init__", ("self", "version_manager", MORE)),),
        launch_patches.widen_async_invoker_pool,
        "queued asynchronous invocations run on min(32, cpus + 4) = 6 threads per function; "
        "LAMBDA_ASYNC_INVOKERS (10); reserved/account concurrency stay enforced",
        "AWS: asynchronous invocations scale to the function's concurrency",
        group="lambda-invoke",
        gain=GAINS["lambda-invoke"] + "; before: ingest concurrency 6 -> 10",
    ),
    Patch(
        "cloudwatch-metrics-without-fsync",
        Kind.SPEED,
        (Target("localstack.services.cloudwatch.cloudwatch_database_helper", "sqlite3"),),
        launch_patches.cloudwatch_metrics_without_fsync,
        "CloudWatch's metric store commits to SQLite with an fsync per call; the store is "
        "ephemeral (PERSISTENCE=0)",
        "measurement: part of the ~14 % of PutMetricData per invocation",
        group="lambda-metrics",
        gain=GAINS["lambda-metrics"] + "; before: part of ~14 % (with lambda-metrics-batched)",
    ),
    Patch(
        "lambda-metrics-batched",
        Kind.SPEED,
        (
            Target(
                f"{_LAMBDA}.version_manager",
                "record_cw_metric_invocation",
                ("function_name", "account_id", "region_name"),
            ),
            Target(
                f"{_LAMBDA}.version_manager",
                "record_cw_metric_error",
                ("function_name", "account_id", "region_name"),
            ),
            Target(f"{_LAMBDA}.version_manager", "start_thread", ("method", MORE)),
            _SERVICE_PROVIDER,
            _PUT_METRIC_DATA,
        ),
        lambda_metrics.install,
        "AWS/Lambda Invocations/Errors cost a thread and a PutMetricData per invocation; counted "
        "and published once per second (same Sum and SampleCount)",
        "AWS aggregates Lambda metrics per minute; measurement: ~14 % of the process's CPU",
        group="lambda-metrics",
        gain=GAINS["lambda-metrics"] + "; before: ~14 % of the LocalStack process's CPU",
    ),
    Patch(
        "lambda-logs-batched-with-emf",
        Kind.FIDELITY,
        (
            Target(f"{_LAMBDA}.logs", "LogHandler.run_log_loop", ("self", MORE)),
            Target(f"{_LAMBDA}.logs", "QUEUE_SHUTDOWN"),
            Target("localstack.services.logs.models", "get_moto_logs_backend"),
            _LOGS_BACKEND,
            _SERVICE_PROVIDER,
            _PUT_METRIC_DATA,
        ),
        lambda_logs.install,
        "Lambda log lines in CloudWatch's Embedded Metric Format become metrics, as CloudWatch "
        "Logs does on AWS (LocalStack ignores them); the logs are sent per stream and second "
        "instead of one PutLogEvents per invocation",
        "CloudWatch User Guide, EMF specification; measurement: PutLogEvents ~9 % of the CPU",
        gain="~9 % (batching); EMF metrics exist only with it",
    ),
    Patch(
        "direct-lambda-invoke",
        Kind.SPEED,
        (
            Target(
                f"{_LAMBDA}.event_manager", "Poller.__init__", ("self", "version_manager", MORE)
            ),
            Target(
                "localstack.services.s3.notifications",
                "LambdaNotifier.notify",
                ("self", "ctx", "config"),
            ),
            Target(
                "localstack.services.s3.notifications",
                "LambdaNotifier._get_event_payload",
                ("ctx", "config_id"),
                inherited=True,
            ),
            Target(
                "localstack.services.lambda_.provider",
                "LambdaProvider.invoke",
                ("self", "context", "function_name", MORE),
            ),
            _SERVICE_PROVIDER,
        ),
        direct_invoke.install,
        "S3's Lambda notifications and the async-invoke poller call the Lambda provider "
        "directly instead of a request through the whole chain (same validation and queueing)",
        "measurement: the two internal invokes per file were ~25 % of the process's CPU",
        group="lambda-invoke",
        gain=GAINS["lambda-invoke"] + "; before: ~25 % of the LocalStack process's CPU",
    ),
    Patch(
        "security-group-inline-rules",
        Kind.FIDELITY,
        (
            Target(
                "localstack.services.ec2.resource_providers.aws_ec2_securitygroup",
                "EC2SecurityGroupProvider.create",
                ("self", "request"),
            ),
        ),
        security_group_rules.install,
        "CloudFormation security groups ignore their inline SecurityGroupIngress/Egress; the "
        "rules are authorized after creation",
        "CloudFormation AWS::EC2::SecurityGroup reference",
    ),
    Patch(
        "cloudwatch-alarms-every-minute",
        Kind.FIDELITY,
        (
            Target(
                _CW,
                "CloudwatchProvider._update_state",
                ("self", "context", "alarm", MORE),
            ),
            Target(
                "localstack.services.cloudwatch.alarm_scheduler",
                "AlarmScheduler.schedule_metric_alarm",
                ("self", "alarm_arn"),
            ),
            Target(
                "localstack.services.cloudwatch.alarm_scheduler",
                "get_metric_alarm_details_for_alarm_arn",
            ),
            Target("localstack.services.cloudwatch.alarm_scheduler", "calculate_alarm_state"),
        ),
        cloudwatch_alarms.install,
        "alarms evaluated every minute (10 s for high resolution), not every EvaluationPeriods x "
        "Period; history and StateUpdatedTimestamp in UTC at the transition",
        "CloudWatch User Guide, 'Evaluating an alarm'; API DescribeAlarmHistory",
    ),
    Patch(
        "fault-injection-hook",
        Kind.TEST_MACHINERY,
        (
            Target("localstack.aws.handlers", "serve_custom_service_request_handlers"),
            Target("localstack.services.internal", "get_internal_apis", ()),
        ),
        faults.install,
        "the fault-injection suite sets AWS errors and latencies through "
        "/_localstack/aggregator/faults; inert until a rule is set",
        "docs/reliability.md, fault table",
    ),
    Patch(
        "linear-in-memory-response-reads",
        Kind.SPEED,
        (
            Target("localstack.aws.client", "_ResponseStream.readinto", ("self", "buffer")),
            Target("localstack.aws.client", "_ResponseStream.read", ("self", "amt")),
        ),
        launch_patches.linear_in_memory_response_reads,
        "the in-memory client copies the rest of a response for every 8 KiB it reads "
        "(quadratic: ~1 GB copied for a 4 MB processor response); read by offset",
        "measurement: ~8 % of the CPU with IN_MEMORY_CLIENT=1",
        group="gateway",
        gain=GAINS["gateway"] + "; before: ~8 % of the LocalStack process's CPU",
    ),
    Patch(
        "header-timestamp-cache",
        Kind.SPEED,
        (Target("localstack.aws.protocol.serializer", "parse_to_aware_datetime", ("value",)),),
        launch_patches.cache_header_timestamp_parsing,
        "every Last-Modified header string is parsed with dateutil; equal strings share a parse",
        "measurement: ~6 % of the CPU while the transform fetches",
        group="gateway",
        gain=GAINS["gateway"] + "; before: ~6 % while the transform fetches",
    ),
    Patch(
        "response-mime-type-cache",
        Kind.SPEED,
        (
            Target(
                "localstack.aws.protocol.serializer",
                "ResponseSerializer._get_mime_type",
                ("self", "headers"),
            ),
        ),
        launch_patches.cache_response_mime_type,
        "werkzeug matches the Accept header against the serializer's MIME types per response; "
        "equal headers share one match",
        "measurement: ~12 % of the CPU in a 3,000-file backlog",
        group="gateway",
        gain=GAINS["gateway"] + "; before: ~12 % of the LocalStack process's CPU",
    ),
    Patch(
        "lighter-twisted-requests",
        Kind.SPEED,
        (
            Target(_TWISTED, "HeaderPreservingHTTPChannel.isSecure", ("self",)),
            Target(_TWISTED, "TwistedGateway.log", ("self", "request"), inherited=True),
            Target("twisted.web.http", "_parseContentType", ("line",)),
        ),
        launch_patches.lighter_twisted_requests,
        "no access-log line nothing reads, Content-Type parses cached per value, the TLS answer "
        "kept per connection",
        "measurement: ~20 % of the reactor thread (~10 % of the process)",
        group="gateway",
        gain=GAINS["gateway"] + "; before: ~10 % of the LocalStack process's CPU",
    ),
    Patch(
        "cfn-retain-except-on-create",
        Kind.FIDELITY,
        (
            Target(
                "localstack.services.cloudformation.engine.v2.change_set_model_executor",
                "ChangeSetModelExecutor.visit_node_resource",
                ("self", "node_resource"),
            ),
            Target(
                "localstack.services.cloudformation.engine.v2.change_set_model_preproc",
                "DeletionPolicy.Retain",
            ),
        ),
        cfn_retain.install,
        "DeletionPolicy RetainExceptOnCreate keeps the resource when its stack is deleted "
        "(LocalStack deleted it)",
        "CloudFormation User Guide, DeletionPolicy attribute",
    ),
    Patch(
        "s3-complete-multipart-once",
        Kind.FIDELITY,
        (
            Target(
                _S3,
                "S3Provider.complete_multipart_upload",
                ("self", "context", "bucket", "key", "upload_id", MORE),
            ),
        ),
        s3_multipart.install,
        "overlapping CompleteMultipartUpload requests of one upload each committed a version, "
        "the first deleting the parts the others read: empty or truncated objects",
        "S3 API CompleteMultipartUpload (retries are expected); seen: 3 of ten 300 MB bundles",
    ),
    Patch(
        "s3-listing-raw-markers",
        Kind.FIDELITY,
        (
            Target(_S3, "S3Provider.list_objects", (*_LISTING, "marker", MORE)),
            Target(_S3, "S3Provider.list_objects_v2", (*_LISTING, MORE)),
            Target(_S3, "S3Provider.list_object_versions", (*_LISTING, "key_marker", MORE)),
            Target(_S3, "decode_continuation_token", ("value",)),
        ),
        s3_listing.install,
        "with EncodingType=url (every default boto3 client) listings compared URL-encoded keys "
        "with the raw marker: non-ASCII keys skipped or repeated across page boundaries, and a "
        "non-ASCII next key made ListObjectsV2 fail",
        "S3 lists in UTF-8 byte order and encodes only fields of the answer (S3 API "
        "ListObjectsV2/ListObjects/ListObjectVersions, EncodingType)",
    ),
)


def main() -> None:
    """``python -m localstack_plugins.patches``: the registry checked against the installed
    LocalStack, as JSON, nothing applied (``aggregator local patches`` without a running stack)."""
    document = {
        "version_problem": version_problem(installed_localstack()),
        "patches": report(check(REGISTRY), applied_known=False),
    }
    print(json.dumps(document))


if __name__ == "__main__":
    main()
