"""One Lambda execution environment: the runtime loop of a worker process.

Run by file path as `python -I -S bootstrap.py --request-fd N --response-fd M --sys-path DIR ...`,
so the function sees neither our virtualenv nor `local_cloud`: this file imports the standard
library only. The parent (local_cloud.lambda_runtime.worker) also imports the framing helpers
from here, so both ends share one definition of the protocol.

Protocol: length-prefixed JSON frames on two dedicated pipes. stdout and stderr are not used
for it: they belong to the function and are its logs, exactly as in Lambda.

  worker -> parent  {"type": "init", "error": null | {...}}             once, after import
  parent -> worker  {"type": "invoke", "request_id", "event", "deadline_ms", "invoked_function_arn",
                     "fault": {...}}                                     "fault" optional
  worker -> parent  {"type": "fault", "request_id", "id", "action", "after_calls", "calls",
                     "call": "POST http://... -> 200" | null}            only if the fault acts
  worker -> parent  {"type": "result", "payload": "<json text>" | null, "error": null | {...},
                     "max_memory_used_mb": int}                       its own peak RSS

The error objects have Lambda's shape: errorMessage, errorType, stackTrace, requestId.

`fault` injects a fault into this invocation only (local_cloud/endpoint_faults.py, claimed by
the parent): {"id": 3, "action": "crash" | "hang", "after_calls": N, "call_matching": null |
"<substring of the URL>"}. The worker counts the outgoing HTTP calls of the invocation whose
answer arrived (http.client's getresponse, which botocore and requests reach through
urllib3), those whose URL contains call_matching if given; after the N-th (N = 0: before the
handler runs) it sends the "fault" frame and acts: crash kills the process with SIGKILL
(Lambda: Runtime.ExitError, "signal: killed"; the next invocation is cold), hang sleeps past
the deadline, so the parent kills it there (Sandbox.Timedout). No result frame follows.
A pause ({"action": "pause", ..., "until_fault": 5, "until_count": 2, "max_pause_ms": M,
"endpoint_url": "http://127.0.0.1:..."}) holds the invocation there instead, between two
calls, until the endpoint lists `until_count` firings of its fault 5 (or M ms passed), sends
a second "fault" frame with "resumed" and "paused_ms", and lets the handler go on.
"""

from __future__ import annotations

import argparse
import decimal
import importlib
import json
import logging
import os
import resource
import signal
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

FRAME_HEADER = struct.Struct("!I")
MAX_RESPONSE_BYTES = 6 * 1024 * 1024  # Lambda's synchronous response payload limit

Handler = Callable[[Any, Any], Any]


def encode_frame(message: dict[str, Any]) -> bytes:
    data = json.dumps(message, separators=(",", ":")).encode("utf-8")
    return FRAME_HEADER.pack(len(data)) + data


def write_frame(fd: int, message: dict[str, Any]) -> None:
    view = memoryview(encode_frame(message))
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = os.read(fd, remaining)
        if not chunk:
            if chunks:
                raise EOFError(f"pipe closed after {size - remaining} of {size} bytes")
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> dict[str, Any] | None:
    """The next message, or None when the other end closed the pipe."""
    header = _read_exactly(fd, FRAME_HEADER.size)
    if header is None:
        return None
    (length,) = FRAME_HEADER.unpack(header)
    body = _read_exactly(fd, length)
    if body is None:
        raise EOFError("pipe closed between a frame's header and its body")
    message: dict[str, Any] = json.loads(body)
    return message


class CognitoIdentity:
    cognito_identity_id = None
    cognito_identity_pool_id = None


class LambdaContext:
    """The context object, attribute for attribute as the python3.13 runtime builds it.

    memory_limit_in_mb is a string there too (read from the environment).
    """

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = None
        self.client_context = None
        self.identity = CognitoIdentity()
        self._epoch_deadline_time_in_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        remaining = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def log(self, message: str) -> None:
        sys.stdout.write(message)
        sys.stdout.flush()

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"function_name={self.function_name},"
            f"invoked_function_arn={self.invoked_function_arn}])"
        )


class _LambdaJsonEncoder(json.JSONEncoder):
    """The runtime marshals Decimal (what DynamoDB returns) as a number; so do we."""

    def default(self, o: Any) -> Any:
        if isinstance(o, decimal.Decimal):
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


def _stack_trace(tb: Any) -> list[str]:
    # The runtime's own frames are not the function's business; Lambda hides them too.
    frames = [f for f in traceback.extract_tb(tb) if f.filename != __file__]
    return traceback.format_list(frames)


def _error(
    error_type: str, message: str, request_id: str | None, stack: list[str]
) -> dict[str, Any]:
    error: dict[str, Any] = {"errorMessage": message, "errorType": error_type}
    if request_id is not None:
        error["requestId"] = request_id
    error["stackTrace"] = stack
    return error


