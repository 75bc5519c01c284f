"""API Gateway REST APIs (v1) with Lambda proxy integrations: which route a request takes,
the payload format 1.0 event it becomes, and the response the function's result becomes.

As AWS documents it ("Set up Lambda proxy integrations in API Gateway": "Input format of
a Lambda function for proxy integration", "Output format of a Lambda function for proxy
integration"; "Content type conversions in API Gateway"):

- A REST API is called at `/{stage}/{path}`; `path` in the event is the path without the
  stage, `requestContext.path` the path with it, `resource` and
  `requestContext.resourcePath` the route's template (`/items/{id}`, `/{proxy+}`).
- `headers` and `queryStringParameters` hold the last value of a name given more than once,
  `multiValueHeaders` and `multiValueQueryStringParameters` every value; absent ones are
  null, as are `pathParameters`, `stageVariables` and `body`.
- The body is passed as UTF-8 text unless its Content-Type matches one of the API's binary
  media types: then it is base64-encoded and `isBase64Encoded` is true.
- The function must answer `{"statusCode", "headers", "multiValueHeaders", "body",
  "isBase64Encoded"}`; anything else is a 502 `{"message": "Internal server error"}`, as
  is a function error ("Handling Lambda errors with an API Gateway API"); an invocation
  Lambda refuses is a 500 with the same body. A base64 body is decoded only when the
  request's first Accept media type is one of the binary media types; otherwise the text
  is sent as it is.
- A request no route matches is a 403 `{"message":"Missing Authentication Token"}`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from local_cloud.http_api.events import (
    HttpResponse,
    MalformedResponse,
    RequestContext,
    RequestFacts,
    api_id,
    function_response,
)
from local_cloud.http_api.routing import RouteMatch, Router
from local_cloud.model import HttpApiSpec, RestApiSpec, RestStageSpec


@dataclass(frozen=True)
class RestMatch:
    """A request matched to a route of a REST API, at one of its stages."""

    api: RestApiSpec
    stage: RestStageSpec
    route: RouteMatch
    path: str  # the request's path without the stage, URL-decoded


class RestRouter:
    """The routes of the REST APIs, by stage: a request's first path segment names the
    stage. Two APIs with the same stage name share its paths; for the same route key the
    first API listed wins (as HTTP APIs served on one address do)."""

    def __init__(self, apis: Iterable[RestApiSpec]) -> None:
        self.apis = tuple(apis)
        by_stage: dict[str, list[RestApiSpec]] = {}
        for api in self.apis:
            for stage in api.stages:
                by_stage.setdefault(stage.name, []).append(api)
        self._routers = {
            stage: Router(HttpApiSpec(api.logical_id, api.routes) for api in apis)
            for stage, apis in by_stage.items()
        }
        self._apis = {api.logical_id: api for api in self.apis}

    @property
    def stages(self) -> set[str]:
        return set(self._routers)

    @property
    def routes(self) -> list[tuple[str, str, str]]:
        """(API logical ID, stage, route key) of every route served."""
        return [
            (api.logical_id, stage.name, route.route_key)
            for api in self.apis
            for stage in api.stages
            for route in api.routes
        ]

    def match(self, method: str, path: str) -> RestMatch | None:
        stage_name, rest = _split_stage(path)
        router = self._routers.get(stage_name)
        if router is None:
            return None
        # A trailing slash names the same resource: SAM's hello world Output is
        # https://{api}.execute-api.{region}.amazonaws.com/Prod/hello/ for the path /hello.
        matched = router.match(method, rest[:-1] if len(rest) > 1 and rest.endswith("/") else rest)
        if matched is None:
            return None
        api = self._apis[matched.api_logical_id]
        stage = next(stage for stage in api.stages if stage.name == stage_name)
        return RestMatch(api, stage, matched, rest)


def _split_stage(path: str) -> tuple[str, str]:
    """("Prod", "/hello") for "/Prod/hello"; ("Prod", "/") for "/Prod" and "/Prod/"."""
    stage, _, rest = path.lstrip("/").partition("/")
    return stage, "/" + rest


def resource_id(api_logical_id: str, resource_path: str) -> str:
    """A stable 6-character resource ID, shaped like API Gateway's."""
    return hashlib.sha256(f"{api_logical_id} {resource_path}".encode()).hexdigest()[:6]


