"""Never act on a LocalStack this project did not start, unless it is named on purpose.

A "foreign" LocalStack here is a tiny HTTP server answering ``/_localstack/health`` on a free
port, as another project's LocalStack would; it records every request, so a test can tell a
refusal (only health checks reached it) from a command that went ahead (an AWS API call did).
"Ours" is a stand-in for the launcher `aggregator local up` starts: a process whose command line
names ``localstack_plugins.launch``, running in its state folder, recorded there with its port —
what scripts/local.py looks for — serving the same health check.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from scripts import cli, local

LOCAL_TARGET = ["--env", "local"]
HEALTH = b'{"services": {"s3": "running"}}'
STS_IDENTITY = (
    b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
    b"<GetCallerIdentityResult><Arn>arn:aws:iam::000000000000:root</Arn>"
    b"<UserId>000000000000</UserId><Account>000000000000</Account></GetCallerIdentityResult>"
    b"<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
)


@dataclass
class FakeLocalStack:
    """Answers the health check, and STS's GetCallerIdentity (so a command named at it on purpose
    gets as far as printing where it acts); anything else gets a body no AWS client can parse."""

    url: str
    port: int
    paths: list[str] = field(default_factory=list)

    @property
    def only_health_checked(self) -> bool:
        return all(path == "/_localstack/health" for path in self.paths)


def _handler(fake: FakeLocalStack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            fake.paths.append(self.path)
            request = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = STS_IDENTITY if b"GetCallerIdentity" in request else HEALTH
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_HEAD = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def foreign() -> Iterator[FakeLocalStack]:
    fake = FakeLocalStack("", 0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.port = int(server.server_address[1])
    fake.url = f"http://127.0.0.1:{fake.port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def at_default_address(foreign: FakeLocalStack, monkeypatch: pytest.MonkeyPatch) -> FakeLocalStack:
    """The foreign LocalStack where `--env local` looks without being told (LOCALSTACK_HOST)."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AGGREGATOR_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("LOCALSTACK_HOST", f"127.0.0.1:{foreign.port}")
    return foreign


