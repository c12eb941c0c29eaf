"""`aggregator demo`: the whole pipeline on the embedded LocalStack, end to end, verified.

Steps: make sure LocalStack runs (start it, or reuse the one `aggregator local up` started for the
same state folder; any other program answering on the port is refused), deploy the
``local`` environment, upload a seeded mix of files at a steady rate while a tracker watches
Distribution, wait until every file arrived, drain Distribution with the reference consumer into a
fresh directory, compare every file byte for byte with what was uploaded, print the report, and
stop what the demo started. Exit status 0 only if every uploaded file was verified.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.contract.slo import SLO_P999_SECONDS
from scripts.delivery import DeliveryReport, DeliveryTracker
from scripts.delivery.report import report_lines, summary_line
from scripts.delivery.verify import OutputCheck, check_output
from scripts.loadgen import FileKind, FileSpec, MixConfig, UploadRecord, plan_mix, upload_all
from scripts.loadgen.plan import DEFAULT_LARGE_SIZE, MIB

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

HELP = "deploy onto the embedded LocalStack, feed it files, consume them and verify every byte"

ENV_NAME = "local"
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "demo-output"
_MARKER = ".aggregator-demo-output"

Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class DemoOptions:
    files: int
    rate: float | None
    concurrency: int
    seed: int
    large_size: int | None
    output: Path
    timeout: float
    port: int
    state_dir: Path
    keep_running: bool
    progress: bool
    warmup: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DemoOptions:
        if args.files < 1:
            raise ValueError(f"--files must be >= 1, got {args.files}")
        if args.timeout <= 0:
            raise ValueError(f"--timeout must be > 0 s, got {args.timeout}")
        return cls(
            files=args.files,
            rate=args.rate or None,
            concurrency=args.concurrency,
            seed=args.seed,
            large_size=args.large_mb * MIB if args.large_mb else None,
            output=args.output,
            timeout=args.timeout,
            port=args.port,
            state_dir=args.state_dir,
            keep_running=args.keep_running,
            progress=not args.quiet,
            warmup=not args.no_warmup,
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--files", type=int, default=200, help="files to upload (default 200)")
    parser.add_argument(
        "--rate", type=float, default=10.0, help="files/s (default 10, the production baseline)"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="uploads in flight")
    parser.add_argument("--seed", type=int, default=0, help="seed of the file mix")
    parser.add_argument(
        "--large-mb",
        type=int,
        default=DEFAULT_LARGE_SIZE // MIB,
        help=f"size of the one large file in MiB (default {DEFAULT_LARGE_SIZE // MIB}; 0: none)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="consumer output, recreated each run (default: <project>/demo-output)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=float(SLO_P999_SECONDS),
        help="seconds to wait for every file (default: the SLO's p99.9, %(default)s s)",
    )
    parser.add_argument("--port", type=int, default=4566, help="LocalStack port")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_OUTPUT.parent / ".localstack",
        help="LocalStack state folder (default: <project>/.localstack)",
    )
    parser.add_argument(
        "--keep-running", action="store_true", help="leave LocalStack running afterwards"
    )
    parser.add_argument(
        "--no-warmup",
        action="store_true",
        help="measure from a cold pipeline (by default one file first warms the functions up)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--json", action="store_true", help="the summary as JSON on stdout (progress on stderr)"
    )


def run(args: argparse.Namespace) -> int:
    try:
        options = DemoOptions.from_args(args)
        output = _fresh_output(options.output)
    except ValueError as error:
        print(f"aggregator demo: {error}", file=sys.stderr)
        return 2
    refuse_foreign_localstack(options)
    if getattr(args, "json", False):
        return run_demo(
            options,
            output,
            emit=lambda line: print(line, file=sys.stderr, flush=True),
            as_json=True,
        )
    return run_demo(options, output, emit=lambda line: print(line, flush=True))


def run_demo(options: DemoOptions, output: Path, emit: Say, as_json: bool = False) -> int:
    """Run the demo, writing its lines through ``emit``; returns the exit status."""

    def say(line: str) -> None:
        emit(f"demo: {line}")

    started = time.monotonic()
    steps = _Steps()
    try:
        with _localstack(options, say, steps) as endpoint_url:
            delivery, check, bundles_consumed = _pipeline(options, endpoint_url, output, say, steps)
    except Exception as error:  # noqa: BLE001 - every failure is reported with its step, exit 1
        say(f"FAILED while {steps.current}: {error}")
        say(f"hint: {_HINTS.get(steps.current, 'see the message above')}")
        return 1
    for line in report_lines(delivery, check):
        say(line)
    latency_report = _latency_report(delivery, output, say)
    earlier = bundles_consumed - delivery.bundles  # the warm-up's, and any left by an earlier run
    extra = (
        f": the {delivery.bundles} above, {earlier} from the warm-up or an earlier run"
        if earlier > 0
        else ""
    )
    say(f"consumer output: {output} ({bundles_consumed} bundles consumed{extra})")
    say(f"wall time {time.monotonic() - started:.0f} s")
    ok = delivery.complete and check.ok and len(check.verified) == delivery.uploaded
    if as_json:
        summary = {
            "ok": ok,
            "uploaded": delivery.uploaded,
            "verified": len(check.verified),
            "bundles": delivery.bundles,
            "latency_p95_seconds": delivery.latency.p95,
            "latency_p99_seconds": delivery.latency.p99,
            "output": str(output),
            "latency_report": str(latency_report) if latency_report else None,
        }
        print(json.dumps(summary), flush=True)
    emit(
        summary_line(
            delivery.uploaded,
            len(check.verified),
            delivery.bundles,
            delivery.latency.p95,
            delivery.latency.p99,
        )
    )
    return 0 if ok else 1


def _latency_report(delivery: DeliveryReport, output: Path, say: Say) -> Path | None:
    """Write the latency picture and CSVs next to the consumer output; None if that failed."""
    from scripts.delivery.plot import write_latency_report

    folder = output.parent / f"{output.name}-report"
    try:
        written = write_latency_report(delivery, folder)
    except (OSError, ValueError) as error:  # the demo's verdict does not depend on the picture
        say(f"latency report not written: {error}")
        return None
    say(f"latency picture: {written.png} (and {written.picture.name} beside it)")
    say(f"latency data: {written.files_csv}, {written.bundles_csv}")
    return written.picture


class _Steps:
    """The step the demo is in, so a failure can say where it happened."""

    current = "starting"


_HINTS = {
    "starting LocalStack": "see the LocalStack log in the state folder; `make local-down` "
    "clears a stale instance",
    "deploying the stack": "run `make deploy ENV=local` on its own to see every resource event",
    "uploading": "is LocalStack still running? `make local-status`",
    "warming up": "check the Lambda logs: `aws logs tail` against the LocalStack endpoint",
    "waiting for delivery": "check `aggregator status --env local` and the Lambda logs",
    "consuming": "run `make consume` on its own to see the consumer's report",
}


def _pipeline(
    options: DemoOptions, endpoint_url: str, output: Path, say: Say, steps: _Steps
) -> tuple[DeliveryReport, OutputCheck, int]:
    steps.current = "deploying the stack"
    from scripts.session import EnvSession

    step = time.monotonic()
    outputs = _quiet_deploy(endpoint_url)
    say(f"stack deployed in {time.monotonic() - step:.0f} s")
    s3 = EnvSession.for_env(ENV_NAME, endpoint_url).client("s3")

    tracker = DeliveryTracker(
        s3, outputs["DistributionBucketName"], archive_bucket=outputs["ArchiveBucketName"]
    )
    leftovers = tracker.baseline()
    if leftovers:
        say(f"{leftovers} bundles of an earlier run are in Distribution (not counted)")
    prefix = f"demo/{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}/"
    if options.warmup:
        steps.current = "warming up"
        _warm_up(s3, outputs["LandingBucketName"], tracker, prefix, options, say)
    specs = plan_mix(
        MixConfig(
            count=options.files,
            seed=options.seed,
            prefix=prefix,
            large_size=options.large_size,
        )
    )
    step = time.monotonic()
    steps.current = "uploading"
    with tracker:
        records = upload_all(
            s3,
            outputs["LandingBucketName"],
            specs,
            rate=options.rate,
            concurrency=options.concurrency,
            progress=options.progress,
        )
        size = sum(r.size for r in records) / MIB
        say(f"uploaded {len(records)} files ({size:.1f} MiB) in {time.monotonic() - step:.1f} s")
        step = time.monotonic()
        steps.current = "waiting for delivery"
        delivery = _wait(tracker, records, options)
    say(f"waited {time.monotonic() - step:.1f} s for the last file to reach Distribution")

    step = time.monotonic()
    steps.current = "consuming"
    consumed = _consume(s3, outputs["DistributionBucketName"], output, say)
    from scripts.consumer.paths import destination

    check = check_output(output, records, destination)
    say(f"consumed and compared in {time.monotonic() - step:.1f} s")
    return delivery, check, consumed


def _quiet_deploy(endpoint_url: str) -> dict[str, str]:
    """Deploy ``local``, keeping its resource events (~170 lines) off the demo's output unless the
    deploy fails; they also stay off stdout under ``--json``."""
    from scripts.deploy import deploy

    events = io.StringIO()
    try:
        with contextlib.redirect_stdout(events):
            return deploy(ENV_NAME, endpoint_url=endpoint_url)
    except Exception:
        print(events.getvalue(), end="", file=sys.stderr)
        raise


def _warm_up(
    s3: S3Client,
    landing: str,
    tracker: DeliveryTracker,
    prefix: str,
    options: DemoOptions,
    say: Say,
) -> None:
    """One file through the whole pipeline first, so cold starts are reported, not measured."""
    spec = FileSpec(f"{prefix}warm-up.txt", FileKind.TEXT, 1_000, seed=options.seed)
    records = upload_all(s3, landing, [spec], progress=False)
    report = tracker.wait_for(records, options.timeout)
    if not report.complete:
        raise RuntimeError(
            f"the warm-up file did not reach Distribution within {options.timeout:.0f} s"
        )
    say(f"warm-up: the first file took {report.latency.max:.1f} s (Lambda cold starts)")


def _wait(
    tracker: DeliveryTracker, records: list[UploadRecord], options: DemoOptions
) -> DeliveryReport:
    from tqdm import tqdm

    with tqdm(
        total=len(records),
        unit="file",
        desc="delivered",
        disable=None if options.progress else True,  # None: only on a terminal
    ) as bar:

        def progress(found: int, _total: int) -> None:
            bar.update(found - bar.n)

        return tracker.wait_for(records, options.timeout, progress=progress)


def _consume(s3: S3Client, bucket: str, output: Path, say: Say) -> int:
    from scripts.consumer.drain import drain, state_dir
    from scripts.consumer.ledger import Ledger

    with Ledger(state_dir(output) / "ledger.db") as ledger:
        summary = drain(s3, bucket, output, ledger)
    for problem in (*summary.rejected, *summary.failed, *summary.undeleted):
        say(f"PROBLEM: consumer could not deliver {problem.key}: {problem.reason}")
    return summary.bundles_delivered


@contextmanager
def _localstack(options: DemoOptions, say: Say, steps: _Steps) -> Iterator[str]:
    steps.current = "starting LocalStack"
    from scripts import local

    running = local.status(options.state_dir)
    if running is not None:
        say(f"reusing the embedded LocalStack already running at {running.url} (left running)")
        yield running.url
        return
    step = time.monotonic()
    owner = None if options.keep_running else os.getpid()  # gone with us, even if killed
    endpoint = local.start(port=options.port, state_dir=options.state_dir, owner_pid=owner)
    say(f"started the embedded LocalStack at {endpoint.url} in {time.monotonic() - step:.0f} s")
    try:
        yield endpoint.url
    finally:
        if options.keep_running:
            say(f"LocalStack left running at {endpoint.url} (stop it with `make local-down`)")
        else:
            local.stop(options.state_dir)
            say("stopped the embedded LocalStack")


def refuse_foreign_localstack(options: DemoOptions) -> None:
    """Raise :class:`scripts.local.NotOursError` if a LocalStack answers on the demo's port that
    is not the one of its state folder: the demo deploys, uploads and deletes; never on a stack
    someone else runs."""
    from scripts import local

    if local.status(options.state_dir) is not None:
        return
    url = f"http://127.0.0.1:{options.port}"
    if local.answers(url):
        raise local.NotOursError(
            f"a LocalStack answers at {url}, but it is not the one this project started for "
            f"{options.state_dir.absolute()}, so the demo leaves it alone: run the demo on a free "
            "port (`make demo PORT=4601`, or --port), or stop that LocalStack; to deploy onto it "
            f"on purpose, use `aggregator deploy --env local --endpoint-url {url}`"
        )


def _fresh_output(path: Path) -> Path:
    """An empty output directory: recreated if an earlier demo made it, refused if foreign."""
    path = path.absolute()
    if path.exists():
        if (path / _MARKER).exists():
            shutil.rmtree(path)
        elif not path.is_dir() or any(path.iterdir()):
            raise ValueError(
                f"output {path} exists and was not made by the demo; "
                "remove it or choose another --output"
            )
    path.mkdir(parents=True, exist_ok=True)
    (path / _MARKER).touch()
    return path
