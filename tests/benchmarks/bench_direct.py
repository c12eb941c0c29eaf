"""``direct_aggregation``: files just over the inline limit, aggregated on the embedded LocalStack.

A private LocalStack (free port, temporary state), the ``local`` stack deployed, then in one run:
400 small files (the loader's seeded mix, 27 KB average, no large file) and 400 files of 1 MiB
(above the local ``inline_max_bytes`` of 1,000,000: every one takes the direct path), each set
uploaded as fast as 16 connections go and consumed. Reported: files per direct bundle, direct
bundles per processor invocation that carried direct files (from the transform's ``batch
processed`` summaries in CloudWatch Logs), and files/s from the first upload to the last file
consumed, against the small-file rate of the same run (issue 14 target: at least that rate).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scripts import local
from scripts.loadgen import FileKind, FileSpec, MixConfig, plan_mix
from tests.e2e.pipeline import ENV_NAME, Pipeline, transform_summaries

FILES = 400
MIB = 1024 * 1024


def main() -> None:
    from scripts.deploy import deploy

    state_dir = Path(tempfile.mkdtemp(prefix="bench-direct-"))
    try:
        endpoint = local.start(port=local.free_port(), state_dir=state_dir, owner_pid=os.getpid())
        pipeline = Pipeline(endpoint.url, deploy(ENV_NAME, endpoint_url=endpoint.url))
        run = uuid.uuid4().hex[:8]
        small = plan_mix(
            MixConfig(
                count=FILES,
                seed=14,
                prefix=f"bench/{run}/small/",
                large_size=None,
                hostile_keys=False,
            )
        )
        small_rate, _ = _through(pipeline, state_dir, "small", small)
        large = [
            FileSpec(f"bench/{run}/mib/file-{n:04d}.bin", FileKind.BINARY, MIB, seed=n)
            for n in range(FILES)
        ]
        since_ms = int(time.time() * 1000) - 1000
        direct_rate, bundles = _through(pipeline, state_dir, "mib", large)
        summaries = _direct_summaries(pipeline, since_ms, FILES)
    finally:
        local.stop(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)
    invocations = len(summaries)
    direct_bundles = sum(int(s.get("direct_bundles", 0)) for s in summaries)
    print(
        f"bench direct_aggregation: {direct_rate:.1f} files/s "
        f"({direct_rate / small_rate:.2f} x the small-file rate {small_rate:.1f} files/s, "
        "target 1 x; "
        f"{FILES} x 1 MiB: {FILES / max(bundles, 1):.0f} files per bundle in {bundles} bundles, "
        f"{direct_bundles / max(invocations, 1):.2f} direct bundles per invocation over "
        f"{invocations} invocations with direct files)"
    )


def _through(
    pipeline: Pipeline, state_dir: Path, name: str, files: Sequence[FileSpec]
) -> tuple[float, int]:
    """Upload ``files`` at full speed, wait for them, consume; files/s and bundles seen."""
    scenario = pipeline.scenario(name, state_dir / name)
    started = time.monotonic()
    records = scenario.upload(files, concurrency=16)
    outcome = scenario.deliver(records, timeout=900)
    return len(records) / (time.monotonic() - started), outcome.delivery.bundles


def _direct_summaries(pipeline: Pipeline, since_ms: int, files: int) -> list[dict[str, Any]]:
    """The transform summaries that carried direct files, polled until they count ``files``."""
    deadline = time.monotonic() + 60
    while True:
        summaries = [s for s in transform_summaries(pipeline, since_ms) if s.get("direct")]
        counted = sum(int(s["direct"]) for s in summaries)
        if counted >= files or time.monotonic() > deadline:
            return summaries
        time.sleep(1)  # poll interval for CloudWatch Logs


if __name__ == "__main__":
    main()
