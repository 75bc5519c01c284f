"""API Gateway HTTP API's Lambda proxy contract: the event a request becomes, and the HTTP
response a function's result becomes (payload formats 2.0 and 1.0).

As AWS does: 2.0 lower-cases header names, joins repeated headers and query parameters
with commas, moves cookies to `cookies`, and omits absent parts; a body is base64-encoded
unless its content type is text. A 2.0 result without `statusCode` is answered 200 as JSON;
1.0 requires `statusCode`. A malformed result, a function error or a timeout is a 500.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from local_cloud.http_api.routing import RouteMatch

logger = logging.getLogger("local_cloud.http_api")

_TEXT_TYPES = ("application/json", "application/javascript", "application/xml")


class RequestFacts(Protocol):
    """What the event is built from (a werkzeug Request provides all of it)."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...  # URL-decoded
    @property
    def environ(self) -> Mapping[str, Any]: ...
    @property
    def headers(self) -> Any: ...  # iterable of (name, value), repeated names repeated
    @property
    def remote_addr(self) -> str | None: ...
    @property
    def host(self) -> str: ...
    def get_data(self) -> bytes: ...


@dataclass(frozen=True)
class RequestContext:
    """What API Gateway knows about the request beyond the request itself."""

    request_id: str
    received_at: datetime
    account_id: str = "123456789012"


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def api_id(api_logical_id: str) -> str:
    """A stable 10-character API ID, shaped like API Gateway's."""
    return hashlib.sha256(api_logical_id.encode()).hexdigest()[:10]


