"""Plux plugin: the faithful Firehose, selected by ``PROVIDER_OVERRIDE_FIREHOSE=faithful``."""

from __future__ import annotations

from typing import Any

from localstack.services.plugins import Service, aws_provider


@aws_provider(api="firehose", name="faithful")  # type: ignore[untyped-decorator]
def firehose_faithful() -> Any:
    from localstack_plugins.firehose.provider import FaithfulFirehoseProvider

    return Service.for_provider(FaithfulFirehoseProvider())
