"""One Lambda execution environment: the runtime loop of a worker process.

Run by file path as `python -I -S bootstrap.py --request-fd N --response-fd M --sys-path DIR ...`,
so the function sees neither our virtualenv nor `local_cloud`: this file imports the standard
library only. The parent (local_cloud.lambda_runtime.worker) also imports the framing helpers
from here, so both ends share one definition of the protocol.

Protocol: length-prefixed JSON frames on two dedicated pipes. stdout and stderr are not used
for it: they belong to the function and are its logs, exactly as in Lambda.

  worker -> parent  {"type": "init", "error": null | {...}}             once, after import
  parent -> worker  {"type": "invoke", "request_id", "event", "deadline_ms", "invoked_function_arn"}
  worker -> parent  {"type": "result", "payload": "<json text>" | null, "error": null | {...},
                     "max_memory_used_mb": int}

The error objects have Lambda's shape: errorMessage, errorType, stackTrace, requestId.
"""

from __future__ import annotations

import argparse
import decimal
import importlib
import json
import os
import resource
import struct
import sys
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


def _unsampled_trace_header() -> str:
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    return f"Root={root};Parent={os.urandom(8).hex()};Sampled=0"


def run_invocation(handler: Handler, request: dict[str, Any]) -> dict[str, Any]:
    """Call the handler once and marshal its result or its error as Lambda does."""
    request_id = request["request_id"]
    context = LambdaContext(request_id, request["deadline_ms"], request["invoked_function_arn"])
    # Lambda sets the trace header for every invocation. No X-Ray daemon runs here, so the
    # trace is not sampled: Tracer works as on AWS and sends nothing.
    os.environ["_X_AMZN_TRACE_ID"] = _unsampled_trace_header()
    payload: str | None = None
    error: dict[str, Any] | None = None
    try:
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
    if error is not None:
        _log_error(error)
    return {
        "type": "result",
        "payload": payload,
        "error": error,
        "max_memory_used_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


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
        response = run_invocation(handler, request)
        _flush_logs()
        write_frame(args.response_fd, response)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
