"""``aggregator local``: idempotent start, loopback only, clear port errors, nothing left behind."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts import local
from tests.localstack_plugins.support import client, create_function


def _listening_addresses(port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                found.add(address)
    return found


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[2]) == pgid and stat[0] != "Z":
            members.append(int(entry.name))
    return members


@pytest.fixture
def state_dir(localstack_state_dir: Path | None) -> Path:
    if localstack_state_dir is None:
        pytest.skip("an external LocalStack is in use")
    return localstack_state_dir


def test_start_twice_is_harmless(state_dir: Path, localstack: str) -> None:
    running = local.status(state_dir)
    assert running is not None and running.url == localstack

    again = local.start(port=running.port, state_dir=state_dir)

    assert again.pid == running.pid


def test_gateway_listens_on_loopback_only(state_dir: Path) -> None:
    running = local.status(state_dir)
    assert running is not None
    assert _listening_addresses(running.port) == {"0100007F"}  # 127.0.0.1


def test_port_in_use_gives_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(local.LocalStackError, match=f"Port {port} .* in use"):
            local.start(port=port, state_dir=tmp_path / "state")
    assert not (tmp_path / "state" / local.PID_FILE).exists()


def test_stop_leaves_no_process_behind(tmp_path: Path) -> None:
    state_dir = tmp_path / "own"
    endpoint = local.start(port=local.free_port(), state_dir=state_dir)
    try:
        arn = create_function(endpoint.url, "def handler(event, context):\n    return 1\n")
        response = client("lambda", endpoint.url).invoke(FunctionName=arn, Payload=b"{}")
        assert json.loads(response["Payload"].read()) == 1
        members = _group_members(endpoint.pid)
        assert len(members) >= 2, "expected LocalStack and at least one Lambda worker"
    finally:
        assert local.stop(state_dir)

    assert _group_members(endpoint.pid) == []
    assert local.status(state_dir) is None
    assert not local.stop(state_dir)


_OWNER_SCRIPT = """
import json, os, sys, time
from pathlib import Path
from scripts import local
endpoint = local.start(port=local.free_port(), state_dir=Path(sys.argv[1]), owner_pid=os.getpid())
print(json.dumps({"pid": endpoint.pid}), flush=True)
time.sleep(600)
"""


def test_an_owned_instance_dies_with_its_killed_owner(tmp_path: Path) -> None:
    """A SIGKILL'd test run or demo (no clean-up ran) leaves no LocalStack behind."""
    state_dir = tmp_path / "owned"
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER_SCRIPT, str(state_dir)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert owner.stdout is not None
        launcher = json.loads(owner.stdout.readline())["pid"]
        assert _group_members(launcher), "LocalStack did not start"
    finally:
        owner.kill()  # SIGKILL: the owner's own clean-up never runs
        owner.wait()
    deadline = time.monotonic() + 60
    while _group_members(launcher) and time.monotonic() < deadline:
        time.sleep(0.2)  # polling with a deadline
    assert _group_members(launcher) == [], "LocalStack outlived its killed owner"
    local.stop(state_dir)  # only removes the stale pid file
