"""A SIGTERM'd test run still tears its session fixtures down (tests/interrupt.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

_SUITE = """
import time
from pathlib import Path

import pytest

MARKS = Path({marks!r})


@pytest.fixture(scope="session")
def resource():
    yield
    (MARKS / "torn-down").write_text("yes")


def test_waits_to_be_stopped(resource):
    (MARKS / "running").write_text("yes")
    time.sleep(60)
"""


def _run_and_terminate(tmp_path: Path, *plugin: str) -> Path:
    marks = tmp_path / "marks"
    marks.mkdir()
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_sleeper.py").write_text(_SUITE.format(marks=str(marks)))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin]
    run = subprocess.Popen(
        [*command, "--rootdir", str(suite), str(suite)],
        cwd=Path(__file__).resolve().parents[3],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not (marks / "running").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # polling with a deadline
    assert (marks / "running").exists(), "the inner test never started"
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=60)
    return marks


def test_sigterm_tears_session_fixtures_down(tmp_path: Path) -> None:
    marks = _run_and_terminate(tmp_path, "-p", "tests.interrupt")
    assert (marks / "torn-down").exists()


def test_without_the_plugin_sigterm_skips_teardown(tmp_path: Path) -> None:
    marks = _run_and_terminate(tmp_path)
    assert not (marks / "torn-down").exists()
