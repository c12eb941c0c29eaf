"""LocalStack runtime executor that runs Python functions as host processes (no Docker).

One execution environment = one worker process (:mod:`.worker`) started with the interpreter of
the function's runtime, isolated so that only the function package is importable. The executor
enforces what the Lambda service enforces outside the function: the timeout (the worker is
killed and the invocation fails with ``Sandbox.Timedout``), the memory size (resident memory is
watched; over the limit the worker is killed with ``Runtime.OutOfMemory``), the 6 MB response
limit (``Function.ResponseSizeTooLarge``) and a dead runtime (``Runtime.ExitError``). A killed
environment is started again on the next invocation, as Lambda does.

Per invocation the executor POSTs the event to the worker on one kept-alive connection and takes
the result from that request's answer (see :mod:`.worker`); resident memory is polled only while
the environment initialises or runs an invocation (between invocations a Lambda sandbox is
frozen and cannot grow), by one thread for every environment (:class:`_MemoryWatch`); each
environment's exit is awaited by a thread blocked in ``waitpid``, which costs nothing meanwhile.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

from localstack import config
from localstack.http import Response
from localstack.services.lambda_.invocation.executor_endpoint import (
    ExecutorEndpoint,
    StatusErrorException,
)
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import RuntimeExecutor
from werkzeug import Request

from localstack_plugins.lambda_host.interpreters import interpreter_for
from pipeline.contract.limits import LAMBDA_RESPONSE_LIMIT_BYTES

LOG = logging.getLogger(__name__)

#: Lambda's synchronous response limit as the service reports it.
MAX_RESPONSE_BYTES = LAMBDA_RESPONSE_LIMIT_BYTES
WORKER_SCRIPT = Path(__file__).with_name("worker.py")
MEMORY_POLL_SECONDS = 0.05
PAGE_MB = os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
STARTUP_DEADLINE_SECONDS = float(config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT)
#: PATH of the Lambda Python runtimes, minus /var/lang/bin (the interpreter is given by path).
LAMBDA_PATH = "/usr/local/bin:/usr/bin:/bin"


def _error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


class _ResidentMemory:
    """Resident set size of one process, read from ``/proc/<pid>/statm`` through one open fd."""

    def __init__(self, pid: int) -> None:
        self._lock = threading.Lock()  # read by the memory watch, closed by the exit watcher
        try:
            self._fd: int | None = os.open(f"/proc/{pid}/statm", os.O_RDONLY)
        except OSError:
            self._fd = None

    def megabytes(self) -> float:
        with self._lock:
            if self._fd is None:
                return 0.0
            try:
                return int(os.pread(self._fd, 256, 0).split()[1]) * PAGE_MB
            except (OSError, ValueError, IndexError):
                return 0.0

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class _MemoryWatch:
    """Enforces the memory size of every active environment from one thread.

    An environment is active while it initialises or runs an invocation. With a polling thread
    per environment, the ~20 environments of a backlog woke the LocalStack process ~400 times a
    second (7 % of its GIL samples in py-spy); one thread polls them all every
    ``MEMORY_POLL_SECONDS`` and sleeps while none is active.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: set[HostRuntimeExecutor] = set()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def activate(self, executor: HostRuntimeExecutor) -> None:
        with self._lock:
            self._active.add(executor)
            self._wake.set()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="lambda-host-memory", daemon=True
                )
                self._thread.start()

    def deactivate(self, executor: HostRuntimeExecutor) -> None:
        with self._lock:
            self._active.discard(executor)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            with self._lock:
                active = list(self._active)
                if not active:
                    self._wake.clear()
                    continue
            for executor in active:
                try:
                    executor.check_memory()
                except Exception:  # the watch must outlive any one environment's trouble
                    LOG.exception("memory check of %s failed", executor.id)
            time.sleep(MEMORY_POLL_SECONDS)


_MEMORY_WATCH = _MemoryWatch()


def _settle(future: Future[InvocationResult], result: InvocationResult) -> None:
    """Set ``result`` unless the invocation was already settled (e.g. the runtime just died)."""
    with contextlib.suppress(InvalidStateError):
        future.set_result(result)


