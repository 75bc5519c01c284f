"""aws-samples/serverless-patterns apigw-http-api-fifo-sqs-lambda-sns-sam, unchanged
(apps/apigw_http_api_fifo_sqs_lambda_sns_sam).

What its README documents: `POST https://{api-id}.execute-api.{region}.amazonaws.com/prod/`
with `Content-Type: application/json` and a JSON body that carries `messagegroup`; the HTTP
API's SQS-SendMessage integration (api.yaml, pulled in with AWS::Include) sends the body to
the FIFO queue ServerlessLandSQS.fifo with the body's `messagegroup` as MessageGroupId;
MyLambdaFunction receives it, prints `Received message: <body>` and publishes the body to
the SNS topic with the subject "SQS Event Notification". The README subscribes an email
address to the topic; here an SQS queue is subscribed instead, an endpoint SNS delivers to
on the local endpoint as well.

What AWS documents for the parts: a FIFO queue keeps a group's order; with
ContentBasedDeduplication the same body sent again within 5 minutes is accepted and not
delivered again; SendMessage to a FIFO queue without a MessageGroupId is refused
(MissingParameter). An HTTP API whose only stage is `prod` answers under /prod only.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.acceptance.conftest import RunningApp, deployed, eventually

APP = "apigw_http_api_fifo_sqs_lambda_sns_sam"
FUNCTION = "MyLambdaFunction"
RECEIVED = "Received message: "
# The README's body first, then two more of its group
BODIES = [
    {"message": "event message for testing", "messagegroup": "2"},
    {"message": "second message of group 2", "messagegroup": "2"},
    {"message": "third message of group 2", "messagegroup": "2"},
]


@pytest.fixture(scope="module")
def app() -> Iterator[RunningApp]:
    with deployed(APP, "apigw-http-api-fifo-sqs-lambda-sns-sam") as running:
        yield running


@pytest.fixture(scope="module")
def notifications(app: RunningApp) -> str:
    """The URL of a queue subscribed to the app's topic (standing in for the README's email)."""
    sqs = app.client("sqs")
    url = str(sqs.create_queue(QueueName="notifications-inbox")["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    app.client("sns").subscribe(
        TopicArn=app.cloud.stack.outputs["MySNSTopic"], Protocol="sqs", Endpoint=arn["QueueArn"]
    )
    return url


def api_url(app: RunningApp) -> str:
    """The template's MyAPI Output, AWS's URL, as served locally."""
    aws_url = app.cloud.stack.outputs["MyAPI"]
    assert aws_url.startswith("https://")
    assert aws_url.endswith(".amazonaws.com/prod/")
    return app.cloud.local_api_url(aws_url)


def post(url: str, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(  # noqa: S310 - the local cloud's own http URL
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def received(app: RunningApp) -> list[Any]:
    return [
        json.loads(line.split(RECEIVED, 1)[1])
        for line in app.lines(FUNCTION)
        if line.startswith(RECEIVED)
    ]


def drain(app: RunningApp, url: str, count: int) -> list[dict[str, Any]]:
    """`count` SNS notifications from the subscribed queue (SNS's JSON envelope each)."""
    sqs = app.client("sqs")
    found: list[dict[str, Any]] = []

    def enough() -> bool:
        for message in sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return len(found) >= count

    eventually(enough, f"{count} notifications on the subscribed queue")
    return found


def test_it_deploys_unchanged_and_serves_the_route(app: RunningApp) -> None:
    assert app.cloud.stack.unsupported_resources == ()
    assert app.cloud.deployment is not None
    (api,) = app.cloud.deployment.http_apis
    (route,) = api.routes
    assert (route.route_key, api.stage_names) == ("POST /", ("prod",))
    assert route.integration is not None
    parameters = dict(route.integration.request_parameters)
    assert parameters == {
        "MessageBody": "$request.body",
        "MessageGroupId": "$request.body.messagegroup",
        "QueueUrl": app.queue_url("MySQSQueue"),  # `Ref: MySQSQueue` in api.yaml, resolved
    }
    assert app.mapping(FUNCTION, app.queue_arn("MySQSQueue")).spec.is_fifo


def test_a_post_reaches_the_function_and_the_topic_in_order(
    app: RunningApp, notifications: str
) -> None:
    for body in BODIES:
        status, answer = post(api_url(app), json.dumps(body).encode())
        assert status == 200, answer
        assert json.loads(answer)["MessageId"]  # SQS's SendMessage result, passed through

    assert eventually(lambda: received(app) if len(received(app)) >= 3 else None, "3 invocations")
    assert received(app) == BODIES  # FIFO: the group's order
    found = drain(app, notifications, len(BODIES))
    assert sorted(json.loads(item["Message"])["message"] for item in found) == sorted(
        body["message"] for body in BODIES
    )
    assert {item["Subject"] for item in found} == {"SQS Event Notification"}
    eventually(lambda: app.depth("MySQSQueue") == (0, 0), "MySQSQueue empty")
    assert app.depth("MyDeadLetterQueueForSQS") == (0, 0)


def test_the_same_body_again_is_deduplicated(app: RunningApp, notifications: str) -> None:
    body = json.dumps({"message": "sent twice", "messagegroup": "7"}).encode()
    before = len(received(app))
    answers = [post(api_url(app), body) for _ in range(2)]
    # Content-based deduplication: the second SendMessage is accepted, and not delivered
    assert [status for status, _ in answers] == [200, 200]
    drain(app, notifications, 1)
    eventually(lambda: app.depth("MySQSQueue") == (0, 0), "MySQSQueue empty")
    assert [item["message"] for item in received(app)[before:]] == ["sent twice"]


def test_a_body_without_messagegroup_is_refused_by_sqs(app: RunningApp) -> None:
    before = len(received(app))
    status, answer = post(api_url(app), json.dumps({"message": "no group"}).encode())
    assert status == 400
    assert "MessageGroupId" in answer, answer  # SQS's MissingParameter, passed through
    assert app.depth("MySQSQueue") == (0, 0)
    assert len(received(app)) == before


def test_the_api_answers_only_under_its_stage(app: RunningApp) -> None:
    root = api_url(app).removesuffix("prod/")
    status, answer = post(root, b'{"messagegroup": "2"}')
    assert (status, json.loads(answer)) == (404, {"message": "Not Found"})
