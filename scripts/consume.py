"""`aggregator consume`: the reference on-premise consumer (drain Distribution into a directory)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from pipeline.errors import UsageError
from scripts.cli import (
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_TEMPORARY,
    EXIT_USAGE,
    StopRequested,
    classify,
    fail,
    raise_stop_requested,
)
from scripts.consumer.drain import (
    BUNDLE_PREFIX,
    DrainOptions,
    DrainSummary,
    HostProblem,
    drain,
    state_dir,
)
from scripts.consumer.hook import DEFAULT_TIMEOUT_SECONDS, MAX_ATTEMPTS, HookRunner
from scripts.consumer.hostfaults import HostFaultError, host_operation
from scripts.consumer.manifest import ManifestHandoff
from scripts.consumer.metrics import (
    DEFAULT_MAX_INTERVALS,
    ConsumerMetrics,
    StatusFile,
    Telemetry,
    check_health,
    read_status,
    status_path,
)

LOG = logging.getLogger("aggregator.consumer")

HELP = "download, verify and unpack bundles from Distribution into a directory (exactly once)"

# The codes are the CLI's one table (scripts/cli.py); what each means for this command:
#: a bundle was rejected, failed, or not deleted; (``--once``) Distribution could not be listed;
#: a permanent host fault (read-only, permission, cross-device, I/O error, corrupt ledger)
EXIT_BUNDLE_PROBLEMS = EXIT_PROBLEM
EXIT_CONFIG = EXIT_USAGE
#: (``--once``) a transient host fault (no space, no inodes, ledger locked): run again later
EXIT_HOST_TRANSIENT = EXIT_TEMPORARY
#: daemon mode: wait after a failed pass grows 1, 2, 4 ... s, capped at the poll interval
_FIRST_BACKOFF = 1.0
LOCK_NAME = "consumer.lock"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default="local", help="environment whose stack to read (local)")
    parser.add_argument("--bucket", help="Distribution bucket (default: the stack's output)")
    parser.add_argument(
        "--endpoint-url",
        help="S3 endpoint, e.g. the interface endpoint https://bucket.vpce-….s3.<region>"
        ".vpce.amazonaws.com (default: [access] consumer_endpoint_url, else the environment's)",
    )
    parser.add_argument("--output", type=Path, default=Path("consumed"), help="output directory")
    parser.add_argument(
        "--ledger", type=Path, help=f"ledger file (default: OUTPUT/{state_dir(Path())}/ledger.db)"
    )
    parser.add_argument(
        "--prefix",
        default=BUNDLE_PREFIX,
        help="bundles live under this key prefix (default %(default)s); other keys are ignored",
    )
    parser.add_argument("--once", action="store_true", help="drain what is there, then exit")
    parser.add_argument(
        "--interval", type=float, default=30.0, help="seconds between polls (default 30)"
    )
    parser.add_argument(
        "--retry-rejected",
        action="store_true",
        help="verify previously rejected bundles again (e.g. after they were re-staged)",
    )
    parser.add_argument(
        "--batch-files",
        type=int,
        default=DrainOptions().batch_files,
        help="files made durable and recorded together (default %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON summary per pass on stdout")
    handoff = parser.add_argument_group("hand-off (docs/operations.md, Hand-off to downstream)")
    handoff.add_argument(
        "--manifests",
        type=Path,
        help="write a manifest (JSON lines) per delivered bundle into this folder (outside "
        "--output); off by default",
    )
    handoff.add_argument(
        "--canary-dir",
        type=Path,
        help="keep canary files (Landing _canary/) here, outside --output; by default they are "
        "verified and recorded, not kept",
    )
    handoff.add_argument(
        "--on-bundle",
        metavar="CMD",
        help="run CMD <manifest path> after each manifest (needs --manifests); a failure is "
        f"logged and retried at the next passes, {MAX_ATTEMPTS} runs at most",
    )
    handoff.add_argument(
        "--on-bundle-timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        help="seconds the hook may run before it is killed, a failure (default %(default)s)",
    )
    metrics = parser.add_argument_group("health and metrics (docs/operations.md, Metrics)")
    metrics.add_argument(
        "--metrics-port", type=int, help="serve Prometheus metrics over HTTP on this port"
    )
    metrics.add_argument(
        "--metrics-address",
        default="127.0.0.1",
        help="address the metrics endpoint binds (default %(default)s; 0.0.0.0 for every one)",
    )
    metrics.add_argument(
        "--metrics-file",
        type=Path,
        help="write the metrics after each pass to this node_exporter textfile (*.prom)",
    )
    metrics.add_argument(
        "--check",
        action="store_true",
        help="health check: exit 0 if the consumer of --output/--ledger had a successful pass "
        "within --max-intervals poll intervals, else 1 with the reason (touches nothing)",
    )
    metrics.add_argument(
        "--max-intervals",
        type=int,
        default=DEFAULT_MAX_INTERVALS,
        help="--check: how many poll intervals may pass without a successful pass "
        "(default %(default)s)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--log-level", default="WARNING", help="JSON log level on stderr (default WARNING)"
    )


def run(args: argparse.Namespace) -> int:
    stop, starting = threading.Event(), threading.Event()
    _install_stop_handler(stop, starting)  # first thing: a stop while starting ends with 0 too
    try:
        return _run(args, stop, starting)
    except StopRequested as signal_name:
        print(f"aggregator consume: stopped ({signal_name}) while starting", file=sys.stderr)
        return EXIT_OK


def _run(args: argparse.Namespace, stop: threading.Event, starting: threading.Event) -> int:
    if args.interval <= 0 or args.batch_files <= 0 or args.max_intervals <= 0:
        print(
            "aggregator consume: --interval, --batch-files and --max-intervals must be positive",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    if args.check:
        return _check(args)
    problem = _handoff_problem(args)
    if problem is not None:
        print(f"aggregator consume: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    _configure_logging(args.log_level)
    try:
        client, bucket = _resolve(args)
    except Exception as error:  # noqa: BLE001 - reported through the one table, never a traceback
        code, message = classify(error) or (EXIT_CONFIG, str(error))
        return fail("consume", message, code, as_json=args.json)
    output: Path = args.output.absolute()
    metrics = ConsumerMetrics()
    server = None
    if args.metrics_port is not None:
        try:
            server = metrics.serve(args.metrics_port, args.metrics_address)
        except OSError as error:
            print(
                f"aggregator consume: cannot serve metrics on {args.metrics_address}:"
                f"{args.metrics_port} ({error}): choose a free port or another --metrics-address",
                file=sys.stderr,
            )
            return EXIT_CONFIG
    starting.clear()  # from here a stop is honoured between files: nothing is left half-done
    try:
        return _run_loop(args, client, bucket, output, stop, metrics)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()


def _handoff_problem(args: argparse.Namespace) -> str | None:
    """Why the hand-off options cannot work, or None."""
    if args.on_bundle is not None and args.manifests is None:
        return "--on-bundle runs with a manifest's path: give --manifests DIR too"
    if args.on_bundle_timeout <= 0:
        return "--on-bundle-timeout must be positive"
    output = args.output.resolve()
    for option, folder in (("--manifests", args.manifests), ("--canary-dir", args.canary_dir)):
        if folder is not None and folder.resolve().is_relative_to(output):
            return (
                f"{option} {folder} is inside --output {args.output}: the downstream would read "
                "its files as data; choose a folder beside it"
            )
    return None


def _handoff(args: argparse.Namespace, output: Path, metrics: ConsumerMetrics) -> Any:
    if args.manifests is None:
        return None
    hook = None
    if args.on_bundle is not None:
        state = _ledger_path(args, output).parent
        hook = HookRunner(args.on_bundle, state, args.on_bundle_timeout, observer=metrics)
    return ManifestHandoff(args.manifests.absolute(), hook, observer=metrics)


def _ledger_path(args: argparse.Namespace, output: Path) -> Path:
    ledger: Path = args.ledger or state_dir(output) / "ledger.db"
    return ledger


def _check(args: argparse.Namespace) -> int:
    """``--check``: read the status file the daemon leaves next to the ledger; touch nothing."""
    path = status_path(_ledger_path(args, args.output.absolute()))
    try:
        status = read_status(path)
    except (OSError, ValueError, TypeError) as error:
        print(
            f"UNHEALTHY: no readable consumer status at {path} ({error}); is the consumer "
            "running with this --output/--ledger?"
        )
        return EXIT_BUNDLE_PROBLEMS
    reason = check_health(status, time.time(), args.max_intervals)
    if reason is not None:
        print(f"UNHEALTHY: {reason}")
        return EXIT_BUNDLE_PROBLEMS
    print(f"OK: consumer pid {status.pid}, last pass {status.last_result}")
    return EXIT_OK


def _run_loop(
    args: argparse.Namespace,
    client: Any,
    bucket: str,
    output: Path,
    stop: threading.Event,
    metrics: ConsumerMetrics,
) -> int:
    status = StatusFile(status_path(_ledger_path(args, output)), args.interval, os.getpid())
    telemetry = Telemetry(metrics, status, args.metrics_file, _handoff(args, output, metrics))
    backoff = _Backoff(args.interval, stop)
    while True:
        try:
            return _open_and_loop(args, client, bucket, output, stop, telemetry)
        except HostFaultError as fault:  # at start: the output, the lock or the ledger
            telemetry.pass_failed()
            stopped = _host_fault(HostProblem.of(fault), args.once)
            if stopped is not None:
                return stopped
        if backoff.wait():
            return EXIT_OK


class _Backoff:
    """Daemon mode: the wait after a failed pass grows 1, 2, 4 ... s, capped at the interval."""

    def __init__(self, interval: float, stop: threading.Event) -> None:
        self._interval, self._stop = interval, stop
        self.next = _FIRST_BACKOFF

    def wait(self) -> bool:
        """Wait the current step (True when a stop was requested meanwhile), then double it."""
        wait, self.next = min(self.next, self._interval), self.next * 2
        return self._stop.wait(wait)

    def reset(self) -> None:
        self.next = _FIRST_BACKOFF


def _open_and_loop(
    args: argparse.Namespace,
    client: Any,
    bucket: str,
    output: Path,
    stop: threading.Event,
    telemetry: Telemetry,
) -> int:
    """Take the output folder's lock, open the ledger, then poll; raises a start-up host fault."""
    from scripts.consumer.ledger import Ledger
    from scripts.consumer.lock import ConsumerLockedError, exclusive
    from scripts.consumer.paths import UnsafePathError

    with host_operation(output):
        output.mkdir(parents=True, exist_ok=True)
    ledger_path = _ledger_path(args, output)
    locks = [state_dir(output) / LOCK_NAME, ledger_path.with_name(ledger_path.name + ".lock")]
    try:
        with exclusive(locks), Ledger(ledger_path) as ledger:
            if args.retry_rejected:
                forgotten = ledger.forget_rejections()
                LOG.info("rejections forgotten", extra={"count": forgotten})
            return _loop(args, client, bucket, output, ledger, stop, telemetry)
    except ConsumerLockedError as error:
        print(f"aggregator consume: {error}", file=sys.stderr)
        return EXIT_LOCKED
    except UnsafePathError as error:  # the state folder itself is a link: refuse to start
        print(f"aggregator consume: {error}", file=sys.stderr)
        return EXIT_CONFIG


