"""Faults on the wire in front of the moto server, for the native fetcher's GETs.

The native fetcher (transforms/crt_fetch.py) sends real HTTP from C, so botocore's event hooks
cannot answer its requests. :class:`FaultyS3` is a loopback TCP proxy in front of the moto server
(which serves S3 itself): every request is passed through unchanged unless a :class:`Fault`
matches its request line, in which case the proxy answers it instead, the way S3 would:

- ``stall``: the request is read and then nothing is ever sent back (a hung front end; the
  connection stays open until the client gives up);
- ``stall_mid_body``: moto's answer is sent up to half of its body, then nothing more (a
  connection that dies mid-transfer without a reset);
- ``error``: an S3 XML error with its status (``SlowDown`` 503, ``AccessDenied`` 403, ...);
- ``latency_seconds``: the request is passed through after that long (a slow first byte).

A fault applies to its first ``count`` matching requests (all of them when ``count`` is None);
``seen`` counts the requests each fault answered. moto's server closes every connection after
its answer, so each request is proxied on a new upstream connection and the client's connection
is closed after a passed-through answer (it reconnects, as it would with S3).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_HEAD_END = b"\r\n\r\n"


@dataclass(slots=True)
class Fault:
    """What to do with requests whose request line contains ``match`` (e.g. a key)."""

    match: str
    stall: bool = False
    stall_mid_body: bool = False
    error: tuple[int, str] | None = None
    latency_seconds: float = 0.0
    count: int | None = None
    seen: int = 0

    def take(self, request_line: str) -> bool:
        """Whether this fault answers the request (and count it)."""
        if self.match not in request_line or (self.count is not None and self.seen >= self.count):
            return False
        self.seen += 1
        return True


@dataclass(slots=True)
class FaultyS3:
    """A proxy on a free loopback port; ``endpoint`` is what a client is pointed at."""

    upstream: tuple[str, int]
    faults: list[Fault] = field(default_factory=list)
    endpoint: str = ""
    _listener: socket.socket | None = None
    _open: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopped: threading.Event = field(default_factory=threading.Event)

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def _fault_for(self, request_line: str) -> Fault | None:
        with self._lock:
            return next((fault for fault in self.faults if fault.take(request_line)), None)

    def _serve(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._open.append(client)
            threading.Thread(target=self._connection, args=(client,), daemon=True).start()

    def _connection(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError), client:
            buffer = b""
            while not self._stopped.is_set():
                while _HEAD_END not in buffer:
                    chunk = client.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(_HEAD_END)
                request = head + _HEAD_END  # the fetcher's GETs carry no body
                fault = self._fault_for(head.split(b"\r\n", 1)[0].decode("latin-1"))
                if fault is not None and fault.stall:
                    while client.recv(65536):  # hold it: nothing is ever answered
                        pass
                    return
                if fault is not None and fault.error is not None:
                    client.sendall(_error_response(*fault.error))
                    continue
                if fault is not None:
                    time.sleep(fault.latency_seconds)  # the injected fault: a slow first byte
                answer = self._forward(request)
                if fault is not None and fault.stall_mid_body:
                    head, _, body = answer.partition(_HEAD_END)
                    client.sendall(head + _HEAD_END + body[: len(body) // 2])
                    while client.recv(65536):  # hold it: the rest never comes
                        pass
                    return
                client.sendall(answer)
                return  # moto closed its connection: close the client's too

    def _forward(self, request: bytes) -> bytes:
        with socket.create_connection(self.upstream, timeout=30) as upstream:
            upstream.sendall(request)
            answer = b""
            while chunk := upstream.recv(65536):
                answer += chunk
            return answer

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            sockets = [self._listener, *self._open]
        for sock in sockets:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def _error_response(status: int, code: str) -> bytes:
    body = f"<Error><Code>{code}</Code><Message>injected by the test</Message></Error>".encode()
    head = (
        f"HTTP/1.1 {status} {code}\r\nContent-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


@contextlib.contextmanager
def faulty_s3(moto_endpoint: str) -> Iterator[FaultyS3]:
    """A :class:`FaultyS3` in front of ``moto_endpoint`` for the duration of the block."""
    target = urlsplit(moto_endpoint)
    assert target.hostname is not None and target.port is not None
    proxy = FaultyS3((target.hostname, target.port))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    proxy._listener = listener
    proxy.endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
    threading.Thread(target=proxy._serve, daemon=True).start()
    try:
        yield proxy
    finally:
        proxy.stop()
