"""LocalStack's own log and metric shipping, handed to CloudWatch Logs and CloudWatch directly.

The Lambda service ships every function's logs (``PutLogEvents``, one per log stream and second,
:mod:`localstack_plugins.lambda_logs`), the metrics in their EMF lines and the ``AWS/Lambda``
invocation counts (``PutMetricData``, :mod:`localstack_plugins.lambda_metrics`) through internal
boto clients. Even in memory each call is serialized, signed, routed through the request chain,
parsed, dispatched and its answer serialized and parsed again: in a 2,000-file backlog that was
~28 % of the LocalStack process's GIL samples (py-spy), the largest share of anything that is not
one of the pipeline's own requests. These functions make the same calls without the wire format:

- :func:`put_log_events` stores the events with the CloudWatch Logs backend's own
  ``put_log_events`` (the one the request would reach: same validation of timestamps, same
  sequence token, LocalStack's subscription-filter forwarding), creating the group and stream
  when they are missing as the client path did. A group with *metric filters* needs LocalStack's
  provider (it turns matching events into metrics before storing them): then the caller is told
  to use its client (:data:`False`).
- :func:`put_metric_data` calls the CloudWatch provider's ``PutMetricData`` with a request
  context of the account and region (the same parameter validation and store); only the v2
  provider (LocalStack's default) is called directly, any other answers :data:`False`.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any


@functools.cache
def _cloudwatch_provider() -> Any:
    """The running CloudWatch provider if it is LocalStack's v2 provider, else None."""
    from localstack.services.cloudwatch.provider_v2 import CloudwatchProvider
    from localstack.services.plugins import SERVICE_PLUGINS

    provider = getattr(SERVICE_PLUGINS.require("cloudwatch"), "_provider", None)
    return provider if isinstance(provider, CloudwatchProvider) else None


def _context(account: str, region: str) -> Any:
    from localstack.aws.api import RequestContext
    from localstack.http import Request

    context = RequestContext(Request("POST", "/"))
    context.account_id = account
    context.region = region
    return context


def put_metric_data(
    account: str, region: str, namespace: str, metric_data: list[dict[str, Any]]
) -> bool:
    """``PutMetricData`` through the provider; False when the caller must use its client."""
    provider = _cloudwatch_provider()
    if provider is None:
        return False
    provider.put_metric_data(_context(account, region), namespace, metric_data)
    return True


def put_log_events(
    account: str, region: str, group: str, stream: str, events: list[dict[str, Any]]
) -> bool:
    """``PutLogEvents`` into the backend (group and stream created when missing); False when
    the group has metric filters and the caller must use its client."""
    from localstack.services.logs.models import get_moto_logs_backend
    from moto.logs.exceptions import ResourceAlreadyExistsException, ResourceNotFoundException

    backend = get_moto_logs_backend(account, region)
    if backend.filters.metric_filters:
        return False
    try:
        backend.put_log_events(group, stream, events)
    except ResourceNotFoundException:
        with contextlib.suppress(ResourceAlreadyExistsException):
            backend.create_log_group(group, {})
        with contextlib.suppress(ResourceAlreadyExistsException):
            backend.create_log_stream(group, stream)
        backend.put_log_events(group, stream, events)
    return True