def _host_fault(problem: HostProblem, once: bool) -> int | None:
    """Report a host fault in one line; the exit code, or None when the daemon should retry."""
    retry = problem.transient and not once
    then = "retrying with backoff" if retry else "stopping"
    print(
        f"aggregator consume: HOST FAULT ({problem.kind}; bundle kept in Distribution, {then}): "
        f"{problem.message}",
        file=sys.stderr,
    )
    LOG.error(
        "host fault",
        extra={"kind": problem.kind, "path": problem.path, "transient": problem.transient},
    )
    if retry:
        return None
    return EXIT_HOST_TRANSIENT if problem.transient else EXIT_BUNDLE_PROBLEMS


def _loop(
    args: argparse.Namespace,
    client: Any,
    bucket: str,
    output: Path,
    ledger: Any,
    stop: threading.Event,
    telemetry: Telemetry,
) -> int:
    """Pass after pass; a pass that fails (listing included) is logged and retried with backoff."""
    from botocore.exceptions import BotoCoreError, ClientError

    backoff = _Backoff(args.interval, stop)
    while True:
        try:
            summary = _one_pass(args, client, bucket, output, ledger, stop, telemetry)
        except (BotoCoreError, ClientError, OSError) as error:
            telemetry.pass_failed()
            code = _after_failed_pass(args, bucket, f"{type(error).__name__}: {error}", backoff)
        else:
            telemetry.pass_ended(summary)
            code = _after_pass(args, bucket, output, summary, stop, backoff)
        if code is not None:
            return code


