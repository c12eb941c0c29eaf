"""What every acceptance scenario does: upload, watch Distribution, consume, compare every byte.

A :class:`Pipeline` wraps one deployed local stack. :meth:`Pipeline.scenario` gives each test a
fresh key prefix, a tracker that ignores bundles from earlier tests, and a consumer output folder;
:meth:`Scenario.deliver` waits (polling, with a deadline) for the files to reach Distribution and
then drains Distribution with the reference consumer and checks every expected file byte for
byte against its regenerated content.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.consumer.drain import DrainOptions, DrainSummary, drain, state_dir
from scripts.consumer.ledger import Ledger
from scripts.consumer.paths import destination
from scripts.delivery import DeliveryReport, DeliveryTracker
from scripts.delivery.verify import OutputCheck, check_output
from scripts.loadgen import FileSpec, UploadRecord, upload_all
from scripts.session import EnvSession, stack_outputs

ENV_NAME = "local"


@dataclass
class Pipeline:
    """The deployed local stack (outputs re-read by :meth:`refresh` after a redeploy)."""

    endpoint_url: str
    outputs: dict[str, str]
    session: EnvSession = field(init=False)
    s3: Any = field(init=False)

    def __post_init__(self) -> None:
        self.session = EnvSession.for_env(ENV_NAME, self.endpoint_url)
        self.s3 = self.session.client("s3")

    def refresh(self) -> None:
        self.outputs = stack_outputs(self.session)

    @property
    def landing(self) -> str:
        return self.outputs["LandingBucketName"]

    @property
    def archive(self) -> str:
        return self.outputs["ArchiveBucketName"]

    @property
    def distribution(self) -> str:
        return self.outputs["DistributionBucketName"]

    def scenario(self, name: str, workdir: Path) -> Scenario:
        tracker = DeliveryTracker(
            self.s3, self.distribution, archive_bucket=self.archive, poll_interval=0.5
        )
        tracker.baseline()
        prefix = f"e2e/{name}-{uuid.uuid4().hex[:8]}/"
        return Scenario(self, prefix, tracker, workdir / "consumed")


@dataclass
class Outcome:
    delivery: DeliveryReport
    drained: DrainSummary
    check: OutputCheck


@dataclass
class Scenario:
    pipeline: Pipeline
    prefix: str
    tracker: DeliveryTracker
    output: Path

    def upload(
        self, specs: Sequence[FileSpec], *, rate: float | None = None, concurrency: int = 8
    ) -> list[UploadRecord]:
        return upload_all(
            self.pipeline.s3,
            self.pipeline.landing,
            specs,
            rate=rate,
            concurrency=concurrency,
            progress=False,
        )

    def deliver(self, records: Sequence[UploadRecord], timeout: float = 120) -> Outcome:
        """Wait for ``records`` in Distribution, then consume and compare; assert all is well."""
        delivery = self.tracker.wait_for(records, timeout)
        drained = self.consume()
        check = check_output(self.output, records, destination)
        outcome = Outcome(delivery, drained, check)
        assert_delivered(outcome, len(records))
        return outcome

    def consume(self, prefix: str | None = None) -> DrainSummary:
        """Drain Distribution (under ``prefix``, the consumer's ``--prefix``; default bundles/)."""
        self.output.mkdir(parents=True, exist_ok=True)
        options = DrainOptions() if prefix is None else DrainOptions(prefix=prefix)
        with Ledger(state_dir(self.output) / "ledger.db") as ledger:
            return drain(self.pipeline.s3, self.pipeline.distribution, self.output, ledger, options)


def assert_delivered(outcome: Outcome, expected: int) -> None:
    delivery, check = outcome.delivery, outcome.check
    assert not delivery.missing, f"never reached Distribution: {[r.key for r in delivery.missing]}"
    assert not delivery.corrupt, f"wrong SHA-256: {[r.key for r, _ in delivery.corrupt]}"
    assert not delivery.bad_bundles, f"bundles failing verification: {delivery.bad_bundles}"
    assert outcome.drained.ok, f"consumer problems: {outcome.drained}"
    assert not check.missing, f"not written by the consumer: {[r.key for r in check.missing]}"
    assert not check.different, f"differ on disk: {[r.key for r in check.different]}"
    assert len(check.verified) == expected


def specs(
    prefix: str, kind: Any, sizes: Sequence[int], seed: int = 0, name: str = "f"
) -> list[FileSpec]:
    """Files ``<prefix><name>-<n>`` of one kind with the given sizes."""
    return [
        FileSpec(f"{prefix}{name}-{n:05d}", kind, size, seed=seed * 1_000_003 + n)
        for n, size in enumerate(sizes)
    ]


def error_output_references(s3: Any, archive: str) -> list[dict[str, Any]]:
    """The object references Firehose wrote to the error output (``errors/``) of Archive."""
    references: list[dict[str, Any]] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=archive, Prefix="errors/"):
        for item in page.get("Contents", []):
            raw = s3.get_object(Bucket=archive, Key=item["Key"])["Body"].read()
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            for document in _json_documents(raw.decode("utf-8")):
                data = base64.b64decode(document.get("rawData", ""))
                try:
                    references.append(json.loads(data))
                except ValueError:
                    continue
    return references


