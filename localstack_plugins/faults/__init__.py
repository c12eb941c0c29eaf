"""Fault injection into the local stack's real services, for the fault-injection suite.

A small hook in LocalStack's request chain (after the request is parsed, before the service runs):
each request is matched against the active *rules*; a matching rule either answers with an AWS
error (code, HTTP status: serialized by LocalStack in the service's own protocol, so clients see
exactly what AWS would send) or delays the request, a given number of times or for a fraction of
requests. Rules are set through an internal endpoint of the gateway::

    POST   /_localstack/aggregator/faults   {"rules": [rule, ...]}   add rules, answers their ids
    GET    /_localstack/aggregator/faults                            rules with their counters
    DELETE /_localstack/aggregator/faults                            remove every rule

A rule (JSON)::

    {"service": "s3", "operation": "GetObject",         # what to match (operation optional)
     "bucket": "landing-bucket", "key_prefix": "e2e/",  # optional S3 request filters
     "stream": "delivery-stream",                       # optional Firehose request filter
     "function": "transform-function",                  # optional Lambda filter (name or ARN)
     "error": {"code": "SlowDown", "status": 503},      # answer with this error, or
     "latency_seconds": 2.0,                            # delay the request (then serve it)
     "count": 5,                                        # how many times (absent: unlimited)
     "fraction": 1.0}                                   # share of matching requests affected

Everything here is test machinery: it is installed only by the local launcher
(:mod:`localstack_plugins.launch`) and does nothing until a rule is set.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

LOG = logging.getLogger(__name__)
PATH = "/_localstack/aggregator/faults"


class RuleError(ValueError):
    """A rule that cannot be understood; the endpoint answers 400 with this message."""


@dataclass
class Rule:
    id: int
    service: str
    operation: str | None = None
    bucket: str | None = None
    key_prefix: str | None = None
    stream: str | None = None
    function: str | None = None
    error_code: str | None = None
    error_status: int = 500
    error_message: str = "fault injected by the aggregator test suite"
    latency_seconds: float = 0.0
    count: int | None = None
    fraction: float = 1.0
    matched: int = 0
    injected: int = 0

    def matches(self, service: str, operation: str, request: Any) -> bool:
        if service != self.service or (self.operation and operation != self.operation):
            return False
        params = request if isinstance(request, dict) else {}
        if self.bucket is not None and params.get("Bucket") != self.bucket:
            return False
        if self.key_prefix is not None and not str(params.get("Key", "")).startswith(
            self.key_prefix
        ):
            return False
        if self.function is not None and not _names_function(
            str(params.get("FunctionName", "")), self.function
        ):
            return False
        return self.stream is None or params.get("DeliveryStreamName") == self.stream

    def exhausted(self) -> bool:
        return self.count is not None and self.injected >= self.count


def _names_function(requested: str, function: str) -> bool:
    """Whether a request's ``FunctionName`` (a name, an ARN, either with a qualifier) is
    ``function`` (a name or an ARN)."""
    name = function.rsplit(":function:", 1)[-1].split(":", 1)[0]
    asked = requested.rsplit(":function:", 1)[-1].split(":", 1)[0]
    return asked == name


@dataclass
class Faults:
    """The active rules (thread-safe: the gateway serves requests on many threads)."""

    rules: list[Rule] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # fraction sampling for tests, seeded for repeatability: not security-relevant
    _random: random.Random = field(default_factory=lambda: random.Random(11))  # noqa: S311

    def add(self, documents: list[Any]) -> list[int]:
        parsed = [parse_rule(next(self._ids), document) for document in documents]
        with self._lock:
            self.rules.extend(parsed)
        return [rule.id for rule in parsed]

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(rule) for rule in self.rules]

    def pick(self, service: str, operation: str, request: Any) -> Rule | None:
        """The first live rule matching the request, counted as injected; None to serve it."""
        with self._lock:
            for rule in self.rules:
                if rule.exhausted() or not rule.matches(service, operation, request):
                    continue
                rule.matched += 1
                if self._random.random() >= rule.fraction:
                    continue
                rule.injected += 1
                return Rule(**asdict(rule))
        return None


def parse_rule(rule_id: int, document: Any) -> Rule:
    if not isinstance(document, dict) or not isinstance(document.get("service"), str):
        raise RuleError(f"a rule is a JSON object with at least 'service': {document!r}")
    error = document.get("error")
    latency = float(document.get("latency_seconds", 0.0))
    if (error is None) == (latency <= 0):
        raise RuleError("a rule has either 'error' or a positive 'latency_seconds'")
    if error is not None and not (isinstance(error, dict) and isinstance(error.get("code"), str)):
        raise RuleError(f"'error' must be {{'code': str, 'status': int}}, got {error!r}")
    count = document.get("count")
    if count is not None and (not isinstance(count, int) or count < 1):
        raise RuleError(f"'count' must be a positive integer, got {count!r}")
    fraction = float(document.get("fraction", 1.0))
    if not 0.0 < fraction <= 1.0:
        raise RuleError(f"'fraction' must be in (0, 1], got {fraction!r}")
    return Rule(
        id=rule_id,
        service=document["service"],
        operation=document.get("operation"),
        bucket=document.get("bucket"),
        key_prefix=document.get("key_prefix"),
        stream=document.get("stream"),
        function=document.get("function"),
        error_code=error["code"] if error else None,
        error_status=int(error.get("status", 500)) if error else 500,
        error_message=str(error.get("message", Rule.error_message)) if error else "",
        latency_seconds=latency,
        count=count,
        fraction=fraction,
    )


FAULTS = Faults()


def handle(chain: Any, context: Any, response: Any) -> None:
    """The request handler: inject the first matching rule's fault (or do nothing)."""
    if not FAULTS.rules or context.service is None or context.operation is None:
        return
    rule = FAULTS.pick(
        context.service.service_name, context.operation.name, context.service_request
    )
    if rule is None:
        return
    if rule.latency_seconds > 0:
        time.sleep(rule.latency_seconds)  # the injected fault itself: a slow service
        return
    from localstack.aws.api import CommonServiceException

    LOG.info("fault rule %s: %s on %s", rule.id, rule.error_code, context.operation.name)
    raise CommonServiceException(
        code=str(rule.error_code),
        message=rule.error_message,
        status_code=rule.error_status,
        sender_fault=rule.error_status < 500,
    )


class FaultsResource:
    """``/_localstack/aggregator/faults``: set, read and clear rules."""

    def on_get(self, request: Any) -> dict[str, Any]:
        return {"rules": FAULTS.describe()}

    def on_post(self, request: Any) -> Any:
        from localstack.http import Response

        data = request.get_json(force=True, silent=True) or {}
        try:
            ids = FAULTS.add(list(data.get("rules", [])))
        except (RuleError, TypeError, ValueError) as error:
            return Response(str(error), 400)
        return {"ids": ids}

    def on_delete(self, request: Any) -> dict[str, Any]:
        FAULTS.clear()
        return {"rules": []}


def install() -> None:
    """Add the hook to the request chain and the endpoint to the gateway (idempotent)."""
    from localstack.aws import handlers
    from localstack.http import Resource
    from localstack.services.internal import get_internal_apis

    if handle not in handlers.serve_custom_service_request_handlers.handlers:
        handlers.serve_custom_service_request_handlers.append(handle)
    get_internal_apis().add(Resource(PATH, FaultsResource()))
