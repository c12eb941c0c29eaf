"""`aggregator acceptance`: does the deployed pipeline work here, and does it meet the SLO?

The thin shell over :mod:`.preconditions`, :mod:`.scenarios`, :mod:`.runner`, :mod:`.verdict` and
:mod:`.report` (see docs/operations.md, "First deploy on a real account"). Exit 0 only when every
check passes; 1 when one fails (named on stderr) or a precondition refuses; 2 for ``--env prod``
and bad arguments.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import UsageError

if TYPE_CHECKING:
    from scripts.loadgen import UploadRecord

HELP = "run the acceptance scenarios against a deployed stack and judge them against the SLO"

#: like every default path of the CLI, under the project root whatever the current directory
DEFAULT_REPORT_ROOT = Path(__file__).resolve().parents[2] / "build" / "acceptance"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, help="environment whose stack to test (not prod)")
    parser.add_argument("--endpoint-url", help="AWS endpoint (default: the environment's)")
    parser.add_argument(
        "--scale",
        choices=("small", "full"),
        default="small",
        help="small: a minute or two; full: 10 files/s for 60 s, 100 files/s for 30 s, 100 MiB",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the run's Landing objects and consumer folder"
    )
    parser.add_argument("--json", action="store_true", help="the summary as one JSON document")
    parser.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        default=DEFAULT_REPORT_ROOT,
        help="the report goes into DIR/<run-id>/ (default: <project>/build/acceptance)",
    )
    parser.add_argument(
        "--faults",
        type=float,
        default=0.0,
        metavar="PCT",
        help="local stack only: inject AWS errors and delays into that percent of the pipeline's "
        "calls and kill the consumer mid-bundle now and then",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=None,
        metavar="SECONDS",
        help="after the last upload, wait at most this long for the last file "
        "(default: the SLO's 180 s + 60 s; three times that with --faults)",
    )
    parser.add_argument(
        "--files",
        type=int,
        default=None,
        help="with --faults: a soak of this many files at --rate instead of the scenarios",
    )
    parser.add_argument("--rate", type=float, default=10.0, help="files/s of a --files soak")


def run(args: argparse.Namespace) -> int:
    from scripts.acceptance.preconditions import LOCAL_ENV, refuse_environment

    refuse_environment(args.env)
    if args.faults and args.env != LOCAL_ENV:
        raise UsageError(
            f"--faults is for the local stack only (it drives the emulator's fault endpoint), "
            f"not env {args.env}: drop --faults, or run it with --env local"
        )
    if not 0 <= args.faults <= 100:
        raise UsageError(f"--faults is a percentage in [0, 100], got {args.faults:g}")
    if args.wait is not None and args.wait <= 0:
        raise UsageError(f"--wait is a number of seconds > 0, got {args.wait:g}")
    if args.files is not None and (args.files < 1 or not args.faults):
        raise UsageError("--files N (N >= 1) is the soak of --faults: give both")
    from scripts.acceptance.report import summary_lines

    summary = execute(args)
    if args.json:
        print(json.dumps(summary.to_json(), ensure_ascii=False))
    else:
        print("\n".join(summary_lines(summary)))
    if not summary.passed:
        names = ", ".join(check.name for check in summary.checks if check.status == "fail")
        print(
            f"aggregator acceptance: check(s) failed: {names}: see {summary.report_dir}/report.md "
            "and the runbook named for each",
            file=sys.stderr,
        )
        return 1
    return 0


@contextmanager
def _workdir(keep: bool) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="aggregator-acceptance-"))
    try:
        yield folder
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class Stack:
    """The deployed stack a run talks to."""

    session: Any  # scripts.session.EnvSession
    outputs: dict[str, str]
    s3: Any
    cloudwatch: Any  # fail-fast reads (status, metrics)
    clients: Any  # scripts.status.Clients, fail-fast

    @property
    def landing(self) -> str:
        return self.outputs["LandingBucketName"]

    @property
    def distribution(self) -> str:
        return self.outputs["DistributionBucketName"]


@dataclass
class Driven:
    """What the upload phase produced (filled in as far as it got)."""

    uploaded: list[Any] = field(default_factory=list)  # runner.Uploaded
    records: list[UploadRecord] = field(default_factory=list)
    duplicate: Any = None  # verdict.DuplicateEvent
    rules: tuple[Any, ...] = ()  # verdict.RuleCount
    cleaned: int | None = None


def _connect(args: argparse.Namespace) -> Stack:
    from scripts.session import EnvSession, stack_outputs
    from scripts.status import Clients

    session = EnvSession.from_args(args)
    outputs = stack_outputs(session)
    # reads an operator waits on (status, metrics): fail fast rather than retry for minutes
    quick = EnvSession.from_args(args, interactive=True)
    cloudwatch = quick.client("cloudwatch")
    clients = Clients(quick.client("s3"), quick.client("firehose"), quick.client("sqs"), cloudwatch)
    return Stack(session, outputs, session.client("s3"), cloudwatch, clients)


def _preconditions(args: argparse.Namespace, stack: Stack) -> Any:
    """The status before the run, once every precondition holds (else a refusal is raised)."""
    from scripts.acceptance import preconditions
    from scripts.status import collect_status

    before = collect_status(stack.clients, stack.outputs, args.env)
    preconditions.check_healthy(before)
    if args.env != preconditions.LOCAL_ENV:
        state = preconditions.distribution_state(stack.s3, stack.cloudwatch, stack.distribution)
        preconditions.check_distribution_owned(state, args.env, stack.distribution)
    return before


def _plan(args: argparse.Namespace, prefix: str) -> list[Any]:
    from scripts.acceptance import scenarios
    from templates.config import load_config

    if args.files:
        from scripts.acceptance.faults import soak_scenario

        return [soak_scenario(prefix, args.files, args.rate)]
    inline = load_config(args.env).transform.inline_max_bytes
    return scenarios.plan_scenarios(scenarios.SCALES[args.scale], prefix, inline)


def _drive(
    args: argparse.Namespace, stack: Stack, planned: list[Any], loop: Any, injector: Any
) -> Driven:
    """Upload, invoke the duplicate, wait; always stop the loop, remove the faults, clean up."""
    from scripts.acceptance import runner, verdict
    from templates.names import function_name_of

    driven = Driven(duplicate=verdict.DuplicateEvent("skipped", None, "not run"))
    try:
        if injector is not None:
            injector.install()
        loop.start()
        driven.uploaded = runner.upload_scenarios(stack.s3, stack.landing, planned, not args.json)
        driven.records = [record for each in driven.uploaded for record in each.records]
        if not args.files:
            driven.duplicate = runner.invoke_duplicate(
                stack.s3,
                stack.session.client("lambda"),
                function_name_of(args.env, "ingest"),
                stack.landing,
                driven.records[0],
            )
        grace = args.wait or runner.GRACE_SECONDS * (3 if args.faults else 1)
        runner.wait_until_durable(
            loop,
            driven.records,
            time.monotonic() + grace,
            expect_duplicate=driven.duplicate.status == "invoked",
        )
    finally:
        try:
            loop.stop()
        finally:
            driven.rules = tuple(injector.remove()) if injector is not None else ()
            if not args.keep:
                driven.cleaned = runner.delete_run_objects(stack.s3, stack.landing, loop.prefix)
    return driven


def _extra_on_disk(output: Path, prefix: str, records: list[UploadRecord]) -> tuple[str, ...]:
    """Files under the run's folder that no upload explains (a duplicate written twice)."""
    from scripts.consumer.paths import destination

    expected = {destination(output, r.key, r.version_id) for r in records}
    on_disk = {path for path in (output / prefix.rstrip("/")).rglob("*") if path.is_file()}
    return tuple(sorted(str(path.relative_to(output)) for path in on_disk - expected))


