"""aws-samples/serverless-patterns fifo-sqs-redrive, unchanged (apps/fifo_sqs_redrive).

What its README documents, step by step: a JSON message sent to MyOriginalQueue.fifo (with a
message group ID) fails in MyOriginalQueueFunction, which raises, and lands in
MyDeadLetterQueue.fifo (maxReceiveCount 1); `aws sqs start-message-move-task --source-arn
<DLQ ARN> --destination-arn <MyReProcessQueue ARN>` moves it to MyReProcessQueue.fifo, where
ReProcessQueueFunction prints `Processed message: ...` and every queue ends empty. With
several messages in one group, FIFO keeps their order all the way through.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator

import pytest

from tests.acceptance.conftest import RunningApp, deployed, eventually

APP = "fifo_sqs_redrive"
# The README's message first, then two more of the same group
MESSAGES = [
    {"id": 123, "name": "John", "data": {"age": 30, "job": "Developer"}},
    {"id": 124, "name": "Jane", "data": {"age": 41, "job": "Architect"}},
    {"id": 125, "name": "Ada", "data": {"age": 36, "job": "Analyst"}},
]
QUEUES = ("MyOriginalQueue", "MyDeadLetterQueue", "MyReProcessQueue")


@pytest.fixture(scope="module")
def app() -> Iterator[RunningApp]:
    with deployed(APP, "fifo-sqs-redrive") as running:
        yield running


def test_it_deploys_unchanged(app: RunningApp) -> None:
    assert app.cloud.stack.unsupported_resources == ()
    outputs = app.cloud.stack.outputs
    assert outputs["MyOriginalQueueUrl"].endswith("/MyOriginalQueue.fifo")
    assert app.queue_arn("MyDeadLetterQueue") == outputs["MyDeadLetterQueueArn"]
    original = app.mapping("MyOriginalQueueFunction", app.queue_arn("MyOriginalQueue"))
    assert original.spec.is_fifo


def test_failed_messages_are_dead_lettered_then_redriven_in_order(app: RunningApp) -> None:
    sqs = app.client("sqs")
    outputs = app.cloud.stack.outputs
    for message in MESSAGES:
        sqs.send_message(
            QueueUrl=outputs["MyOriginalQueueUrl"],
            MessageBody=json.dumps(message),
            MessageGroupId="group1",
        )

    # Step 2-3: the function raises; after the 30 s visibility timeout the next receive
    # exceeds maxReceiveCount 1 and SQS moves each message to the DLQ.
    eventually(lambda: app.depth("MyDeadLetterQueue") == (3, 0), "3 messages in the DLQ")
    eventually(lambda: app.depth("MyOriginalQueue") == (0, 0), "MyOriginalQueue empty")
    original = app.mapping("MyOriginalQueueFunction", app.queue_arn("MyOriginalQueue"))
    assert original.stats().invocation_errors >= 1
    assert original.stats().deleted == 0
    assert any("Failed to process message" in line for line in app.lines("MyOriginalQueueFunction"))

    # Step 4: the README's redrive, DLQ to MyReProcessQueue
    sqs.start_message_move_task(
        SourceArn=outputs["MyDeadLetterQueueArn"], DestinationArn=outputs["MyReProcessQueueArn"]
    )

    prefix = "Processed message: "

    def reprocessed() -> list[object]:
        return [
            ast.literal_eval(line.split(prefix, 1)[1])  # the function prints a dict's repr
            for line in app.lines("ReProcessQueueFunction")
            if prefix in line
        ]

    eventually(lambda: len(reprocessed()) >= len(MESSAGES), "every message reprocessed")
    # Step 5: all three queues empty; FIFO order kept through the DLQ and the redrive
    for queue in QUEUES:

        def empty(q: str = queue) -> bool:
            return app.depth(q) == (0, 0)

        eventually(empty, f"{queue} empty")
    assert reprocessed() == MESSAGES
    assert any("Message redriven from DLQ" in line for line in app.lines("ReProcessQueueFunction"))
