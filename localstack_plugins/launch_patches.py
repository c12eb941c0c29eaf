"""Launch-time patches of LocalStack and twisted internals that live in no module of their own.

Each is a function without arguments that installs one patch; none is called from here: they are
entries of the registry (:mod:`localstack_plugins.patches`), which checks their targets and applies
them at launch. Why each exists, and what it rests on, is written there and in the functions'
docstrings (see also docs/localstack.md, "Throughput").
"""

from __future__ import annotations

import functools
import io
import os
import sqlite3
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

FIXED_S3_ROOT = "/tmp/localstack-s3-storage"  # noqa: S108 - the path being replaced
S3_NOTIFICATION_THREADS = int(os.environ.get("S3_NOTIFICATION_THREADS") or 16)
#: GIL switch interval (CPython's default is 5 ms): every HTTP byte passes through the twisted
#: reactor thread, which otherwise waits up to one interval behind each busy thread.
GIL_SWITCH_INTERVAL_SECONDS = float(os.environ.get("GIL_SWITCH_INTERVAL_SECONDS") or 0.0005)
LAMBDA_ASYNC_INVOKERS = int(os.environ.get("LAMBDA_ASYNC_INVOKERS") or 10)


def bind_gateway_to_configured_host() -> None:
    from localstack import config
    from localstack.aws.serving.twisted import TLSMultiplexerFactory
    from localstack.runtime.server.twisted import TwistedRuntimeServer
    from rolo.serving.twisted import TwistedGateway
    from twisted.internet import endpoints, reactor, ssl

    original = TwistedRuntimeServer.register

    def register(self: Any, gateway: Any, listen: list[Any], ssl_creds: Any = None) -> None:
        ipv4 = [hp for hp in listen if not config.is_ipv6_address(hp.host)]
        others = [hp for hp in listen if hp not in ipv4]
        if others:
            original(self, gateway, others, ssl_creds)
        if not ipv4:
            return
        # Same as the original for IPv4, with the interface the user asked for.
        site = TwistedGateway(gateway)
        factory: Any = site
        if ssl_creds:
            cert_file, key_file = ssl_creds
            context: Any = ssl.DefaultOpenSSLContextFactory  # untyped in twisted
            context = context(key_file, cert_file)
            context.getContext().use_certificate_chain_file(cert_file)
            factory = TLSMultiplexerFactory(context, False, site)  # type: ignore[no-untyped-call]
        for host_and_port in ipv4:
            endpoint = endpoints.TCP4ServerEndpoint(  # type: ignore[no-untyped-call]
                reactor, host_and_port.port, interface=host_and_port.host or "127.0.0.1"
            )
            endpoint.listen(factory)  # type: ignore[no-untyped-call]

    TwistedRuntimeServer.register = register  # type: ignore[method-assign]


def keep_s3_data_in_state_dir() -> None:
    from localstack.services.s3.storage import ephemeral

    original = ephemeral.EphemeralS3ObjectStore.__init__
    target = Path(tempfile.gettempdir()) / "s3-storage"

    def init(self: Any, root_directory: str | None = None) -> None:
        if root_directory in (None, FIXED_S3_ROOT):
            target.mkdir(parents=True, exist_ok=True)
            root_directory = str(target)
        original(self, root_directory)

    ephemeral.EphemeralS3ObjectStore.__init__ = init  # type: ignore[method-assign]


def widen_s3_notification_pool() -> None:
    from localstack.services.s3 import notifications

    original = notifications.NotificationDispatcher.__init__

    def init(self: Any, num_thread: int = S3_NOTIFICATION_THREADS) -> None:
        original(self, max(num_thread, S3_NOTIFICATION_THREADS))

    notifications.NotificationDispatcher.__init__ = init  # type: ignore[method-assign]


def widen_async_invoker_pool() -> None:
    from localstack.services.lambda_.invocation import event_manager

    original = event_manager.Poller.__init__

    def init(self: Any, version_manager: Any, event_queue_url: str) -> None:
        original(self, version_manager, event_queue_url)
        self.invoker_pool.shutdown(wait=False)
        function_id = version_manager.function_version.id
        self.invoker_pool = ThreadPoolExecutor(
            max_workers=LAMBDA_ASYNC_INVOKERS,
            thread_name_prefix=f"lambda-invoker-{function_id.function_name}:{function_id.qualifier}",
        )

    event_manager.Poller.__init__ = init  # type: ignore[method-assign]


class _UnsyncedSqlite:
    """``sqlite3`` as seen by CloudWatch's metric store: connections commit without fsync."""

    def __getattr__(self, name: str) -> Any:
        return getattr(sqlite3, name)

    @staticmethod
    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(*args, **kwargs)
        connection.execute("PRAGMA synchronous=OFF")
        return connection