def _one_pass(
    args: argparse.Namespace,
    client: Any,
    bucket: str,
    output: Path,
    ledger: Any,
    stop: threading.Event,
    telemetry: Telemetry,
) -> DrainSummary:
    if telemetry.handoff is not None:
        telemetry.handoff.pass_started()  # hooks that failed before run again
    with _TqdmProgress(not args.no_progress, telemetry.bundle_done) as progress:
        return drain(
            client,
            bucket,
            output,
            ledger,
            DrainOptions(
                prefix=args.prefix,
                batch_files=args.batch_files,
                canary_dir=None if args.canary_dir is None else args.canary_dir.absolute(),
            ),
            progress=progress,
            should_stop=stop.is_set,
            observer=telemetry.metrics,
            handoff=telemetry.handoff,
        )


def _after_failed_pass(
    args: argparse.Namespace, bucket: str, reason: str, backoff: _Backoff
) -> int | None:
    """A pass that raised: the exit code (`--once`, or stopped while waiting); None: retry."""
    if args.once:
        print(f"consume: pass over s3://{bucket} failed: {reason}", file=sys.stderr)
        return EXIT_BUNDLE_PROBLEMS
    wait = min(backoff.next, args.interval)
    LOG.warning("pass failed; retrying", extra={"reason": reason, "retry_in_seconds": wait})
    print(f"consume: pass failed ({reason}); retrying in {wait:.0f} s", file=sys.stderr)
    return EXIT_OK if backoff.wait() else None


