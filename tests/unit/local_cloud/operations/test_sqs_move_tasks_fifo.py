"""StartMessageMoveTask on FIFO queues: SQS redrives a FIFO DLQ to a FIFO queue, in order.

The public app fifo-sqs-redrive (tests/acceptance) does exactly this with
`start-message-move-task --destination-arn`; the endpoint refused it before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_cloud.sqs_move_tasks import MoveTaskError, MoveTasks


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def fifo_queues(sqs: Any) -> tuple[str, str, str]:
    """(source URL, DLQ URL, DLQ ARN): a FIFO queue whose RedrivePolicy names a FIFO DLQ."""
    dlq = sqs.create_queue(
        QueueName="dlq.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    source = sqs.create_queue(
        QueueName="orders.fifo",
        Attributes={
            "FifoQueue": "true",
            "ContentBasedDeduplication": "true",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}),
        },
    )["QueueUrl"]
    return source, dlq, dlq_arn


def test_a_fifo_dlq_is_redriven_to_its_source_in_order_keeping_each_group(sqs: Any) -> None:
    source, dlq, dlq_arn = fifo_queues(sqs)
    sent = [("a", "first"), ("b", "second"), ("a", "third"), ("a", "first")]  # a repeated body
    for index, (group, body) in enumerate(sent):
        # distinct deduplication IDs: the DLQ holds two messages with the body "first"
        sqs.send_message(
            QueueUrl=dlq, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=f"m{index}"
        )
    tasks = MoveTasks()
    tasks.start({"SourceArn": dlq_arn})
    task = tasks._by_source[dlq_arn][0]
    assert task.thread is not None
    task.thread.join(timeout=60)
    assert task.status == "COMPLETED"

    moved = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=source, MaxNumberOfMessages=10, AttributeNames=["MessageGroupId"]
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            moved.append((message["Attributes"]["MessageGroupId"], message["Body"]))
            sqs.delete_message(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"])
    assert sorted(moved) == sorted(sent)  # none lost, and the twin "first" not deduplicated
    for group in ("a", "b"):  # each group's order kept
        assert [b for g, b in moved if g == group] == [b for g, b in sent if g == group]


def test_a_fifo_dlq_is_not_redriven_to_a_standard_queue(sqs: Any) -> None:
    _, _, dlq_arn = fifo_queues(sqs)
    standard = sqs.create_queue(QueueName="standard")["QueueUrl"]
    standard_arn = sqs.get_queue_attributes(QueueUrl=standard, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    with pytest.raises(MoveTaskError, match="a redrive needs two queues of the same type"):
        MoveTasks().start({"SourceArn": dlq_arn, "DestinationArn": standard_arn})
