"""What Lambda deletes after an SQS batch: the invocation's outcome, read by AWS's rules.

Pure functions, no I/O (see docs/semantics.md and AWS's "Reporting batch
item failures"):

- the function failed (raised, timed out, crashed, was throttled): the whole batch stays;
- without ReportBatchItemFailures, success deletes the whole batch;
- with it, a null or empty response, or a null or empty `batchItemFailures`, deletes the
  whole batch; invalid JSON, a response that is not an object, a `batchItemFailures` that is
  not a list, an item without `itemIdentifier` (a misspelled key), an empty or null
  identifier, or one that is not in the batch, fails the whole batch; otherwise exactly the
  listed messages stay;
- FIFO: after the first failed message of a message group, the later messages of that
  group in the batch stay too, listed or not, so the group keeps its order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BatchMessage:
    """What settling needs to know about one message of the batch, in batch order."""

    message_id: str
    receipt_handle: str
    group_id: str | None = None


@dataclass(frozen=True)
class Settlement:
    delete: tuple[BatchMessage, ...]  # to delete: processed
    retain: tuple[BatchMessage, ...]  # left alone: visible again after the visibility timeout
    whole_batch_failed: bool
    reason: str  # why, in words for the log

    @property
    def retained_ids(self) -> frozenset[str]:
        return frozenset(m.message_id for m in self.retain)


class InvalidBatchResponse(Exception):
    pass


def listed_failures(raw_payload: str | bytes | None, batch_ids: frozenset[str]) -> frozenset[str]:
    """The message IDs a ReportBatchItemFailures response asks to keep.

    Raises InvalidBatchResponse when the response fails the whole batch.
    """
    if raw_payload is None or raw_payload in ("", b""):
        return frozenset()
    try:
        response = json.loads(raw_payload)
    except ValueError as exc:
        raise InvalidBatchResponse(f"the response is not valid JSON ({exc})") from None
    if response is None:
        return frozenset()
    if not isinstance(response, dict):
        raise InvalidBatchResponse(f"the response is a {type(response).__name__}, not an object")
    # Other top-level keys are ignored, as Lambda ignores them: the response is "empty".
    failures = response.get("batchItemFailures")
    if failures is None:
        return frozenset()
    if not isinstance(failures, list):
        raise InvalidBatchResponse(f"batchItemFailures is a {type(failures).__name__}, not a list")
    listed: set[str] = set()
    for item in failures:
        if not isinstance(item, dict) or "itemIdentifier" not in item:
            raise InvalidBatchResponse(
                f"batch item failure without an itemIdentifier key: {item!r}"
            )
        identifier = item["itemIdentifier"]
        if identifier is None or identifier == "":
            raise InvalidBatchResponse(f"empty or null itemIdentifier: {item!r}")
        if not isinstance(identifier, str) or identifier not in batch_ids:
            raise InvalidBatchResponse(
                f"itemIdentifier {identifier!r} is not a message of the batch"
            )
        listed.add(identifier)
    return frozenset(listed)


def _fifo_retained(messages: Sequence[BatchMessage], failed_ids: frozenset[str]) -> set[str]:
    retained: set[str] = set()
    failed_groups: set[str | None] = set()
    for message in messages:
        if message.message_id in failed_ids or message.group_id in failed_groups:
            retained.add(message.message_id)
            failed_groups.add(message.group_id)
    return retained


def settle_batch(
    messages: Sequence[BatchMessage],
    *,
    invocation_error: Mapping[str, Any] | None,
    raw_payload: str | bytes | None,
    report_batch_item_failures: bool,
    fifo: bool,
) -> Settlement:
    """Split the batch into what to delete and what to leave in the queue."""
    if invocation_error is not None:
        kind = invocation_error.get("errorType", "Unhandled")
        return Settlement((), tuple(messages), True, f"the invocation failed ({kind})")
    if not report_batch_item_failures:
        return Settlement(tuple(messages), (), False, "the invocation succeeded")
    batch_ids = frozenset(m.message_id for m in messages)
    try:
        failed = listed_failures(raw_payload, batch_ids)
    except InvalidBatchResponse as exc:
        return Settlement((), tuple(messages), True, f"invalid batch response: {exc}")
    retained = _fifo_retained(messages, failed) if fifo else set(failed)
    if not retained:
        return Settlement(tuple(messages), (), False, "no batch item failures")
    keep = tuple(m for m in messages if m.message_id in retained)
    delete = tuple(m for m in messages if m.message_id not in retained)
    reason = f"{len(failed)} batch item failure(s) reported"
    if len(keep) > len(failed):
        reason += f", {len(keep) - len(failed)} later message(s) of the failed groups kept"
    return Settlement(delete, keep, False, reason)
