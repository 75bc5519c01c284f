"""Poison messages: errors no retry can fix take the short way to the consumer's DLQ.

A message that does not fit its contract, a reused transaction ID, or a provider answer
that is final fails the same way on every receive; redelivering it only burns receives
(5, about 15 minutes) before SQS dead-letters it with no reason attached. Instead the
consumer copies it to its own dead-letter queue at once, with the reason in message
attributes, and only then acknowledges it (the record handler returns normally, so the
batch processor deletes the source message). Copy first: if the copy fails, the consumer
re-raises the original error, the record fails, and SQS redelivers it as before. Nothing
is lost either way; at worst a message is both copied and redelivered (a SendMessage whose
answer was lost), which the consumers absorb (billing is idempotent by transaction_id,
welcome emails are at-least-once).

The attribute names are the ones `local_cloud.operations.dlq` reads to show a reason:
`ErrorType`, `ErrorMessage`, `ErrorFunction`, `ErrorTime`, plus `SourceQueue` and
`SourceMessageId`. The message's own attributes are kept, within SQS's limit of 10.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from delivery_guarantees.adapters.job_queue import SQS_CLIENT_CONFIG

logger = logging.getLogger(__name__)

MAX_MESSAGE_ATTRIBUTES = 10  # SQS's limit per message
# Long enough for a validation summary, short enough to stay far from the 256 KiB limit.
ERROR_MESSAGE_MAX_CHARS = 512
REASON_ATTRIBUTES = (
    "ErrorType",
    "ErrorMessage",
    "ErrorFunction",
    "ErrorTime",
    "SourceQueue",
    "SourceMessageId",
)
# 13 to 19 digits, optionally grouped by spaces or dashes: what a card number looks like.
# The domain's error texts never echo a rejected value; this is a second line of defence.
_CARD_LIKE = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")
REDACTED = "[redacted]"


def safe_error_message(error: BaseException, limit: int = ERROR_MESSAGE_MAX_CHARS) -> str:
    """The error's text on one line, card-like digit runs redacted, at most `limit` chars."""
    text = " ".join(str(error).split()) or type(error).__name__
    text = _CARD_LIKE.sub(REDACTED, text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def queue_name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1] if arn else "unknown"


def _sendable(attribute: Mapping[str, Any]) -> dict[str, Any] | None:
    """A Lambda event's message attribute in SendMessage's shape (None if it has no value)."""
    data_type = attribute.get("dataType") or attribute.get("DataType")
    string_value = attribute.get("stringValue", attribute.get("StringValue"))
    binary_value = attribute.get("binaryValue", attribute.get("BinaryValue"))
    if not data_type:
        return None
    if string_value is not None:
        return {"DataType": data_type, "StringValue": str(string_value)}
    if binary_value is not None:
        raw = base64.b64decode(binary_value) if isinstance(binary_value, str) else binary_value
        return {"DataType": data_type, "BinaryValue": raw}
    return None


def kept_attributes(message_attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The message's own attributes that fit beside the reason (by name, the first 4).

    A reason from an earlier copy (a redriven poison message) is replaced, not kept.
    """
    budget = MAX_MESSAGE_ATTRIBUTES - len(REASON_ATTRIBUTES)
    kept: dict[str, Any] = {}
    for name in sorted(message_attributes):
        if name in REASON_ATTRIBUTES:
            continue
        sendable = _sendable(message_attributes[name] or {})
        if sendable is None:
            continue
        if len(kept) == budget:
            logger.warning(
                "poison message has more attributes than fit beside the reason; dropped",
                extra={"dropped_attribute": name},
            )
            continue
        kept[name] = sendable
    return kept


def reason_attributes(
    record: SQSRecord, error: BaseException, function_name: str, now: datetime
) -> dict[str, Any]:
    values = {
        "ErrorType": type(error).__name__,
        "ErrorMessage": safe_error_message(error),
        "ErrorFunction": function_name or "unknown",
        "ErrorTime": now.astimezone(UTC).isoformat(timespec="seconds"),
        "SourceQueue": queue_name(record.event_source_arn or ""),
        "SourceMessageId": record.message_id or "unknown",
    }
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}


class PoisonMessageRouter:
    """Copies a poison record to `dead_letter_queue_url`; returns the copy's message ID.

    Raises whatever SendMessage raises: the caller then fails the record (redelivery).
    """

    def __init__(
        self,
        dead_letter_queue_url: str,
        client: Any | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.dead_letter_queue_url = dead_letter_queue_url
        self._client = client
        self._clock = clock

    @property
    def _sqs(self) -> Any:
        # Created on first use, never at import; explicit timeouts (see job_queue).
        if self._client is None:
            self._client = boto3.client("sqs", config=SQS_CLIENT_CONFIG)
        return self._client

    def dead_letter(self, record: SQSRecord, error: BaseException, function_name: str) -> str:
        attributes = kept_attributes(record.raw_event.get("messageAttributes") or {})
        attributes.update(reason_attributes(record, error, function_name, self._clock()))
        response = self._sqs.send_message(
            QueueUrl=self.dead_letter_queue_url,
            MessageBody=record.body,
            MessageAttributes=attributes,
        )
        message_id: str = response["MessageId"]
        return message_id
