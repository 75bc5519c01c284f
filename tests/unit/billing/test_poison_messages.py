"""Poison charges take the short way: copied to BillingDeadLetterQueue at their first
failure with the reason in message attributes, then acknowledged; retryable failures keep
the redelivery path; a failed copy fails the record, so nothing is lost.

Real handler, moto DynamoDB and SQS, the fake provider.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from delivery_guarantees.adapters.charge_journal import DynamoDbChargeJournal
from delivery_guarantees.adapters.payment_provider import (
    PaymentIdempotencyConflict,
    PaymentRequestRejected,
)
from delivery_guarantees.billing import InvalidChargeMessage
from delivery_guarantees.models import ChargeOutcome, ChargeRequest
from delivery_guarantees.poison import (
    ERROR_MESSAGE_MAX_CHARS,
    MAX_MESSAGE_ATTRIBUTES,
    REDACTED,
    safe_error_message,
)
from functions.billing import app
from tests.corpus.hostile_inputs import Target, cases_for
from tests.unit.billing.fakes import (
    FakeLambdaContext,
    FakePaymentProvider,
    charge_body,
    dead_letters,
    failed_ids,
    sqs_event,
    sqs_record,
)

pytestmark = pytest.mark.usefixtures("billing")


def processing_errors() -> list[BaseException]:
    return [exc_info[1] for exc_info in app.processor.exceptions if exc_info[1] is not None]


def refuse_next_charge(
    monkeypatch: pytest.MonkeyPatch, provider: FakePaymentProvider, error: Exception
) -> None:
    def refuse(request: ChargeRequest) -> ChargeOutcome:
        provider.calls.append(request)
        raise error

    monkeypatch.setattr(provider, "charge", refuse)


@pytest.mark.parametrize(
    "error",
    [
        PaymentRequestRejected("txn_refused", "InvalidRequestError (HTTP 400): no such method"),
        PaymentIdempotencyConflict("txn_refused", "IdempotencyError (HTTP 400): key reused"),
    ],
    ids=["rejected", "idempotency-conflict"],
)
def test_a_final_provider_refusal_is_dead_lettered_at_once(
    error: Exception,
    monkeypatch: pytest.MonkeyPatch,
    provider: FakePaymentProvider,
    context: FakeLambdaContext,
    dead_letter_queue: str,
) -> None:
    refuse_next_charge(monkeypatch, provider, error)
    record = sqs_record(charge_body(transaction_id="txn_refused"), message_id="m-refused")

    response = app.lambda_handler(sqs_event(record), context)

    assert failed_ids(response) == []
    [copy] = dead_letters(dead_letter_queue)
    assert copy.body == record["body"]
    assert copy.attributes["ErrorType"] == type(error).__name__
    assert str(error) == copy.attributes["ErrorMessage"]


def test_a_transient_provider_error_is_not_copied_and_is_redelivered(
    provider: FakePaymentProvider, context: FakeLambdaContext, dead_letter_queue: str
) -> None:
    provider.time_out_next()
    batch = sqs_event(
        sqs_record(charge_body(transaction_id="txn_timeout"), message_id="m-timeout"),
        sqs_record(charge_body(transaction_id="txn_fine"), message_id="m-fine"),
    )

    assert failed_ids(app.lambda_handler(batch, context)) == ["m-timeout"]
    assert dead_letters(dead_letter_queue) == []


def test_a_poison_charge_whose_copy_fails_is_reported_failed_and_not_lost(
    provider: FakePaymentProvider,
    journal: DynamoDbChargeJournal,
    context: FakeLambdaContext,
    dead_letter_queue: str,
) -> None:
    boto3.client("sqs", region_name="us-east-1").delete_queue(QueueUrl=dead_letter_queue)
    event = sqs_event(
        sqs_record(charge_body(transaction_id="txn_good"), message_id="m-good"),
        sqs_record(charge_body(amount=-5), message_id="m-bad"),
    )

    response = app.lambda_handler(event, context)

    # The copy failed: the record fails as before, SQS redelivers it (never acknowledged).
    assert failed_ids(response) == ["m-bad"]
    [error] = processing_errors()
    assert isinstance(error, InvalidChargeMessage)
    assert "NonExistentQueue" in repr(error.__cause__)
    assert provider.idempotency_keys == ["txn_good"]


def test_a_send_message_that_raises_fails_the_record(
    provider: FakePaymentProvider, context: FakeLambdaContext, dead_letter_queue: str
) -> None:
    def refuse(**_: Any) -> None:
        raise ConnectionError("connection dropped before SQS answered")

    client = app.poison_router()._sqs
    client.meta.events.register("before-call.sqs.SendMessage", refuse)
    try:
        response = app.lambda_handler(
            sqs_event(
                sqs_record(charge_body(transaction_id="txn_good"), message_id="m-good"),
                sqs_record(charge_body(currency="xyz"), message_id="m-bad"),
            ),
            context,
        )
    finally:
        client.meta.events.unregister("before-call.sqs.SendMessage", refuse)

    assert failed_ids(response) == ["m-bad"]
    assert dead_letters(dead_letter_queue) == []
    assert provider.idempotency_keys == ["txn_good"]


def test_a_hostile_card_number_never_reaches_the_dlq_attributes(
    context: FakeLambdaContext, dead_letter_queue: str
) -> None:
    [case] = [c for c in cases_for(Target.CHARGE) if c.id == "charge-card-number-in-a-token"]
    assert case.never_repeated

    response = app.lambda_handler(sqs_event(sqs_record(case.text(), message_id="m-card")), context)

    assert failed_ids(response) == []
    [copy] = dead_letters(dead_letter_queue)
    attributes = json.dumps(copy.attributes)
    assert case.says in copy.attributes["ErrorMessage"]
    for needle in case.never_repeated:
        assert needle not in attributes


def test_the_message_attributes_are_kept_within_the_limit(
    context: FakeLambdaContext, dead_letter_queue: str
) -> None:
    record = sqs_record(charge_body(amount=-5), message_id="m-bad")
    record["messageAttributes"] = {
        f"Trace{n}": {"stringValue": f"t{n}", "dataType": "String"} for n in range(8)
    } | {"ErrorType": {"stringValue": "an earlier reason", "dataType": "String"}}

    assert failed_ids(app.lambda_handler(sqs_event(record), context)) == []

    [copy] = dead_letters(dead_letter_queue)
    assert len(copy.attributes) == MAX_MESSAGE_ATTRIBUTES
    assert copy.attributes["ErrorType"] == InvalidChargeMessage.__name__
    assert {n: copy.attributes[n] for n in ("Trace0", "Trace3")} == {"Trace0": "t0", "Trace3": "t3"}


def test_the_error_message_is_one_line_short_and_never_a_card_number() -> None:
    error = ValueError("payment_method: 4242 4242 4242 4242 is a card\nnumber " + "x" * 2000)

    text = safe_error_message(error)

    assert "4242 4242" not in text
    assert REDACTED in text
    assert "\n" not in text
    assert len(text) == ERROR_MESSAGE_MAX_CHARS
