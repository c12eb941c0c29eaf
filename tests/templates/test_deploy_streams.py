"""Two delivery streams on the embedded LocalStack (issue 15): deploy, route, deliver.

The ``local`` configuration with ``firehose.streams = 2`` is deployed as its own stack; a handful
of files (keys chosen so each stream gets some, one key in two versions) is uploaded to Landing.
Every version arrives in an Archive bundle, each stream wrote bundles, and every file is in a
bundle of the stream its key hashes to — both versions of the twice-written key in one stream.
"""

from __future__ import annotations

import re
import time
import tomllib
from typing import Any

import pytest

from pipeline.bundle import read_bundle
from pipeline.routing import stream_for
from scripts.session import EnvSession, delivery_stream_names
from templates.config import ENVIRONMENTS_DIR, EnvironmentConfig, parse_config
from tests.integration.conftest import localstack  # noqa: F401 - the session fixture
from tests.templates.local_stack import deploy_variant

pytestmark = pytest.mark.integration

ENV_NAME = "streams"  # its own stack name: never collides with the `local` deployment
FILES_PER_STREAM = 3
DELIVERY_TIMEOUT_SECONDS = 60.0
#: a Firehose object name: <stream>-<stream version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>.gz
BUNDLE_NAME = re.compile(
    r"^(?P<stream>.+)-\d+-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}"
)


def _config() -> EnvironmentConfig:
    data = tomllib.loads((ENVIRONMENTS_DIR / "local.toml").read_text())
    data["firehose"]["streams"] = 2
    # fewer resources to create: the dashboard and anomaly detectors are not under test here
    data["alarms"].update(dashboard=False, anomaly_detection=False)
    return parse_config(ENV_NAME, data, source="local.toml + 2 streams", deployable=False)


def _keys(landing: str, streams: tuple[str, ...]) -> list[str]:
    """The first keys of a sequence until every stream has FILES_PER_STREAM of them."""
    chosen: dict[str, list[str]] = {stream: [] for stream in streams}
    number = 0
    while any(len(keys) < FILES_PER_STREAM for keys in chosen.values()):
        key = f"two-streams/file-{number:03d}.txt"
        stream = stream_for(landing, key, streams)
        if len(chosen[stream]) < FILES_PER_STREAM:
            chosen[stream].append(key)
        number += 1
    return [key for keys in chosen.values() for key in keys]


def _archived(s3: Any, archive: str) -> dict[tuple[str, str], str]:
    """(key, version id) of every member in Archive's bundles -> the stream that wrote it."""
    found: dict[tuple[str, str], str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=archive, Prefix="bundles/"):
        for item in page.get("Contents", []):
            name = item["Key"].rsplit("/", 1)[1]
            match = BUNDLE_NAME.match(name)
            assert match, f"unexpected Archive object {item['Key']}"
            body = s3.get_object(Bucket=archive, Key=item["Key"])["Body"]
            for member in read_bundle(body):
                member.read()
                found[(member.metadata.key, str(member.metadata.version_id))] = match["stream"]
    return found


def test_two_streams_deploy_and_each_key_is_delivered_through_its_stream(
    localstack: str,  # noqa: F811
) -> None:
    session = EnvSession.for_env("local", localstack)
    config = _config()

    outputs = deploy_variant(session, config)

    streams = delivery_stream_names(outputs)
    assert streams == (config.stack_name, f"{config.stack_name}-2")
    firehose = session.client("firehose")
    for stream in streams:
        described = firehose.describe_delivery_stream(DeliveryStreamName=stream)
        assert described["DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE"

    s3 = session.client("s3")
    landing, archive = outputs["LandingBucketName"], outputs["ArchiveBucketName"]
    keys = _keys(landing, streams)
    uploaded: dict[tuple[str, str], str] = {}
    for index, key in enumerate([*keys, keys[0]]):  # the first key twice: two versions
        body = f"{key} #{index}\n".encode()
        version = s3.put_object(Bucket=landing, Key=key, Body=body)["VersionId"]
        uploaded[(key, version)] = stream_for(landing, key, streams)

    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    archived = _archived(s3, archive)
    while not uploaded.keys() <= archived.keys() and time.monotonic() < deadline:
        time.sleep(0.5)  # polling Archive until the deadline, not synchronising on time
        archived = _archived(s3, archive)

    missing = sorted(uploaded.keys() - archived.keys())
    assert not missing, f"not delivered within {DELIVERY_TIMEOUT_SECONDS:.0f} s: {missing}"
    assert {identity: archived[identity] for identity in uploaded} == uploaded
    assert set(uploaded.values()) == set(streams)  # both streams carried files

    session.client("cloudformation").delete_stack(StackName=config.stack_name)
