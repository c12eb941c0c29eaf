"""Plux plugin that makes the host executor selectable with ``LAMBDA_RUNTIME_EXECUTOR=host``."""

from __future__ import annotations

from typing import Any

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class HostRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "host"

    def load(self, *args: Any, **kwargs: Any) -> type:
        from localstack_plugins.lambda_host.executor import HostRuntimeExecutor

        return HostRuntimeExecutor
