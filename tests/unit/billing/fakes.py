"""Test doubles for billing: a payment provider, a Lambda context, SQS records, call counters."""

from __future__ import annotations

import copy
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from delivery_guarantees.adapters.payment_provider import PaymentProviderUnavailable
from delivery_guarantees.models import ChargeOutcome, ChargeRequest
from tests.support.events import load_event

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass
class FakePaymentProvider:
    """In memory. Records every call; can be told to time out. pm_card_chargeDeclined declines."""

    calls: list[ChargeRequest] = field(default_factory=list)
    timeouts_to_simulate: int = 0

    @property
    def idempotency_keys(self) -> list[str]:
        # What StripePaymentProvider sends as Idempotency-Key (tested against a stubbed
        # Stripe in test_stripe_payment_provider.py).
        return [call.transaction_id for call in self.calls]

    def time_out_next(self, times: int = 1) -> None:
        self.timeouts_to_simulate = times

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        self.calls.append(request)
        if self.timeouts_to_simulate:
            self.timeouts_to_simulate -= 1
            raise PaymentProviderUnavailable(
                request.transaction_id, "APIConnectionError: read timed out (simulated)"
            )
        declined = request.payment_method == "pm_card_chargeDeclined"
        return ChargeOutcome(
            transaction_id=request.transaction_id,
            account_id=request.account_id,
            amount=request.amount,
            currency=request.currency,
            status="declined" if declined else "succeeded",
            # One intent per call, like a provider without idempotency keys would create.
            payment_intent_id=f"pi_fake_{len(self.calls)}",
            decline_code="generic_decline" if declined else None,
        )


class FakeLambdaContext:
    function_name = "delivery-guarantees-BillingFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = (
        "arn:aws:lambda:us-east-1:123456789012:function:delivery-guarantees-BillingFunction"
    )
    aws_request_id = "6f1c2b7e-1b0e-4a4f-9a8e-2c5d0b9f7a11"
    log_group_name = "/aws/lambda/delivery-guarantees-BillingFunction"
    log_stream_name = "2026/11/29/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class DynamoDbCallCounter:
    """Counts DynamoDB API calls made through one client, by operation (botocore event hook)."""

    def __init__(self, client: DynamoDBClient) -> None:
        self.calls: Counter[str] = Counter()
        client.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def reset(self) -> None:
        self.calls.clear()

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def charge_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "transaction_id": "txn_test_0001",
        "account_id": "acc_test_0001",
        "amount": 1999,
        "currency": "usd",
        "payment_method": "pm_card_visa",
    }
    body.update(overrides)
    return body


def sqs_record(
    body: dict[str, Any] | str, *, message_id: str, receive_count: int = 1
) -> dict[str, Any]:
    """A BillingQueue record shaped like events/billing_charge.json's, with a real md5OfBody."""
    record: dict[str, Any] = copy.deepcopy(load_event("billing_charge")["Records"][0])
    text = body if isinstance(body, str) else json.dumps(body)
    record["messageId"] = message_id
    record["receiptHandle"] = f"AQEB-{message_id}-{receive_count}"
    record["body"] = text
    record["md5OfBody"] = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
    record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
    return record


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]
