"""Serve HTTP APIs and REST APIs on loopback like `sam local start-api`: each request becomes
an API Gateway proxy event, invokes its function through the Lambda service, and the result
becomes the response. A REST API is served under its stages (`/Prod/hello`, as AWS serves
https://{api}.execute-api.{region}.amazonaws.com/Prod/hello; local_cloud/http_api/rest.py),
an HTTP API at the root (its `$default` stage). One thread per request; the function's
concurrency limit applies.
A body over the HTTP API's 10 MB payload limit is refused with 413 as API Gateway does,
without reading it, and so is one whose event would be over Lambda's 6 MB.

What API Gateway's front door would stop, or what only a local server meets, stops here
before any function runs (local_cloud/http_guard.py): a request cut off before the end
of its head or body, or with a malformed Content-Length or chunked body, is a 400; a
browser request from a page of another site (an Origin that is not loopback) or one
addressed to a name that is not loopback (DNS rebinding) is a 403. Pages served from
localhost or 127.0.0.1, on any port, may call it."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request, Response

from local_cloud.errors import HttpApiError, PortUnavailable
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
from local_cloud.http_api.rest import (
    RestMatch,
    RestRouter,
    bad_gateway,
    build_rest_event,
    gateway_response,
    missing_authentication_token,
    rest_function_response,
)
from local_cloud.http_api.routing import Router
from local_cloud.http_api.service_integration import (
    RequestValues,
    request_values,
)
from local_cloud.http_guard import check_request
from local_cloud.lambda_runtime import LambdaServiceError, RequestTooLarge, Throttled
from local_cloud.model import HttpApiSpec, RestApiSpec, ServiceIntegrationSpec
from local_cloud.serving import ServedApp, serve_in_background
from local_cloud.settings import HTTP_API_PORT

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = HTTP_API_PORT  # sam local start-api's (the CLI reads it from local_cloud.settings)
# An HTTP API's payload quota is "10 MB"; above it API Gateway answers 413 and no
# integration runs. Counted as 10 MiB: API Gateway's own 413 text has been seen to say
# "HTTP content length exceeded 10485760 bytes".
MAX_BODY_BYTES = 10 * 1024 * 1024

logger = logging.getLogger("local_cloud.http_api")

AccessLog = Callable[[str, str], None]  # (API logical ID, line)
# Serves a route's AWS service integration (service_integration.SendMessage)
ServiceIntegration = Callable[[ServiceIntegrationSpec, RequestValues], HttpResponse]


class FunctionInvoker(Protocol):
    """LambdaService.invoke: a synchronous invocation returning an InvocationResult."""

    def invoke(self, function_name_or_logical_id: str, event: Any) -> Any: ...


class HttpApiApp:
    """The WSGI application: route, build the event, invoke, map the result."""

    def __init__(
        self,
        apis: Iterable[HttpApiSpec],
        invoker: FunctionInvoker,
        *,
        account_id: str = "123456789012",
        access_log: AccessLog | None = None,
        rest_apis: Iterable[RestApiSpec] = (),
        service_integration: ServiceIntegration | None = None,
    ) -> None:
        self.router = Router(apis)
        self.rest_router = RestRouter(rest_apis)
        self._invoker = invoker
        self._service_integration = service_integration
        self._account_id = account_id
        self._access_log = access_log

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        started = time.perf_counter()
        # The whole body is read here, or the request refused: a declared length over
        # the limit is a 413 without reading; a chunked body is read no further than one
        # byte past the limit, enough to know; an incomplete or malformed one is a 400.
        refusal = check_request(environ, MAX_BODY_BYTES)
        request = Request(environ)
        request_id = str(uuid.uuid4())
        rest = self.rest_router.match(request.method, request.path)
        match = None if rest is not None else self.router.match(request.method, request.path)
        target, api = ("no route", "-")
        if rest is not None:
            target, api = rest.route.route.function_logical_id, rest.api.logical_id
        elif match is not None:
            target, api = match.route.target, match.api_logical_id
        if refusal is not None:
            answer = _refused(refusal.status)
        elif rest is not None:
            context = RequestContext(request_id, now(), self._account_id)
            answer = self._invoke_rest(request, rest, context)
        elif match is None:
            answer = self._no_route(request.path)
        elif match.route.integration is not None:
            context = RequestContext(request_id, now(), self._account_id)
            answer = self._integrate(
                match.route.integration, request_values(request, match, context)
            )
        else:
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
        if rest is not None or (match is None and self._is_rest_path(request.path)):
            response.headers["x-amzn-RequestId"] = request_id  # what a REST API sends
        else:
            response.headers["apigw-requestid"] = request_id
        return response(environ, start_response)

    def _is_rest_path(self, path: str) -> bool:
        """A path a REST API answers for: under one of its stages, or anything where no
        HTTP API is served."""
        if not self.rest_router.apis:
            return False
        first = path.lstrip("/").split("/", 1)[0]
        return first in self.rest_router.stages or not self.router.routes

    def _no_route(self, path: str) -> HttpResponse:
        # A REST API answers 403 Missing Authentication Token for a path or method it has no
        # method for; an HTTP API answers 404.
        if self._is_rest_path(path):
            return missing_authentication_token()
        return message_response(404, "Not Found")

    def _invoke_rest(
        self, request: Request, match: RestMatch, context: RequestContext
    ) -> HttpResponse:
        function = match.route.route.function_logical_id
        event = build_rest_event(request, match, context)
        # "Handling Lambda errors with an API Gateway API": Lambda rejecting the invocation
        # (a throttle among them) is a 500, a function error or a malformed answer a 502,
        # both {"message": "Internal server error"}.
        try:
            result = self._invoker.invoke(function, event)
        except RequestTooLarge:
            return gateway_response(413, "Request Too Long")  # as H2: what a REST API answered
        except LambdaServiceError as error:  # Throttled included
            logger.error("%s: invocation refused: %s", function, error)
            return gateway_response(500, "Internal server error")
        if result.error is not None:
            # An unhandled error, a timeout or a crash: a REST API answers 502 and hides
            # the detail.
            logger.info("%s: function error %s", function, result.error.get("errorType"))
            return bad_gateway()
        try:
            return rest_function_response(
                result.payload,
                result.raw_payload,
                accept=request.headers.get("Accept"),
                binary_media_types=match.api.binary_media_types,
            )
        except MalformedResponse as error:
            logger.error("%s: malformed Lambda proxy response: %s", function, error)
            return bad_gateway()

    def _integrate(self, spec: ServiceIntegrationSpec, values: RequestValues) -> HttpResponse:
        if self._service_integration is None:  # served without an endpoint to call
            logger.error("%s: no AWS endpoint to call", spec.subtype)
            return internal_server_error()
        return self._service_integration(spec, values)

    def _invoke(self, function: str, event: dict[str, Any], version: str) -> HttpResponse:
        try:
            result = self._invoker.invoke(function, event)
        except Throttled:
            return message_response(429, "Too Many Requests")
        except RequestTooLarge:
            # Under the 10 MB limit but over Lambda's 6 MB for the event (the body grows a
            # third when base64-encoded): AWS answers 413 too. The text is what a REST API
            # was seen to answer; an HTTP API's is not verified.
            return message_response(413, "Request Too Long")
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


def _too_large() -> HttpResponse:
    return message_response(413, "Request Entity Too Large")


def _refused(status: int) -> HttpResponse:
    """API Gateway's {"message"} for a refusal (the reason goes to the log, not the client)."""
    if status == 413:
        return _too_large()
    return message_response(status, HTTP_STATUS_CODES[status])


HttpApiServer = ServedApp[HttpApiApp]


def start_http_api(
    apis: Iterable[HttpApiSpec],
    invoker: FunctionInvoker,
    *,
    host: str = DEFAULT_HOST,
    port: int | None = DEFAULT_PORT,
    account_id: str = "123456789012",
    access_log: AccessLog | None = None,
    rest_apis: Iterable[RestApiSpec] = (),
    service_integration: ServiceIntegration | None = None,
) -> HttpApiServer:
    """Serve in a background thread; port=None or 0 picks a free port (for tests)."""
    app = HttpApiApp(
        apis,
        invoker,
        account_id=account_id,
        access_log=access_log,
        rest_apis=rest_apis,
        service_integration=service_integration,
    )
    try:
        # HttpApiApp logs one line per request itself: no werkzeug access lines
        serving = serve_in_background(
            app, host, port, name="http-api", logger=logger, access_level=None
        )
    except PortUnavailable as error:
        raise HttpApiError(f"cannot serve the HTTP API: {error}") from error
    logger.info("HTTP API served on %s", serving.url)
    return HttpApiServer(app=app, _serving=serving)
