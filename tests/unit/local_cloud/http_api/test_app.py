"""Requests in, API Gateway events out; function results in, HTTP responses out
(werkzeug's test client: no sockets)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from werkzeug.test import Client

from local_cloud.http_api import HttpApiApp, api_id
from local_cloud.lambda_runtime import FunctionNotFound, Throttled
from local_cloud.model import HttpApiSpec, HttpRouteSpec

SIGNUP_API = HttpApiSpec(
    "SignupHttpApi",
    (
        HttpRouteSpec("POST", "/accounts", "SignupFunction"),
        HttpRouteSpec("GET", "/accounts/{accountId}", "SignupFunction"),
        HttpRouteSpec("ANY", "/legacy/{proxy+}", "LegacyFunction", payload_format_version="1.0"),
    ),
    ("SignupHttpApiApiGatewayDefaultStage",),
)


@dataclass
class Result:
    """The parts of an InvocationResult the server reads."""

    payload: Any
    error: dict[str, Any] | None = None
    raw_payload: str | None = None


@dataclass
class FakeLambda:
    results: list[Any] = field(default_factory=list)  # a Result, or an exception to raise
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def invoke(self, function: str, event: Any) -> Result:
        self.calls.append((function, event))
        outcome = self.results.pop(0) if self.results else Result({"statusCode": 204})
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def client(fake: FakeLambda, access: list[tuple[str, str]] | None = None) -> Client:
    app = HttpApiApp(
        [SIGNUP_API],
        fake,
        account_id="111122223333",
        access_log=(lambda api, line: access.append((api, line))) if access is not None else None,
    )
    return Client(app, use_cookies=False)  # cookies as sent, not from a jar


def test_a_post_becomes_a_payload_2_0_event() -> None:
    fake = FakeLambda()
    client(fake).post(
        "/accounts?lang=en&tag=a&tag=b%20c",
        data=b'{"email": "a@example.com"}',
        headers=[
            ("Content-Type", "application/json"),
            ("User-Agent", "curl/8"),
            ("X-Custom", "1"),
            ("Cookie", "session=abc; theme=dark"),
        ],
    )
    ((function, event),) = fake.calls
    assert function == "SignupFunction"
    context = event.pop("requestContext")
    assert event == {
        "version": "2.0",
        "routeKey": "POST /accounts",
        "rawPath": "/accounts",
        "rawQueryString": "lang=en&tag=a&tag=b%20c",
        "cookies": ["session=abc", "theme=dark"],
        "headers": {
            "content-type": "application/json",
            "content-length": "26",
            "host": "localhost",
            "user-agent": "curl/8",
            "x-custom": "1",
        },
        "queryStringParameters": {"lang": "en", "tag": "a,b c"},
        "body": '{"email": "a@example.com"}',
        "isBase64Encoded": False,
    }
    request_id = context.pop("requestId")
    time_epoch = context.pop("timeEpoch")
    time_text = context.pop("time")
    assert context == {
        "accountId": "111122223333",
        "apiId": api_id("SignupHttpApi"),
        "domainName": "localhost",
        "domainPrefix": "localhost",
        "http": {
            "method": "POST",
            "path": "/accounts",
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": "curl/8",
        },
        "routeKey": "POST /accounts",
        "stage": "$default",
    }
    assert len(request_id) == 36
    assert isinstance(time_epoch, int)
    assert time_epoch > 1_600_000_000_000
    assert time_text.endswith(" +0000")
    assert time_text.count(":") == 3


def test_path_parameters_and_no_body() -> None:
    fake = FakeLambda()
    client(fake).get("/accounts/acc%2042")
    ((_, event),) = fake.calls
    assert event["pathParameters"] == {"accountId": "acc 42"}
    assert event["rawPath"] == "/accounts/acc%2042"
    assert event["routeKey"] == "GET /accounts/{accountId}"
    assert "body" not in event
    assert event["isBase64Encoded"] is False
    assert "queryStringParameters" not in event
    assert "cookies" not in event


@pytest.mark.parametrize("content_type", ["application/octet-stream", "image/png", None])
def test_a_body_that_is_not_text_is_base64_encoded(content_type: str | None) -> None:
    fake = FakeLambda()
    headers = [("Content-Type", content_type)] if content_type else []
    client(fake).post("/accounts", data=b"\x00\xffbytes", headers=headers)
    ((_, event),) = fake.calls
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x00\xffbytes"


def test_a_payload_1_0_route_gets_a_1_0_event_and_needs_a_status_code() -> None:
    fake = FakeLambda(
        [
            Result({"statusCode": 202, "multiValueHeaders": {"X-A": ["1", "2"]}, "body": "ok"}),
            Result({"no": "status"}, raw_payload='{"no": "status"}'),
        ]
    )
    c = client(fake)
    response = c.put("/legacy/a/b?x=1&x=2", data="hi", headers=[("Content-Type", "text/plain")])
    assert response.status_code == 202
    assert response.headers.getlist("X-A") == ["1", "2"]
    ((_, event),) = fake.calls
    assert event["version"] == "1.0"
    assert event["httpMethod"] == "PUT"
    assert event["resource"] == "/legacy/{proxy+}"
    assert event["pathParameters"] == {"proxy": "a/b"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["body"] == "hi"
    assert c.get("/legacy/x").status_code == 500


def test_a_status_code_response_is_sent_as_given() -> None:
    fake = FakeLambda(
        [
            Result(
                {
                    "statusCode": 201,
                    "headers": {"Content-Type": "application/json", "X-Count": 3},
                    "cookies": ["a=1; Path=/", "b=2"],
                    "body": '{"id": "acc_1"}',
                }
            ),
            Result(
                {
                    "statusCode": 200,
                    "body": base64.b64encode(b"\x89PNG").decode(),
                    "isBase64Encoded": True,
                    "headers": {"content-type": "image/png"},
                }
            ),
        ]
    )
    c = client(fake)
    created = c.post("/accounts", json={})
    assert created.status_code == 201
    assert created.get_json() == {"id": "acc_1"}
    assert created.headers["X-Count"] == "3"
    assert created.headers.getlist("Set-Cookie") == ["a=1; Path=/", "b=2"]
    assert created.headers["apigw-requestid"] == fake.calls[0][1]["requestContext"]["requestId"]
    image = c.post("/accounts", json={})
    assert image.data == b"\x89PNG"
    assert image.headers["Content-Type"] == "image/png"


def test_any_other_json_result_is_a_200_json_body() -> None:
    fake = FakeLambda(
        [Result({"ok": True}, raw_payload='{"ok": true}'), Result("hi", None, '"hi"')]
    )
    c = client(fake)
    response = c.post("/accounts", json={})
    assert (response.status_code, response.content_type) == (200, "application/json")
    assert response.get_json() == {"ok": True}
    assert c.post("/accounts", json={}).data == b'"hi"'


@pytest.mark.parametrize(
    ("outcome", "status", "message"),
    [
        (Result(None, {"errorType": "ValueError", "errorMessage": "boom"}), 500,
         "Internal Server Error"),
        (Result(None, {"errorType": "Sandbox.Timedout", "errorMessage": "t"}), 500,
         "Internal Server Error"),
        (Result({"statusCode": "two hundred"}), 500, "Internal Server Error"),
        (Result({"statusCode": 200, "body": {"not": "a string"}}), 500, "Internal Server Error"),
        (Result({"statusCode": 200, "body": "%%", "isBase64Encoded": True}), 500,
         "Internal Server Error"),
        (Throttled("signup", 1, reserved=True), 429, "Too Many Requests"),
        (FunctionNotFound("gone"), 500, "Internal Server Error"),
    ],
)  # fmt: skip
def test_failures_are_api_gateways_own_answers(outcome: Any, status: int, message: str) -> None:
    response = client(FakeLambda([outcome])).post("/accounts", json={})
    assert response.status_code == status
    assert response.get_json() == {"message": message}
    assert "boom" not in response.get_data(as_text=True)


def test_no_route_is_a_404_without_an_invocation_and_every_request_is_logged() -> None:
    fake = FakeLambda()
    access: list[tuple[str, str]] = []
    c = client(fake, access)
    response = c.get("/nowhere")
    assert response.status_code == 404
    assert response.get_json() == {"message": "Not Found"}
    assert fake.calls == []
    c.post("/accounts?x=1", json={})
    assert [api for api, _ in access] == ["-", "SignupHttpApi"]
    assert access[0][1].startswith("GET /nowhere -> 404 (no route")
    assert access[1][1].startswith("POST /accounts?x=1 -> 204 (SignupFunction")


def test_a_powertools_http_resolver_handles_the_events_it_gets() -> None:
    """The events are what Powertools' APIGatewayHttpResolver expects from API Gateway."""
    resolver = APIGatewayHttpResolver()

    @resolver.get("/accounts/<account_id>")
    def get_account(account_id: str) -> Response[dict[str, Any]]:
        query = resolver.current_event.query_string_parameters or {}
        return Response(
            200,
            "application/json",
            {
                "id": account_id,
                "view": query.get("view"),
                "cookies": resolver.current_event.cookies,
            },
        )

    class InProcessLambda:
        def invoke(self, function: str, event: Any) -> Result:
            # through JSON both ways, as the worker processes do
            payload = resolver.resolve(json.loads(json.dumps(event)), LambdaContext())
            return Result(json.loads(json.dumps(payload)))

    response = Client(HttpApiApp([SIGNUP_API], InProcessLambda()), use_cookies=False).get(
        "/accounts/acc_7?view=full", headers=[("Cookie", "s=1")]
    )
    assert response.status_code == 200
    assert response.get_json() == {"id": "acc_7", "view": "full", "cookies": ["s=1"]}


def test_a_named_stage_is_in_the_events_request_context_and_its_raw_path() -> None:
    """An HTTP API stage other than `$default` is served under /{name}; the function's event
    names that stage (requestContext.stage) in both payload formats, and rawPath keeps the
    stage's segment as the URL had it."""
    staged = HttpApiSpec(
        "StagedApi",
        (
            HttpRouteSpec("GET", "/items/{id}", "ItemsFunction"),
            HttpRouteSpec("GET", "/old", "ItemsFunction", payload_format_version="1.0"),
        ),
        ("StagedApiprodStage",),
        ("prod",),
    )
    fake = FakeLambda()
    c = Client(HttpApiApp([staged], fake, account_id="111122223333"), use_cookies=False)
    assert c.get("/prod/items/7").status_code == 204
    assert c.get("/prod/old").status_code == 204
    (_, v2), (_, v1) = fake.calls
    assert (v2["requestContext"]["stage"], v2["rawPath"]) == ("prod", "/prod/items/7")
    assert v2["pathParameters"] == {"id": "7"}
    assert (v1["requestContext"]["stage"], v1["resource"]) == ("prod", "/old")