def matches_media_type(content_type: str | None, media_types: Iterable[str]) -> bool:
    """Whether a Content-Type or Accept value's media type is one of `media_types`
    (which may use wildcards: "image/*", "*/*")."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if not media_type:
        return False
    return any(fnmatch.fnmatchcase(media_type, pattern.lower()) for pattern in media_types)


def build_rest_event(
    request: RequestFacts, match: RestMatch, context: RequestContext
) -> dict[str, Any]:
    """The payload format 1.0 event of a REST API's Lambda proxy integration."""
    raw_uri = str(request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or "")
    raw_path = raw_uri.split("?", 1)[0] or request.path
    from urllib.parse import parse_qsl

    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for key, value in parse_qsl(
        str(request.environ.get("QUERY_STRING", "")), keep_blank_values=True
    ):
        multi_query.setdefault(key, []).append(value)
    content_type = _last(multi_headers, "content-type")
    user_agent = _last(multi_headers, "user-agent")
    host = request.host
    domain = host.rsplit(":", 1)[0] if ":" in host else host
    data = request.get_data()
    if not data:
        body, encoded = None, False
    elif matches_media_type(content_type, match.api.binary_media_types):
        import base64

        body, encoded = base64.b64encode(data).decode("ascii"), True
    else:
        # "Text data ... binaryMediaTypes undefined: UTF8-encoded string". Bytes that are not
        # UTF-8 cannot be passed as text: they become U+FFFD, as they would in the JSON event.
        body, encoded = data.decode("utf-8", errors="replace"), False
    resource = match.route.route.path
    received = context.received_at
    return {
        "resource": resource,
        "path": match.path,
        "httpMethod": request.method,
        "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(match.route.path_parameters) or None,
        "stageVariables": dict(match.stage.variables) or None,
        "requestContext": {
            "accountId": context.account_id,
            "apiId": api_id(match.api.logical_id),
            "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "extendedRequestId": context.request_id,
            "httpMethod": request.method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "apiKey": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "sourceIp": request.remote_addr or "127.0.0.1",
                "user": None,
                "userAgent": user_agent,
                "userArn": None,
            },
            "path": raw_path,
            "protocol": str(request.environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
            "requestId": context.request_id,
            "requestTime": received.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(received.timestamp() * 1000),
            "resourceId": resource_id(match.api.logical_id, resource),
            "resourcePath": resource,
            "stage": match.stage.name,
        },
        "body": body,
        "isBase64Encoded": encoded,
    }


def _last(headers: Mapping[str, list[str]], name: str) -> str | None:
    values = [value for key, found in headers.items() if key.lower() == name for value in found]
    return values[-1] if values else None


def rest_function_response(
    payload: Any, raw_payload: str | None, *, accept: str | None, binary_media_types: Iterable[str]
) -> HttpResponse:
    """The HTTP response for a function's result; MalformedResponse where API Gateway
    answers 502."""
    if not isinstance(payload, dict):
        raise MalformedResponse(f"the result is {type(payload).__name__}, not an object")
    body_is_base64 = payload.get("isBase64Encoded") is True
    first_accept = (accept or "").split(",", 1)[0]
    decode = body_is_base64 and matches_media_type(first_accept, binary_media_types)
    if body_is_base64 and not decode:
        # "Binary data, a text type accepted: Base64-encoded string": the body as it came
        payload = {**payload, "isBase64Encoded": False}
    response = function_response(payload, raw_payload, "1.0")
    if not any(name.lower() == "content-type" for name, _ in response.headers):
        # A REST API answers application/json where the function sets no Content-Type
        response = HttpResponse(
            response.status,
            [*response.headers, ("Content-Type", "application/json")],
            response.body,
        )
    return response


def gateway_response(status: int, message: str, error_type: str | None = None) -> HttpResponse:
    """A REST API's own answer: {"message": ...} as JSON, with x-amzn-ErrorType where API
    Gateway sends one."""
    headers = [("Content-Type", "application/json")]
    if error_type is not None:
        headers.append(("x-amzn-ErrorType", error_type))
    return HttpResponse(status, headers, json.dumps({"message": message}).encode())


def missing_authentication_token() -> HttpResponse:
    """What a REST API answers for a path or method it has no route for."""
    return gateway_response(
        403, "Missing Authentication Token", "MissingAuthenticationTokenException"
    )


def bad_gateway() -> HttpResponse:
    """A function error or a malformed proxy response."""
    return gateway_response(502, "Internal server error")