class _HostEndpoint(ExecutorEndpoint):
    """LocalStack's callback endpoint, with logs read from the environment's log file."""

    def __init__(self, executor: HostRuntimeExecutor) -> None:
        super().__init__(executor.id, container_address="127.0.0.1", container_port=None)
        self._executor = executor

    def _finish(self, req_id: str, payload: bytes, is_error: bool) -> Response:
        future = self.invocation_future
        if future is None or future.done():
            return Response(status=HTTPStatus.GONE)
        self.finish_invocation(future, req_id, payload, is_error)
        return Response(status=HTTPStatus.ACCEPTED)

    def finish_invocation(
        self, future: Future[InvocationResult], req_id: str, payload: bytes, is_error: bool
    ) -> None:
        """Hand an invocation's result to LocalStack (the response size limit applied)."""
        if not is_error and len(payload) > MAX_RESPONSE_BYTES:
            payload = _error_payload(
                "Function.ResponseSizeTooLarge",
                "Response payload size exceeded maximum allowed payload size "
                f"({MAX_RESPONSE_BYTES} bytes).",
            )
            is_error = True
        logs = self._executor.invocation_logs()
        _settle(future, InvocationResult(req_id, payload, is_error=is_error, logs=logs))

    def invocation_response(self, request: Request, req_id: str) -> Response:
        return self._finish(req_id, request.get_data(), is_error=False)

    def invocation_error(self, request: Request, req_id: str) -> Response:
        return self._finish(req_id, request.get_data(), is_error=True)

    def status_error(self, request: Request, executor_id: str) -> Response:
        future = self.startup_future
        if future is None or future.done():
            return Response(status=HTTPStatus.BAD_REQUEST)
        future.set_exception(StatusErrorException("Init error", payload=request.get_data()))
        return Response(status=HTTPStatus.ACCEPTED)


