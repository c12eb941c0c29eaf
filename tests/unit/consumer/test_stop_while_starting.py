"""A SIGTERM that reaches `aggregator consume` while it is still starting ends it with the
documented 0 and one line, no traceback (issue 23; docs/operations.md "Run it as a service").

The process is the real console script. The signal is sent at points the test observes rather
than guesses: the moment the process has a SIGTERM handler at all (``SigCgt`` in
``/proc/<pid>/status``: the first line of ``scripts.cli.main``, before the command modules are
imported), and the moment it is blocked in the stack lookup (a TCP server that takes the request
and never answers). Before main's first line only the interpreter's own start-up runs; a SIGTERM
there ends the process by the signal, which systemd counts as a clean stop too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import pytest

from scripts import cli
from scripts.cli import EXIT_OK

AGGREGATOR: Final = Path(sys.executable).parent / "aggregator"
DEADLINE_SECONDS: Final = 30.0
SIGTERM_BIT: Final = 1 << (signal.SIGTERM - 1)


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AGGREGATOR_"))}
    return env | {
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": str(home / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"),
    }


def catches_sigterm(pid: int) -> bool:
    """Whether the process has a handler for SIGTERM now (its ``SigCgt`` mask)."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(mask, 16) & SIGTERM_BIT)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.001)


@pytest.fixture
def silent_endpoint() -> Iterator[socket.socket]:
    """A loopback TCP server that accepts connections (in its backlog) and never answers."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as server:
        yield server


def start(tmp_path: Path, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(AGGREGATOR), "consume", "--output", str(tmp_path / "out"), "--no-progress", *argv],
        cwd=tmp_path,
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stopped(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=DEADLINE_SECONDS)
    return process.returncode, err


def request_received(server: socket.socket, held: list[socket.socket]) -> bool:
    """Accept what is waiting; True once a connection has sent bytes (a request, not the probe)."""
    server.settimeout(0.01)
    try:
        connection, _ = server.accept()
        held.append(connection)
    except TimeoutError:
        pass
    for connection in held:
        connection.settimeout(0.001)
        try:
            if connection.recv(65536, socket.MSG_PEEK):
                return True
        except TimeoutError:
            continue
    return False


def silent_args(server: socket.socket) -> tuple[str, ...]:
    """Arguments that keep the consumer starting: its stack lookup goes to ``server``."""
    port = server.getsockname()[1]
    return ("--env", "prod", "--region", "eu-west-2", "--endpoint-url", f"http://127.0.0.1:{port}")


def test_sigterm_as_soon_as_the_process_can_catch_it_exits_0(
    tmp_path: Path, silent_endpoint: socket.socket
) -> None:
    process = start(tmp_path, *silent_args(silent_endpoint))
    wait_until(lambda: catches_sigterm(process.pid), "the process catches SIGTERM")
    code, err = stopped(process)
    assert code == EXIT_OK, err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert "stopped (SIGTERM) while starting" in err
    assert not (tmp_path / "out").exists()  # nothing was touched


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.5])
def test_sigterm_at_later_points_of_the_start_exits_0(
    tmp_path: Path, silent_endpoint: socket.socket, delay: float
) -> None:
    """Sampled points (imports, argument parsing, session): each must end with 0, no traceback."""
    process = start(tmp_path, *silent_args(silent_endpoint))
    wait_until(lambda: catches_sigterm(process.pid), "the process catches SIGTERM")
    time.sleep(delay)  # a sampled moment of the start, not a synchronisation
    code, err = stopped(process)
    assert code == EXIT_OK, err
    assert "Traceback" not in err
    assert "stopped (SIGTERM) while starting" in err


def test_sigterm_while_blocked_in_the_stack_lookup_exits_0_at_once(
    tmp_path: Path, silent_endpoint: socket.socket
) -> None:
    port = silent_endpoint.getsockname()[1]
    process = start(
        tmp_path,
        "--env",
        "prod",
        "--region",
        "eu-west-2",
        "--endpoint-url",
        f"http://127.0.0.1:{port}",
    )
    held: list[socket.socket] = []
    try:
        wait_until(lambda: request_received(silent_endpoint, held), "the stack lookup is sent")
        began = time.monotonic()
        code, err = stopped(process)
        took = time.monotonic() - began
    finally:
        for connection in held:
            connection.close()
    assert code == EXIT_OK, err
    assert "Traceback" not in err
    assert "stopped (SIGTERM) while starting" in err
    assert took < 5, f"the stop waited {took:.1f} s for the stack lookup"  # its timeout is 120 s
    assert not (tmp_path / "out").exists()


def test_main_catches_sigterm_before_it_imports_any_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In-process: SIGTERM from main's first line on (``_run`` builds the parser, importing every
    command module) ends consume with 0; main puts the previous handler back afterwards."""
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: received.append(signum))
    try:

        def terminated_while_importing(_argv: list[str]) -> int:
            os.kill(os.getpid(), signal.SIGTERM)
            return 99  # reached only when nothing turned the SIGTERM into a stop

        monkeypatch.setattr(cli, "_run", terminated_while_importing)
        assert cli.main(["consume", "--once"]) == EXIT_OK
        assert received == []
        assert (
            capsys.readouterr().err
            == "aggregator: stopped (SIGTERM) while starting; nothing was done\n"
        )
        os.kill(os.getpid(), signal.SIGTERM)  # the test's own handler is back
        assert received == [signal.SIGTERM]
        assert cli.main(["status", "--help-not-consume"]) == 99  # other commands: untouched
        assert received == [signal.SIGTERM, signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)