def is_text(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return (
        media_type.startswith("text/")
        or media_type in _TEXT_TYPES
        or media_type.endswith(("+json", "+xml"))
    )


def build_event(
    request: RequestFacts, match: RouteMatch, context: RequestContext
) -> dict[str, Any]:
    if match.route.payload_format_version == "1.0":
        return _event_v1(request, match, context)
    return _event_v2(request, match, context)


def _raw_path_and_query(request: RequestFacts) -> tuple[str, str]:
    raw_uri = str(request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or "")
    raw_path = raw_uri.split("?", 1)[0] or request.path
    return raw_path, str(request.environ.get("QUERY_STRING", ""))


def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(raw_query, keep_blank_values=True)


def _body(request: RequestFacts, content_type: str | None) -> tuple[str | None, bool]:
    data = request.get_data()
    if not data:
        return None, False
    if is_text(content_type):
        try:
            return data.decode("utf-8"), False
        except UnicodeDecodeError:
            pass  # declared text, but not UTF-8: pass the bytes through
    return base64.b64encode(data).decode("ascii"), True


def _domain(request: RequestFacts) -> tuple[str, str]:
    domain = request.host.rsplit(":", 1)[0] if ":" in request.host else request.host
    return domain, domain.split(".", 1)[0]


def _event_v2(request: RequestFacts, match: RouteMatch, context: RequestContext) -> dict[str, Any]:
    raw_path, raw_query = _raw_path_and_query(request)
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    query: dict[str, str] = {}
    for key, value in _query_pairs(raw_query):
        query[key] = f"{query[key]},{value}" if key in query else value
    domain, prefix = _domain(request)
    body, encoded = _body(request, headers.get("content-type"))
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": match.route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": context.account_id,
        "apiId": api_id(match.api_logical_id),
        "domainName": domain,
        "domainPrefix": prefix,
        "http": {
            "method": request.method,
            "path": request.path,
            "protocol": str(request.environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
            "sourceIp": request.remote_addr or "127.0.0.1",
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": context.request_id,
        "routeKey": match.route.route_key,
        "stage": match.stage,
        "time": context.received_at.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(context.received_at.timestamp() * 1000),
    }
    if match.path_parameters:
        event["pathParameters"] = dict(match.path_parameters)
    if body is not None:
        event["body"] = body
    event["isBase64Encoded"] = encoded
    return event


def _event_v1(request: RequestFacts, match: RouteMatch, context: RequestContext) -> dict[str, Any]:
    raw_path, raw_query = _raw_path_and_query(request)
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for key, value in _query_pairs(raw_query):
        multi_query.setdefault(key, []).append(value)
    content_type = next(
        (values[-1] for name, values in multi_headers.items() if name.lower() == "content-type"),
        None,
    )
    user_agent = next(
        (values[-1] for name, values in multi_headers.items() if name.lower() == "user-agent"), ""
    )
    domain, prefix = _domain(request)
    body, encoded = _body(request, content_type)
    resource = match.route.path if match.route.path != "$default" else "$default"
    return {
        "version": "1.0",
        "resource": resource,
        "path": request.path,
        "httpMethod": request.method,
        "headers": {name: ",".join(values) for name, values in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "requestContext": {
            "accountId": context.account_id,
            "apiId": api_id(match.api_logical_id),
            "domainName": domain,
            "domainPrefix": prefix,
            "extendedRequestId": context.request_id,
            "httpMethod": request.method,
            "identity": {"sourceIp": request.remote_addr or "127.0.0.1", "userAgent": user_agent},
            "path": raw_path,
            "protocol": str(request.environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
            "requestId": context.request_id,
            "requestTime": context.received_at.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(context.received_at.timestamp() * 1000),
            "resourcePath": resource,
            "routeKey": match.route.route_key,
            "stage": match.stage,
        },
        "pathParameters": dict(match.path_parameters) or None,
        "stageVariables": None,
        "body": body,
        "isBase64Encoded": encoded,
    }


def message_response(status: int, message: str) -> HttpResponse:
    """API Gateway's own answers: {"message": ...} as JSON."""
    return HttpResponse(
        status,
        [("Content-Type", "application/json")],
        json.dumps({"message": message}).encode(),
    )


def internal_server_error() -> HttpResponse:
    return message_response(500, "Internal Server Error")


class MalformedResponse(ValueError):
    """The function's result is not a response API Gateway can send."""


def function_response(
    payload: Any, raw_payload: str | None, payload_format_version: str
) -> HttpResponse:
    """The HTTP response for a successful invocation's result; MalformedResponse if AWS
    would answer 500 for it."""
    if isinstance(payload, dict) and "statusCode" in payload:
        return _structured(payload, payload_format_version)
    if payload_format_version == "1.0":
        raise MalformedResponse("payload format 1.0 requires a statusCode")
    # 2.0: any other JSON is the body of a 200
    body = raw_payload if raw_payload is not None else json.dumps(payload)
    return HttpResponse(200, [("Content-Type", "application/json")], body.encode("utf-8"))


def _structured(payload: Mapping[str, Any], payload_format_version: str) -> HttpResponse:
    status = payload["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode {status!r} is not an HTTP status code")
    headers: list[tuple[str, str]] = []
    given = payload.get("headers") or {}
    if not isinstance(given, Mapping):
        raise MalformedResponse("headers must be an object")
    multi = payload.get("multiValueHeaders") if payload_format_version == "1.0" else None
    multi = multi or {}
    if not isinstance(multi, Mapping):
        raise MalformedResponse("multiValueHeaders must be an object")
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedResponse(f"multiValueHeaders.{name} must be a list")
        headers.extend((str(name), _header_value(value)) for value in values)
    multi_names = {str(name).lower() for name in multi}
    for name, value in given.items():
        if str(name).lower() not in multi_names:  # multiValueHeaders win, as in AWS
            headers.append((str(name), _header_value(value)))
    cookies = payload.get("cookies") if payload_format_version != "1.0" else None
    for cookie in cookies or []:
        headers.append(("Set-Cookie", str(cookie)))
    body = payload.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        raise MalformedResponse(f"body must be a string, got {type(body).__name__}")
    elif payload.get("isBase64Encoded") is True:
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedResponse("isBase64Encoded is true but body is not base64") from None
    else:
        data = body.encode("utf-8")
    return HttpResponse(status, headers, data)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def now() -> datetime:
    return datetime.now(UTC)