COMMANDS = {
    "deploy": ["deploy", *LOCAL_TARGET],
    "deploy --yes": ["deploy", *LOCAL_TARGET, "--yes"],
    "destroy": ["destroy", *LOCAL_TARGET, "--yes"],
    "loadgen": ["loadgen", *LOCAL_TARGET, "--files", "1", "--quiet"],
    "diff": ["diff", *LOCAL_TARGET],
    "status": ["status", *LOCAL_TARGET],
    "logs": ["logs", "ingest", *LOCAL_TARGET],
    "replay": ["replay", *LOCAL_TARGET, "--since", "2026-01-01", "--dry-run"],
    "redrive errors": ["redrive", "errors", *LOCAL_TARGET, "--dry-run"],
    "redrive dlq": ["redrive", "dlq", *LOCAL_TARGET, "--function", "ingest", "--dry-run"],
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_foreign_localstack_is_refused(
    name: str, at_default_address: FakeLocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(COMMANDS[name])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE, err
    command = COMMANDS[name][0]
    assert err.startswith(f"aggregator {command}: a LocalStack answers at "), err
    assert f"--endpoint-url {at_default_address.url}" in err  # how to use it on purpose
    assert at_default_address.paths and at_default_address.only_health_checked


def test_consume_refuses_a_foreign_localstack(
    at_default_address: FakeLocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["consume", *LOCAL_TARGET, "--once", "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE, err
    assert "a LocalStack answers at" in err
    assert at_default_address.only_health_checked


def test_demo_refuses_a_foreign_localstack_on_its_port(
    foreign: FakeLocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["demo", "--port", str(foreign.port), "--state-dir", str(tmp_path / "state")]
    code = cli.main([*argv, "--output", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE, err
    assert err.startswith(f"aggregator demo: a LocalStack answers at {foreign.url}")
    assert "make demo PORT=" in err
    assert foreign.only_health_checked
    assert not (tmp_path / "state").exists()  # nothing started either


def test_named_on_purpose_it_is_used(
    foreign: FakeLocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOCALSTACK_HOST", f"127.0.0.1:{foreign.port}")
    cli.main(["status", *LOCAL_TARGET, "--endpoint-url", foreign.url])
    assert not foreign.only_health_checked  # an AWS call reached it (and failed: not AWS)
    foreign.paths.clear()
    monkeypatch.setenv("AWS_ENDPOINT_URL", foreign.url)
    cli.main(["status", *LOCAL_TARGET])
    assert foreign.paths and not foreign.only_health_checked
    assert "a LocalStack answers" not in capsys.readouterr().err


def test_deploy_and_destroy_print_the_endpoint_they_act_on(
    foreign: FakeLocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    cli.main(["destroy", *LOCAL_TARGET, "--yes", "--endpoint-url", foreign.url])
    cli.main(["deploy", *LOCAL_TARGET, "--endpoint-url", foreign.url])
    printed = capsys.readouterr()
    assert f"deleting stack s3-aggregator-local at {foreign.url}" in printed.out
    assert f"endpoint {foreign.url}" in printed.out  # deploy's "environment local: ..." line


def test_the_retired_variable_is_an_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AGGREGATOR_ENDPOINT_URL", "http://127.0.0.1:1")
    assert cli.main(["status", *LOCAL_TARGET]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("aggregator status: AGGREGATOR_ENDPOINT_URL is set but no longer read")
    assert "AWS_ENDPOINT_URL" in err


# ------------------------------------------------------------------ ours: found by port or folder

_LAUNCHER = textwrap.dedent(
    """
    import http.server, json, os, sys
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
            self.wfile.write(b"{}")
        def log_message(self, *a): pass
    server = http.server.HTTPServer(("127.0.0.1", 0), H)
    port = server.server_address[1]
    with open("localstack.json", "w") as f:
        json.dump({"pid": os.getpid(), "port": port}, f)
    server.serve_forever()
    """
)


@pytest.fixture
def ours(tmp_path: Path) -> Iterator[local.Endpoint]:
    """A stand-in for the launcher (its command line names the module) in its state folder."""
    state_dir = tmp_path / "ours"
    state_dir.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, local.LAUNCH_MODULE],
        cwd=state_dir,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    found = None
    while found is None and time.monotonic() < deadline:
        found = local.status(state_dir)
        time.sleep(0.05)
    assert found is not None, "the stand-in launcher did not come up"
    yield found
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_our_instance_is_found_by_port_whatever_its_state_folder(ours: local.Endpoint) -> None:
    found = local.running_on(ours.port)
    assert found is not None and (found.pid, found.state_dir) == (ours.pid, ours.state_dir)
    assert local.claim(f"http://localhost:{ours.port}") == found


def test_local_status_and_down_find_the_stack_by_port(
    ours: local.Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    port = str(ours.port)
    assert cli.main(["local", "status", "--port", port]) == cli.EXIT_OK
    assert f"running at {ours.url}" in capsys.readouterr().out
    assert cli.main(["local", "down", "--port", port, "--json"]) == cli.EXIT_OK
    document = json.loads(capsys.readouterr().out)
    assert document["state_dir"] == str(ours.state_dir) and not document["running"]
    assert local.running_on(ours.port) is None and not local.answers(ours.url)


def test_local_down_leaves_a_foreign_localstack_alone(
    foreign: FakeLocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["local", "down", "--port", str(foreign.port)]) == cli.EXIT_PROBLEM
    assert "this project did not start it" in capsys.readouterr().err
    assert local.answers(foreign.url)
    assert cli.main(["local", "status", "--port", str(foreign.port)]) == cli.EXIT_PROBLEM


def test_local_down_says_what_it_waits_for(
    ours: local.Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["local", "down", "--port", str(ours.port)]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert f"stopping the LocalStack at {ours.url}" in out and "then SIGKILL after 15 s" in out
    assert f"local down: stopped (state in {ours.state_dir})" in out