def _consumer(args: argparse.Namespace, stack: Stack, output: Path) -> tuple[Any, Any, Any]:
    """(drain one bundle, close, the fault injector or None)."""
    from scripts.acceptance import runner

    drain_one, close = runner.in_process_drain(stack.s3, stack.distribution, output)
    if args.faults:
        from scripts.acceptance.faults import FaultInjector

        injector = FaultInjector.for_run(
            stack.session, stack.outputs, args.faults, output, drain_one
        )
        return injector.drain_one, close, injector
    return drain_one, close, None


def execute(args: argparse.Namespace) -> Any:
    """Preconditions, scenarios, verdict, report: the :class:`~.report.RunSummary`."""
    from scripts.acceptance import runner, scenarios, verdict
    from scripts.consumer.drain import list_candidates, state_dir
    from scripts.consumer.paths import destination
    from scripts.delivery import DeliveryTracker
    from scripts.delivery.verify import check_output
    from scripts.status import collect_status

    clock = time.monotonic()
    stack = _connect(args)
    before = _preconditions(args, stack)
    run_id = scenarios.new_run_id()
    prefix = scenarios.run_prefix(run_id)
    planned = _plan(args, prefix)
    started = datetime.now(UTC)
    with _workdir(args.keep) as workdir:
        output = workdir / "consumed"
        output.mkdir()
        # the shared local stack: bundles already there are others', left where they are
        leave_alone = frozenset(b.key for b in list_candidates(stack.s3, stack.distribution)[0])
        tracker = DeliveryTracker(
            stack.s3,
            stack.distribution,
            archive_bucket=stack.outputs["ArchiveBucketName"],
            poll_interval=runner.CYCLE_SECONDS,
        )
        tracker.baseline()
        drain_one, close, injector = _consumer(args, stack, output)
        loop = runner.ConsumeLoop(
            s3=stack.s3,
            bucket=stack.distribution,
            tracker=tracker,
            drain_one=drain_one,
            ledger_path=state_dir(output) / "ledger.db",
            prefix=prefix,
            leave_alone=leave_alone,
            finish=close,
        )
        driven = _drive(args, stack, planned, loop, injector)
        ended = datetime.now(UTC)
        records = driven.records
        delivery = tracker.report(records)
        durable = runner.read_durable(state_dir(output) / "ledger.db", prefix)
        observed = verdict.Observed(
            records=tuple(records),
            delivery=delivery,
            durable=durable,
            output=check_output(output, records, destination),
            extra_on_disk=_extra_on_disk(output, prefix, records),
            consumer_problems=tuple(loop.problems),
            before=before,
            after=collect_status(stack.clients, stack.outputs, args.env),
            run_started=started.isoformat(timespec="seconds"),
            duplicate=driven.duplicate,
            local=args.env == "local",
            rules=driven.rules,
            kills=dict(injector.kills) if injector is not None else {},
        )
        found = verdict.checks(observed)
    age_view = runner.file_age_view(stack.cloudwatch, started, ended)
    summary = _summary(args, run_id, prefix, started, clock, driven, observed, found, age_view)
    _write(args, summary, driven, observed)
    return summary


