"""pipeline.hashing.verify_body: the one "hash an S3 body and compare with content-sha256"."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator

import pytest

from pipeline.hashing import BodyDigest, is_sha256, recorded_sha256, verify_body
from tests.unit.conftest import PipelineAws

KEY = "bundles/2026/01/02/03/b.gz"


def _get(aws: PipelineAws, body: bytes, metadata: dict[str, str]) -> dict[str, object]:
    aws.s3.put_object(Bucket=aws.archive, Key=KEY, Body=body, Metadata=metadata)
    return dict(aws.s3.get_object(Bucket=aws.archive, Key=KEY))


def test_a_body_matching_its_record_verifies_and_reaches_the_sink_in_order(
    pipeline_aws: PipelineAws,
) -> None:
    body = os.urandom(3 * 1024 * 1024 + 17)
    digest = hashlib.sha256(body).hexdigest()
    response = _get(pipeline_aws, body, {"content-sha256": digest.upper()})
    received: list[bytes] = []

    found = verify_body(response, sink=received.append, chunk_size=256 * 1024)

    assert found == BodyDigest(digest, len(body), digest)
    assert found.verified and found.problem is None
    assert b"".join(received) == body
    assert len(received) > 8  # more chunks than the read-ahead queue holds: memory stays bounded
    with pytest.raises(ValueError, match="closed"):
        response["Body"].read()  # type: ignore[attr-defined]  # verify_body closed it


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [({}, "no content-sha256 metadata"), ({"content-sha256": "0" * 64}, "SHA-256 mismatch")],
)
def test_a_missing_or_different_record_is_a_problem(
    pipeline_aws: PipelineAws, metadata: dict[str, str], problem: str
) -> None:
    found = verify_body(_get(pipeline_aws, b"bundle", metadata))

    assert not found.verified
    assert found.problem is not None and problem in found.problem


def test_a_sink_error_stops_the_read_and_is_raised(pipeline_aws: PipelineAws) -> None:
    response = _get(pipeline_aws, os.urandom(4 * 1024 * 1024), {})

    def full_disk(chunk: bytes) -> None:
        raise OSError("no space left on device")

    with pytest.raises(OSError, match="no space"):
        verify_body(response, sink=full_disk, chunk_size=64 * 1024)


def test_recorded_and_well_formed_hashes() -> None:
    assert recorded_sha256({"content-sha256": " AB "}) == "ab"
    assert recorded_sha256({"content-sha256": ""}) is None
    assert recorded_sha256(None) is None
    assert is_sha256("a" * 64) and not is_sha256("A" * 64) and not is_sha256("a" * 63)


class _StalledBody:
    """A streaming body whose second read waits on the network until the body is closed."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    def iter_chunks(self, chunk_size: int) -> Iterator[bytes]:
        yield b"x" * chunk_size
        if not self.closed.wait(timeout=30):
            raise AssertionError("never closed")
        raise ValueError("I/O operation on closed file")

    def close(self) -> None:
        self.closed.set()


def test_stopping_early_closes_a_stalled_body_instead_of_waiting_for_the_reader() -> None:
    body = _StalledBody()

    def refuse(chunk: bytes) -> None:
        raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        verify_body({"Body": body, "Metadata": {}}, sink=refuse)

    assert body.closed.is_set()
    assert time.monotonic() - started < 4  # the reader's join would otherwise wait 5 s
