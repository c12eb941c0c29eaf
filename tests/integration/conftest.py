"""The ``localstack`` fixture: a private embedded LocalStack for the whole test session.

It starts its own instance on a free port with a temporary state folder, so it never collides
with a LocalStack the user started with ``make local-up``, and stops it (whole process group) at
the end. Other test folders reuse it with ``from tests.integration.conftest import localstack``;
all importers share one instance per session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts import local

#: Set to reuse an already running LocalStack instead (e.g. http://127.0.0.1:4566).
EXTERNAL_ENDPOINT_VARIABLE = "AGGREGATOR_TEST_LOCALSTACK_URL"

#: Lambda's asynchronous retries (ingest, copier) wait 1x then 2x this many seconds. LocalStack's
#: default is AWS's 60 s; the session's instance waits 5 s so the fault suite can watch a copier
#: event being retried and reaching its DLQ in seconds. Only the delay changes: the number of
#: retries and where exhausted events go are the stack's own settings (MaximumRetryAttempts, DLQ).
TEST_ENVIRONMENT = {"LAMBDA_RETRY_BASE_DELAY": "5"}

#: "0" starts the session's LocalStack without the speed patches (localstack_plugins/patches.py)
SPEED_PATCHES_VARIABLE = "AGGREGATOR_TEST_SPEED_PATCHES"

_shared: dict[str, object] = {"users": 0}


def _acquire() -> str:
    if _shared["users"] == 0:
        state_dir = Path(tempfile.mkdtemp(prefix="aggregator-localstack-"))
        endpoint = local.start(
            port=local.free_port(),
            state_dir=state_dir,
            owner_pid=os.getpid(),
            environment=TEST_ENVIRONMENT,
            speed_patches=os.environ.get(SPEED_PATCHES_VARIABLE) != "0",
        )
        _shared.update(state_dir=state_dir, url=endpoint.url)
    _shared["users"] = int(str(_shared["users"])) + 1
    return str(_shared["url"])


def _release() -> None:
    _shared["users"] = int(str(_shared["users"])) - 1
    if _shared["users"] == 0:
        state_dir = Path(str(_shared.pop("state_dir")))
        local.stop(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)
        _shared.pop("url", None)


@pytest.fixture(scope="session")
def localstack() -> Iterator[str]:
    """Endpoint URL of a LocalStack with the host Lambda executor and the faithful Firehose."""
    external = os.environ.get(EXTERNAL_ENDPOINT_VARIABLE)
    if external:
        yield external
        return
    url = _acquire()
    try:
        yield url
    finally:
        _release()


@pytest.fixture(scope="session")
def localstack_state_dir(localstack: str) -> Path | None:
    """State folder of the session's LocalStack (None when an external one is used)."""
    state_dir = _shared.get("state_dir")
    return state_dir if isinstance(state_dir, Path) else None
