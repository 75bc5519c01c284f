"""The event built from ReceiveMessage output, compared with AWS's sample events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local_cloud.event_sources import lambda_event, lambda_record
from local_cloud.event_sources.sqs_event import region_of

SAMPLES = Path(__file__).resolve().parent / "aws_samples"
QUEUE_ARN = "arn:aws:sqs:us-east-2:123456789012:my-queue"


def _sample(name: str) -> dict[str, Any]:
    sample: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return sample


def _received(**overrides: Any) -> dict[str, Any]:
    """A message as boto3's receive_message returns it (AttributeNames=All)."""
    message: dict[str, Any] = {
        "MessageId": "2e1424d4-f796-459a-8184-9c92662be6da",
        "ReceiptHandle": "AQEBzWwaftRI0KuVm4tP+/7q1rGgNqicHq...",
        "MD5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "Body": "Test message.",
        "Attributes": {
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1545082650649",
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1545082650636",
        },
    }
    message.update(overrides)
    return message


def test_a_standard_message_becomes_exactly_the_aws_sample_record() -> None:
    expected = _sample("sqs_standard.json")["Records"][1]

    record = lambda_record(_received(), queue_arn=QUEUE_ARN)

    assert record == expected
    assert list(record) == list(expected)
    assert list(record["attributes"]) == list(expected["attributes"])


def test_a_fifo_message_carries_sequence_number_group_and_deduplication_id() -> None:
    expected = _sample("sqs_fifo.json")["Records"][0]
    message = _received(
        MessageId=expected["messageId"],
        ReceiptHandle=expected["receiptHandle"],
        Attributes={
            "SenderId": "AIDAIO23YVJENQZJOL4VO",
            "MessageGroupId": "1",
            "MessageDeduplicationId": "1",
            "SequenceNumber": "18849496460467696128",
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1573251510774",
            "ApproximateFirstReceiveTimestamp": "1573251510774",
        },
    )

    record = lambda_record(message, queue_arn="arn:aws:sqs:us-east-2:123456789012:fifo.fifo")

    assert record == expected
    assert list(record["attributes"]) == list(expected["attributes"])


def test_string_attributes_take_lambdas_camel_case_form() -> None:
    expected = _sample("sqs_standard.json")["Records"][0]["messageAttributes"]
    message = _received(
        MessageAttributes={"myAttribute": {"StringValue": "myValue", "DataType": "String"}},
        MD5OfMessageAttributes="9f2ba6a3c0bfe5a5e9d8f2d1f1a0b4c3",
    )

    record = lambda_record(message, queue_arn=QUEUE_ARN)

    assert record["messageAttributes"] == expected


def test_binary_attributes_are_base64_encoded() -> None:
    message = _received(
        MessageAttributes={"blob": {"BinaryValue": b"\x00\xff", "DataType": "Binary.gz"}},
        MD5OfMessageAttributes="x",
    )

    record = lambda_record(message, queue_arn=QUEUE_ARN)

    assert record["messageAttributes"] == {
        "blob": {
            "binaryValue": "AP8=",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary.gz",
        }
    }


def test_md5_of_message_attributes_only_when_the_message_has_attributes() -> None:
    with_attributes = _received(
        MessageAttributes={"a": {"StringValue": "1", "DataType": "Number"}},
        MD5OfMessageAttributes="0123456789abcdef0123456789abcdef",
    )

    assert "md5OfMessageAttributes" not in lambda_record(_received(), queue_arn=QUEUE_ARN)
    record = lambda_record(with_attributes, queue_arn=QUEUE_ARN)
    assert record["md5OfMessageAttributes"] == "0123456789abcdef0123456789abcdef"


def test_a_trace_header_is_passed_on_when_the_sender_traced() -> None:
    attributes = {**_received()["Attributes"], "AWSTraceHeader": "Root=1-5e1b4151-5ac6c58f"}

    record = lambda_record(_received(Attributes=attributes), queue_arn=QUEUE_ARN)

    assert record["attributes"]["AWSTraceHeader"] == "Root=1-5e1b4151-5ac6c58f"


def test_the_event_keeps_the_received_order() -> None:
    messages = [_received(MessageId=f"m{i}") for i in range(3)]

    event = lambda_event(messages, queue_arn=QUEUE_ARN)

    assert [r["messageId"] for r in event["Records"]] == ["m0", "m1", "m2"]


def test_the_region_comes_from_the_queue_arn() -> None:
    assert region_of("arn:aws:sqs:eu-west-1:123456789012:q") == "eu-west-1"
    with pytest.raises(ValueError, match="not an SQS queue ARN"):
        region_of("https://sqs.eu-west-1.amazonaws.com/123456789012/q")
