"""Serve HTTP APIs on loopback like `sam local start-api`: each request becomes an API
Gateway proxy event, invokes its function through the Lambda service, and the result
becomes the response. One thread per request; the function's concurrency limit applies."""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from local_cloud.http_api.events import (
    HttpResponse,
    MalformedResponse,
    RequestContext,
    build_event,
    function_response,
    internal_server_error,
    message_response,
    now,
)
from local_cloud.http_api.routing import Router
from local_cloud.lambda_runtime import LambdaServiceError, Throttled
from local_cloud.model import HttpApiSpec

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000  # sam local start-api's

logger = logging.getLogger("local_cloud.http_api")

AccessLog = Callable[[str, str], None]  # (API logical ID, line)


class FunctionInvoker(Protocol):
    """LambdaService.invoke: a synchronous invocation returning an InvocationResult."""

    def invoke(self, function_name_or_logical_id: str, event: Any) -> Any: ...


class HttpApiError(RuntimeError):
    pass


class HttpApiApp:
    """The WSGI application: route, build the event, invoke, map the result."""

    def __init__(
        self,
        apis: Iterable[HttpApiSpec],
        invoker: FunctionInvoker,
        *,
        account_id: str = "123456789012",
        access_log: AccessLog | None = None,
    ) -> None:
        self.router = Router(apis)
        self._invoker = invoker
        self._account_id = account_id
        self._access_log = access_log

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        match = self.router.match(request.method, request.path)
        if match is None:
            answer, target, api = message_response(404, "Not Found"), "no route", "-"
        else:
            target, api = match.route.function_logical_id, match.api_logical_id
            context = RequestContext(request_id, now(), self._account_id)
            event = build_event(request, match, context)
            answer = self._invoke(target, event, match.route.payload_format_version)
        line = (
            f"{request.method} {request.full_path.rstrip('?')} -> {answer.status} "
            f"({target}, {(time.perf_counter() - started) * 1000:.0f} ms, {request_id})"
        )
        logger.info("%s", line)
        if self._access_log is not None:
            self._access_log(api, line)
        response = Response(answer.body, status=answer.status)
        del response.headers["Content-Type"]  # only what the function or API Gateway set
        for name, value in answer.headers:
            response.headers.add(name, value)
        response.headers["apigw-requestid"] = request_id
        return response(environ, start_response)

    def _invoke(self, function: str, event: dict[str, Any], version: str) -> HttpResponse:
        try:
            result = self._invoker.invoke(function, event)
        except Throttled:
            return message_response(429, "Too Many Requests")
        except LambdaServiceError as error:
            logger.error("%s: invocation failed: %s", function, error)
            return internal_server_error()
        if result.error is not None:
            # An unhandled error, a timeout or a crash: API Gateway hides the detail.
            logger.info("%s: function error %s", function, result.error.get("errorType"))
            return internal_server_error()
        try:
            return function_response(result.payload, result.raw_payload, version)
        except MalformedResponse as error:
            logger.error("%s: malformed Lambda proxy response: %s", function, error)
            return internal_server_error()


class _RequestHandler(WSGIRequestHandler):
    """werkzeug's own access lines off: HttpApiApp logs one line per request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_error(self, format: str, *args: Any) -> None:
        logger.warning(format, *args)


@dataclass
class HttpApiServer:
    url: str
    app: HttpApiApp
    _server: BaseWSGIServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def port(self) -> int:
        return int(self._server.port)

    def stop(self) -> None:
        """Stop accepting requests and close the socket (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    def __enter__(self) -> HttpApiServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_http_api(
    apis: Iterable[HttpApiSpec],
    invoker: FunctionInvoker,
    *,
    host: str = DEFAULT_HOST,
    port: int | None = DEFAULT_PORT,
    account_id: str = "123456789012",
    access_log: AccessLog | None = None,
) -> HttpApiServer:
    """Serve in a background thread; port=None or 0 picks a free port (for tests)."""
    app = HttpApiApp(apis, invoker, account_id=account_id, access_log=access_log)
    # Bind first, so a port in use is an exception here (werkzeug would sys.exit).
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port or 0))
        listener.listen(128)
    except OSError as error:
        listener.close()
        raise HttpApiError(
            f"cannot serve the HTTP API on {host}:{port}: {error.strerror}; stop what uses the "
            "port or pick another (0 picks a free one)"
        ) from error
    try:
        server = make_server(
            host,
            listener.getsockname()[1],
            app,
            threaded=True,
            request_handler=_RequestHandler,
            fd=listener.fileno(),
        )
    finally:
        listener.close()  # the server holds its own duplicate of the socket
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},
        name=f"http-api-{server.port}",
        daemon=True,  # a test that forgets stop() must not hang the interpreter at exit
    )
    thread.start()
    url = f"http://{host}:{server.port}"
    logger.info("HTTP API served on %s", url)
    return HttpApiServer(url=url, app=app, _server=server, _thread=thread)