def _after_pass(
    args: argparse.Namespace,
    bucket: str,
    output: Path,
    summary: DrainSummary,
    stop: threading.Event,
    backoff: _Backoff,
) -> int | None:
    """A finished pass: report it; the exit code, or None for the next pass (after the wait)."""
    if args.once or args.json or not _idle(summary):
        _report(summary, bucket, output, as_json=args.json)
    if summary.host_fault is not None:
        code = _host_fault(summary.host_fault, args.once)
        if code is not None:
            return code
        return EXIT_OK if backoff.wait() else None
    backoff.reset()
    if args.once:
        return EXIT_OK if summary.ok else EXIT_BUNDLE_PROBLEMS
    if stop.is_set():  # the daemon stops as asked: 0, even after a pass with rejections
        return EXIT_OK
    return EXIT_OK if stop.wait(args.interval) else None


def _resolve(args: argparse.Namespace) -> tuple[Any, str]:
    from botocore.exceptions import ClientError

    from scripts.interface_endpoint import check_region, configured_endpoint, is_interface_endpoint
    from scripts.session import EnvSession, stack_name, stack_outputs

    endpoint = args.endpoint_url or configured_endpoint(args.env)
    region, profile = getattr(args, "region", None), getattr(args, "profile", None)
    session = EnvSession.for_env(args.env, endpoint, region=region, profile=profile)
    check_region(endpoint, session.region)
    bucket = args.bucket
    if not bucket:
        # an S3 interface endpoint serves S3 only: the stack is read at CloudFormation's endpoint
        lookup = (
            EnvSession.for_env(args.env, region=region, profile=profile)
            if is_interface_endpoint(endpoint)
            else session
        )
        try:
            outputs = stack_outputs(lookup)
        except ClientError as error:
            raise UsageError(
                f"cannot read the outputs of stack {stack_name(args.env)!r} "
                f"({error}); pass --bucket <DistributionBucketName> "
                "(the consumer role may not call cloudformation:DescribeStacks)"
            ) from error
        bucket = outputs.get("DistributionBucketName")
        if not bucket:
            raise UsageError(
                f"the stack of environment {args.env!r} has no DistributionBucketName output; "
                "pass --bucket"
            )
    return session.client("s3"), bucket


