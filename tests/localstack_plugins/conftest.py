"""Plugin tests run against the session's private LocalStack (see tests/integration/conftest.py)."""

from __future__ import annotations

import pytest

from tests.integration.conftest import localstack, localstack_state_dir

__all__ = ["localstack", "localstack_state_dir"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/localstack_plugins/" in str(item.path):
            item.add_marker(pytest.mark.integration)