def _json_documents(text: str) -> list[dict[str, Any]]:
    decoder = json.JSONDecoder()
    documents: list[dict[str, Any]] = []
    position = 0
    while position < len(text):
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        document, position = decoder.raw_decode(text, position)
        if isinstance(document, dict):
            documents.append(document)
    return documents


def function_named(pipeline: Pipeline, part: str) -> str:
    """The deployed local function whose name contains ``part`` (ingest, transform, copier)."""
    client = pipeline.session.client("lambda")
    names = [
        function["FunctionName"]
        for page in client.get_paginator("list_functions").paginate()
        for function in page["Functions"]
    ]
    matches = [name for name in names if part in name.lower() and "local" in name.lower()]
    assert matches, f"no function with {part!r} in its name among {names}"
    return str(sorted(matches, key=len)[0])


def log_lines(pipeline: Pipeline, part: str, since_ms: int, message: str) -> list[dict[str, Any]]:
    """The structured log lines of function ``part`` with this ``message`` since ``since_ms``."""
    logs = pipeline.session.client("logs")
    group = f"/aws/lambda/{function_named(pipeline, part)}"
    lines: list[dict[str, Any]] = []
    for page in logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, startTime=since_ms
    ):
        for event in page.get("events", []):
            text = str(event.get("message", ""))
            if f'"{message}"' not in text:
                continue
            try:
                line = json.loads(text[text.index("{") :])
            except ValueError:
                continue
            if line.get("message") == message:
                lines.append(line)
    return lines


def transform_summaries(pipeline: Pipeline, since_ms: int) -> list[dict[str, Any]]:
    """The transform's ``batch processed`` summaries logged since ``since_ms`` (CloudWatch Logs:
    what an operator reads; the same counts feed the FilesDeferred/... metrics)."""
    lines = log_lines(pipeline, "transform", since_ms, "batch processed")
    return [line["summary"] for line in lines if isinstance(line.get("summary"), dict)]


def delete_bucket(s3: Any, bucket: str, timeout: float = 20.0) -> None:
    """Empty ``bucket`` (every version, every unfinished upload) and delete it, as an operator
    would after ``aggregator destroy``. Work that was in flight when the stack went (a transform
    still streaming a large file) may write once more, so this polls until the bucket is gone."""
    from botocore.exceptions import ClientError

    deadline = time.monotonic() + timeout
    while True:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            entries = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            for start in range(0, len(entries), 1000):
                s3.delete_objects(Bucket=bucket, Delete={"Objects": entries[start : start + 1000]})
        for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        try:
            s3.delete_bucket(Bucket=bucket)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "BucketNotEmpty":
                raise
            if time.monotonic() > deadline:
                left = s3.list_object_versions(Bucket=bucket, MaxKeys=5).get("Versions", [])
                raise AssertionError(
                    f"{bucket} cannot be emptied; versions left include "
                    f"{[(v['Key'], v['VersionId'], v['Size']) for v in left]}"
                ) from error
        else:
            return
        time.sleep(1.0)  # poll interval: late writes of work in flight
