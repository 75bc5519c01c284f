"""Exactly-once charges for the whole life of a message, end to end on the deployed stack.

Time is moved where each clock lives: the idempotency records' stored expiry (through the
endpoint), the simulated provider's clock (its /_simulator/clock hook: keys older than
24 hours are forgotten, as Stripe may), and, for a charge left pending, the journal row's
first-attempt time. Then a copy of the charge comes back, as a DLQ redrive sends it, and
the provider's payment intents are counted.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from tests.integration.app.conftest import StackUnderTest, eventually
from tests.support.events import load_event
from tests.unit.billing.fakes import sqs_event, sqs_record

DAY = 24 * 60 * 60
RECEIVES_BEFORE_DLQ = 5  # BillingQueue's maxReceiveCount


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def charge(transaction_id: str) -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "account_id": "acc_over_time",
        "amount": 4200,
        "currency": "usd",
        "payment_method": "pm_card_visa",
    }


def settled(stack: StackUnderTest, transaction_id: str) -> dict[str, Any]:
    row = eventually(
        lambda: stack.settled_row(transaction_id), what=f"{transaction_id} settled in the journal"
    )
    result: dict[str, Any] = row
    return result


def billing_queue_idle(stack: StackUnderTest) -> None:
    """Nothing waiting and nothing in flight: every delivery so far was handled and deleted."""
    eventually(
        lambda: stack.queue_depth("BillingQueueUrl") == (0, 0),
        timeout=120,
        what="BillingQueue empty, nothing in flight",
    )


def dead_letter(stack: StackUnderTest, body: dict[str, Any]) -> None:
    """Where SQS puts a message after its last receive failed (maxReceiveCount)."""
    stack.send("BillingDeadLetterQueueUrl", body)


def test_a_settled_charge_redriven_after_every_expiry_is_answered_from_the_journal(
    stack: StackUnderTest,
) -> None:
    transaction_id = unique("txn_late_copy")
    stack.send("BillingQueueUrl", charge(transaction_id))
    first = settled(stack, transaction_id)
    billing_queue_idle(stack)
    [intent] = stack.intents_for(transaction_id)

    # Weeks later: the idempotency record has expired, the provider forgot the key, and a
    # copy comes back from the DLQ with a new message ID.
    assert stack.expire_idempotency_records() >= 1
    stack.provider().advance_clock(25 * 60 * 60)
    dead_letter(stack, charge(transaction_id))
    assert stack.redrive("BillingDeadLetterQueueUrl", "BillingQueueUrl") >= 1
    billing_queue_idle(stack)

    assert [i["id"] for i in stack.intents_for(transaction_id)] == [intent["id"]]
    row = stack.ledger_row(transaction_id)
    assert row == first  # untouched: the copy was answered from it
    assert row["payment_intent_id"]["S"] == intent["id"]


def test_a_charge_the_provider_made_but_billing_never_recorded_is_adopted_after_a_redrive(
    stack: StackUnderTest,
) -> None:
    """The provider charges, then every receive loses the answer: pending, dead-lettered.

    The five receives are invoked directly with SQS-shaped events (the mapping's own
    redelivery is tested in tests/integration/local_cloud/semantics), each against a
    provider that charges and then fails its answer with a 500, the SDK's retry included.
    """
    transaction_id = unique("txn_unrecorded")
    body = charge(transaction_id)
    provider = stack.provider()
    for receive in range(1, RECEIVES_BEFORE_DLQ + 1):
        provider.inject_fault("error", status=500, phase="after_execution", count=2)
        event = sqs_event(sqs_record(body, message_id=f"m-{receive}", receive_count=receive))
        # The record fails; the invocation does not (no function error for the Errors alarm).
        response = stack.invoke("BillingFunctionName", event)
        assert response == {"batchItemFailures": [{"itemIdentifier": f"m-{receive}"}]}
        provider.clear_faults()
    row = stack.ledger_row(transaction_id)
    assert row is not None
    assert row["status"]["S"] == "pending"
    [intent] = stack.intents_for(transaction_id)  # the key replayed the first charge
    dead_letter(stack, body)

    # Redriven a day and an hour later: the key is forgotten and the pending row is old.
    provider.advance_clock(25 * 60 * 60)
    stack.age_journal_row(transaction_id, hours=25)
    stack.expire_idempotency_records()
    assert stack.redrive("BillingDeadLetterQueueUrl", "BillingQueueUrl") >= 1

    row = settled(stack, transaction_id)
    billing_queue_idle(stack)
    assert [i["id"] for i in stack.intents_for(transaction_id)] == [intent["id"]]
    assert (row["status"]["S"], row["payment_intent_id"]["S"], row["settled_by"]["S"]) == (
        "succeeded",
        intent["id"],
        "reconciliation",
    )


def dead_lettered_copy(stack: StackUnderTest, transaction_id: str) -> dict[str, Any] | None:
    """The BillingDeadLetterQueue message carrying this transaction, taken off the queue."""
    sqs = stack.client("sqs")
    url = stack.outputs["BillingDeadLetterQueueUrl"]
    for message in sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
    ).get("Messages", []):
        if transaction_id in message["Body"]:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            found: dict[str, Any] = message
            return found
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return None


def test_a_copy_with_another_payment_method_is_refused_and_charges_nothing(
    stack: StackUnderTest,
) -> None:
    """A poison message: dead-lettered at once with its reason, never a silent replay."""
    transaction_id = unique("txn_new_card")
    stack.send("BillingQueueUrl", charge(transaction_id))
    settled(stack, transaction_id)
    billing_queue_idle(stack)

    other_card = {**charge(transaction_id), "payment_method": "pm_card_mastercard"}
    answer = stack.invoke(
        "BillingFunctionName", sqs_event(sqs_record(other_card, message_id="m-other-card"))
    )

    assert answer == {"batchItemFailures": []}  # acknowledged, because it was copied first
    copy_ = eventually(
        lambda: dead_lettered_copy(stack, transaction_id), what="the copy in the billing DLQ"
    )
    reason = copy_["MessageAttributes"]
    assert reason["ErrorType"]["StringValue"] == "ConflictingCharge"
    assert "payment_method differs" in reason["ErrorMessage"]["StringValue"]
    assert json.loads(copy_["Body"]) == other_card
    assert len(stack.intents_for(transaction_id)) == 1


def signup_event(email: str, idempotency_key: str) -> dict[str, Any]:
    event = copy.deepcopy(load_event("signup_at_least_once"))
    event["body"] = json.dumps(
        {"email": email, "name": "Late Retrier", "payment_method": "pm_card_visa"}
    )
    event["headers"] = {**event.get("headers", {}), "idempotency-key": idempotency_key}
    return event


def test_a_signup_retried_after_every_expiry_stores_nothing_and_charges_nothing(
    stack: StackUnderTest,
) -> None:
    email = f"{unique('late')}@example.com"
    key = unique("key")
    first = json.loads(stack.invoke("SignupFunctionName", signup_event(email, key))["body"])
    transaction_id = first["first_charge_transaction_id"]
    settled(stack, transaction_id)
    billing_queue_idle(stack)

    stack.expire_idempotency_records()
    stack.provider().advance_clock(25 * 60 * 60)
    retry = stack.invoke("SignupFunctionName", signup_event(email, key))

    assert retry["statusCode"] == 201  # the first answer, replayed to the key's holder
    assert retry["headers"]["Idempotent-Replayed"] == "true"
    assert json.loads(retry["body"])["jobs_enqueued"] == []
    billing_queue_idle(stack)
    assert len(stack.intents_for(transaction_id)) == 1
