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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import UsageError

if TYPE_CHECKING:
    from scripts.loadgen import UploadRecord

HELP = "run the acceptance scenarios against a deployed stack and judge them against the SLO"

DEFAULT_REPORT_ROOT = Path("build") / "acceptance"


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
        default=DEFAULT_REPORT_ROOT,
        help="the report goes into DIR/<run-id>/ (default: build/acceptance)",
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


def execute(args: argparse.Namespace) -> Any:
    """Preconditions, scenarios, verdict, report: the :class:`~.report.RunSummary`."""
    from scripts.acceptance import preconditions, runner, scenarios, verdict
    from scripts.acceptance.report import RunSummary, ScenarioLine, write_report
    from scripts.consumer.drain import list_candidates, state_dir
    from scripts.consumer.paths import destination
    from scripts.delivery import DeliveryTracker
    from scripts.delivery.verify import check_output
    from scripts.session import EnvSession, stack_outputs
    from scripts.status import Clients, collect_status
    from templates.config import load_config
    from templates.names import function_name_of

    clock = time.monotonic()
    session = EnvSession.from_args(args)
    outputs = stack_outputs(session)
    s3 = session.client("s3")
    # reads an operator waits on (status, metrics): fail fast rather than retry for minutes
    quick = EnvSession.from_args(args, interactive=True)
    cloudwatch = quick.client("cloudwatch")
    clients = Clients(quick.client("s3"), quick.client("firehose"), quick.client("sqs"), cloudwatch)
    landing, distribution = outputs["LandingBucketName"], outputs["DistributionBucketName"]
    local = args.env == preconditions.LOCAL_ENV

    before = collect_status(clients, outputs, args.env)
    preconditions.check_healthy(before)
    if not local:
        state = preconditions.distribution_state(s3, cloudwatch, distribution)
        preconditions.check_distribution_owned(state, args.env, distribution)

    config = load_config(args.env)
    run_id = scenarios.new_run_id()
    prefix = scenarios.run_prefix(run_id)
    if args.files:
        from scripts.acceptance.faults import soak_scenario

        planned = [soak_scenario(prefix, args.files, args.rate)]
    else:
        planned = scenarios.plan_scenarios(
            scenarios.SCALES[args.scale], prefix, config.transform.inline_max_bytes
        )
    started = datetime.now(UTC)
    report_dir = args.report / run_id
    progress = not args.json

    with _workdir(args.keep) as workdir:
        output = workdir / "consumed"
        output.mkdir()
        leave_alone = frozenset(
            bundle.key for bundle in list_candidates(s3, distribution)[0]
        )  # the shared local stack: bundles of others stay where they are
        tracker = DeliveryTracker(
            s3,
            distribution,
            archive_bucket=outputs["ArchiveBucketName"],
            poll_interval=runner.CYCLE_SECONDS,
        )
        tracker.baseline()
        injector = None
        drain_one: runner.DrainOne
        close: Callable[[], None]
        if args.faults:
            from scripts.acceptance.faults import FaultInjector

            injector = FaultInjector.for_run(session, outputs, args.faults, output)
            drain_one, close = injector.drain_one, injector.close
        else:
            drain_one, close = runner.in_process_drain(s3, distribution, output)
        loop = runner.ConsumeLoop(
            s3=s3,
            bucket=distribution,
            tracker=tracker,
            drain_one=drain_one,
            ledger_path=state_dir(output) / "ledger.db",
            prefix=prefix,
            leave_alone=leave_alone,
            finish=close,
        )
        uploaded: list[runner.Uploaded] = []
        records: list[UploadRecord] = []
        duplicate = verdict.DuplicateEvent("skipped", None, "not run")
        cleaned: int | None = None
        try:
            if injector is not None:
                injector.install()
            loop.start()
            uploaded = runner.upload_scenarios(s3, landing, planned, progress)
            records = [record for each in uploaded for record in each.records]
            if not args.files:
                duplicate = runner.invoke_duplicate(
                    s3,
                    session.client("lambda"),
                    function_name_of(args.env, "ingest"),
                    landing,
                    records[0],
                )
            grace = args.wait or runner.GRACE_SECONDS * (3 if args.faults else 1)
            runner.wait_until_durable(
                loop,
                records,
                time.monotonic() + grace,
                expect_duplicate=duplicate.status == "invoked",
            )
        finally:
            try:
                loop.stop()
            finally:
                rules = injector.remove() if injector is not None else ()
                if not args.keep:
                    cleaned = runner.delete_run_objects(s3, landing, prefix)
        ended = datetime.now(UTC)
        delivery = tracker.report(records)
        durable = runner.read_durable(state_dir(output) / "ledger.db", prefix)
        output_check = check_output(output, records, destination)
        expected = {destination(output, r.key, r.version_id) for r in records}
        run_folder = output / prefix.rstrip("/")
        on_disk = {path for path in run_folder.rglob("*") if path.is_file()}
        extra = tuple(sorted(str(path.relative_to(output)) for path in on_disk - expected))
        after = collect_status(clients, outputs, args.env)
        observed = verdict.Observed(
            records=tuple(records),
            delivery=delivery,
            durable=durable,
            output=output_check,
            extra_on_disk=extra,
            consumer_problems=tuple(loop.problems),
            before=before,
            after=after,
            run_started=started.isoformat(timespec="seconds"),
            duplicate=duplicate,
            local=local,
            rules=tuple(rules),
            kills=injector.kills if injector is not None else {},
        )
        found = verdict.checks(observed)
        age_view = runner.file_age_view(cloudwatch, started, ended)

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
        for each in uploaded
    )
    summary = RunSummary(
        run_id=run_id,
        environment=args.env,
        scale="soak" if args.files else args.scale,
        prefix=prefix,
        started=started.isoformat(timespec="seconds"),
        wall_seconds=round(time.monotonic() - clock, 1),
        scenarios=lines,
        distribution=verdict.percentiles(verdict.distribution_latencies(delivery)),
        durable=verdict.percentiles(verdict.durable_latencies(records, durable)),
        bundles=verdict.bundle_shape(delivery),
        file_age_cloudwatch=age_view,
        checks=tuple(found),
        cleaned_up=cleaned,
        report_dir=str(report_dir),
        faults_percent=args.faults,
        fault_rules=tuple(rules),
        kills=dict(injector.kills) if injector is not None else {},
    )
    scenario_of = {r.identity: each.scenario.name for each in uploaded for r in each.records}
    write_report(report_dir, summary, scenario_of, records, delivery, durable)
    return summary
