"""The Lambda runtime inside one host execution environment (standard library only).

Started by :mod:`localstack_plugins.lambda_host.executor` as
``<python of the function's runtime> -I -S -u worker.py``: isolated (no user site, no
``PYTHON*`` variables) and without ``site``, so the only importable code is the standard library
plus the function package itself (``LAMBDA_TASK_ROOT``), as on AWS Lambda.

Protocol (LocalStack's runtime API, see ``localstack/services/lambda_/invocation``):
- the executor hands over a listening socket (``LOCALSTACK_WORKER_FD``); once the handler is
  imported the worker POSTs ``<endpoint>/status/<runtime id>/ready`` (or ``/error`` with Lambda's
  init error document) to LocalStack;
- the executor POSTs ``{"invoke-id", "invoked-function-arn", "payload", "trace-id"}`` to
  ``/invoke`` on a kept-alive connection; the worker answers that request when the handler has
  returned: ``X-Lambda-Result: response`` (the result) or ``error`` (Lambda's error document).
  Answering in the same request instead of calling LocalStack's gateway back saves two HTTP
  round trips per invocation; the executor hands the result to LocalStack exactly as the
  callback would.

Logs go to stdout/stderr, which the executor points at a per-environment file; the executor
reads each invocation's slice of that file, so output of C extensions and child processes is
captured as well.
"""

from __future__ import annotations

import http.server
import importlib
import json
import os
import queue
import socket
import sys
import threading
import time
import traceback
import urllib.request
from collections.abc import Callable
from typing import Any

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class LambdaContext:
    """The subset of the AWS Lambda Python context object that handlers use."""

    def __init__(self, request_id: str, function_arn: str, deadline: float) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity: object | None = None
        self.client_context: object | None = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _post(path: str, body: bytes) -> None:
    url = os.environ["LOCALSTACK_RUNTIME_ENDPOINT"] + path
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - http URL
    request.add_header("Content-Type", "application/json")
    with _OPENER.open(request, timeout=30) as response:
        response.read()


#: What the main thread hands back to the request that carried the invocation.
Result = tuple[str, bytes]
Invocation = tuple[dict[str, Any], "queue.Queue[Result]"]


def _error_document(error: BaseException, request_id: str) -> dict[str, Any]:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename != __file__]
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }


def _log_error(document: dict[str, Any]) -> None:
    lines = [f"[ERROR] {document['errorType']}: {document['errorMessage']}"]
    if document.get("stackTrace"):
        lines.append("Traceback (most recent call last):")
        lines.extend(line.rstrip("\n") for line in document["stackTrace"])
    sys.stdout.write("\r".join(lines) + "\n")


def _load_handler() -> Callable[[Any, LambdaContext], Any]:
    handler = os.environ["_HANDLER"]
    module_name, _, function_name = handler.rpartition(".")
    if not module_name:
        raise ValueError(f"Bad handler '{handler}': expected <module>.<function>")
    module = importlib.import_module(module_name.replace("/", "."))
    function = getattr(module, function_name, None)
    if function is None:
        raise AttributeError(f"Handler '{function_name}' missing on module '{module_name}'")
    return function  # type: ignore[no-any-return]


def _max_memory_mb() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:  # noqa: PTH123
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


class _InvokeServer(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one connection per environment
    invocations: queue.Queue[Invocation]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        answer: queue.Queue[Result] = queue.Queue(maxsize=1)
        self.invocations.put((json.loads(body), answer))
        kind, result = answer.get()
        self.send_response(200)
        self.send_header("X-Lambda-Result", kind)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(result)))
        self.end_headers()
        self.wfile.write(result)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep LocalStack's requests out of the function's logs."""


def _serve(invocations: queue.Queue[Invocation]) -> None:
    listener = socket.socket(fileno=int(os.environ["LOCALSTACK_WORKER_FD"]))

    class Handler(_InvokeServer):
        pass

    Handler.invocations = invocations
    server = http.server.ThreadingHTTPServer(
        listener.getsockname(), Handler, bind_and_activate=False
    )
    server.daemon_threads = True
    server.socket = listener
    threading.Thread(target=server.serve_forever, name="invoke-server", daemon=True).start()


def _invoke(
    handler: Callable[[Any, LambdaContext], Any], invocation: dict[str, Any], init_ms: float | None
) -> Result:
    request_id = str(invocation["invoke-id"])
    timeout = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
    started = time.monotonic()
    context = LambdaContext(request_id, str(invocation["invoked-function-arn"]), started + timeout)
    os.environ["_X_AMZN_TRACE_ID"] = str(invocation.get("trace-id") or "")
    version = context.function_version
    sys.stdout.write(f"START RequestId: {request_id} Version: {version}\n")
    kind = "response"
    try:
        result = handler(json.loads(invocation["payload"] or "null"), context)
        body = json.dumps(result).encode()
    except Exception as error:  # noqa: BLE001 - reported to the caller like Lambda does
        document = _error_document(error, request_id)
        _log_error(document)
        kind = "error"
        body = json.dumps(document).encode()
    duration_ms = (time.monotonic() - started) * 1000
    report = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {int(duration_ms) + 1} ms\t"
        f"Memory Size: {context.memory_limit_in_mb} MB\tMax Memory Used: {_max_memory_mb()} MB\t"
    )
    if init_ms is not None:
        report += f"Init Duration: {init_ms:.2f} ms\t"
    sys.stdout.write(f"END RequestId: {request_id}\n{report}\n")
    sys.stdout.flush()
    sys.stderr.flush()
    return kind, body


def _exit_with_parent() -> None:
    """Leave no orphan behind when LocalStack dies without stopping its environments."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def main() -> None:
    threading.Thread(target=_exit_with_parent, name="parent-watch", daemon=True).start()
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    sys.path.insert(0, task_root)
    os.chdir(task_root)
    invocations: queue.Queue[Invocation] = queue.Queue()
    _serve(invocations)
    runtime_id = os.environ["LOCALSTACK_RUNTIME_ID"]
    init_started = time.monotonic()
    try:
        handler = _load_handler()
    except Exception as error:  # noqa: BLE001 - an init error is reported, not raised
        document = _error_document(error, "")
        if isinstance(error, ImportError):
            module = os.environ["_HANDLER"].rpartition(".")[0]
            document["errorType"] = "Runtime.ImportModuleError"
            document["errorMessage"] = f"Unable to import module '{module}': {error}"
            document["stackTrace"] = []
        _log_error(document)
        sys.stdout.flush()
        _post(f"/status/{runtime_id}/error", json.dumps(document).encode())
        return
    init_ms: float | None = (time.monotonic() - init_started) * 1000
    _post(f"/status/{runtime_id}/ready", b"{}")
    while True:
        invocation, answer = invocations.get()
        answer.put(_invoke(handler, invocation, init_ms))
        init_ms = None


if __name__ == "__main__":
    main()
