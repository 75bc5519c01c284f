"""Real boto3 clients whose requests go through a WSGI app in this process: no sockets.

botocore signs and serialises the request as it would for AWS; a `before-send` hook
hands it to the app instead of the network, and botocore parses the app's answer as it
would AWS's. So a test sees exactly the exception an SDK user would.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from werkzeug.test import Client

ENDPOINT_URL = "http://127.0.0.1:4566"  # never connected to: the hook answers first
NO_RETRIES = Config(retries={"total_max_attempts": 1})

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterable[bytes]:
        yield self._body


def client_through(app: WsgiApp, service: str, config: Config = NO_RETRIES) -> Any:
    """A boto3 client for `service` whose every request is answered by `app`."""
    session = boto3.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    client = session.client(service, endpoint_url=ENDPOINT_URL, config=config)
    client.meta.events.register("before-send", functools.partial(_send, app))
    return client


def _headers(request: AWSPreparedRequest) -> dict[str, str]:
    return {
        name: value.decode() if isinstance(value, bytes) else value
        for name, value in request.headers.items()
    }


def _send(app: WsgiApp, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
    url = urlsplit(request.url)
    body = request.body or b""
    response = Client(app).open(
        path=url.path or "/",
        query_string=url.query,
        method=request.method,
        headers=_headers(request),
        data=body if isinstance(body, bytes) else body.encode(),
    )
    return AWSResponse(
        request.url, response.status_code, dict(response.headers), _Raw(response.get_data())
    )


def capture_request(service: str, call: Callable[[Any], Any]) -> dict[str, Any]:
    """The environ of the request `call(client)` sends, as the endpoint would see it."""
    captured: list[dict[str, Any]] = []
    recorder = FakeMoto()

    def record(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        captured.append({**environ, "wsgi.input": io.BytesIO(body)})
        environ["wsgi.input"] = io.BytesIO(body)
        return recorder(environ, start_response)

    call(client_through(record, service))
    [environ] = captured
    return environ


class FakeMoto:
    """Stands in for moto: records which operations reached it (and their bodies) and
    answers each with an empty success in the request's protocol."""

    def __init__(self, on_call: Callable[[str], None] | None = None) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self._on_call = on_call

    @property
    def operations(self) -> list[str]:
        return [operation for operation, _body in self.calls]

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            operation = target.rsplit(".", 1)[-1]
            answer, content_type = b"{}", "application/x-amz-json-1.0"
        else:
            operation = parse_qs(body.decode()).get("Action", ["?"])[0]
            answer = (
                f"<{operation}Response><{operation}Result><MessageId>m-1</MessageId>"
                f"</{operation}Result><ResponseMetadata><RequestId>r-1</RequestId>"
                f"</ResponseMetadata></{operation}Response>"
            ).encode()
            content_type = "text/xml"
        self.calls.append((operation, body))
        if self._on_call is not None:
            self._on_call(operation)
        start_response(
            "200 OK", [("Content-Type", content_type), ("Content-Length", str(len(answer)))]
        )
        return [answer]