def cloudwatch_metrics_without_fsync() -> None:
    from localstack.services.cloudwatch import cloudwatch_database_helper

    setattr(cloudwatch_database_helper, "sqlite3", _UnsyncedSqlite())  # noqa: B010 - module patch


def linear_in_memory_response_reads() -> None:
    from localstack.aws.client import _ResponseStream

    def readinto(self: Any, buffer: Any) -> int:
        try:
            chunk = self._buf if self._buf else memoryview(next(self.iterator))
        except StopIteration:
            return 0
        size = min(len(buffer), len(chunk))
        buffer[:size] = chunk[:size]
        self._buf = chunk[size:]
        return size

    def read(self: Any, amt: int | None = None) -> bytes:
        if amt is not None and amt >= 0:
            return bytes(io.RawIOBase.read(self, amt) or b"")
        rest = bytes(self._buf) if self._buf else b""
        self._buf = None
        return rest + b"".join(self.iterator)

    _ResponseStream.readinto = readinto  # type: ignore[method-assign]
    _ResponseStream.read = read  # type: ignore[method-assign]


def cache_header_timestamp_parsing() -> None:
    from localstack.aws.protocol import serializer

    parse = getattr(serializer, "parse_to_aware_datetime")  # noqa: B009 - not re-exported

    @functools.lru_cache(maxsize=4096)
    def parse_string(value: str) -> Any:
        return parse(value)

    def parse_to_aware_datetime(value: Any) -> Any:
        return parse_string(value) if isinstance(value, str) else parse(value)

    setattr(serializer, "parse_to_aware_datetime", parse_to_aware_datetime)  # noqa: B010


def cache_response_mime_type() -> None:
    """The response serializer picks its MIME type from the request's ``Accept`` header (or its
    ``Content-Type``) with werkzeug's ``best_match`` on every response: ~12 % of the LocalStack
    process's CPU in a 3,000-file backlog (py-spy, GIL samples). The choice is a pure function of
    the header and the serializer's supported types; equal inputs now share one computation."""
    from localstack.aws.protocol import serializer
    from werkzeug.datastructures import MIMEAccept
    from werkzeug.http import parse_accept_header

    @functools.lru_cache(maxsize=1024)
    def best_match(accept_header: str | None, supported: tuple[str, ...]) -> str:
        match = parse_accept_header(accept_header, MIMEAccept).best_match(supported)
        return str(match or supported[0])

    def get_mime_type(self: Any, headers: Any) -> str:  # the original's choice of header
        accept_header = None
        if headers and "Accept" in headers and headers.get("Accept") != "*/*":
            accept_header = headers.get("Accept")
        elif headers and headers.get("Content-Type"):
            accept_header = headers.get("Content-Type") + ", */*"
        return best_match(accept_header, tuple(self.SUPPORTED_MIME_TYPES))

    serializer.ResponseSerializer._get_mime_type = get_mime_type  # type: ignore[method-assign]


def lighter_twisted_requests() -> None:
    """Three costs twisted pays on the reactor thread for every request, for nothing:

    - the access log: ``HTTPFactory.log`` formats a combined-log line per request and writes it
      to twisted's global log, which nothing in LocalStack observes (the lines sit in twisted's
      in-memory history buffer; LocalStack logs each request itself, ``localstack.request.*``):
      ~10 % of the reactor thread's GIL samples in a backlog;
    - ``_parseContentType`` parses the ``Content-Type`` header with ``email.message`` (~10 % of
      the reactor thread): a pure function of the header value, now cached per value;
    - the WSGI environment asks the channel twice per request whether its transport is TLS,
      each time through zope interface adaptation (~3 % of the process); a connection's answer
      is fixed once its first bytes were read (the TLS multiplexer decides then), so it is kept
      per connection.
    """
    from rolo.serving.twisted import HeaderPreservingHTTPChannel, TwistedGateway
    from twisted.web import http

    is_secure = HeaderPreservingHTTPChannel.isSecure

    def is_secure_once(self: Any) -> bool:
        known: bool | None = self.__dict__.get("_aggregator_is_secure")
        if known is None:
            known = self._aggregator_is_secure = bool(is_secure(self))  # type: ignore[no-untyped-call]
        return known

    HeaderPreservingHTTPChannel.isSecure = is_secure_once  # type: ignore[method-assign]

    def log(self: Any, request: Any) -> None:
        """No access log line (see above)."""

    TwistedGateway.log = log  # type: ignore[method-assign]
    parse = getattr(http, "_parseContentType")  # noqa: B009 - private
    setattr(http, "_parseContentType", functools.lru_cache(maxsize=256)(parse))  # noqa: B010


def set_gil_switch_interval() -> None:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)