def _log_error(error: dict[str, Any]) -> None:
    # Lambda's runtime prints this line to the function's log for every error it reports.
    trace = "".join(error.get("stackTrace") or [])
    suffix = f"\rTraceback (most recent call last):\r{trace}" if trace else ""
    print(f"[ERROR] {error['errorType']}: {error['errorMessage']}{suffix}", file=sys.stderr)


def load_handler(handler_name: str) -> tuple[Handler | None, dict[str, Any] | None]:
    """Import the handler's module (the init phase). Errors carry the runtime's errorTypes."""
    try:
        module_name, attribute = handler_name.rsplit(".", 1)
    except ValueError as exc:
        return None, _error(
            "Runtime.MalformedHandlerName", f"Bad handler '{handler_name}': {exc}", None, []
        )
    try:
        if module_name.split(".")[0] in sys.builtin_module_names:
            return None, _error(
                "Runtime.BuiltInModuleConflict",
                f"Cannot use built-in module {module_name} as a handler module",
                None,
                [],
            )
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        return None, _error(
            "Runtime.ImportModuleError",
            f"Unable to import module '{module_name}': {exc}",
            None,
            [],
        )
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        return None, _error(
            "Runtime.UserCodeSyntaxError",
            f"Syntax error in module '{module_name}': {exc}",
            None,
            trace,
        )
    except Exception as exc:
        return None, _error(type(exc).__name__, str(exc), None, _stack_trace(exc.__traceback__))
    handler = getattr(module, attribute, None)
    if handler is None:
        return None, _error(
            "Runtime.HandlerNotFound",
            f"Handler '{attribute}' missing on module '{module_name}'",
            None,
            [],
        )
    return handler, None


# ------------------------------------------------------------- injected faults

HANG_GRACE_SECONDS = 30.0  # a hung worker nobody killed (its parent is gone) ends itself
# A pause reads the endpoint's fault listing this often: it ends at most this late after its
# condition was met, for 20 loopback GETs a second while it lasts (one pause at a time, in
# tests that stage an overlap).
PAUSE_POLL_SECONDS = 0.05
FAULTS_PATH = "/_local_cloud/faults"  # local_cloud.endpoint_faults.FAULTS_PATH (stdlib only here)


def kill_self() -> None:
    """What a crash fault does: SIGKILL, as the kernel or an OOM kill would end it."""
    os.kill(os.getpid(), signal.SIGKILL)


