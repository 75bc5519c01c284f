"""HTTP API routes with an AWS service integration: SQS-SendMessage's parameters checked as
API Gateway checks them, mapping expressions evaluated as its "Create AWS service
integrations for HTTP APIs" table says, SQS's answer passed back (no network: fakes)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from werkzeug.test import Client

from local_cloud.http_api import HttpApiApp
from local_cloud.http_api.service_integration import (
    BODY_SELECTION_LIMIT,
    IntegrationError,
    RequestValues,
    SendMessage,
    evaluate,
    integration_spec,
)
from local_cloud.model import HttpApiSpec, HttpRouteSpec, ServiceIntegrationSpec

QUEUE_URL = "http://127.0.0.1:5000/123456789012/orders.fifo"
# The create-integration example of AWS's "Create AWS service integrations for HTTP APIs"
DOCS_EXAMPLE = {"QueueUrl": "$request.header.queueUrl", "MessageBody": "$request.body.message"}


def values(
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
    query: list[tuple[str, str]] | None = None,
    path_parameters: dict[str, str] | None = None,
    context: dict[str, str] | None = None,
) -> RequestValues:
    return RequestValues(
        headers=headers or [],
        query=query or [],
        path_parameters=path_parameters or {},
        body=body,
        context=context or {},
    )


# -- the integration, as API Gateway creates it


def test_the_docs_example_is_an_integration() -> None:
    spec = integration_spec("POST /", "SQS-SendMessage", DOCS_EXAMPLE, "arn:aws:iam::1:role/r")
    assert spec == ServiceIntegrationSpec(
        "SQS-SendMessage",
        (("QueueUrl", "$request.header.queueUrl"), ("MessageBody", "$request.body.message")),
        "arn:aws:iam::1:role/r",
    )


@pytest.mark.parametrize(
    ("parameters", "named"),
    [
        ({"MessageBody": "$request.body"}, "requires QueueUrl"),
        ({"QueueUrl": QUEUE_URL}, "requires MessageBody"),
        ({**DOCS_EXAMPLE, "MessageGroup": "g"}, "no parameter MessageGroup"),
        ({**DOCS_EXAMPLE, "DelaySeconds": 5}, "parameter DelaySeconds is 5"),
        ({**DOCS_EXAMPLE, "MessageGroupId": "$request.body..group"}, "recursive descent"),
        ({**DOCS_EXAMPLE, "MessageGroupId": "$request.body.items[?(@.a)]"}, "filters"),
        ({**DOCS_EXAMPLE, "MessageGroupId": "$request.cookie.a"}, "$request.header.NAME"),
        ({**DOCS_EXAMPLE, "MessageGroupId": "$request.header"}, "$request.header.NAME"),
        ({**DOCS_EXAMPLE, "MessageGroupId": "$context.authorizer.x"}, "context variables"),
        ({**DOCS_EXAMPLE, "MessageGroupId": "$stageVariables.group"}, "not emulated"),
        ({**DOCS_EXAMPLE, "MessageGroupId": "$body.group"}, "a mapping starts"),
        ({**DOCS_EXAMPLE, "MessageGroupId": "g-${request.header.g}"}, "not evaluated locally"),
    ],
)
def test_an_integration_api_gateway_refuses_is_named(parameters: Any, named: str) -> None:
    with pytest.raises(IntegrationError, match=f"route POST /: .*{_escape(named)}"):
        integration_spec("POST /", "SQS-SendMessage", parameters)


def _escape(text: str) -> str:
    import re

    return re.escape(text)


def test_a_subtype_not_served_is_named() -> None:
    with pytest.raises(IntegrationError, match="'EventBridge-PutEvents' is not served"):
        integration_spec("POST /", "EventBridge-PutEvents", {"Detail": "$request.body"})


# -- mapping expressions


def test_headers_are_case_insensitive_and_repeats_joined_with_commas() -> None:
    request = values(headers=[("X-Group", "a"), ("x-group", "b"), ("Other", "c")])
    assert evaluate("$request.header.x-GROUP", request) == "a,b"
    assert evaluate("$request.header.missing", request) is None


def test_query_strings_are_case_sensitive_and_repeats_joined_with_commas() -> None:
    request = values(query=[("group", "1"), ("group", "2"), ("Group", "3")])
    assert evaluate("$request.querystring.group", request) == "1,2"
    assert evaluate("$request.querystring.Group", request) == "3"
    assert evaluate("$request.querystring.GROUP", request) is None


def test_path_parameters_context_variables_and_static_values() -> None:
    request = values(path_parameters={"orderId": "o-1"}, context={"requestId": "r-1"})
    assert evaluate("$request.path.orderId", request) == "o-1"
    assert evaluate("$context.requestId", request) == "r-1"
    assert evaluate("static value", request) == "static value"


def test_the_whole_body_or_a_json_path_into_it() -> None:
    body = json.dumps(
        {"message": "hi", "messagegroup": "2", "order": {"lines": [{"sku": "a"}, {"sku": "b"}]}}
    ).encode()
    request = values(body=body)
    assert evaluate("$request.body", request) == body.decode()
    assert evaluate("$request.body.messagegroup", request) == "2"
    assert evaluate("$request.body.order.lines[1].sku", request) == "b"
    assert evaluate("$request.body.order['lines'][0]", request) == '{"sku": "a"}'
    assert evaluate("$request.body.order.lines[2]", request) is None
    assert evaluate("$request.body.absent", request) is None
    assert evaluate("$request.body.message", values(body=b"not json")) is None


def test_a_json_path_reads_only_the_first_100_kb_of_the_body() -> None:
    # "API Gateway truncates the request body at 100 KB and then applies the selection
    # expression": a body over it is no JSON any more; $request.body still passes it all.
    small = json.dumps({"group": "g", "pad": "x" * (BODY_SELECTION_LIMIT - 100)}).encode()
    large = json.dumps({"group": "g", "pad": "x" * BODY_SELECTION_LIMIT}).encode()
    assert evaluate("$request.body.group", values(body=small)) == "g"
    assert evaluate("$request.body.group", values(body=large)) is None
    assert evaluate("$request.body", values(body=large)) == large.decode()


# -- the SendMessage call and its answer


@dataclass
class FakeHttpResponse:
    status_code: int
    content: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeEvents:
    hooks: dict[str, Any] = field(default_factory=dict)

    def register_first(self, event: str, handler: Any, unique_id: str) -> None:
        self.hooks[event] = handler


@dataclass
class FakeMeta:
    events: FakeEvents = field(default_factory=FakeEvents)


@dataclass
class FakeSqs:
    """Answers SendMessage as botocore does: the after-call hook sees the raw answer; a
    status of 300 or more raises; `answer` None is a connection that never answered."""

    answer: FakeHttpResponse | None
    calls: list[dict[str, Any]] = field(default_factory=list)
    meta: FakeMeta = field(default_factory=FakeMeta)

    def send_message(self, **arguments: Any) -> dict[str, Any]:
        self.calls.append(arguments)
        if self.answer is None:
            raise ConnectionError("connection refused")
        self.meta.events.hooks["after-call.sqs.SendMessage"](http_response=self.answer)
        if self.answer.status_code >= 300:
            raise RuntimeError("a ClientError")
        return json.loads(self.answer.content)


JSON = {"Content-Type": "application/x-amz-json-1.0"}
SENT = FakeHttpResponse(200, b'{"MessageId":"m-1","MD5OfMessageBody":"x"}', JSON)
REFUSED = FakeHttpResponse(
    400,
    b'{"__type":"com.amazonaws.sqs#MissingParameter","message":"The request must contain '
    b'the parameter MessageGroupId."}',
    JSON,
)
SPEC = ServiceIntegrationSpec(
    "SQS-SendMessage",
    (
        ("MessageBody", "$request.body"),
        ("MessageGroupId", "$request.body.messagegroup"),
        ("QueueUrl", QUEUE_URL),
    ),
)


def send(fake: FakeSqs, spec: ServiceIntegrationSpec, request: RequestValues) -> Any:
    regions: list[str] = []

    def clients(region: str) -> FakeSqs:
        regions.append(region)
        return fake

    answer = SendMessage(clients, "us-east-1")(spec, request)
    return answer, regions


def test_the_mapped_message_is_sent_and_sqss_answer_passed_back() -> None:
    fake = FakeSqs(SENT)
    body = b'{"messagegroup": "2", "message": "event message for testing"}'
    answer, regions = send(fake, SPEC, values(body=body))
    assert fake.calls == [
        {"MessageBody": body.decode(), "MessageGroupId": "2", "QueueUrl": QUEUE_URL}
    ]
    assert regions == ["us-east-1"]
    assert (answer.status, answer.headers, answer.body) == (
        200,
        [("Content-Type", "application/x-amz-json-1.0")],
        SENT.content,
    )


def test_a_parameter_the_request_lacks_is_left_out_and_sqss_refusal_passed_back() -> None:
    fake = FakeSqs(REFUSED)
    answer, _ = send(fake, SPEC, values(body=b'{"message": "no group"}'))
    assert fake.calls == [{"MessageBody": '{"message": "no group"}', "QueueUrl": QUEUE_URL}]
    assert (answer.status, answer.body) == (400, REFUSED.content)


def test_region_delay_and_attributes_become_sendmessages_arguments() -> None:
    attributes = {"source": {"DataType": "String", "StringValue": "web"}}
    spec = ServiceIntegrationSpec(
        "SQS-SendMessage",
        (
            ("QueueUrl", QUEUE_URL),
            ("MessageBody", "$request.body"),
            ("Region", "eu-west-1"),
            ("DelaySeconds", "$request.header.delay"),
            ("MessageAttributes", json.dumps(attributes)),
        ),
    )
    fake = FakeSqs(SENT)
    _, regions = send(fake, spec, values(body=b"x", headers=[("Delay", "5")]))
    assert regions == ["eu-west-1"]
    assert fake.calls == [
        {
            "QueueUrl": QUEUE_URL,
            "MessageBody": "x",
            "DelaySeconds": 5,
            "MessageAttributes": attributes,
        }
    ]


def test_no_answer_from_sqs_is_api_gateways_500() -> None:
    answer, _ = send(FakeSqs(None), SPEC, values(body=b'{"messagegroup": "2"}'))
    assert (answer.status, json.loads(answer.body)) == (500, {"message": "Internal Server Error"})


# -- served by the HTTP API app, under its stage


@dataclass
class RecordingIntegration:
    calls: list[tuple[ServiceIntegrationSpec, RequestValues]] = field(default_factory=list)

    def __call__(self, spec: ServiceIntegrationSpec, request: RequestValues) -> Any:
        from local_cloud.http_api.events import HttpResponse

        self.calls.append((spec, request))
        return HttpResponse(200, [("Content-Type", "application/json")], b'{"MessageId":"m"}')


class NoLambda:
    def invoke(self, function: str, event: Any) -> Any:
        raise AssertionError("a service integration invokes no function")


def test_the_app_serves_the_route_under_its_stage_with_the_requests_values() -> None:
    api = HttpApiSpec(
        "MyAPI",
        (HttpRouteSpec("POST", "/", "", "1.0", integration=SPEC),),
        ("MyAPIStage",),
        ("prod",),
    )
    integration = RecordingIntegration()
    client = Client(HttpApiApp([api], NoLambda(), service_integration=integration))
    response = client.post("/prod/?a=1", data=b'{"messagegroup": "2"}', headers={"X-A": "b"})
    assert (response.status_code, response.get_data()) == (200, b'{"MessageId":"m"}')
    ((spec, request),) = integration.calls
    assert spec is SPEC
    assert request.body == b'{"messagegroup": "2"}'
    assert ("X-A", "b") in list(request.headers)
    assert list(request.query) == [("a", "1")]
    assert request.context["requestId"] == response.headers["apigw-requestid"]
    assert (request.context["stage"], request.context["routeKey"]) == ("prod", "POST /")
    assert client.post("/", data=b"{}").status_code == 404  # only stage prod is deployed
    assert len(integration.calls) == 1


def test_without_an_endpoint_to_call_the_route_answers_500() -> None:
    api = HttpApiSpec("MyAPI", (HttpRouteSpec("POST", "/", "", "1.0", integration=SPEC),))
    response = Client(HttpApiApp([api], NoLambda())).post("/", data=b"{}")
    assert (response.status_code, response.get_json()) == (
        500,
        {"message": "Internal Server Error"},
    )
