"""Cold start: import time of each handler module as Lambda would load it (target <= 300 ms).

Each handler is imported in fresh ``python -I -S -B`` processes whose only ``sys.path`` entry
besides the standard library is the unpacked Lambda package (``tests/benchmarks/lambda_env.py``):
the median of several processes is printed, with the ``-X importtime`` self time split into the
AWS SDK (botocore and its dependencies), powertools, our code and the standard library.

Two package variants: exactly as ``scripts/package.py`` builds it, with its ``.pyc`` (the
headline), and the same without them, which shows why the package ships bytecode: Lambda's code
directory is read-only, so without it every cold start compiles every module it imports.
"""

from __future__ import annotations

import os
import statistics
import subprocess

from tests.benchmarks.lambda_env import LambdaEnv, lambda_env

HANDLERS = {
    "ingest": "pipeline.ingest.handler",
    "transform": "transforms.handler",
    "copier": "pipeline.copier.handler",
    "monitor": "pipeline.monitor.handler",
}
TARGET_MS = 300.0
RUNS = 7
PLAIN_RUNS = 3
POWERTOOLS = "aws_lambda_powertools.logging, aws_lambda_powertools.metrics"
SDK_PACKAGES = frozenset(
    {"botocore", "boto3", "s3transfer", "urllib3", "dateutil", "jmespath", "six"}
)
OUR_PACKAGES = frozenset({"pipeline", "transforms"})

_PROBE = """
import time
started = time.perf_counter()
import {modules}
print(round((time.perf_counter() - started) * 1000, 2))
"""


def _environment() -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "TMPDIR"}
    env = {name: value for name, value in os.environ.items() if name in keep}
    env.update(
        {
            "POWERTOOLS_SERVICE_NAME": "bench",
            "POWERTOOLS_METRICS_NAMESPACE": "S3Aggregator",
            "AWS_DEFAULT_REGION": "eu-west-2",
            "AWS_REGION": "eu-west-2",
        }
    )
    return env


def _category(module: str) -> str:
    top = module.strip().split(".", 1)[0]
    if top in SDK_PACKAGES:
        return "sdk"
    if top == "aws_lambda_powertools":
        return "powertools"
    if top in OUR_PACKAGES:
        return "ours"
    return "stdlib"


def _self_times(importtime: str) -> dict[str, float]:
    """Sum the ``-X importtime`` self times (us) per category, in ms."""
    totals = {"sdk": 0.0, "powertools": 0.0, "ours": 0.0, "stdlib": 0.0}
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, module = line.removeprefix("import time:").split("|")
        totals[_category(module)] += int(self_us) / 1000
    return totals


def _measure(env: LambdaEnv, modules: str, runs: int) -> tuple[float, dict[str, float]]:
    """Median import time (ms) of ``modules`` over fresh processes, and the median split."""
    timings: list[float] = []
    splits: list[dict[str, float]] = []
    for _ in range(runs):
        done = subprocess.run(
            env.code(_PROBE.format(modules=modules), "-X", "importtime"),
            capture_output=True,
            text=True,
            check=True,
            env=_environment(),
        )
        timings.append(float(done.stdout.strip()))
        splits.append(_self_times(done.stderr))
    split = {name: statistics.median(s[name] for s in splits) for name in splits[0]}
    return statistics.median(timings), split


def main() -> None:
    compiled = lambda_env(compiled=True)
    plain = lambda_env(compiled=False)
    botocore_ms, _ = _measure(compiled, "botocore.session, botocore.config", RUNS)
    boto3_ms, _ = _measure(compiled, "boto3", RUNS)
    powertools_ms, _ = _measure(compiled, POWERTOOLS, RUNS)
    floor_ms, _ = _measure(compiled, f"botocore.session, botocore.config, {POWERTOOLS}", RUNS)
    print(
        f"bench coldstart_floor: {floor_ms:.0f} ms ({floor_ms / TARGET_MS:.2f} x {TARGET_MS:.0f} "
        f"ms target; botocore.session+config and powertools Logger+Metrics, what every handler "
        f"imports; botocore alone {botocore_ms:.0f} ms, powertools alone {powertools_ms:.0f} ms, "
        f"boto3 alone {boto3_ms:.0f} ms (the functions use botocore directly); "
        f"{compiled.package.name} with .pyc, python -I -S -B, median of {RUNS})"
    )
    for name, module in HANDLERS.items():
        median, split = _measure(compiled, module, RUNS)
        uncompiled, _ = _measure(plain, module, PLAIN_RUNS)
        parts = ", ".join(f"{part} {ms:.0f}" for part, ms in split.items())
        print(
            f"bench coldstart_{name}: {median:.0f} ms ({median / TARGET_MS:.2f} x "
            f"{TARGET_MS:.0f} ms target; {median / floor_ms:.2f} x the SDK+powertools floor; "
            f"self time ms: {parts}; the package without its .pyc: {uncompiled:.0f} ms)"
        )


if __name__ == "__main__":
    main()