class OutgoingCallFault:
    """A crash, hang or pause injected into one invocation: it acts once the
    `after_calls`-th outgoing HTTP call matching `call_matching` got its answer (or before
    the handler, for after_calls 0). Calls from every thread of the invocation count.

    `report` sends the "fault" frame; it is sent, and a crash or hang acts, under the
    fault's lock, and `end()` takes that lock, so no fault frame can follow the result
    frame. A pause waits outside the lock (other threads' calls go on meanwhile), in the
    thread whose answer made it act, until the endpoint fault `until_fault` lists
    `until_count` firings (`firings` reads them) or `max_pause_ms` passed; then a second
    frame says how it ended ("resumed": "condition" | "limit", "paused_ms") and the
    invocation goes on.
    """

    def __init__(
        self,
        spec: dict[str, Any],
        *,
        request_id: str,
        deadline_ms: int,
        report: Callable[[dict[str, Any]], None],
        kill: Callable[[], None] | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        firings: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.id = spec.get("id")
        self.action = spec["action"]
        self.after_calls = int(spec.get("after_calls") or 0)
        self.call_matching: str | None = spec.get("call_matching")
        self.until_fault = spec.get("until_fault")
        self.until_count = int(spec.get("until_count") or 1)
        self.max_pause_ms = int(spec.get("max_pause_ms") or 0)
        self.endpoint_url: str | None = spec.get("endpoint_url")
        self.request_id = request_id
        self.deadline_ms = deadline_ms
        self.calls = 0
        self.finished = False
        self._ended = False
        self._acted_call: str | None = None
        self._report = report
        self._kill = kill or kill_self
        self._sleep = sleep or time.sleep
        self._clock = clock or time.monotonic
        self._firings = firings or self._listed_firings
        self._lock = threading.Lock()

    def before_handler(self) -> None:
        if self.after_calls == 0:
            with self._lock:
                acted = self._act(None)
            if acted and self.action == "pause":
                self._pause()

    def response_arrived(self, method: str, url: str, status: int) -> None:
        """An outgoing call got its answer (status line and headers)."""
        if self.call_matching is not None and self.call_matching not in url:
            return
        with self._lock:
            if self.finished:
                return
            self.calls += 1
            acted = self.calls >= self.after_calls and self._act(f"{method} {url} -> {status}")
        if acted and self.action == "pause":
            self._pause()

    def end(self) -> None:
        """The handler returned or raised: the fault can no longer act."""
        with self._lock:
            self.finished = True
            self._ended = True

    def _pause(self) -> None:
        """Wait for the condition, polling, at most max_pause_ms; then report how it ended."""
        started = self._clock()
        limit = started + self.max_pause_ms / 1000
        resumed = "limit"
        while True:
            if self._condition_met():
                resumed = "condition"
                break
            if self._clock() >= limit:
                break
            self._sleep(PAUSE_POLL_SECONDS)
        paused_ms = round((self._clock() - started) * 1000)
        why = f"fault {self.until_fault} fired" if resumed == "condition" else "its limit"
        print(
            f"[local cloud] injected fault {self.id}: pause over after {paused_ms} ms ({why})",
            file=sys.stderr,
        )
        _flush_logs()
        with self._lock:
            if self._ended:  # cannot happen while this thread is in the handler's call
                return
            self._report(
                {
                    "type": "fault",
                    "request_id": self.request_id,
                    "id": self.id,
                    "action": self.action,
                    "after_calls": self.after_calls,
                    "calls": self.calls,
                    "call": self._acted_call,
                    "resumed": resumed,
                    "paused_ms": paused_ms,
                }
            )

    def _condition_met(self) -> bool:
        try:
            firings = self._firings()
        except (OSError, ValueError) as error:  # the endpoint busy or gone: ask again
            print(f"[local cloud] pause: reading the faults failed: {error}", file=sys.stderr)
            return False
        done = [
            firing
            for firing in firings
            if firing.get("id") == self.until_fault
            and firing.get("service") != "lambda"
            # a phase-after firing is listed when its request arrives; it counts once moto
            # answered it, so the call it stands for has had its effect
            and (firing.get("phase") != "after" or "executed_status" in firing)
        ]
        return len(done) >= self.until_count

    def _listed_firings(self) -> list[dict[str, Any]]:
        """The endpoint's latest firings (GET FAULTS_PATH), straight to it, never a proxy."""
        import urllib.request

        if not self.endpoint_url:
            raise ValueError("no endpoint_url to read the faults from")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.endpoint_url.rstrip("/") + FAULTS_PATH, timeout=5) as answer:
            listing = json.load(answer)
        fired = listing.get("fired") if isinstance(listing, dict) else None
        if not isinstance(fired, list):
            raise ValueError(f"the fault listing has no list of firings: {listing!r:.200}")
        return [firing for firing in fired if isinstance(firing, dict)]

    def _act(self, call: str | None) -> bool:
        if self.finished:
            return False
        self.finished = True
        self._acted_call = call
        where = f"after outgoing call {self.calls} ({call})" if call else "before the handler ran"
        if self.call_matching is not None:
            where += f", counting calls matching {self.call_matching!r}"
        print(f"[local cloud] injected fault {self.id}: {self.action} {where}", file=sys.stderr)
        _flush_logs()
        self._report(
            {
                "type": "fault",
                "request_id": self.request_id,
                "id": self.id,
                "action": self.action,
                "after_calls": self.after_calls,
                "calls": self.calls,
                "call": call,
            }
        )
        if self.action == "pause":  # the caller pauses, outside the lock
            return True
        if self.action == "hang":  # the parent kills us at the deadline
            self._sleep(max(0.0, self.deadline_ms / 1000 - time.time()) + HANG_GRACE_SECONDS)
        self._kill()
        return True


_current_fault: OutgoingCallFault | None = None


