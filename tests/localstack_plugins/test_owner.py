"""The launcher's owner watch: an embedded LocalStack must not outlive a killed test run."""

from __future__ import annotations

import subprocess
import sys
import threading

from localstack_plugins import owner


def test_a_running_process_is_alive_and_a_reaped_one_is_not() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert owner.alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not owner.alive(child.pid)


def test_a_zombie_counts_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    # not reaped yet: poll /proc until the child has exited (a zombie), with a deadline
    gone = threading.Event()
    owner.watch(child.pid, gone.set, poll_seconds=0.05)
    assert gone.wait(timeout=30), "the watch never saw the exited (zombie) owner"
    child.wait()


def test_the_watch_fires_once_the_owner_is_killed_and_not_before() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    gone = threading.Event()
    owner.watch(child.pid, gone.set, poll_seconds=0.05)
    try:
        assert not gone.wait(timeout=0.5), "fired while the owner was still running"
    finally:
        child.kill()
    assert gone.wait(timeout=30), "did not fire after the owner was killed"
    child.wait()
