"""moto's WSGI app behind Twisted's HTTP/1.1 server, which keeps connections alive.

``python -m moto.server`` (werkzeug) answers every request with ``Connection: close``, so each
GET against it pays a new TCP connection on both sides; S3 keeps connections alive and the
functions' clients reuse them from their pool. Benchmarks of many small requests run moto this
way so the client's measured CPU per request is what it would be against S3.

``<get latency s>`` (optional) delays every object GET by that long before moto answers it: S3's
first-byte latency, on the server side, so every client pays it the same way (a sleeping server
thread costs no CPU; the pool has 40 threads, more than the transform's 32 concurrent GETs).

Usage: ``python -m tests.benchmarks.moto_keepalive <port> [<get latency s>]`` (loopback only).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from twisted.internet import reactor
from twisted.web.server import Site
from twisted.web.wsgi import WSGIResource


def _delayed(app: Any, seconds: float) -> Callable[..., Iterable[bytes]]:
    def delayed(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if (
            environ.get("REQUEST_METHOD") == "GET"
            and path.count("/") >= 2
            and "moto-api" not in path
        ):
            time.sleep(seconds)  # bucket/key GETs only (path style): S3's first-byte latency
        result: Iterable[bytes] = app(environ, start_response)
        return result

    return delayed


def main() -> None:
    port = int(sys.argv[1])
    latency = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    app: Any = DomainDispatcherApplication(create_backend_app)
    if latency > 0:
        app = _delayed(app, latency)
    pool = reactor.getThreadPool()  # type: ignore[attr-defined]
    pool.adjustPoolsize(4, 40)
    site = Site(WSGIResource(reactor, pool, app))  # type: ignore[no-untyped-call]
    reactor.listenTCP(port, site, interface="127.0.0.1")  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
