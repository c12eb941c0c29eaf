"""End-to-end benchmarks on the embedded LocalStack: `e2e_latency` and `demo_wall`.

``e2e_latency``: a private LocalStack (free port, temporary state), the ``local`` stack deployed,
one warm-up file, then 10 files/s for 60 s and 100 files/s for 30 s (27 KB average, the loader's
seeded mix without the large file). Per-file latency is upload completed -> first seen in
Distribution (tracker poll 0.25 s). Reported: p50/p95/p99 per phase against the target
``configured buffering + 5 s`` (Firehose interval + processor interval + 5 s), the share of the
latency spent before the bundle existed in Archive (ingest + buffering + transform), and backlog
growth at 100 files/s (median latency of the phase's last third minus its first third: ~0 when
the pipeline keeps up).

``demo_wall``: wall time of ``aggregator demo`` (its own LocalStack on a free port, started and
stopped by the demo) against the 180 s target.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from scripts import local
from scripts.delivery import Delivery, DeliveryTracker, summarize
from scripts.loadgen import FileKind, FileSpec, MixConfig, UploadRecord, plan_mix, upload_all
from scripts.session import EnvSession
from templates.config import load_config

ENV_NAME = "local"
PHASES = ((10.0, 60.0), (100.0, 30.0))  # (files/s, seconds)
DEMO_TARGET_SECONDS = 180.0
REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    e2e_latency()
    demo_wall()


def e2e_latency() -> None:
    from scripts.deploy import deploy

    config = load_config(ENV_NAME)
    target = config.firehose.interval_seconds + config.processor.interval_seconds + 5.0
    state_dir = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    try:
        endpoint = local.start(port=local.free_port(), state_dir=state_dir, owner_pid=os.getpid())
        outputs = deploy(ENV_NAME, endpoint_url=endpoint.url)
        s3 = EnvSession.for_env(ENV_NAME, endpoint.url).client("s3")
        tracker = DeliveryTracker(
            s3,
            outputs["DistributionBucketName"],
            archive_bucket=outputs["ArchiveBucketName"],
            poll_interval=0.25,
        )
        tracker.baseline()
        prefix = f"bench/{uuid.uuid4().hex[:8]}/"
        landing = outputs["LandingBucketName"]
        warm = upload_all(
            s3, landing, [FileSpec(f"{prefix}warm-up", FileKind.TEXT, 1000, 1)], progress=False
        )
        tracker.wait_for(warm, timeout=300)
        phases: list[list[UploadRecord]] = []
        with tracker:
            for number, (rate, seconds) in enumerate(PHASES):
                specs = plan_mix(
                    MixConfig(
                        count=int(rate * seconds),
                        seed=number,
                        prefix=f"{prefix}phase{number}/",
                        large_size=None,
                        hostile_keys=False,
                    )
                )
                phases.append(
                    upload_all(s3, landing, specs, rate=rate, concurrency=16, progress=False)
                )
            report = tracker.wait_for([r for phase in phases for r in phase], timeout=900)
    finally:
        local.stop(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)

    by_identity = {d.record.identity: d for d in report.delivered}
    for (rate, _), records in zip(PHASES, phases, strict=True):
        deliveries = [by_identity[r.identity] for r in records if r.identity in by_identity]
        summary = summarize([d.latency for d in deliveries])
        name = f"e2e_latency_{rate:.0f}fps"
        for label, value in (("p50", summary.p50), ("p95", summary.p95), ("p99", summary.p99)):
            ratio = value / target
            print(f"bench {name}_{label}: {value:.2f} s ({ratio:.2f} x target {target:.0f} s)")
        missing = len(records) - len(deliveries)
        if missing:
            print(f"bench {name}_missing: {missing} files (not delivered within 900 s)")
    print(
        f"bench e2e_latency_buffer_share: {report.upstream_share * 100:.0f} % "
        f"({report.upstream_share:.2f} x total latency)"
    )
    growth = _growth([by_identity[r.identity] for r in phases[-1] if r.identity in by_identity])
    print(f"bench e2e_backlog_growth_100fps: {growth:+.2f} s ({growth / target:+.2f} x target)")


def _growth(deliveries: Sequence[Delivery]) -> float:
    if len(deliveries) < 3:
        return 0.0
    ordered = sorted(deliveries, key=lambda d: d.record.completed_at)
    third = len(ordered) // 3
    first = summarize([d.latency for d in ordered[:third]]).p50
    last = summarize([d.latency for d in ordered[-third:]]).p50
    return last - first


def demo_wall() -> None:
    state_dir = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    output = state_dir / "output"
    command = [
        sys.executable,
        "-m",
        "scripts.cli",
        "demo",
        "--quiet",
        "--port",
        str(local.free_port()),
        "--state-dir",
        str(state_dir / "localstack"),
        "--output",
        str(output),
    ]
    started = time.monotonic()
    try:
        result = subprocess.run(
            command, cwd=REPO, capture_output=True, text=True, env=os.environ.copy(), check=False
        )
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    wall = time.monotonic() - started
    last = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "(no output)"
    status = "ok" if result.returncode == 0 else f"FAILED exit {result.returncode}: {last}"
    print(
        f"bench demo_wall: {wall:.0f} s ({wall / DEMO_TARGET_SECONDS:.2f} x target "
        f"{DEMO_TARGET_SECONDS:.0f} s) [{status}]"
    )


if __name__ == "__main__":
    main()
