"""Observations of a running stack, as a user or a test makes them from outside: one place
for each, used by the live view, the demo, the benchmarks and the tests.

Each reads what an AWS API (or the local tools' own listing) answers; nothing here looks
inside the local cloud's processes. The DLQ tooling's listing of dead letters is
operations/dlq.py (list_dead_letters); the stack's mappings' own counts are the pollers'
stats().
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any, NamedTuple

QUEUE_DEPTH_ATTRIBUTES = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]


class QueueDepth(NamedTuple):
    visible: int  # ApproximateNumberOfMessages: waiting to be received
    in_flight: int  # ApproximateNumberOfMessagesNotVisible: received, not yet deleted

    @property
    def total(self) -> int:
        return self.visible + self.in_flight


def queue_depth(sqs: Any, queue_url: str) -> QueueDepth:
    """One GetQueueAttributes: the messages waiting and those in flight."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=QUEUE_DEPTH_ATTRIBUTES
    )["Attributes"]
    return depth_of(attributes)


def depth_of(attributes: dict[str, str]) -> QueueDepth:
    """The depth in GetQueueAttributes' answer (absent counts are 0)."""
    return QueueDepth(
        int(attributes.get("ApproximateNumberOfMessages", 0)),
        int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
    )


def sent_emails(endpoint_url: str, *, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Every email SES accepted, oldest first: the endpoint's `/_aws/ses` listing (as
    LocalStack's), each with Source, Destination, Subject and Body."""
    with urllib.request.urlopen(f"{endpoint_url}/_aws/ses", timeout=timeout) as response:  # noqa: S310 - the local endpoint
        messages: list[dict[str, Any]] = json.load(response)["messages"]
    return messages


def emails_to(endpoint_url: str, address: str) -> list[dict[str, Any]]:
    """The emails SES accepted for this recipient."""
    return [
        message
        for message in sent_emails(endpoint_url)
        if address in message.get("Destination", {}).get("ToAddresses", [])
    ]


def payment_intents(
    provider_url: str, secret_key: str, *, timeout: float = 10.0
) -> Iterator[dict[str, Any]]:
    """Every PaymentIntent at a Stripe-compatible provider (the local simulator), newest
    first, page after page of GET /v1/payment_intents (limit 100, starting_after)."""
    after = ""
    while True:
        query = urllib.parse.urlencode(
            {"limit": 100, **({"starting_after": after} if after else {})}
        )
        request = urllib.request.Request(  # noqa: S310 - the local simulator
            f"{provider_url}/v1/payment_intents?{query}",
            headers={"Authorization": f"Bearer {secret_key}"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            page = json.load(response)
        yield from page["data"]
        if not page["has_more"] or not page["data"]:
            return
        after = page["data"][-1]["id"]


def intents_for(provider_url: str, secret_key: str, transaction_id: str) -> list[dict[str, Any]]:
    """The PaymentIntents whose metadata names this transaction."""
    return [
        intent
        for intent in payment_intents(provider_url, secret_key)
        if intent.get("metadata", {}).get("transaction_id") == transaction_id
    ]
