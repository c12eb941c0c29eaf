"""moto's WSGI app behind Twisted's HTTP/1.1 server, which keeps connections alive.

``python -m moto.server`` (werkzeug) answers every request with ``Connection: close``, so each
GET against it pays a new TCP connection on both sides; S3 keeps connections alive and the
functions' clients reuse them from their pool. Benchmarks of many small requests run moto this
way so the client's measured CPU per request is what it would be against S3.

Usage: ``python -m tests.benchmarks.moto_keepalive <port>`` (loopback only).
"""

from __future__ import annotations

import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from twisted.internet import reactor
from twisted.web.server import Site
from twisted.web.wsgi import WSGIResource


def main() -> None:
    port = int(sys.argv[1])
    app = DomainDispatcherApplication(create_backend_app)
    pool = reactor.getThreadPool()  # type: ignore[attr-defined]
    pool.adjustPoolsize(4, 40)
    site = Site(WSGIResource(reactor, pool, app))  # type: ignore[no-untyped-call]
    reactor.listenTCP(port, site, interface="127.0.0.1")  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
