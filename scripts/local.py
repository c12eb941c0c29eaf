"""``aggregator local up|down|status|patches``: the embedded LocalStack (host mode, no Docker).

Reusable API for tests and other commands::

    endpoint = start(port=4566, state_dir=Path(".localstack"))   # idempotent
    status(state_dir)  # -> Endpoint | None
    stop(state_dir)    # -> True if something was stopped
    running_on(port)   # -> Endpoint | None: the instance of any state folder on that port
    claim(url)         # -> Endpoint | None; raises NotOursError if another LocalStack answers

Ownership: a command acts on a LocalStack without being told its address only if this module
started it (the launcher's pid, port and state folder are recorded in that folder, and the
launcher runs with the state folder as its working directory, so it is found by port too). Any
other program answering ``/_localstack/health`` is refused (:class:`NotOursError`); it is used
only when named explicitly (``--endpoint-url`` or ``AWS_ENDPOINT_URL``).

LocalStack runs in a background process of its own session (process group) started with
``python -m localstack_plugins.launch``; its PID, port and log live in the state folder. Stopping
sends SIGTERM to the whole group, then SIGKILL after a deadline, so no Lambda worker survives.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from localstack_plugins.owner import OWNER_PID_VARIABLE
from localstack_plugins.telemetry import TELEMETRY_FILE_VARIABLE, failures_in
from pipeline.errors import AggregatorError, UsageError

#: read by the LocalStack process (the same names as in localstack_plugins/launch.py, which this
#: CLI does not import: it imports LocalStack; a unit test keeps the names equal)
PATCH_REPORT_VARIABLE = "AGGREGATOR_PATCH_REPORT"
SPEED_PATCHES_VARIABLE = "AGGREGATOR_SPEED_PATCHES"
#: prints the registry checked against the installed LocalStack, as JSON (nothing applied)
PATCH_CHECK_MODULE = "localstack_plugins.patches"

HELP = "start, stop or inspect the embedded LocalStack (127.0.0.1 only, state in .localstack/)"

DEFAULT_PORT = 4566
DEFAULT_STATE_DIR = Path(__file__).resolve().parents[1] / ".localstack"
PID_FILE = "localstack.json"
LOG_FILE = "localstack.log"
PATCH_REPORT_FILE = "patches.json"
TELEMETRY_FILE = "telemetry-failures.json"
LAUNCH_MODULE = "localstack_plugins.launch"
START_DEADLINE_SECONDS = 90.0
STOP_DEADLINE_SECONDS = 15.0
POLL_SECONDS = 0.1

#: Environment of the LocalStack process (see docs/localstack.md for each variable).
FIXED_ENVIRONMENT = {
    "DNS_ADDRESS": "0",
    "DISABLE_EVENTS": "1",
    "OVERRIDE_IN_DOCKER": "0",
    "SKIP_SSL_CERT_DOWNLOAD": "1",
    "PERSISTENCE": "0",
    "LAMBDA_RUNTIME_EXECUTOR": "host",
    "PROVIDER_OVERRIDE_FIREHOSE": "faithful",
    "IN_MEMORY_CLIENT": "1",
}


PROJECT_ROOT = Path(__file__).resolve().parents[1]


class LocalStackError(AggregatorError, RuntimeError):
    """Starting or stopping the embedded LocalStack failed; the message says what to do."""


class NotOursError(UsageError):
    """A LocalStack answers where a command would act, but this project did not start it."""


@dataclass(frozen=True)
class Endpoint:
    url: str
    port: int
    pid: int
    state_dir: Path
    log_file: Path


def _pid_file(state_dir: Path) -> Path:
    return state_dir / PID_FILE


def _is_ours(pid: int) -> bool:
    """True if ``pid`` is a live (not zombie) LocalStack launched by this module."""
    with contextlib.suppress(ChildProcessError, OSError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False  # our child and it just exited
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return LAUNCH_MODULE.encode() in cmdline and state != "Z"


def _healthy(port: int, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/_localstack/health", timeout=timeout
        ) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _read_record(state_dir: Path) -> dict[str, int] | None:
    try:
        record = json.loads(_pid_file(state_dir).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not {"pid", "port"} <= record.keys():
        return None
    return {"pid": int(record["pid"]), "port": int(record["port"])}


def _endpoint(state_dir: Path, pid: int, port: int) -> Endpoint:
    return Endpoint(f"http://127.0.0.1:{port}", port, pid, state_dir, state_dir / LOG_FILE)


def status(state_dir: Path = DEFAULT_STATE_DIR) -> Endpoint | None:
    """The running instance of ``state_dir`` if it is alive and healthy, else None."""
    state_dir = state_dir.resolve()
    record = _read_record(state_dir)
    if record is None or not _is_ours(record["pid"]) or not _healthy(record["port"]):
        return None
    return _endpoint(state_dir, record["pid"], record["port"])


def _launcher_pids() -> list[int]:
    """Live processes running this module's launcher (Linux ``/proc``; none elsewhere)."""
    found = []
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and _is_ours(int(entry.name)):
                found.append(int(entry.name))
    return found


