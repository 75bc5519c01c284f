"""Test doubles for billing: a payment provider, a Lambda context, SQS records, call counters."""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from delivery_guarantees.adapters.payment_provider import (
    PaymentIdempotencyConflict,
    PaymentProviderUnavailable,
    adoptable_outcome,
)
from delivery_guarantees.models import ChargeOutcome, ChargeRequest
from tests.support.events import load_event
from tests.unit.welcome_email.fakes import CallProbe

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class FunctionKilled(BaseException):
    """The execution environment dies mid-call (timeout kill, out of memory, host failure).

    A BaseException, so neither the batch processor nor Powertools handles it: the
    idempotency record stays INPROGRESS and nothing after the call runs, as in a real kill.
    """


KEY_WINDOW_SECONDS = 24 * 60 * 60


@dataclass
class FakePaymentProvider:
    """In memory, keeping Stripe's documented rules, including how it forgets.

    - Each idempotency key's first answer is replayed for 24 hours (by `clock`, so
      time-machine moves it), then the key is forgotten and the same key charges again.
    - The same key with other parameters is refused (`PaymentIdempotencyConflict`).
    - Every intent carries its transaction_id in metadata; `find_charge` searches them.
    - pm_card_chargeDeclined declines (an intent in requires_payment_method).
    Faults: `time_out_next` fails before anything reaches the provider; `lose_response_next`
    charges, then the answer is lost (a read timeout); `kill_after_charge_next` charges,
    then the function dies (`FunctionKilled`).

    One request at a time (`_lock`), as Stripe's server answers each atomically: the
    records of a batch call it from several threads (delivery_guarantees.batch), and two
    charges at once would number their intents alike (`pi_fake_<count + 1>`) and both
    take a fault armed for the next call.
    """

    clock: Callable[[], float] = time.time
    calls: list[ChargeRequest] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    intents: list[dict[str, Any]] = field(default_factory=list)
    timeouts_to_simulate: int = 0
    lost_responses_to_simulate: int = 0
    kills_to_simulate: int = 0
    _keys: dict[str, tuple[float, ChargeRequest, ChargeOutcome]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def idempotency_keys(self) -> list[str]:
        # What StripePaymentProvider sends as Idempotency-Key (tested against a stubbed
        # Stripe in test_stripe_payment_provider.py).
        return [call.transaction_id for call in self.calls]

    def intents_for(self, transaction_id: str) -> list[dict[str, Any]]:
        return [i for i in self.intents if i["metadata"]["transaction_id"] == transaction_id]

    def time_out_next(self, times: int = 1) -> None:
        self.timeouts_to_simulate = times

    def lose_response_next(self, times: int = 1) -> None:
        self.lost_responses_to_simulate = times

    def kill_after_charge_next(self, times: int = 1) -> None:
        self.kills_to_simulate = times

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        with self._lock:
            return self._charge(request)

    def _charge(self, request: ChargeRequest) -> ChargeOutcome:
        self.calls.append(request)
        if self.timeouts_to_simulate:
            self.timeouts_to_simulate -= 1
            raise PaymentProviderUnavailable(
                request.transaction_id, "APIConnectionError: connect timed out (simulated)"
            )
        outcome = self._replay_or_execute(request)
        if self.lost_responses_to_simulate:
            self.lost_responses_to_simulate -= 1
            raise PaymentProviderUnavailable(
                request.transaction_id, "APIConnectionError: read timed out (simulated)"
            )
        if self.kills_to_simulate:
            self.kills_to_simulate -= 1
            raise FunctionKilled(f"killed after charging {request.transaction_id}")
        return outcome

    def find_charge(self, request: ChargeRequest) -> ChargeOutcome | None:
        with self._lock:
            self.searches.append(request.transaction_id)
            return adoptable_outcome(request, self.intents_for(request.transaction_id))

    def _replay_or_execute(self, request: ChargeRequest) -> ChargeOutcome:
        now = self.clock()
        key = request.transaction_id
        if key in self._keys and now - self._keys[key][0] >= KEY_WINDOW_SECONDS:
            del self._keys[key]  # pruned, as Stripe may once a key is 24 hours old
        if key in self._keys:
            _, first_request, first_outcome = self._keys[key]
            if first_request != request:
                raise PaymentIdempotencyConflict(key, "idempotency_error (simulated)")
            return first_outcome
        declined = request.payment_method == "pm_card_chargeDeclined"
        intent_id = f"pi_fake_{len(self.intents) + 1}"
        self.intents.append(
            {
                "id": intent_id,
                "amount": request.amount,
                "currency": request.currency,
                "status": "requires_payment_method" if declined else "succeeded",
                "created": int(now),
                "metadata": {
                    "transaction_id": request.transaction_id,
                    "account_id": request.account_id,
                },
                "last_payment_error": {"decline_code": "generic_decline"} if declined else None,
            }
        )
        outcome = ChargeOutcome(
            transaction_id=request.transaction_id,
            account_id=request.account_id,
            amount=request.amount,
            currency=request.currency,
            status="declined" if declined else "succeeded",
            payment_intent_id=intent_id,
            decline_code="generic_decline" if declined else None,
        )
        self._keys[key] = (now, request, outcome)
        return outcome


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


@dataclass(frozen=True)
class DeadLetterCopy:
    body: str
    attributes: dict[str, str]  # every message attribute's StringValue, by name


def dead_letters(queue_url: str) -> list[DeadLetterCopy]:
    """Every message on a (moto) DLQ with its message attributes, consumed."""
    import boto3

    sqs = boto3.client("sqs", region_name="us-east-1")
    copies: list[DeadLetterCopy] = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        for message in batch:
            attributes = {
                name: str(value.get("StringValue", ""))
                for name, value in message.get("MessageAttributes", {}).items()
            }
            copies.append(DeadLetterCopy(message["Body"], attributes))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return copies


@dataclass
class ConcurrentPaymentProvider:
    """`FakePaymentProvider` behind a network, safe to call from several threads at once.

    Each call is one request in flight on `probe`; it takes `latency` seconds, calls
    `hold` (if set) with the request while in flight, then fails as unavailable for the
    transactions in `unavailable_for`, or reaches the fake, which answers one request at
    a time (its bookkeeping is not thread-safe; Stripe's server is atomic per request).
    """

    inner: FakePaymentProvider = field(default_factory=FakePaymentProvider)
    latency: float = 0.0
    hold: Callable[[ChargeRequest], None] | None = None
    unavailable_for: set[str] = field(default_factory=set)
    probe: CallProbe = field(default_factory=CallProbe)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def calls(self) -> list[ChargeRequest]:
        return self.inner.calls

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        with self.probe.call(request.transaction_id):
            if self.latency:
                time.sleep(self.latency)
            if self.hold is not None:
                self.hold(request)
            if request.transaction_id in self.unavailable_for:
                raise PaymentProviderUnavailable(request.transaction_id, "HTTP 503 (simulated)")
            with self._lock:
                return self.inner.charge(request)

    def find_charge(self, request: ChargeRequest) -> ChargeOutcome | None:
        with self._lock:
            return self.inner.find_charge(request)
