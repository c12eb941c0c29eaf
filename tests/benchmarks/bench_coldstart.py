"""Cold start: import time of each handler module in a fresh interpreter (target <= 300 ms).

The ratio is to the floor every handler pays: importing boto3 and powertools' Logger/Metrics in a
fresh interpreter. Note: this repository's environment also holds LocalStack's dependencies
(pyOpenSSL, cryptography), which botocore imports when present; the Lambda package does not.
"""

from __future__ import annotations

import os
import subprocess
import sys

HANDLERS = {
    "ingest": "pipeline.ingest.handler",
    "transform": "transforms.handler",
    "copier": "pipeline.copier.handler",
    "monitor": "pipeline.monitor.handler",
}
TARGET_MS = 300.0
RUNS = 5

FLOOR = "boto3, botocore.config, aws_lambda_powertools.logging, aws_lambda_powertools.metrics"
_PROBE = (
    "import time; started = time.perf_counter(); import {module}; "
    "print((time.perf_counter() - started) * 1000)"
)


def _import_ms(module: str) -> float:
    env = {
        **os.environ,
        "POWERTOOLS_SERVICE_NAME": "bench",
        "POWERTOOLS_METRICS_NAMESPACE": "S3Aggregator",
        "AWS_DEFAULT_REGION": "eu-west-2",
    }
    timings = []
    for _ in range(RUNS):
        done = subprocess.run(
            [sys.executable, "-c", _PROBE.format(module=module)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        timings.append(float(done.stdout.strip()))
    return sorted(timings)[len(timings) // 2]


def main() -> None:
    floor = _import_ms(FLOOR)
    for name, module in HANDLERS.items():
        median = _import_ms(module)
        print(
            f"bench coldstart_{name}: {median:.0f} ms "
            f"({median / floor:.2f} x importing boto3+powertools alone, {floor:.0f} ms; "
            f"target {TARGET_MS:.0f} ms; median of {RUNS} fresh interpreters)"
        )


if __name__ == "__main__":
    main()