def running_on(port: int) -> Endpoint | None:
    """The healthy LocalStack this module started, of any state folder, listening on ``port``."""
    for pid in _launcher_pids():
        try:
            state_dir = Path(f"/proc/{pid}/cwd").readlink()  # start() runs it in its folder
        except OSError:
            continue
        found = status(state_dir)
        if found is not None and found.pid == pid and found.port == port:
            return found
    return None


def answers(url: str, timeout: float = 2.0) -> bool:
    """True if something at ``url`` answers LocalStack's health check."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/_localstack/health", timeout=timeout) as r:  # noqa: S310 - an operator's endpoint
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def not_ours_message(url: str) -> str:
    return (
        f"a LocalStack answers at {url}, but this project did not start it "
        "(`aggregator local up` records the instances it starts), so it is left alone: "
        f"to use it on purpose, name it with --endpoint-url {url} (or AWS_ENDPOINT_URL={url}); "
        "to start this project's own, `make local-up` (PORT= for another port)"
    )


def claim(url: str) -> Endpoint | None:
    """The LocalStack this project started at ``url`` (a loopback address), or None if nothing
    answers there; raises :class:`NotOursError` if something else answers."""
    parts = urlsplit(url)
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    port = parts.port or (443 if parts.scheme == "https" else 80)
    found = running_on(port) if loopback else None
    if found is not None:
        return found
    if answers(url):
        raise NotOursError(not_ours_message(url))
    return None


def _port_free(port: int) -> bool:
    """True if a server could listen on 127.0.0.1:``port`` (connections in TIME_WAIT are fine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def check_single_moto() -> None:
    """Refuse to start when upstream ``moto`` is installed beside LocalStack's fork ``moto-ext``.

    Both install the same ``moto`` package and the last one wins; with upstream moto's files
    LocalStack's moto-backed services (CloudWatch Logs, ...) fail mid-deploy. The lock keeps only
    ``moto-ext``; this catches an environment changed by hand.
    """
    try:
        upstream = importlib.metadata.version("moto")
    except importlib.metadata.PackageNotFoundError:
        return
    raise LocalStackError(
        f"upstream moto {upstream} is installed beside LocalStack's moto-ext and overwrites it: "
        "run `uv pip uninstall moto && uv sync --frozen --reinstall-package moto-ext`."
    )


def _environment(
    port: int, state_dir: Path, owner_pid: int | None, speed_patches: bool = True
) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.pop(OWNER_PID_VARIABLE, None)
    if owner_pid is not None:
        env[OWNER_PID_VARIABLE] = str(owner_pid)
    for folder in ("filesystem", "tmp", "cache"):
        (state_dir / folder).mkdir(parents=True, exist_ok=True)
    env.update(FIXED_ENVIRONMENT)
    check_single_moto()
    env.update(
        {
            "GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "LOCALSTACK_HOST": f"127.0.0.1:{port}",
            "FILESYSTEM_ROOT": str(state_dir / "filesystem"),
            "TMPDIR": str(state_dir / "tmp"),
            "XDG_CACHE_HOME": str(state_dir / "cache"),
            PATCH_REPORT_VARIABLE: str(state_dir / PATCH_REPORT_FILE),
            SPEED_PATCHES_VARIABLE: "1" if speed_patches else "0",
            TELEMETRY_FILE_VARIABLE: str(state_dir / TELEMETRY_FILE),
        }
    )
    return env


def patch_report(state_dir: Path) -> dict[str, object] | None:
    """What the launcher of ``state_dir`` wrote about the patches it applied (None: nothing)."""
    try:
        document = json.loads((state_dir.resolve() / PATCH_REPORT_FILE).read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _patch_error(state_dir: Path) -> str | None:
    report = patch_report(state_dir)
    error = report.get("error") if report else None
    return str(error) if error else None


def skipped_patches(state_dir: Path) -> list[str]:
    """One line per patch that could not apply on the running instance (speed patches only:
    any other stops the start)."""
    report = patch_report(state_dir) or {}
    rows = report.get("patches")
    return [
        f"{row['kind']} patch {row['name']} skipped: {'; '.join(row['problems'])}"
        for row in (rows if isinstance(rows, list) else [])
        if isinstance(row, dict) and row.get("problems")
    ]


def _log_tail(log_file: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start(
    port: int = DEFAULT_PORT,
    state_dir: Path = DEFAULT_STATE_DIR,
    deadline_seconds: float = START_DEADLINE_SECONDS,
    owner_pid: int | None = None,
    environment: Mapping[str, str] | None = None,
    speed_patches: bool = True,
) -> Endpoint:
    """Start LocalStack on 127.0.0.1:``port`` with its state in ``state_dir``; wait for health.

    ``environment`` adds variables to the LocalStack process (e.g. scaled-down Firehose quotas:
    ``FIREHOSE_DIRECT_PUT_BYTES_PER_SECOND`` and the like, docs/localstack.md).

    Harmless when the instance of ``state_dir`` already runs on ``port``. With ``owner_pid``, the
    instance kills itself once that process is gone, even if it never called :func:`stop`
    (``localstack_plugins/owner.py``); without it, it runs until ``aggregator local down``.
    ``speed_patches=False`` starts it without the registry's speed patches (fidelity, isolation and
    test-machinery patches always apply; a running instance is returned as it is).
    """
    state_dir = state_dir.resolve()
    running = status(state_dir)
    if running is not None:
        if running.port != port:
            raise LocalStackError(
                f"LocalStack of {state_dir} already runs on port {running.port}; "
                "run `aggregator local down` first to move it."
            )
        return running
    stop(state_dir)  # a stale or unhealthy instance of this state folder
    if not _port_free(port):
        raise LocalStackError(
            f"Port {port} on 127.0.0.1 is in use by another program (not the LocalStack of "
            f"{state_dir}). Stop it, or choose another port with --port."
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / PATCH_REPORT_FILE).unlink(missing_ok=True)
    (state_dir / TELEMETRY_FILE).unlink(missing_ok=True)
    log_file = state_dir / LOG_FILE
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", LAUNCH_MODULE],
            env={**_environment(port, state_dir, owner_pid, speed_patches), **(environment or {})},
            cwd=state_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _pid_file(state_dir).write_text(json.dumps({"pid": process.pid, "port": port}))
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _pid_file(state_dir).unlink(missing_ok=True)
            patch_error = _patch_error(state_dir)
            if patch_error:
                raise LocalStackError(f"LocalStack was not started: {patch_error}")
            raise LocalStackError(
                f"LocalStack exited with code {process.returncode} while starting. "
                f"Last lines of {log_file}:\n{_log_tail(log_file)}"
            )
        if _healthy(port, timeout=1.0):
            return _endpoint(state_dir, process.pid, port)
        time.sleep(POLL_SECONDS)
    stop(state_dir)
    raise LocalStackError(
        f"LocalStack did not become healthy within {deadline_seconds:.0f} s. "
        f"Last lines of {log_file}:\n{_log_tail(log_file)}"
    )


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def stop(
    state_dir: Path = DEFAULT_STATE_DIR, deadline_seconds: float = STOP_DEADLINE_SECONDS
) -> bool:
    """Stop the instance of ``state_dir`` and every process of its group. True if one ran."""
    state_dir = state_dir.resolve()
    record = _read_record(state_dir)
    if record is None:
        return False
    pid = record["pid"]
    was_running = _is_ours(pid)
    if was_running:
        _signal_group(pid, signal.SIGTERM)  # the launcher leads its own session: pgid == pid
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline and _is_ours(pid):
            time.sleep(POLL_SECONDS)
        _signal_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline and (_is_ours(pid) or _group_alive(pid)):
            time.sleep(POLL_SECONDS)
    _pid_file(state_dir).unlink(missing_ok=True)
    return was_running


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("up", "down", "status", "patches"))
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"gateway port (default: {DEFAULT_PORT} for up; status and down find the instance "
        "on this port, whatever its state folder)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="state folder, git-ignored (default: <project>/.localstack)",
    )
    parser.add_argument("--json", action="store_true", help="the result as JSON")
    parser.add_argument(
        "--no-speed-patches",
        action="store_true",
        help="up: start without the registry's speed patches (slower, same behaviour)",
    )


def telemetry_failures(state_dir: Path) -> dict[str, int]:
    """Failed publishes of the instance's own metrics and logs, per cause (see
    ``localstack_plugins/telemetry.py``); empty when none failed."""
    return failures_in(state_dir.resolve() / TELEMETRY_FILE)


def find(state_dir: Path, port: int | None = None) -> Endpoint | None:
    """The running instance of ``state_dir``, or with ``port`` the one on that port (any folder)."""
    mine = status(state_dir)
    if port is None or (mine is not None and mine.port == port):
        return mine
    return running_on(port)


def _foreign(port: int | None, found: Endpoint | None) -> str | None:
    """The URL of a LocalStack on ``port`` this project did not start, if one answers there."""
    if port is None or found is not None:
        return None
    url = f"http://127.0.0.1:{port}"
    return url if answers(url) else None


def _json_result(action: str, running: Endpoint | None, state_dir: Path) -> str:
    found: dict[str, object] = {"action": action, "running": running is not None}
    if running is not None:
        found.update(url=running.url, pid=running.pid, log_file=str(running.log_file))
        state_dir = running.state_dir
        found.update(
            skipped_patches=skipped_patches(state_dir),
            telemetry_failures=telemetry_failures(state_dir),
        )
    found["state_dir"] = str(state_dir.resolve())
    return json.dumps(found)


def run(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir
    speed = not getattr(args, "no_speed_patches", False)
    if args.action == "patches":
        return _run_patches(state_dir, bool(getattr(args, "json", False)))
    if getattr(args, "json", False):
        return _run_json(args.action, args.port, state_dir, speed)
    if args.action == "up":
        started = time.monotonic()
        try:
            endpoint = start(
                port=args.port or DEFAULT_PORT, state_dir=state_dir, speed_patches=speed
            )
        except LocalStackError as error:
            print(f"aggregator local up: {error}", file=sys.stderr)
            return 1
        took = time.monotonic() - started
        print(f"local up: LocalStack ready at {endpoint.url} (pid {endpoint.pid}, {took:.1f} s)")
        print(f"local up: logs in {endpoint.log_file}")
        for line in skipped_patches(state_dir):
            print(f"local up: warning: {line}", file=sys.stderr)
        return 0
    current = find(state_dir, args.port)
    foreign = _foreign(args.port, current)
    if foreign is not None:
        print(f"aggregator local {args.action}: {not_ours_message(foreign)}", file=sys.stderr)
        return 1
    if args.action == "down":
        if current is None:
            print(f"local down: was not running (state in {state_dir.resolve()})")
            return 0
        print(
            f"local down: stopping the LocalStack at {current.url} (pid {current.pid}): SIGTERM, "
            f"then SIGKILL after {STOP_DEADLINE_SECONDS:.0f} s if it ignores it ...",
            flush=True,
        )
        stop(current.state_dir)
        print(f"local down: stopped (state in {current.state_dir})")
        return 0
    if current is None:
        where = f"port {args.port}" if args.port else f"state in {state_dir.resolve()}"
        print(f"local status: not running ({where})")
        return 1  # "a problem was found" in the CLI's exit-code table
    print(f"local status: running at {current.url} (pid {current.pid}), logs in {current.log_file}")
    failures = telemetry_failures(current.state_dir)
    print(
        f"local status: {sum(failures.values())} failed publishes of its own metrics and logs"
        + "".join(f"\n  {count} x {cause}" for cause, count in sorted(failures.items()))
    )
    for line in skipped_patches(current.state_dir):
        print(f"local status: {line}")
    return 0


def _run_json(action: str, port: int | None, state_dir: Path, speed: bool = True) -> int:
    if action == "up":
        try:
            start(port=port or DEFAULT_PORT, state_dir=state_dir, speed_patches=speed)
        except LocalStackError as error:
            print(json.dumps({"action": action, "error": str(error)}))
            return 1
        print(_json_result(action, status(state_dir), state_dir))
        return 0
    current = find(state_dir, port)
    foreign = _foreign(port, current)
    if foreign is not None:
        print(json.dumps({"action": action, "error": not_ours_message(foreign)}))
        return 1
    if action == "down":
        if current is not None:
            stop(current.state_dir)
        print(_json_result(action, None, current.state_dir if current else state_dir))
        return 0
    print(_json_result(action, current, state_dir))
    return 1 if current is None else 0


def patch_rows(state_dir: Path) -> tuple[list[dict[str, Any]], str]:
    """The registry's rows: from the running instance's report (``applied`` true/false), else
    checked here without applying anything (``applied`` null). The second value says which."""
    report = patch_report(state_dir) if status(state_dir) is not None else None
    rows = report.get("patches") if report else None
    if isinstance(rows, list):
        return rows, f"as applied by the running instance of {state_dir.resolve()}"
    checked = subprocess.run(
        [sys.executable, "-m", PATCH_CHECK_MODULE],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROJECT_ROOT,
    )
    try:
        document = json.loads(checked.stdout)
    except ValueError as error:
        raise LocalStackError(
            f"checking the patch registry failed ({checked.returncode}): {checked.stderr[-2000:]}"
        ) from error
    problem = document.get("version_problem")
    where = "not running: targets checked against the installed LocalStack, nothing applied"
    return list(document["patches"]), where + (f" ({problem})" if problem else "")


def _run_patches(state_dir: Path, as_json: bool) -> int:
    rows, where = patch_rows(state_dir)
    if as_json:
        print(json.dumps({"source": where, "patches": rows}, indent=1))
    else:
        print(f"local patches: {where}")
        for row in rows:
            applied = {True: "applied", False: "NOT applied", None: "-"}[row.get("applied")]
            targets = list(row.get("targets", []))
            more = f" (+{len(targets) - 1} more)" if len(targets) > 1 else ""
            print(f"  {applied:<12}{row['kind']:<15}{row['name']:<34}{targets[0]}{more}")
            for problem in row.get("problems", []):
                print(f"      problem: {problem}")
    broken = [row for row in rows if row.get("problems")]
    return 1 if broken else 0