def _summary(
    args: argparse.Namespace,
    run_id: str,
    prefix: str,
    started: datetime,
    clock: float,
    driven: Driven,
    observed: Any,
    found: list[Any],
    age_view: dict[str, float],
) -> Any:
    from scripts.acceptance import verdict
    from scripts.acceptance.report import RunSummary, ScenarioLine

    lines = tuple(
        ScenarioLine(
            name=each.scenario.name,
            what=each.scenario.what,
            files=len(each.records),
            bytes=sum(r.size for r in each.records),
            asked_rate=each.scenario.rate,
            reached_rate=each.reached_rate,
            seconds=each.seconds,
        )
        for each in driven.uploaded
    )
    return RunSummary(
        run_id=run_id,
        environment=args.env,
        scale="soak" if args.files else args.scale,
        prefix=prefix,
        started=started.isoformat(timespec="seconds"),
        wall_seconds=round(time.monotonic() - clock, 1),
        scenarios=lines,
        distribution=verdict.percentiles(verdict.distribution_latencies(observed.delivery)),
        durable=verdict.percentiles(verdict.durable_latencies(driven.records, observed.durable)),
        bundles=verdict.bundle_shape(observed.delivery),
        file_age_cloudwatch=age_view,
        checks=tuple(found),
        cleaned_up=driven.cleaned,
        report_dir=str(args.report / run_id),
        faults_percent=args.faults,
        fault_rules=driven.rules,
        kills=dict(observed.kills),
    )


def _write(args: argparse.Namespace, summary: Any, driven: Driven, observed: Any) -> None:
    from scripts.acceptance.report import write_report

    scenario_of = {r.identity: each.scenario.name for each in driven.uploaded for r in each.records}
    write_report(
        Path(summary.report_dir),
        summary,
        scenario_of,
        driven.records,
        observed.delivery,
        observed.durable,
    )
