"""A moto server in a subprocess, so the mock's CPU and memory are not the measured process's."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MotoServer:
    endpoint: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used so far."""
        return process_cpu_seconds(self.pid)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a (Linux) process, from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def moto_server(timeout: float = 30.0) -> Iterator[str]:
    """Start ``python -m moto.server`` on a free loopback port; yield its endpoint URL."""
    with moto_server_process(timeout) as server:
        yield server.endpoint


@contextlib.contextmanager
def moto_server_process(
    timeout: float = 30.0, *, keep_alive: bool = False, get_latency: float = 0.0
) -> Iterator[MotoServer]:
    """Like :func:`moto_server`, yielding the endpoint and the server's pid (for its CPU time).

    ``keep_alive`` serves moto through Twisted's HTTP/1.1 server (``moto_keepalive``), which
    keeps connections open as S3 does; ``moto.server`` closes every connection after a response.
    ``get_latency`` (keep-alive server only) delays every object GET by that many seconds.
    """
    port = free_port()
    if keep_alive:
        module = "tests.benchmarks.moto_keepalive"
        command = [sys.executable, "-m", module, str(port), str(get_latency)]
    else:
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield MotoServer(endpoint, process.pid)
    finally:
        process.terminate()  # werkzeug's server can take ~10 s to honour it: no state to keep
        try:
            process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
