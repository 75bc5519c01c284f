"""Each guarantee, end to end through the deployed stack: queue in, effects out."""

from __future__ import annotations

import copy
import json
import time
import uuid
from typing import Any

from local_cloud.operations.dlq import dead_letter_queues, find_queue, list_dead_letters
from tests.integration.app.conftest import StackUnderTest, eventually
from tests.support.events import load_event


def drained(stack: StackUnderTest, output_key: str) -> None:
    """Wait until nothing is waiting on the queue, then for what was received to finish.

    In-flight counts are no use here: a rejected message from another test stays in
    flight for its whole visibility timeout.
    """
    eventually(lambda: stack.queue_depth(output_key)[0] == 0, what=f"{output_key} drained")
    time.sleep(4)  # longer than the batching window plus a charge


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def charge(transaction_id: str, **changes: Any) -> dict[str, Any]:
    body = {
        "transaction_id": transaction_id,
        "account_id": "acc_integration",
        "amount": 4200,
        "currency": "usd",
        "payment_method": "pm_card_visa",
    }
    return {**body, **changes}


def signup_event(
    email: str, mode: str, key: str | None = None, name: str = "Integration Tester"
) -> dict[str, Any]:
    event = copy.deepcopy(load_event("signup_at_least_once"))
    if key is not None:
        event["headers"]["idempotency-key"] = key
    event["body"] = json.dumps(
        {
            "email": email,
            "name": name,
            "payment_method": "pm_card_visa",
            "welcome_email_delivery": mode,
        }
    )
    return event


def test_a_charge_delivered_twice_is_charged_once(stack: StackUnderTest) -> None:
    transaction_id = unique("txn_it_dup")
    stack.send("BillingQueueUrl", charge(transaction_id))
    stack.send("BillingQueueUrl", charge(transaction_id))  # SQS may deliver twice

    row = eventually(lambda: stack.settled_row(transaction_id), what="a settled ledger row")
    assert row["status"]["S"] == "succeeded"
    drained(stack, "BillingQueueUrl")
    intents = stack.intents_for(transaction_id)
    assert [i["status"] for i in intents] == ["succeeded"]
    assert row["payment_intent_id"]["S"] == intents[0]["id"]


def test_a_declined_card_is_recorded_once_and_not_retried(stack: StackUnderTest) -> None:
    transaction_id = unique("txn_it_declined")
    stack.send("BillingQueueUrl", charge(transaction_id, payment_method="pm_card_chargeDeclined"))

    row = eventually(lambda: stack.settled_row(transaction_id), what="a settled ledger row")
    assert row["status"]["S"] == "declined"
    drained(stack, "BillingQueueUrl")
    assert [i["status"] for i in stack.intents_for(transaction_id)] == ["requires_payment_method"]


def test_an_invalid_charge_is_never_charged_and_is_dead_lettered_at_once(
    stack: StackUnderTest,
) -> None:
    invalid = unique("txn_it_invalid")
    valid = unique("txn_it_valid")
    stack.send("BillingQueueUrl", charge(invalid, amount=-1))
    stack.send("BillingQueueUrl", charge(valid))

    eventually(lambda: stack.settled_row(valid), what="the valid charge settled")
    sqs = stack.client("sqs")
    dlq = find_queue(dead_letter_queues(sqs, stack.outputs), "BillingDeadLetterQueue")

    def dead_lettered() -> list[Any]:
        [listing] = list_dead_letters(sqs, [dlq])
        return [m for m in listing.messages if invalid in m.body]

    # A poison message: copied to BillingDeadLetterQueue at its first failure, with its
    # reason, then deleted from BillingQueue (not 5 receives and 15 minutes later).
    [letter] = eventually(dead_lettered, what=f"{invalid} in BillingDeadLetterQueue")
    assert letter.reason.startswith("InvalidChargeMessage: ")
    assert "amount" in letter.details["ErrorMessage"]
    assert "BillingFunction" in letter.details["ErrorFunction"]
    assert stack.ledger_row(invalid) is None
    assert stack.intents_for(invalid) == []


def test_a_welcome_job_on_the_queue_sends_the_email(stack: StackUnderTest) -> None:
    address = f"{unique('it')}@example.com"
    stack.send(
        "WelcomeEmailQueueUrl", {"account_id": "acc_it", "email": address, "name": "Queue Tester"}
    )
    emails = eventually(lambda: stack.emails_to(address), what=f"an email to {address}")
    assert "Queue Tester" in json.dumps(emails[0])


def test_a_retried_signup_returns_the_same_account_and_charges_once(
    stack: StackUnderTest,
) -> None:
    email = f"{unique('signup')}@example.com"
    key = str(uuid.uuid4())
    first = stack.invoke("SignupFunctionName", signup_event(email, "at-least-once", key))
    retry = stack.invoke("SignupFunctionName", signup_event(email, "at-least-once", key))

    assert (first["statusCode"], retry["statusCode"]) == (201, 201)
    assert retry["headers"]["Idempotent-Replayed"] == "true"
    first_body, retry_body = json.loads(first["body"]), json.loads(retry["body"])
    assert retry_body == first_body | {"jobs_enqueued": []}
    transaction_id = first_body["first_charge_transaction_id"]
    assert retry_body["first_charge_transaction_id"] == transaction_id

    eventually(lambda: stack.settled_row(transaction_id), what="the first charge settled")
    eventually(lambda: stack.emails_to(email), what="the welcome email")
    drained(stack, "BillingQueueUrl")
    assert len(stack.intents_for(transaction_id)) == 1


def test_an_at_most_once_signup_sends_the_email_once_and_never_again(
    stack: StackUnderTest,
) -> None:
    email = f"{unique('amo')}@example.com"
    key = str(uuid.uuid4())
    first = stack.invoke("SignupFunctionName", signup_event(email, "at-most-once", key))
    retry = stack.invoke("SignupFunctionName", signup_event(email, "at-most-once", key))

    assert json.loads(first["body"])["welcome_email"] == "sent"
    assert json.loads(retry["body"])["welcome_email"] == "not-resent"
    assert len(stack.emails_to(email)) == 1


def test_a_signup_for_a_taken_address_reveals_nothing_and_notifies_the_holder_once(
    stack: StackUnderTest,
) -> None:
    email = f"{unique('taken')}@example.com"
    stack.invoke("SignupFunctionName", signup_event(email, "at-most-once", str(uuid.uuid4())))

    answers = [
        stack.invoke("SignupFunctionName", signup_event(email, "at-most-once")),
        stack.invoke("SignupFunctionName", signup_event(email, "at-most-once", name="Eve")),
        stack.invoke("SignupFunctionName", signup_event(email, "at-least-once", "another-key")),
    ]

    assert {json.dumps(a, sort_keys=True) for a in answers} == {
        json.dumps(answers[0], sort_keys=True)
    }
    assert answers[0]["statusCode"] == 409
    assert json.loads(answers[0]["body"]) == {
        "message": "an account with this email address already exists",
        "field": "email",
    }
    subjects = [m["Subject"] for m in stack.emails_to(email)]
    assert sorted(subjects) == sorted(
        ["Welcome to Delivery Guarantees", "Someone tried to sign up with your email address"]
    )
