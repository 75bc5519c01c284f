"""The DLQ library's pure parts: reasons, sources, lookups, shapes; no network."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local_cloud.operations.dlq import (
    UNKNOWN_REASON,
    DeadLetterError,
    DeadLetterQueue,
    _send_then_delete,
    dead_letter,
    failure_reason,
    find_queue,
    format_age,
    logical_id,
    move_task_unsupported,
    queue_outputs,
    redrive_sources,
    sendable_attributes,
)

DLQ = "arn:aws:sqs:us-east-1:123456789012:stack-billing-dlq"
SOURCE = "arn:aws:sqs:us-east-1:123456789012:stack-billing"


def text(value: str) -> dict[str, object]:
    return {
        "StringValue": value,
        "StringListValues": [],
        "BinaryListValues": [],
        "DataType": "String",
    }


def test_a_message_without_reason_attributes_failed_for_an_unknown_reason() -> None:
    assert failure_reason({}) == (UNKNOWN_REASON, {})
    assert failure_reason({"Other": text("x")}) == (UNKNOWN_REASON, {})


def test_the_reason_comes_from_the_error_attributes_when_present() -> None:
    reason, details = failure_reason(
        {
            "ErrorMessage": text("amount must be positive"),
            "ErrorType": text("ValidationError"),
            "ErrorFunction": text("BillingFunction"),
            "ErrorCode": text("E1"),
        }
    )
    assert reason == "ValidationError: amount must be positive"
    assert list(details) == ["ErrorType", "ErrorMessage", "ErrorFunction", "ErrorCode"]
    assert failure_reason({"ErrorType": text("Timeout")})[0] == "Timeout"


def test_sources_come_from_redrive_policies_and_the_redrive_allow_policy() -> None:
    policies = {
        SOURCE: json.dumps({"deadLetterTargetArn": DLQ, "maxReceiveCount": 5}),
        "arn:aws:sqs:us-east-1:123456789012:unrelated": None,
        DLQ: None,
    }
    assert redrive_sources(DLQ, policies, None) == (SOURCE,)
    allow = json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [SOURCE, "arn:x:y"]})
    assert redrive_sources(DLQ, {}, allow) == (SOURCE, "arn:x:y")
    assert redrive_sources(DLQ, policies, allow) == (SOURCE, "arn:x:y")  # once each
    assert redrive_sources(DLQ, {}, json.dumps({"redrivePermission": "allowAll"})) == ()


def test_queue_outputs_are_the_queue_urls_and_logical_ids_drop_url() -> None:
    outputs = {
        "BillingQueueUrl": "http://127.0.0.1:4566/123456789012/stack-billing",
        "AwsQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
        "ChargesTableName": "stack-ChargesTable-1",
        "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:t",
    }
    assert set(queue_outputs(outputs)) == {"BillingQueueUrl", "AwsQueueUrl"}
    assert logical_id("BillingDeadLetterQueueUrl") == "BillingDeadLetterQueue"


def test_a_listed_message_shows_its_count_before_the_look_and_its_first_send() -> None:
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "r",
        "Body": "{}",
        "Attributes": {"SentTimestamp": "1700000000000", "ApproximateReceiveCount": "6"},
    }
    listed = dead_letter(message, "stack-billing")
    assert listed.receive_count == 5
    assert listed.sent_at == datetime.fromtimestamp(1_700_000_000, UTC)
    assert listed.reason == UNKNOWN_REASON
    assert listed.age(listed.sent_at + timedelta(hours=2)) == timedelta(hours=2)


def test_queues_are_found_by_logical_id_output_key_name_url_or_arn() -> None:
    queue = DeadLetterQueue(
        "BillingDeadLetterQueue", "BillingDeadLetterQueueUrl", "http://h/1/stack-billing-dlq",
        DLQ, (SOURCE,),
    )  # fmt: skip
    for name in ("BillingDeadLetterQueue", "BillingDeadLetterQueueUrl", "stack-billing-dlq", DLQ):
        assert find_queue([queue], name) is queue
    with pytest.raises(
        DeadLetterError, match="BillingDeadLetterQueue \\(BillingDeadLetterQueueUrl\\)"
    ):
        find_queue([queue], "BillingQueue")
    assert queue.sources == "stack-billing"


def test_received_attributes_are_sent_without_their_empty_lists() -> None:
    assert sendable_attributes({"ErrorType": text("X")}) == {
        "ErrorType": {"DataType": "String", "StringValue": "X"}
    }


@pytest.mark.parametrize(
    ("code", "status", "unsupported"),
    [
        ("InvalidAction", 400, True),
        ("UnknownOperationException", 400, True),
        ("Anything", 501, True),
        ("InvalidParameterValue", 400, False),  # a real refusal: not a reason to loop
        ("ResourceNotFoundException", 400, False),
    ],
)
def test_only_a_missing_move_task_api_falls_back_to_the_loop(
    code: str, status: int, unsupported: bool
) -> None:
    error = ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "StartMessageMoveTask",
    )
    assert move_task_unsupported(error) is unsupported


def test_ages_read_at_a_glance() -> None:
    assert format_age(timedelta(seconds=42)) == "42s"
    assert format_age(timedelta(minutes=3, seconds=2)) == "3m 2s"
    assert format_age(timedelta(hours=5, minutes=1)) == "5h 1m"
    assert format_age(timedelta(days=3, hours=4)) == "3d 4h"
    assert format_age(timedelta(seconds=-5)) == "0s"


def test_the_loop_moves_what_was_there_when_it_started_not_what_fails_again_meanwhile() -> None:
    """A poison message whose cause is not fixed comes straight back: it must not cycle."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        source = sqs.create_queue(QueueName="billing")["QueueUrl"]
        dlq = sqs.create_queue(QueueName="billing-dlq")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["QueueArn"])
        for body in ('{"n": 1}', '{"n": 2}'):
            sqs.send_message(QueueUrl=dlq, MessageBody=body)
        bounces: list[str] = []

        def bounce_back(params: dict[str, Any], **_: Any) -> None:
            # The consumer fails the redriven message again at once: a new copy in the DLQ.
            if params["QueueUrl"] == source and len(bounces) < 5:
                bounces.append(params["MessageBody"])
                sqs.send_message(QueueUrl=dlq, MessageBody=params["MessageBody"])

        sqs.meta.events.register("provide-client-params.sqs.SendMessage", bounce_back)
        queue = DeadLetterQueue(
            logical_id="BillingDeadLetterQueue",
            output_key="BillingDeadLetterQueueUrl",
            url=dlq,
            arn=arn["Attributes"]["QueueArn"].replace("billing", "billing-dlq"),
            source_arns=(arn["Attributes"]["QueueArn"],),
        )

        result = _send_then_delete(sqs, queue, None, None, lambda _: None)

    assert result.moved == 2
    assert len(bounces) == 2