class HostRuntimeExecutor(RuntimeExecutor):
    """Runs one Lambda execution environment as a host process."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self._endpoint = _HostEndpoint(self)
        self._dir = Path(tempfile.gettempdir()) / "lambda-host" / id
        self._log_path = self._dir / "runtime.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._env: dict[str, str] = {}
        self._lock = threading.Lock()
        self._log_offset = 0
        self._request_id = ""
        self._kill_reasons: dict[int, str] = {}
        self._memory: _ResidentMemory | None = None  # of the current process
        self._connection: http.client.HTTPConnection | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def start(self, env_vars: dict[str, str]) -> None:
        self._env = {key: str(value) for key, value in env_vars.items()}
        self._endpoint.start()
        _MEMORY_WATCH.activate(self)
        try:
            self._spawn()
            self._endpoint.wait_for_startup()  # type: ignore[no-untyped-call]
        finally:
            _MEMORY_WATCH.deactivate(self)

    def stop(self) -> None:
        self._kill("stopped")
        self._close_connection()
        try:
            self._endpoint.shutdown()
        except KeyError:  # already unregistered
            LOG.debug("endpoint of %s already shut down", self.id)
        shutil.rmtree(self._dir, ignore_errors=True)

    def _spawn(self) -> None:
        config_ = self.function_version.config
        if config_.code is None:
            raise ValueError(f"{self.function_version.qualified_arn} has no zip code package")
        code_dir = config_.code.get_unzipped_code_location()
        tmp_dir = self._dir / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        listener = socket.create_server(("127.0.0.1", 0))
        self._endpoint.container_port = listener.getsockname()[1]
        env = {
            **self._env,
            "PATH": LAMBDA_PATH,
            "LANG": "en_US.UTF-8",
            "TMPDIR": str(tmp_dir),
            "LAMBDA_TASK_ROOT": str(code_dir),
            "LAMBDA_RUNTIME_DIR": str(WORKER_SCRIPT.parent),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{config_.runtime}",
            "LOCALSTACK_WORKER_FD": str(listener.fileno()),
        }
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - argv built from resolved paths
                [interpreter_for(config_.runtime), "-I", "-S", "-u", str(WORKER_SCRIPT)],
                env=env,
                cwd=code_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(listener.fileno(),),
            )
        listener.close()
        process = self._process
        memory = self._memory = _ResidentMemory(process.pid)
        threading.Thread(target=self._watch, args=(process, memory), daemon=True).start()

    def check_memory(self) -> None:
        """Kill the environment when its resident memory is over the function's memory size."""
        process, memory = self._process, self._memory
        if process is None or memory is None or process.returncode is not None:
            return
        if memory.megabytes() > float(self.function_version.config.memory_size):
            self._kill("oom")

    def _watch(self, process: subprocess.Popen[bytes], memory: _ResidentMemory) -> None:
        """Turn an unexpected exit of ``process`` into the pending call's error."""
        try:
            code = process.wait()
        finally:
            memory.close()
        reason = self._kill_reasons.pop(process.pid, "") or (
            f"signal: {signal.Signals(-code).name.lower()[3:]}"
            if code < 0
            else f"exit status {code}"
        )
        if reason in ("stopped", "timeout"):
            return
        startup = self._endpoint.startup_future
        if startup is not None and not startup.done():
            startup.set_exception(
                StatusErrorException(
                    "runtime exited during init",
                    payload=_error_payload(
                        "Runtime.ExitError",
                        f"RequestId:  Error: Runtime exited with error: {reason}",
                    ),
                )
            )
            return
        invocation = self._endpoint.invocation_future
        if invocation is None or invocation.done():
            return
        if reason == "oom":
            error_type, detail = "Runtime.OutOfMemory", "Runtime exited with error: signal: killed"
        else:
            error_type, detail = "Runtime.ExitError", f"Runtime exited with error: {reason}"
        self._append_log(f"RequestId: {self._request_id} Error: {detail}\n")
        _settle(
            invocation,
            InvocationResult(
                self._request_id,
                _error_payload(error_type, f"RequestId: {self._request_id} Error: {detail}"),
                is_error=True,
                logs=self.invocation_logs(),
            ),
        )

    def _kill(self, reason: str) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            self._kill_reasons[process.pid] = reason
            process.kill()
            process.wait()

    def _ensure_running(self) -> None:
        """Start the environment again after a timeout or crash, as Lambda does."""
        if self._process is not None and self._process.poll() is None:
            return
        self._close_connection()
        self._endpoint.startup_future = Future()
        self._spawn()
        self._endpoint.startup_future.result(timeout=STARTUP_DEADLINE_SECONDS)

    # --- invocation ------------------------------------------------------------------------
    def invocation_logs(self) -> str:
        try:
            with self._log_path.open("rb") as log:
                log.seek(self._log_offset)
                return log.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def _append_log(self, text: str) -> None:
        with self._log_path.open("a", encoding="utf-8") as log:
            log.write(text)

    def invoke(self, payload: dict[str, Any]) -> InvocationResult:
        request_id = str(payload["invoke-id"])
        with self._lock:
            _MEMORY_WATCH.activate(self)
            try:
                return self._invoke(request_id, payload)
            finally:
                _MEMORY_WATCH.deactivate(self)

    def _invoke(self, request_id: str, payload: dict[str, Any]) -> InvocationResult:
        try:
            self._ensure_running()
        except StatusErrorException as error:
            return InvocationResult(request_id, error.payload, is_error=True, logs="")
        self._request_id = request_id
        self._log_offset = self._log_path.stat().st_size
        future: Future[InvocationResult] = Future()
        self._endpoint.invocation_future = future
        timeout = float(self.function_version.config.timeout)
        deadline = time.monotonic() + timeout
        self._send(future, request_id, json.dumps(payload).encode(), timeout)
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            return self._timed_out(request_id, timeout)

    def _send(
        self, future: Future[InvocationResult], request_id: str, body: bytes, timeout: float
    ) -> None:
        """POST the invocation to the worker and settle ``future`` with its answer.

        A broken connection settles nothing: a dead runtime is reported by :meth:`_watch`, a
        function still running when the socket times out by the caller (``Sandbox.Timedout``).
        """
        if self._connection is None:
            self._connection = http.client.HTTPConnection(
                "127.0.0.1", self._endpoint.container_port, timeout=timeout
            )
        connection = self._connection
        try:
            connection.request(
                "POST", "/invoke", body, headers={"Content-Type": "application/json"}
            )
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
            response = connection.getresponse()
            result = response.read()
        except (OSError, http.client.HTTPException) as error:
            LOG.debug("invocation %s: runtime connection ended: %s", request_id, error)
            self._close_connection()
            return
        is_error = response.getheader("X-Lambda-Result") == "error"
        self._endpoint.finish_invocation(future, request_id, result, is_error)

    def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _timed_out(self, request_id: str, timeout: float) -> InvocationResult:
        self._endpoint.invocation_future = None
        self._kill("timeout")
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        memory = self.function_version.config.memory_size
        self._append_log(
            f"{stamp} {request_id} Task timed out after {timeout:.2f} seconds\n\n"
            f"END RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id}\tDuration: {timeout * 1000:.2f} ms\t"
            f"Billed Duration: {int(timeout * 1000)} ms\tMemory Size: {memory} MB\t"
            "Status: timeout\n"
        )
        return InvocationResult(
            request_id,
            _error_payload(
                "Sandbox.Timedout",
                f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
            ),
            is_error=True,
            logs=self.invocation_logs(),
        )

    # --- addressing --------------------------------------------------------------------------
    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        return "127.0.0.1"

    def get_runtime_endpoint(self) -> str:
        port = config.GATEWAY_LISTEN[0].port
        prefix = self._endpoint.get_endpoint_prefix()  # type: ignore[no-untyped-call]
        return f"http://127.0.0.1:{port}{prefix}"

    def get_logs(self) -> str:
        try:
            return self._log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    # --- versions ----------------------------------------------------------------------------
    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        interpreter_for(function_version.config.runtime)
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        """Nothing to undo: LocalStack removes the unzipped code itself."""

    @classmethod
    def validate_environment(cls) -> bool:
        return True
