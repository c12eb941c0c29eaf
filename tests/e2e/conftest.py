"""The deployed local stack, shared by every end-to-end scenario of the session.

The LocalStack instance is the integration suite's session fixture (one private instance on a free
port, or ``AGGREGATOR_TEST_LOCALSTACK_URL``); the stack is deployed onto it once.
"""

from __future__ import annotations

import pytest

from scripts.deploy import deploy
from tests.e2e.pipeline import ENV_NAME, Pipeline
from tests.integration.conftest import localstack  # noqa: F401 - the shared session fixture


@pytest.fixture(scope="session")
def pipeline(localstack: str) -> Pipeline:  # noqa: F811 - the fixture imported above
    """The ``local`` environment deployed onto the session's LocalStack."""
    return Pipeline(localstack, deploy(ENV_NAME, endpoint_url=localstack))
