"""aws-samples/serverless-patterns sqs-lambda-python-sam, unchanged (apps/sqs_lambda_python_sam).

What its README documents: send messages to ProcessingQueue; ProcessorFunction receives them
in batches of up to 10 with ReportBatchItemFailures, prints `Processed message: <body>` for
each, and the queue is left empty (what succeeded is deleted). Messages it cannot process
would go to ProcessingDLQ after 3 receives; this function fails none, so the DLQ stays empty.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.acceptance.conftest import APPS, RunningApp, deployed, eventually

pytestmark = pytest.mark.acceptance_fast

APP = "sqs_lambda_python_sam"


@pytest.fixture(scope="module")
def app() -> Iterator[RunningApp]:
    with deployed(APP, "sqs-lambda-python-sam") as running:
        yield running


def test_it_deploys_unchanged_with_the_documented_mapping(app: RunningApp) -> None:
    assert app.cloud.stack.unsupported_resources == ()
    outputs = app.cloud.stack.outputs
    assert outputs["ProcessingQueueURL"] == app.queue_url("ProcessingQueue")
    assert outputs["ProcessingQueueARN"] == app.queue_arn("ProcessingQueue")
    poller = app.mapping("ProcessorFunction", outputs["ProcessingQueueARN"])
    assert (poller.spec.batch_size, poller.spec.report_batch_item_failures) == (10, True)
    redrive = json.loads(
        app.client("sqs").get_queue_attributes(
            QueueUrl=outputs["ProcessingQueueURL"], AttributeNames=["RedrivePolicy"]
        )["Attributes"]["RedrivePolicy"]
    )
    assert redrive == {"deadLetterTargetArn": outputs["ProcessingDLQARN"], "maxReceiveCount": 3}


def test_every_message_is_processed_once_and_deleted(app: RunningApp) -> None:
    # The bodies of the app's own sample event, then a batch larger than BatchSize
    sample = json.loads((APPS / APP / "events" / "test-event.json").read_text())
    bodies = [record["body"] for record in sample["Records"]]
    bodies += [f"order {n}" for n in range(15)]
    sqs = app.client("sqs")
    url = app.cloud.stack.outputs["ProcessingQueueURL"]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)

    def printed() -> list[str]:
        prefix = "Processed message: "
        return [
            line.split(prefix, 1)[1] for line in app.lines("ProcessorFunction") if prefix in line
        ]

    eventually(lambda: len(printed()) >= len(bodies), f"{len(bodies)} messages processed")
    eventually(lambda: app.depth("ProcessingQueue") == (0, 0), "ProcessingQueue empty")
    assert sorted(printed()) == sorted(bodies)  # each once, none lost, none repeated
    assert app.depth("ProcessingDLQ") == (0, 0)
    arn = app.cloud.stack.outputs["ProcessingQueueARN"]
    stats = app.mapping("ProcessorFunction", arn).stats()
    assert (stats.deleted, stats.failed, stats.invocation_errors) == (len(bodies), 0, 0)
    assert stats.batches >= 2  # 17 messages, at most 10 a batch


def test_the_sample_event_is_the_shape_lambda_sends(app: RunningApp) -> None:
    """`invoke` with the app's own events/test-event.json answers an empty failure list."""
    event = json.loads((APPS / APP / "events" / "test-event.json").read_text())
    result = app.cloud.lambda_service.invoke("ProcessorFunction", event)
    assert result.error is None
    assert result.payload == {"batchItemFailures": []}
