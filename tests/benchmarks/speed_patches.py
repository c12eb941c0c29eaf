"""What each group of speed patches buys: ``make bench-patches`` (not part of ``make bench``).

Each configuration starts its own LocalStack (free port, temporary state) with some speed patches
left out (``AGGREGATOR_SKIP_SPEED_PATCHES``, ``localstack_plugins/launch.py``), deploys the
``local`` stack, then uploads a burst of small files and waits until every one is in
Distribution. Reported per configuration: the CPU seconds of the LocalStack process tree while
it delivers the files and while it deploys (the figures least disturbed by other work on a
shared machine), and the wall times of start, deploy and delivery. The baseline is every speed
patch on; ``all off`` is ``--no-speed-patches``. Rounds alternate the configurations
(``BENCH_PATCH_ROUNDS``, default 1).

A group's gain is ``(cpu without the group - cpu with every patch) / cpu with every patch``,
during delivery (2,000 files uploaded as fast as 16 threads can: ``BENCH_PATCH_FILES``).
The registry's ``gain`` column (``localstack_plugins/patches.py``) records these figures.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from localstack_plugins.launch import SKIP_VARIABLE
from localstack_plugins.patches import REGISTRY, Kind
from scripts import local
from scripts.delivery import DeliveryTracker
from scripts.loadgen import FileKind, FileSpec, upload_all
from scripts.session import EnvSession

ENV_NAME = "local"
FILES = int(os.environ.get("BENCH_PATCH_FILES", "2000"))
ROUNDS = int(os.environ.get("BENCH_PATCH_ROUNDS", "1"))
#: the speed patches by the group the registry puts them in
GROUPS: dict[str, tuple[str, ...]] = {
    group: tuple(p.name for p in REGISTRY if p.kind is Kind.SPEED and p.group == group)
    for group in dict.fromkeys(p.group for p in REGISTRY if p.kind is Kind.SPEED)
}
#: other configurations instead of GROUPS: ``name,name|name`` (each ``|`` part is one run that
#: leaves out the patches it names), e.g. ``gil-switch-interval|s3-notification-pool``
CUSTOM = os.environ.get("BENCH_PATCH_SKIP", "")
ALL_ON = "all on"
ALL_OFF = "all off"


@dataclass(frozen=True)
class Run:
    start_s: float
    deploy_s: float
    deliver_s: float
    deploy_cpu_s: float
    deliver_cpu_s: float


def _tree_cpu_seconds(leader: int) -> float:
    """User + system CPU of every live process in ``leader``'s session, plus its reaped children."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the command: state ppid pgrp session ... utime(12) stime(13) cutime(14) cstime(15)
        if int(fields[3]) == leader:
            total += sum(int(value) for value in fields[11:15])
    return total / tick


def _configuration(skip: tuple[str, ...] | None) -> Run:
    from scripts.deploy import deploy

    state_dir = Path(tempfile.mkdtemp(prefix="bench-patches-"))
    environment = {SKIP_VARIABLE: ",".join(skip)} if skip else {}
    try:
        began = time.monotonic()
        endpoint = local.start(
            port=local.free_port(),
            state_dir=state_dir,
            owner_pid=os.getpid(),
            environment=environment,
            speed_patches=skip is not None,
        )
        started = time.monotonic()
        cpu_before = _tree_cpu_seconds(endpoint.pid)
        outputs = deploy(ENV_NAME, endpoint_url=endpoint.url)
        deployed = time.monotonic()
        cpu_deployed = _tree_cpu_seconds(endpoint.pid)
        s3 = EnvSession.for_env(ENV_NAME, endpoint.url).client("s3")
        tracker = DeliveryTracker(s3, outputs["DistributionBucketName"], poll_interval=0.5)
        tracker.baseline()
        prefix = f"bench/{uuid.uuid4().hex[:8]}/"
        specs = [FileSpec(f"{prefix}{n:05d}", FileKind.TEXT, 2_000, n) for n in range(FILES)]
        records = upload_all(
            s3, outputs["LandingBucketName"], specs, concurrency=16, progress=False
        )
        report = tracker.wait_for(records, timeout=900)
        delivered = time.monotonic()
        if len(report.delivered) != FILES:
            raise RuntimeError(f"{FILES - len(report.delivered)} files not delivered in 900 s")
        cpu_delivered = _tree_cpu_seconds(endpoint.pid)
        return Run(
            started - began,
            deployed - started,
            delivered - deployed,
            cpu_deployed - cpu_before,
            cpu_delivered - cpu_deployed,
        )
    finally:
        local.stop(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


def main() -> None:
    configurations: dict[str, tuple[str, ...] | None] = {ALL_ON: (), **GROUPS, ALL_OFF: None}
    if CUSTOM:
        parts = [tuple(p.strip() for p in part.split(",")) for part in CUSTOM.split("|")]
        configurations = {ALL_ON: (), **{"+".join(part): part for part in parts}}
    runs: dict[str, list[Run]] = {name: [] for name in configurations}
    for _ in range(ROUNDS):
        for name, skip in configurations.items():
            runs[name].append(_configuration(skip))
    base = statistics.median(run.deliver_cpu_s for run in runs[ALL_ON])
    base_deploy = statistics.median(run.deploy_cpu_s for run in runs[ALL_ON])
    for name, measured in runs.items():
        cpu = statistics.median(run.deliver_cpu_s for run in measured)
        deploy_cpu = statistics.median(run.deploy_cpu_s for run in measured)
        start = statistics.median(run.start_s for run in measured)
        deploy_s = statistics.median(run.deploy_s for run in measured)
        deliver = statistics.median(run.deliver_s for run in measured)
        label = name if name in (ALL_ON, ALL_OFF) else f"without {name}"
        print(
            f"bench speed_patches[{label}]: {cpu:.1f} cpu-s delivering {FILES} files "
            f"({cpu / base:.2f} x all on; in {deliver:.1f} s); deploy {deploy_cpu:.1f} cpu-s "
            f"({deploy_cpu / base_deploy:.2f} x; {deploy_s:.1f} s); start {start:.1f} s; "
            f"median of {len(measured)}"
        )


if __name__ == "__main__":
    main()