def install_call_counting() -> None:
    """Wrap http.client's putrequest (to remember the URL) and getresponse (to count the
    answer) once, for every connection class deriving from HTTPConnection (urllib3's,
    botocore's, requests'). Transparent while no fault is armed."""
    import http.client

    connection = http.client.HTTPConnection
    if connection.__dict__.get("_local_cloud_counting"):
        return
    original_putrequest = connection.__dict__["putrequest"]
    original_getresponse = connection.__dict__["getresponse"]
    https = getattr(http.client, "HTTPSConnection", None)

    def putrequest(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        self._local_cloud_request = (method, url)
        return original_putrequest.__get__(self, type(self))(method, url, *args, **kwargs)

    def getresponse(self: Any, *args: Any, **kwargs: Any) -> Any:
        response = original_getresponse.__get__(self, type(self))(*args, **kwargs)
        fault = _current_fault
        if fault is not None:
            method, url = getattr(self, "_local_cloud_request", ("?", ""))
            if not url.startswith(("http://", "https://")):
                scheme = "https" if https is not None and isinstance(self, https) else "http"
                url = f"{scheme}://{self.host}:{self.port}{url}"
            fault.response_arrived(method, url, response.status)
        return response

    connection.putrequest = putrequest  # type: ignore[method-assign]
    connection.getresponse = getresponse  # type: ignore[method-assign]
    connection._local_cloud_counting = True  # type: ignore[attr-defined]


def _unsampled_trace_header() -> str:
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    return f"Root={root};Parent={os.urandom(8).hex()};Sampled=0"


def run_invocation(
    handler: Handler,
    request: dict[str, Any],
    report_fault: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Call the handler once and marshal its result or its error as Lambda does.

    report_fault sends a "fault" frame, if the request carries a fault that acts.
    """
    global _current_fault, _current_request_id
    request_id = request["request_id"]
    _current_request_id = request_id
    context = LambdaContext(request_id, request["deadline_ms"], request["invoked_function_arn"])
    # Lambda sets the trace header for every invocation. No X-Ray daemon runs here, so the
    # trace is not sampled: Tracer works as on AWS and sends nothing.
    os.environ["_X_AMZN_TRACE_ID"] = _unsampled_trace_header()
    fault: OutgoingCallFault | None = None
    if request.get("fault"):
        fault = OutgoingCallFault(
            request["fault"],
            request_id=request_id,
            deadline_ms=request["deadline_ms"],
            report=report_fault or (lambda _frame: None),
        )
        if fault.after_calls:
            install_call_counting()
    payload: str | None = None
    error: dict[str, Any] | None = None
    try:
        _current_fault = fault
        if fault is not None:
            fault.before_handler()
        result = handler(request["event"], context)
    except Exception as exc:
        error = _error(type(exc).__name__, str(exc), request_id, _stack_trace(exc.__traceback__))
    else:
        try:
            payload = json.dumps(result, cls=_LambdaJsonEncoder)
        except (TypeError, ValueError) as exc:
            error = _error(
                "Runtime.MarshalError", f"Unable to marshal response: {exc}", request_id, []
            )
        else:
            if len(payload.encode("utf-8")) > MAX_RESPONSE_BYTES:
                size = len(payload.encode("utf-8"))
                payload = None
                error = _error(
                    "Function.ResponseSizeTooLarge",
                    f"Response payload size ({size} bytes) exceeded maximum allowed payload "
                    f"size ({MAX_RESPONSE_BYTES} bytes).",
                    request_id,
                    [],
                )
    finally:
        _current_fault = None
        if fault is not None:
            fault.end()
    if error is not None:
        _log_error(error)
    return {
        "type": "result",
        "payload": payload,
        "error": error,
        "max_memory_used_mb": peak_memory_mb(),
    }


# The request being handled, for the log records of the logging module (Lambda's filter)
_current_request_id = ""


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _current_request_id
        return True


def install_log_handler() -> logging.Handler:
    """What Lambda's Python runtime gives the root logger: a handler writing each record to
    the function's log as `[LEVEL]\t<UTC time>Z\t<request ID>\t<message>`. The level stays
    the logging module's (WARNING) until the function sets another, as on Lambda, where a
    function's `logging.getLogger().setLevel(logging.INFO)` makes its info records appear."""
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    logging.getLogger().addHandler(handler)
    return handler


def peak_memory_mb() -> int:
    """This process's peak RSS in MB (rounded up), the figure the parent reports where it
    cannot read our memory itself (no /proc).

    Not getrusage's ru_maxrss on Linux: the kernel carries the high-water mark of the
    process image we were exec'ed from (the parent's, after its fork) into it, so a worker
    started by a 200 MB local cloud read 200 MB there while its own peak was 40 MB.
    VmHWM is the peak of this image only.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return -(-int(line.split()[1]) // 1024)  # kB
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # bytes on macOS, kB elsewhere
    return -(-peak // (1024 * 1024)) if sys.platform == "darwin" else -(-peak // 1024)


def _flush_logs() -> None:
    # The parent reads the log file once our result arrives: everything must be written by then.
    sys.stdout.flush()
    sys.stderr.flush()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--request-fd", type=int, required=True)
    parser.add_argument("--response-fd", type=int, required=True)
    parser.add_argument("--sys-path", action="append", default=[])
    args = parser.parse_args(argv)

    # Lambda's order: /var/task, the layers, /var/runtime, then the standard library.
    sys.path[:0] = args.sys_path
    # Lines reach the log as they are printed, so a worker killed at its timeout loses nothing.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    install_log_handler()

    handler, init_error = load_handler(os.environ["_HANDLER"])
    if init_error is not None:
        _log_error(init_error)
    _flush_logs()
    write_frame(args.response_fd, {"type": "init", "error": init_error})
    if handler is None:
        return 1
    while True:
        request = read_frame(args.request_fd)
        if request is None:  # the parent closed the pipe: the environment is shut down
            return 0
        response = run_invocation(
            handler, request, lambda frame: write_frame(args.response_fd, frame)
        )
        _flush_logs()
        write_frame(args.response_fd, response)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
