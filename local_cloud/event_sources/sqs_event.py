"""The event Lambda builds from SQS messages: ReceiveMessage output in, `{"Records": [...]}` out.

Pure functions, no I/O. The shape follows AWS's sample events ("Using Lambda with Amazon
SQS"): camelCase record keys, the system attributes as strings, message attributes in
Lambda's lower-camel form with binary values base64-encoded, md5OfMessageAttributes only
when the message has attributes.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

# The system attributes Lambda passes on, in the order of its sample events (the FIFO ones
# appear only for FIFO queues, AWSTraceHeader only when the sender traced).
_RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "SenderId",
    "MessageDeduplicationId",
    "ApproximateFirstReceiveTimestamp",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)


def region_of(queue_arn: str) -> str:
    """arn:aws:sqs:<region>:<account>:<name> -> <region>."""
    parts = queue_arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs" or not parts[3]:
        raise ValueError(f"not an SQS queue ARN: {queue_arn!r}")
    return parts[3]


def _b64(value: bytes | str) -> str:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return base64.b64encode(raw).decode("ascii")


def lambda_message_attributes(attributes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """SQS's MessageAttributes (boto3 form) in Lambda's event form."""
    converted: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        entry: dict[str, Any] = {}
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            entry["binaryValue"] = _b64(value["BinaryValue"])
        entry["stringListValues"] = list(value.get("StringListValues", []))
        entry["binaryListValues"] = [_b64(v) for v in value.get("BinaryListValues", [])]
        entry["dataType"] = value["DataType"]
        converted[name] = entry
    return converted


def lambda_record(message: Mapping[str, Any], *, queue_arn: str) -> dict[str, Any]:
    """One received message as one record of the event."""
    received = message.get("Attributes", {})
    attributes = {name: received[name] for name in _RECORD_ATTRIBUTES if name in received}
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": lambda_message_attributes(message.get("MessageAttributes", {})),
        "md5OfBody": message["MD5OfBody"],
    }
    if message.get("MessageAttributes") and "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record["eventSource"] = "aws:sqs"
    record["eventSourceARN"] = queue_arn
    record["awsRegion"] = region_of(queue_arn)
    return record


def lambda_event(messages: Sequence[Mapping[str, Any]], *, queue_arn: str) -> dict[str, Any]:
    return {"Records": [lambda_record(message, queue_arn=queue_arn) for message in messages]}