def _configure_logging(level: str) -> None:
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LambdaPowertoolsFormatter(service="aggregator-consumer"))
    logger = logging.getLogger("aggregator")
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False


def _install_stop_handler(stop: threading.Event, starting: threading.Event) -> None:
    """SIGTERM/SIGINT set ``stop``; while ``starting`` is set they raise StopRequested too."""
    starting.set()

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()
        if starting.is_set():
            raise_stop_requested(signum, frame)

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _idle(summary: DrainSummary) -> bool:
    """A daemon pass that found nothing and had nothing to report: no text line for it."""
    return summary.bundles_listed == 0 and summary.bundles_skipped == 0 and summary.ok


def _report(summary: DrainSummary, bucket: str, output: Path, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"bucket": bucket, "output": str(output), **summary.to_dict()}))
        sys.stdout.flush()
        return
    rate = summary.files_written / summary.seconds if summary.seconds else 0.0
    print(
        f"consume: s3://{bucket} -> {output}: {summary.bundles_delivered} bundle(s) delivered, "
        f"{summary.bundles_duplicate} already delivered, {summary.files_written} file(s) written "
        f"({summary.bytes_written:,} bytes, {rate:,.0f} files/s), "
        f"{summary.files_duplicate} duplicate(s) skipped, {summary.files_adopted} recovered, "
        f"{len(summary.rejected)} rejected, {summary.bundles_skipped} skipped (not bundles), "
        f"in {summary.seconds:.1f} s"
    )
    if summary.files_canary:
        print(f"  {summary.files_canary} canary file(s) verified (not in the output folder)")
    for problem in summary.rejected:
        print(f"  REJECTED (kept in Distribution) {problem.key}: {problem.reason}")
    for problem in summary.failed:
        print(f"  NOT DELIVERED (will retry) {problem.key}: {problem.reason}")
    if summary.rejected:
        print("  (rejected bundles are not downloaded again; --retry-rejected verifies them anew)")
    for problem in summary.undeleted:
        print(f"  DELIVERED, NOT DELETED (next pass deletes it) {problem.key}: {problem.reason}")


class _TqdmProgress:
    """A tqdm bar over bundles (files and bytes in the postfix); silent when not a terminal."""

    def __init__(self, enabled: bool, on_bundle: Callable[[], None] = lambda: None) -> None:
        self._enabled = enabled
        self._on_bundle = on_bundle  # the status file's heartbeat during a long pass
        self._bar: Any = None
        self._files = 0

    def __enter__(self) -> _TqdmProgress:
        return self

    def __exit__(self, *_: object) -> None:
        if self._bar is not None:
            self._bar.close()

    def start(self, bundles: int, total_bytes: int) -> None:
        if not self._enabled or bundles == 0:
            return
        from tqdm import tqdm

        self._bar = tqdm(
            total=bundles, unit="bundle", desc="consume", file=sys.stderr, disable=None
        )
        self._bar.set_postfix(files=0, mb=0)
        self._total_bytes = total_bytes

    def advance(self, bundles: int, files: int, size: int) -> None:
        self._on_bundle()
        if self._bar is None:
            return
        self._files += files
        self._bar.update(bundles)
        self._bar.set_postfix(files=self._files, refresh=False)
