"""``--faults PCT``: AWS errors and delays in every call the pipeline makes, and a consumer that is
killed mid-bundle — on the local stack only, through the emulator's fault endpoint
(:mod:`localstack_plugins.faults`, ``/_localstack/aggregator/faults``).

:func:`fault_rules` is the plan (pure): one error rule per call of the pipeline at ``PCT`` percent,
with the error AWS sends there under load, and two delay rules. A rule matches only requests that
pass through the emulator's gateway; one that never matched says so in the verdict (check
``faults``), e.g. where the emulator's Firehose writes to Archive internally.

For every :data:`KILL_EVERY`-th bundle the consumer runs as the real
``aggregator consume --once --prefix <bundle key>`` process and is sent SIGKILL or SIGTERM
(alternately) as soon as it stages a file, or after a seeded random delay; then the consumer's
drain finishes the bundle on the same folder and ledger, as a restarted consumer would: the ledger
must make it finish the bundle without writing any file twice.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.acceptance.runner import DrainOne, summary_problems
from scripts.acceptance.scenarios import Scenario
from scripts.acceptance.verdict import RuleCount
from scripts.consumer.drain import STAGING
from scripts.loadgen import MixConfig, plan_mix
from scripts.session import EnvSession, delivery_stream_names

FAULTS_PATH = "/_localstack/aggregator/faults"
#: every KILL_EVERY-th consumer process is killed mid-run
KILL_EVERY = 3
#: the kill lands this many seconds after the process started (seeded, uniform)
KILL_DELAY_SECONDS = (0.5, 2.0)
#: how often a consumer to be killed is checked for a file in its staging folder
KILL_POLL_SECONDS = 0.005
#: a consumer process that takes longer than this is a hang
CONSUME_TIMEOUT_SECONDS = 300.0
#: seconds of the injected delays
GET_DELAY_SECONDS = 1.0
PUT_DELAY_SECONDS = 0.5


def _error(code: str, status: int) -> dict[str, Any]:
    return {"code": code, "status": status, "message": f"{code} injected by aggregator acceptance"}


def fault_rules(percent: float, outputs: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """(label, rule) for every call the pipeline makes, each failing ``percent`` % of the time."""
    fraction = percent / 100.0
    landing = outputs["LandingBucketName"]
    archive = outputs["ArchiveBucketName"]
    distribution = outputs["DistributionBucketName"]
    s3_rules = [
        ("transform: Landing GetObject (SlowDown)", landing, "GetObject", _error("SlowDown", 503)),
        (
            "Archive multipart write: UploadPart (InternalError)",
            archive,
            "UploadPart",
            _error("InternalError", 500),
        ),
        (
            "Archive multipart write: CreateMultipartUpload (SlowDown)",
            archive,
            "CreateMultipartUpload",
            _error("SlowDown", 503),
        ),
        (
            "copier: CopyObject into Distribution (InternalError)",
            distribution,
            "CopyObject",
            _error("InternalError", 500),
        ),
        (
            "consumer: Distribution GetObject (InternalError)",
            distribution,
            "GetObject",
            _error("InternalError", 500),
        ),
        (
            "consumer: Distribution DeleteObject (SlowDown)",
            distribution,
            "DeleteObject",
            _error("SlowDown", 503),
        ),
    ]
    rules: list[tuple[str, dict[str, Any]]] = [
        (label, {"service": "s3", "operation": op, "bucket": bucket, "error": error})
        for label, bucket, op, error in s3_rules
    ]
    for stream in delivery_stream_names(outputs):
        rules.append(
            (
                f"ingest/transform: Firehose PutRecordBatch {stream} (ServiceUnavailable)",
                {
                    "service": "firehose",
                    "operation": "PutRecordBatch",
                    "stream": stream,
                    "error": _error("ServiceUnavailableException", 503),
                },
            )
        )
    rules.append(
        (
            "Firehose -> processor: Lambda Invoke (ServiceException)",
            {"service": "lambda", "operation": "Invoke", "error": _error("ServiceException", 500)},
        )
    )
    rules += [
        (
            f"delay {GET_DELAY_SECONDS:g} s: Landing GetObject",
            {
                "service": "s3",
                "operation": "GetObject",
                "bucket": landing,
                "latency_seconds": GET_DELAY_SECONDS,
            },
        ),
        (
            f"delay {PUT_DELAY_SECONDS:g} s: Firehose PutRecordBatch",
            {
                "service": "firehose",
                "operation": "PutRecordBatch",
                "latency_seconds": PUT_DELAY_SECONDS,
            },
        ),
    ]
    return [(label, {**rule, "fraction": fraction}) for label, rule in rules]


def soak_scenario(prefix: str, files: int, rate: float) -> Scenario:
    """``make soak``: the loader's seeded mix (no large file; keys under the run prefix)."""
    specs = plan_mix(
        MixConfig(
            count=files, seed=22, prefix=f"{prefix}soak/", large_size=None, hostile_keys=False
        )
    )
    return Scenario("soak", tuple(specs), rate, 8, f"{files} files of the loader's mix")


