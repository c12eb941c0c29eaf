"""Cold start: import time of each handler module as Lambda would load it (target <= 300 ms).

Each handler is imported in fresh ``python -I -S -B`` processes whose only ``sys.path`` entry
besides the standard library is the unpacked Lambda package (``tests/benchmarks/lambda_env.py``):
the median of several rounds is printed (every probe takes a turn in each round, so the shared
machine's drift is spread over all of them), with the ``-X importtime`` self time split into the
AWS SDK (botocore and its dependencies), powertools, our code and the standard library.

Two package variants: exactly as ``scripts/package.py`` builds it, with its ``.pyc`` (the
headline), and the same without them, which shows why the package ships bytecode: Lambda's code
directory is read-only, so without it every cold start compiles every module it imports.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import zipfile
from dataclasses import dataclass

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
    {
        "botocore",
        "boto3",
        "s3transfer",
        "urllib3",
        "dateutil",
        "jmespath",
        "six",
        "awscrt",
        "_awscrt",
    }
)
OUR_PACKAGES = frozenset({"pipeline", "transforms"})

_PROBE = """
import time
started = time.perf_counter()
import {modules}
{then}
print(round((time.perf_counter() - started) * 1000, 2))
"""
#: After the transform's import, what its first invocation creates: the botocore S3 client ...
_BOTOCORE_CLIENT = "from pipeline import aws; s3 = aws.s3(max_attempts=1, max_pool_connections=36)"
#: ... and the native fetcher with its awscrt S3 client (TLS, as against S3).
_NATIVE_CLIENT = (
    _BOTOCORE_CLIENT
    + "; from transforms import crt_fetch; crt_fetch.fetcher(s3, 32, 5)._client(True)"
)


def _environment() -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "TMPDIR"}
    env = {name: value for name, value in os.environ.items() if name in keep}
    env.update(
        {
            "POWERTOOLS_SERVICE_NAME": "bench",
            "POWERTOOLS_METRICS_NAMESPACE": "S3Aggregator",
            "AWS_DEFAULT_REGION": "eu-west-2",
            "AWS_REGION": "eu-west-2",
            "AWS_ACCESS_KEY_ID": "bench",  # the clients' probes sign nothing, but need them
            "AWS_SECRET_ACCESS_KEY": "bench",
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


@dataclass(frozen=True, slots=True)
class _Probe:
    """One import to time: ``modules`` in the package environment ``env``."""

    env: LambdaEnv
    modules: str
    then: str = ""


def _once(probe: _Probe) -> tuple[float, dict[str, float]]:
    """Import time (ms) of one fresh process, and its self-time split."""
    done = subprocess.run(
        probe.env.code(_PROBE.format(modules=probe.modules, then=probe.then), "-X", "importtime"),
        capture_output=True,
        text=True,
        check=True,
        env=_environment(),
    )
    return float(done.stdout.strip()), _self_times(done.stderr)


def _measure_interleaved(
    probes: dict[str, _Probe], runs: int
) -> dict[str, tuple[float, dict[str, float]]]:
    """Median import time and split per probe, the probes taking turns in every round.

    The machine's speed drifts within a run (shared host); taking turns spreads the drift over
    every probe instead of favouring whichever ran in a quiet minute.
    """
    timings: dict[str, list[float]] = {name: [] for name in probes}
    splits: dict[str, list[dict[str, float]]] = {name: [] for name in probes}
    for _ in range(runs):
        for name, probe in probes.items():
            elapsed, split = _once(probe)
            timings[name].append(elapsed)
            splits[name].append(split)
    return {
        name: (
            statistics.median(timings[name]),
            {part: statistics.median(s[part] for s in splits[name]) for part in splits[name][0]},
        )
        for name in probes
    }


def main() -> None:
    compiled = lambda_env(compiled=True)
    plain = lambda_env(compiled=False)
    probes = {
        "botocore": _Probe(compiled, "botocore.session, botocore.config"),
        "boto3": _Probe(compiled, "boto3"),
        "powertools": _Probe(compiled, POWERTOOLS),
        "floor": _Probe(compiled, f"botocore.session, botocore.config, {POWERTOOLS}"),
        **{name: _Probe(compiled, module) for name, module in HANDLERS.items()},
        "awscrt": _Probe(compiled, "awscrt.s3, awscrt.auth, awscrt.http"),
        "transform_botocore_client": _Probe(compiled, HANDLERS["transform"], _BOTOCORE_CLIENT),
        "transform_native_client": _Probe(compiled, HANDLERS["transform"], _NATIVE_CLIENT),
    }
    results = _measure_interleaved(probes, RUNS)
    without_pyc = _measure_interleaved(
        {name: _Probe(plain, module) for name, module in HANDLERS.items()}, PLAIN_RUNS
    )
    floor_ms = results["floor"][0]
    print(
        f"bench coldstart_floor: {floor_ms:.0f} ms ({floor_ms / TARGET_MS:.2f} x {TARGET_MS:.0f} "
        f"ms target; botocore.session+config and powertools Logger+Metrics, what every handler "
        f"imports; botocore alone {results['botocore'][0]:.0f} ms, powertools alone "
        f"{results['powertools'][0]:.0f} ms, boto3 alone {results['boto3'][0]:.0f} ms (the "
        f"functions use botocore directly); {compiled.package.name} with .pyc, python -I -S -B, "
        f"median of {RUNS} rounds in which every probe takes a turn)"
    )
    for name in HANDLERS:
        median, split = results[name]
        parts = ", ".join(f"{part} {ms:.0f}" for part, ms in split.items())
        print(
            f"bench coldstart_{name}: {median:.0f} ms ({median / TARGET_MS:.2f} x "
            f"{TARGET_MS:.0f} ms target; {median / floor_ms:.2f} x the SDK+powertools floor; "
            f"self time ms: {parts}; the package without its .pyc: "
            f"{without_pyc[name][0]:.0f} ms"
            + (_transform_note(compiled, results) if name == "transform" else "")
            + ")"
        )
    first = results["transform_native_client"][0]
    before = results["transform_botocore_client"][0]
    print(
        f"bench coldstart_transform_clients: {first:.0f} ms ({first / before:.2f} x the import + "
        f"botocore S3 client alone at {before:.0f} ms; the transform's import and the clients its "
        f"first invocation creates: botocore's S3 client and the native fetcher's awscrt "
        f"S3Client (TLS); median of {RUNS} rounds)"
    )


def _transform_note(env: LambdaEnv, results: dict[str, tuple[float, dict[str, float]]]) -> str:
    """What awscrt adds: its import alone, and its share of the package."""
    with zipfile.ZipFile(env.package) as archive:
        entries = archive.infolist()
    crt = [entry for entry in entries if entry.filename.startswith(("awscrt/", "_awscrt"))]
    return (
        f"; of which awscrt (the native fetcher) imports in {results['awscrt'][0]:.0f} ms alone "
        f"and adds {sum(e.compress_size for e in crt) / 1e6:.1f} MB to the "
        f"{env.package.stat().st_size / 1e6:.1f} MB zip, "
        f"{sum(e.file_size for e in crt) / 1e6:.1f} of its "
        f"{sum(e.file_size for e in entries) / 1e6:.1f} MB unpacked"
    )


if __name__ == "__main__":
    main()
