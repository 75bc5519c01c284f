"""aws-samples/serverless-patterns sns-sqs-lambda-xray, unchanged (apps/sns_sqs_lambda_xray).

What its README documents: invoke ProducerFunction; it publishes "This message was sent:
<time>" to SourceSnsTopic, whose SQS subscription (not raw: SNS's JSON envelope) delivers it
to SourceSqsQueue, and ConsumerFunction receives it and prints the event.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.acceptance.conftest import RunningApp, deployed, eventually

APP = "sns_sqs_lambda_xray"


@pytest.fixture(scope="module")
def app() -> Iterator[RunningApp]:
    with deployed(APP, "sns-sqs-lambda-xray") as running:
        yield running


def consumed_events(app: RunningApp) -> list[Any]:
    """The events ConsumerFunction printed (`event=<the dict's repr>`)."""
    return [
        ast.literal_eval(line.split("event=", 1)[1])
        for line in app.lines("ConsumerFunction")
        if line.startswith("event=")
    ]


def test_it_deploys_unchanged_with_its_layer(app: RunningApp) -> None:
    assert app.cloud.stack.unsupported_resources == ()
    consumer = app.cloud.stack.function("ConsumerFunction")
    producer = app.cloud.stack.function("ProducerFunction")
    assert consumer.layer_dirs == producer.layer_dirs
    assert len(consumer.layer_dirs) == 1
    subscriptions = app.client("sns").list_subscriptions_by_topic(
        TopicArn=app.cloud.stack.outputs["SourceSnsTopic"]
    )["Subscriptions"]
    assert [item["Endpoint"] for item in subscriptions] == [
        app.cloud.stack.outputs["SourceSqsQueue"]
    ]


def test_the_producers_message_reaches_the_consumer_in_snss_envelope(app: RunningApp) -> None:
    result = app.cloud.lambda_service.invoke("ProducerFunction", {})
    assert result.error is None, result.error
    assert result.payload["statusCode"] == 200
    sent = json.loads(result.payload["body"])
    assert sent.startswith("This message was sent: ")

    events = eventually(lambda: consumed_events(app), "ConsumerFunction invoked")
    eventually(lambda: app.depth("SourceSqsQueue") == (0, 0), "SourceSqsQueue empty")
    records = [record for event in events for record in event["Records"]]
    assert len(records) == 1  # published once, delivered once
    record = records[0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == app.cloud.stack.outputs["SourceSqsQueue"]
    envelope = json.loads(record["body"])
    assert envelope["Type"] == "Notification"
    assert envelope["TopicArn"] == app.cloud.stack.outputs["SourceSnsTopic"]
    assert envelope["Message"] == sent
    consumer_lines = app.lines("ConsumerFunction")
    assert any(line.startswith("Hello Lambda!! with ID: ") for line in consumer_lines)