class FaultEndpoint:
    """Client of the emulator's fault endpoint."""

    def __init__(self, endpoint_url: str) -> None:
        self._url = endpoint_url.rstrip("/") + FAULTS_PATH

    def _call(self, method: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self._url, data=data, method=method)  # noqa: S310 - ours
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local only
            return json.loads(response.read() or b"{}")

    def add(self, rules: list[dict[str, Any]]) -> list[int]:
        return [int(i) for i in self._call("POST", {"rules": rules})["ids"]]

    def rules(self) -> dict[int, dict[str, Any]]:
        return {int(rule["id"]): rule for rule in self._call("GET")["rules"]}

    def clear(self) -> None:
        self._call("DELETE")


@dataclass
class FaultInjector:
    """The rules of one run and the killed-now-and-then consumer process."""

    endpoint: FaultEndpoint
    planned: list[tuple[str, dict[str, Any]]]
    command: list[str]
    output: Path
    #: the consumer's drain in this process, on the same folder and ledger: it finishes what a
    #: killed process left, and drains the bundles no process is started for
    inner: DrainOne
    ids: dict[int, str] = field(default_factory=dict)
    kills: dict[str, int] = field(default_factory=dict)
    _runs: int = 0
    _random: random.Random = field(default_factory=lambda: random.Random(22))  # noqa: S311

    @classmethod
    def for_run(
        cls,
        session: EnvSession,
        outputs: dict[str, str],
        percent: float,
        output: Path,
        inner: DrainOne,
    ) -> FaultInjector:
        if not session.endpoint_url:
            raise ValueError("fault injection needs the local stack's endpoint")
        command = [
            sys.executable,
            "-m",
            "scripts.cli",
            "consume",
            "--env",
            session.env_name,
            "--endpoint-url",
            session.endpoint_url,
            "--once",
            "--json",
            "--no-progress",
            "--output",
            str(output),
        ]
        endpoint = FaultEndpoint(session.endpoint_url)
        return cls(endpoint, fault_rules(percent, outputs), command, output, inner)

    def install(self) -> None:
        ids = self.endpoint.add([rule for _, rule in self.planned])
        self.ids = {rule_id: label for rule_id, (label, _) in zip(ids, self.planned, strict=True)}

    def remove(self) -> list[RuleCount]:
        """Read the counters, then remove every rule (nothing is left behind)."""
        try:
            found = self.endpoint.rules()
        finally:
            self.endpoint.clear()
        return [
            RuleCount(
                label,
                int(found.get(i, {}).get("matched", 0)),
                int(found.get(i, {}).get("injected", 0)),
            )
            for i, label in self.ids.items()
        ]

    def drain_one(self, key: str) -> list[str]:
        """Every KILL_EVERY-th bundle: the real ``aggregator consume --once --prefix key``
        process, killed while it writes (or after a seeded delay); then (and for every other
        bundle) the same drain in this process finishes the bundle on the same ledger, as a
        restarted consumer would. A process is started for a third of the bundles only: one per
        bundle (~1 s each, more on a loaded machine) would make the consumer the bottleneck."""
        self._runs += 1
        if self._runs % KILL_EVERY == 0:
            sig = signal.SIGKILL if (self._runs // KILL_EVERY) % 2 else signal.SIGTERM
            finished = self._killed_run(key, sig)
            if finished is not None:  # done before the kill could land: its own summary counts
                return self._problems(key, *finished)
        return self.inner(key)

    @staticmethod
    def _problems(key: str, code: int, stdout: str, stderr: str) -> list[str]:
        lines = [line for line in stdout.splitlines() if line.startswith("{")]
        if not lines:
            return [f"consume --prefix {key} exited {code}: {stderr[-300:]}"]
        return summary_problems(key, json.loads(lines[-1]))

    def _killed_run(self, key: str, sig: signal.Signals) -> tuple[int, str, str] | None:
        """Start a consumer and send it ``sig`` once it writes into its staging folder (mid-
        bundle) or after a seeded delay; None when it was killed, else (code, stdout, stderr)."""
        staging = self.output / STAGING
        process = subprocess.Popen(
            [*self.command, "--prefix", key],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        give_up = time.monotonic() + self._random.uniform(*KILL_DELAY_SECONDS)
        while process.poll() is None:
            writing = staging.is_dir() and any(staging.iterdir())
            if writing or time.monotonic() >= give_up:
                process.send_signal(sig)
                self.kills[sig.name] = self.kills.get(sig.name, 0) + 1
                process.communicate(timeout=CONSUME_TIMEOUT_SECONDS)
                return None
            time.sleep(KILL_POLL_SECONDS)  # poll interval: watching for the first staged file
        stdout, stderr = process.communicate()
        return process.returncode, stdout, stderr
