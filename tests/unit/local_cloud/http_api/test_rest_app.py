"""REST APIs (API Gateway v1): requests in, payload format 1.0 proxy events out; function
results in, HTTP responses out (werkzeug's test client: no sockets).

The first test is AWS's own sample: the request and event of "Input format of a Lambda
function for proxy integration" ("Set up Lambda proxy integrations in API Gateway")."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from werkzeug.test import Client

from local_cloud.http_api import HttpApiApp, api_id
from local_cloud.http_api.rest import resource_id
from local_cloud.lambda_runtime import FunctionNotFound, Throttled
from local_cloud.model import HttpRouteSpec, RestApiSpec, RestStageSpec
from tests.unit.local_cloud.http_api.test_app import SIGNUP_API, FakeLambda, Result

# AWS's sample API: ANY /{proxy+} deployed to testStage, with one stage variable
SAMPLE_API = RestApiSpec(
    "ProxyIntegrationWithLambda",
    (HttpRouteSpec("ANY", "/{proxy+}", "SampleFunction", "1.0"),),
    (RestStageSpec("testStage", "SampleStage", (("stageVariableName", "stageVariableValue"),)),),
)

ITEMS_API = RestApiSpec(
    "ItemsApi",
    (
        HttpRouteSpec("GET", "/items/{id}", "ItemsFunction", "1.0"),
        HttpRouteSpec("POST", "/items", "ItemsFunction", "1.0"),
        HttpRouteSpec("GET", "/", "RootFunction", "1.0"),
        HttpRouteSpec("POST", "/upload", "UploadFunction", "1.0"),
    ),
    (RestStageSpec("Prod", "ItemsApiProdStage"), RestStageSpec("Stage", "ItemsApiDeployment")),
    binary_media_types=("image/*", "application/octet-stream"),
    deployment_logical_ids=("ItemsApiDeployment",),
)


def client(fake: FakeLambda, *rest: RestApiSpec, http: bool = False) -> Client:
    app = HttpApiApp(
        [SIGNUP_API] if http else [],
        fake,
        account_id="12345678912",
        rest_apis=rest or (ITEMS_API,),
    )
    return Client(app, use_cookies=False)


def test_aws_sample_request_becomes_aws_sample_event() -> None:
    fake = FakeLambda()
    client(fake, SAMPLE_API).post(
        "/testStage/hello/world?name=me&multivalueName=you&multivalueName=me",
        data=b'{\r\n\t"a": 1\r\n}',
        headers=[
            ("Content-Type", "application/json"),
            ("headerName", "headerValue"),
            ("User-Agent", "PostmanRuntime/2.4.5"),
        ],
    )
    ((function, event),) = fake.calls
    assert function == "SampleFunction"
    assert set(event) == {
        "resource", "path", "httpMethod", "headers", "multiValueHeaders",
        "queryStringParameters", "multiValueQueryStringParameters", "pathParameters",
        "stageVariables", "requestContext", "body", "isBase64Encoded",
    }  # fmt: skip
    assert event["resource"] == "/{proxy+}"
    assert event["path"] == "/hello/world"
    assert event["httpMethod"] == "POST"
    # WSGI hands header names over capitalized per word: "Headername" (see docs/semantics.md)
    headers = {name.lower(): value for name, value in event["headers"].items()}
    assert headers["headername"] == "headerValue"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "PostmanRuntime/2.4.5"
    assert {k.lower(): v for k, v in event["multiValueHeaders"].items()}["headername"] == [
        "headerValue"
    ]
    assert event["queryStringParameters"] == {"name": "me", "multivalueName": "me"}
    assert event["multiValueQueryStringParameters"] == {
        "name": ["me"],
        "multivalueName": ["you", "me"],
    }
    assert event["pathParameters"] == {"proxy": "hello/world"}
    assert event["stageVariables"] == {"stageVariableName": "stageVariableValue"}
    assert event["body"] == '{\r\n\t"a": 1\r\n}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["accountId"] == "12345678912"
    assert context["apiId"] == api_id("ProxyIntegrationWithLambda")
    assert context["resourceId"] == resource_id("ProxyIntegrationWithLambda", "/{proxy+}")
    assert context["stage"] == "testStage"
    assert context["resourcePath"] == "/{proxy+}"
    assert context["httpMethod"] == "POST"
    assert context["path"] == "/testStage/hello/world"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == "PostmanRuntime/2.4.5"
    assert context["identity"]["user"] is None
    assert context["identity"]["cognitoIdentityPoolId"] is None
    assert len(context["requestId"]) == 36
    assert context["extendedRequestId"] == context["requestId"]
    assert isinstance(context["requestTimeEpoch"], int)
    assert context["requestTime"].endswith(" +0000")
    assert context["protocol"] == "HTTP/1.1"


def test_absent_parts_are_null_and_path_parameters_decoded() -> None:
    fake = FakeLambda()
    client(fake).get("/Prod/items/a%20b")
    ((_, event),) = fake.calls
    assert event["resource"] == "/items/{id}"
    assert event["path"] == "/items/a b"
    assert event["requestContext"]["path"] == "/Prod/items/a%20b"
    assert event["pathParameters"] == {"id": "a b"}
    for absent in (
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "stageVariables",
        "body",
    ):
        assert event[absent] is None, absent
    assert event["isBase64Encoded"] is False


def test_every_stage_serves_the_api_and_names_itself_in_the_event() -> None:
    fake = FakeLambda()
    browser = client(fake)
    assert browser.get("/Prod/").status_code == 204
    assert browser.get("/Stage/items/7").status_code == 204
    assert [event["requestContext"]["stage"] for _, event in fake.calls] == ["Prod", "Stage"]
    assert [event["resource"] for _, event in fake.calls] == ["/", "/items/{id}"]


def test_a_trailing_slash_names_the_same_resource() -> None:
    fake = FakeLambda()
    assert client(fake).get("/Prod/items/7/").status_code == 204
    ((_, event),) = fake.calls
    assert event["resource"] == "/items/{id}"
    assert event["path"] == "/items/7/"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/Prod/nothing"),  # no such resource
        ("DELETE", "/Prod/items/1"),  # no such method on it
        ("GET", "/Dev/items/1"),  # no such stage
        ("GET", "/items/1"),  # no stage at all
        ("GET", "/"),
    ],
)
def test_no_route_is_missing_authentication_token_and_no_invocation(method: str, path: str) -> None:
    fake = FakeLambda()
    response = client(fake).open(path, method=method)
    assert response.status_code == 403
    assert response.get_json() == {"message": "Missing Authentication Token"}
    assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert "x-amzn-RequestId" in response.headers
    assert fake.calls == []


def test_an_http_api_served_beside_keeps_its_root_paths_and_404() -> None:
    fake = FakeLambda()
    browser = client(fake, ITEMS_API, http=True)
    assert browser.post("/accounts", json={}).status_code == 204
    assert browser.get("/Prod/items/1").status_code == 204
    assert browser.get("/nothing").status_code == 404  # the HTTP API's answer
    assert browser.get("/Prod/nothing").status_code == 403  # the REST API's
    assert [function for function, _ in fake.calls] == ["SignupFunction", "ItemsFunction"]


def test_the_response_is_sent_as_given_with_headers_merged() -> None:
    fake = FakeLambda(
        [
            Result(
                {
                    "statusCode": 201,
                    "headers": {"Content-Type": "text/plain", "X-One": "1", "X-Both": "single"},
                    "multiValueHeaders": {"X-Both": ["m1", "m2"], "Set-Cookie": ["a=1", "b=2"]},
                    "body": "created",
                    "isBase64Encoded": False,
                }
            )
        ]
    )
    response = client(fake).post("/Prod/items", data=b"x")
    assert response.status_code == 201
    assert response.get_data() == b"created"
    assert response.headers["Content-Type"] == "text/plain"
    assert response.headers["X-One"] == "1"
    assert response.headers.getlist("X-Both") == ["m1", "m2"]  # multiValueHeaders win
    assert response.headers.getlist("Set-Cookie") == ["a=1", "b=2"]


def test_without_a_content_type_the_answer_is_application_json() -> None:
    fake = FakeLambda([Result({"statusCode": 200, "body": '{"ok": true}'})])
    response = client(fake).get("/Prod/items/1")
    assert response.headers["Content-Type"] == "application/json"
    assert response.get_json() == {"ok": True}


@pytest.mark.parametrize(
    "outcome",
    [
        Result(None, error={"errorType": "ValueError", "errorMessage": "boom"}),  # it raised
        Result(None, error={"errorType": "Sandbox.Timedout", "errorMessage": "timed out"}),
        Result({"body": "no status code"}),
        Result({"statusCode": "two hundred"}),
        Result({"statusCode": 200, "body": {"not": "a string"}}),
        Result({"statusCode": 200, "headers": ["not", "an", "object"]}),
        Result({"statusCode": 200, "multiValueHeaders": {"X-A": "not a list"}}),
        Result(["not", "an", "object"]),
        Result("just text"),
    ],
)
def test_a_function_error_or_malformed_answer_is_a_502(outcome: Result) -> None:
    response = client(FakeLambda([outcome])).get("/Prod/items/1")
    assert response.status_code == 502
    assert response.get_json() == {"message": "Internal server error"}


@pytest.mark.parametrize(
    "refusal", [Throttled("ItemsFunction", 1, reserved=True), FunctionNotFound("gone")]
)
def test_an_invocation_lambda_refuses_is_a_500(refusal: Exception) -> None:
    """ "If the Lambda API rejects the invocation request, API Gateway returns a 500"."""
    response = client(FakeLambda([refusal])).get("/Prod/items/1")
    assert response.status_code == 500
    assert response.get_json() == {"message": "Internal server error"}


def test_a_body_is_text_unless_its_type_is_a_binary_media_type() -> None:
    fake = FakeLambda()
    browser = client(fake)
    png = b"\x89PNG\r\n\x1a\n\x00\xff"
    browser.post("/Prod/upload", data=png, headers=[("Content-Type", "image/png")])
    browser.post("/Prod/upload", data=b"plain", headers=[("Content-Type", "text/plain")])
    browser.post("/Prod/upload", data=b"\xff\xfe", headers=[("Content-Type", "text/plain")])
    binary, text, not_utf8 = (event for _, event in fake.calls)
    assert (binary["body"], binary["isBase64Encoded"]) == (base64.b64encode(png).decode(), True)
    assert (text["body"], text["isBase64Encoded"]) == ("plain", False)
    assert (not_utf8["body"], not_utf8["isBase64Encoded"]) == ("\ufffd\ufffd", False)


def test_without_binary_media_types_every_body_is_text() -> None:
    fake = FakeLambda()
    client(fake, SAMPLE_API).post(
        "/testStage/x", data=b"abc", headers=[("Content-Type", "application/octet-stream")]
    )
    ((_, event),) = fake.calls
    assert (event["body"], event["isBase64Encoded"]) == ("abc", False)


def test_a_base64_answer_is_decoded_only_for_an_accepted_binary_type() -> None:
    png = b"\x89PNG\x00\xff"
    answer = {
        "statusCode": 200,
        "headers": {"Content-Type": "image/png"},
        "body": base64.b64encode(png).decode(),
        "isBase64Encoded": True,
    }
    fake = FakeLambda([Result(answer), Result(answer), Result(answer)])
    browser = client(fake)
    as_image = browser.get("/Prod/items/1", headers=[("Accept", "image/png,*/*;q=0.8")])
    assert as_image.get_data() == png
    # only the first Accept media type counts
    as_text = browser.get("/Prod/items/1", headers=[("Accept", "text/html,image/png")])
    assert as_text.get_data() == base64.b64encode(png)
    no_accept = browser.get("/Prod/items/1")
    assert no_accept.get_data() == base64.b64encode(png)


def test_a_powertools_rest_resolver_handles_the_events_it_gets() -> None:
    """The events are what Powertools' APIGatewayRestResolver expects from API Gateway."""
    resolver = APIGatewayRestResolver()

    @resolver.get("/items/<item_id>")
    def get_item(item_id: str) -> Response[dict[str, Any]]:
        event = resolver.current_event
        return Response(
            200,
            "application/json",
            {
                "id": item_id,
                "view": (event.query_string_parameters or {}).get("view"),
                "stage": event.request_context.stage,
            },
        )

    class InProcessLambda:
        def invoke(self, function: str, event: Any) -> Result:
            # through JSON both ways, as the worker processes do
            payload = resolver.resolve(json.loads(json.dumps(event)), LambdaContext())
            return Result(json.loads(json.dumps(payload)))

    app = HttpApiApp([], InProcessLambda(), rest_apis=[ITEMS_API])
    response = Client(app).get("/Prod/items/it_7?view=full")
    assert response.status_code == 200
    assert response.get_json() == {"id": "it_7", "view": "full", "stage": "Prod"}
