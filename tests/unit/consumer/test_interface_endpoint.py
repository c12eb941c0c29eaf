"""The consumer through an S3 interface endpoint URL (issue 16).

``aggregator consume --endpoint-url https://bucket.vpce-….s3.<region>.vpce.amazonaws.com`` (or
``[access] consumer_endpoint_url``) must send every S3 call to that host, the bucket in the path
(botocore's addressing for a custom endpoint, boto3 guide "AWS PrivateLink for Amazon S3"), signed
for the endpoint's region. moto serves S3 at that URL (``MOTO_S3_CUSTOM_ENDPOINTS``: it then
reads the bucket from the path, as the endpoint does), so the whole drain runs through it while
the test records each request as it leaves the client.
"""

from __future__ import annotations

import argparse
import re
import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import boto3
import pytest
from moto import mock_aws

from scripts import consume
from scripts.consumer.drain import drain
from scripts.consumer.ledger import Ledger
from scripts.interface_endpoint import configured_endpoint, endpoint_region
from templates.config import ENVIRONMENTS_DIR, ConfigError
from tests.unit.consumer.bundles import SourceFile, build_bundle, files_on_disk, stage

REGION: Final = "eu-west-2"
HOST: Final = "bucket.vpce-0123456789abcdef0-abcd1234.s3.eu-west-2.vpce.amazonaws.com"
ENDPOINT: Final = f"https://{HOST}"
BUCKET: Final = "s3-aggregator-prod-distribution-123456789012-eu-west-2"
KEY: Final = "bundles/2026/01/01/00/s3-aggregator-prod-1-a.gz"
FILES: Final = [SourceFile("in/a.csv", b"a,b\n1,2\n"), SourceFile("in/b.bin", b"\x00" * 5000)]
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/")


@pytest.fixture
def distribution(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("AGGREGATOR_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("MOTO_S3_CUSTOM_ENDPOINTS", ENDPOINT)
    # moto answers this host in-process; no socket exists for the session's TCP probe to reach
    monkeypatch.setattr("scripts.session.probe_endpoint", lambda *_, **__: None)
    with mock_aws():
        admin = boto3.client("s3", region_name=REGION)
        admin.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        stage(admin, BUCKET, KEY, build_bundle(FILES))
        yield


def _args(*extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    consume.add_arguments(parser)
    return parser.parse_args(["--env", "prod", "--once", "--no-progress", *extra])


def _recorded(client: Any) -> list[tuple[str, str, str, str]]:
    """(method, url, signing region, service) of each request the client sends from now on."""
    sent: list[tuple[str, str, str, str]] = []

    def record(request: Any, **_: Any) -> None:
        scope = CREDENTIAL_SCOPE.search(request.headers["Authorization"].decode())
        assert scope is not None
        sent.append((request.method, request.url, scope["region"], scope["service"]))

    client.meta.events.register_first("before-send.s3", record)
    return sent


def test_consumer_drains_through_the_interface_endpoint_url(
    distribution: None, tmp_path: Path
) -> None:
    client, bucket = consume._resolve(_args("--endpoint-url", ENDPOINT, "--bucket", BUCKET))
    sent = _recorded(client)

    with Ledger(tmp_path / "ledger.db") as ledger:
        summary = drain(client, bucket, tmp_path / "out", ledger)

    assert summary.ok and summary.files_written == len(FILES), summary
    assert set(files_on_disk(tmp_path / "out").values()) == {f.content for f in FILES}
    assert {method for method, *_ in sent} == {"GET", "DELETE"}
    for _method, url, region, service in sent:
        parts = urlsplit(url)
        assert parts.scheme == "https" and parts.netloc == HOST, url  # bucket not in the host
        assert parts.path.startswith(f"/{BUCKET}"), url  # path-style: the bucket first
        assert (region, service) == (REGION, "s3")
    paths = {urlsplit(url).path for _, url, *_ in sent}
    assert {f"/{BUCKET}", f"/{BUCKET}/{KEY}"} <= paths


def test_the_region_comes_from_the_endpoint_when_none_is_configured(
    distribution: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    client, _ = consume._resolve(_args("--endpoint-url", ENDPOINT, "--bucket", BUCKET))
    assert client.meta.region_name == endpoint_region(ENDPOINT) == REGION


def test_an_endpoint_of_another_region_is_refused(
    distribution: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")  # takes precedence over AWS_DEFAULT_REGION
    code = consume.run(
        _args("--endpoint-url", ENDPOINT, "--bucket", BUCKET, "--output", str(tmp_path / "out"))
    )
    assert code == consume.EXIT_CONFIG
    error = capsys.readouterr().err
    assert "is in eu-west-2 but the client region is us-east-1" in error
    assert "AWS_REGION=eu-west-2" in error
    assert not (tmp_path / "out").exists()  # refused before anything is written


def _environments(tmp_path: Path, endpoint_url: str) -> Path:
    directory = tmp_path / "environments"
    directory.mkdir()
    text = (ENVIRONMENTS_DIR / "prod.toml").read_text()
    assert 'consumer_endpoint_url = ""' in text
    text = text.replace('consumer_endpoint_url = ""', f'consumer_endpoint_url = "{endpoint_url}"')
    (directory / "prod.toml").write_text(text)
    tomllib.loads(text)
    return directory


def test_the_endpoint_url_is_read_from_the_environment_config(tmp_path: Path) -> None:
    assert configured_endpoint("prod", _environments(tmp_path, ENDPOINT)) == ENDPOINT
    assert configured_endpoint("prod") is None  # the shipped example leaves it unset
    assert configured_endpoint("no-such-env") is None


def test_a_malformed_endpoint_url_in_the_config_is_refused(tmp_path: Path) -> None:
    directory = _environments(tmp_path, "https://vpce-0123.s3.eu-west-2.vpce.amazonaws.com")
    with pytest.raises(ConfigError, match=r"access\.consumer_endpoint_url"):
        configured_endpoint("prod", directory)
    shutil.rmtree(directory)


@pytest.mark.parametrize(
    ("url", "region"),
    [
        (ENDPOINT, REGION),
        (ENDPOINT + "/", REGION),
        (
            "https://bucket.vpce-0a1b2c3d-5e6f-us-east-1a.s3.us-east-1.vpce.amazonaws.com",
            "us-east-1",
        ),
        ("https://bucket.vpce-0a1b2c3d-5e6f.s3.us-gov-west-1.vpce.amazonaws.com", "us-gov-west-1"),
        ("https://accesspoint.vpce-0a1b2c3d-5e6f.s3.us-east-1.vpce.amazonaws.com", None),
        ("http://bucket.vpce-0a1b2c3d-5e6f.s3.us-east-1.vpce.amazonaws.com", None),
        ("https://s3.eu-west-2.amazonaws.com", None),
        ("http://127.0.0.1:4566", None),
        (None, None),
    ],
)
def test_interface_endpoint_urls_are_recognised(url: str | None, region: str | None) -> None:
    assert endpoint_region(url) == region
