"""A signup repeated twenty times, end to end: one welcome email, one charge.

The account row is the outbox of its signup jobs, so retries of a completed signup store
nothing again. The client retries with the first request's Idempotency-Key, so each
retry is answered with the first answer (201, Idempotent-Replayed). Observed from
outside, after the consumers ran: the emails SES accepted, the ledger, the payment
provider. Waits are on conditions with generous deadlines (CI machines are loaded), never
on fixed sleeps.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest

from local_cloud.endpoint import EndpointFaults
from tests.integration.app.conftest import StackUnderTest, eventually
from tests.support.events import load_event

RETRIES = 19
DEADLINE = 180.0


def signup_event(email: str, key: str | None = None) -> dict[str, Any]:
    """POST /accounts as API Gateway hands it to SignupFunction (payload format 2.0)."""
    event = copy.deepcopy(load_event("signup_at_least_once"))
    if key is not None:
        event["headers"]["idempotency-key"] = key
    event["body"] = json.dumps(
        {
            "email": email,
            "name": "Outbox Tester",
            "payment_method": "pm_card_visa",
            "welcome_email_delivery": "at-least-once",
        }
    )
    return event


def ledger_rows_for(stack: StackUnderTest, account_id: str) -> list[dict[str, Any]]:
    paginator = stack.client("dynamodb").get_paginator("scan")
    rows: list[dict[str, Any]] = []
    for page in paginator.paginate(
        TableName=stack.outputs["ChargesTableName"],
        FilterExpression="account_id = :account_id",
        ExpressionAttributeValues={":account_id": {"S": account_id}},
        ConsistentRead=True,
    ):
        rows += page["Items"]
    return rows


def queue_settled(stack: StackUnderTest, output_key: str) -> bool:
    """Nothing waiting and nothing in flight: every message was handled and deleted."""
    return stack.queue_depth(output_key) == (0, 0)


def test_twenty_identical_signups_send_one_welcome_email_and_charge_once(
    stack: StackUnderTest,
) -> None:
    email = f"outbox_{uuid.uuid4().hex[:12]}@example.com"
    event = signup_event(email, key=str(uuid.uuid4()))

    answers = [stack.invoke("SignupFunctionName", event) for _ in range(1 + RETRIES)]

    assert [a["statusCode"] for a in answers] == [201] * (1 + RETRIES)
    assert [a["headers"].get("Idempotent-Replayed") for a in answers] == [None] + ["true"] * RETRIES
    bodies = [json.loads(a["body"]) for a in answers]
    assert [b["jobs_enqueued"] for b in bodies] == [["first_charge", "welcome_email"]] + [
        []
    ] * RETRIES
    account_id = bodies[0]["account"]["account_id"]
    assert {b["account"]["account_id"] for b in bodies} == {account_id}
    transaction_id = bodies[0]["first_charge_transaction_id"]
    account = stack.client("dynamodb").get_item(
        TableName=stack.outputs["AccountsTableName"],
        Key={"email": {"S": email}},
        ConsistentRead=True,
    )["Item"]
    assert {"outbox_first_charge", "outbox_welcome_email"} <= set(account)

    eventually(lambda: stack.emails_to(email), DEADLINE, f"the welcome email to {email}")
    eventually(lambda: stack.settled_row(transaction_id), DEADLINE, "the first charge settled")
    # Only once both queues are empty, nothing in flight, has every job been handled:
    # a second email or charge would be there by now.
    eventually(
        lambda: queue_settled(stack, "WelcomeEmailQueueUrl"), DEADLINE, "WelcomeEmailQueue empty"
    )
    eventually(lambda: queue_settled(stack, "BillingQueueUrl"), DEADLINE, "BillingQueue empty")

    assert len(stack.emails_to(email)) == 1
    rows = ledger_rows_for(stack, account_id)
    assert [row["transaction_id"]["S"] for row in rows] == [transaction_id]
    assert rows[0]["status"]["S"] == "succeeded"
    assert len(stack.intents_for(transaction_id)) == 1


def test_a_signup_stranded_by_an_unreachable_queue_gets_its_jobs_on_the_clients_retry(
    stack: StackUnderTest,
) -> None:
    """The account is written, storing the charge fails, the client sees an error and retries."""
    if stack.name != "local cloud":
        pytest.skip("needs the local cloud's fault injection (POST /_local_cloud/faults)")
    faults = EndpointFaults(stack.endpoint_url)
    billing_queue = stack.outputs["BillingQueueUrl"].rsplit("/", 1)[-1]
    faults.add(
        service="sqs",
        operation="SendMessage",
        resource=billing_queue,
        error="InternalError",
        status=500,
        count=10,  # more than the SDK's retries: this call must fail
    )
    email = f"stranded_{uuid.uuid4().hex[:12]}@example.com"
    event = signup_event(email, key=str(uuid.uuid4()))

    try:
        error = stack.invoke_expecting_error("SignupFunctionName", event)
    finally:
        faults.clear()
    assert "InternalError" in json.dumps(error)

    answer = stack.invoke("SignupFunctionName", event)
    retry = json.loads(answer["body"])

    assert (answer["statusCode"], answer["headers"]["Idempotent-Replayed"]) == (201, "true")
    assert retry["jobs_enqueued"] == ["first_charge", "welcome_email"]
    transaction_id = retry["first_charge_transaction_id"]
    row = eventually(lambda: stack.settled_row(transaction_id), DEADLINE, "the charge settled")
    assert row["status"]["S"] == "succeeded"
    eventually(lambda: stack.emails_to(email), DEADLINE, f"the welcome email to {email}")
    eventually(lambda: queue_settled(stack, "BillingQueueUrl"), DEADLINE, "BillingQueue empty")
    assert len(stack.intents_for(transaction_id)) == 1


def test_a_stranded_signup_is_completed_by_an_attempt_without_the_key(
    stack: StackUnderTest,
) -> None:
    """Whoever comes next completes the account's own jobs, even when answered 409."""
    if stack.name != "local cloud":
        pytest.skip("needs the local cloud's fault injection (POST /_local_cloud/faults)")
    faults = EndpointFaults(stack.endpoint_url)
    billing_queue = stack.outputs["BillingQueueUrl"].rsplit("/", 1)[-1]
    faults.add(
        service="sqs",
        operation="SendMessage",
        resource=billing_queue,
        error="InternalError",
        status=500,
        count=10,
    )
    email = f"stranded_{uuid.uuid4().hex[:12]}@example.com"
    try:
        stack.invoke_expecting_error("SignupFunctionName", signup_event(email, str(uuid.uuid4())))
    finally:
        faults.clear()

    answer = stack.invoke("SignupFunctionName", signup_event(email))  # no key

    assert answer["statusCode"] == 409
    account = stack.client("dynamodb").get_item(
        TableName=stack.outputs["AccountsTableName"],
        Key={"email": {"S": email}},
        ConsistentRead=True,
    )["Item"]
    assert {"outbox_first_charge", "outbox_welcome_email"} <= set(account)
    transaction_id = f"txn_signup_{account['account_id']['S']}"
    row = eventually(lambda: stack.settled_row(transaction_id), DEADLINE, "the charge settled")
    assert row["status"]["S"] == "succeeded"
    eventually(lambda: stack.emails_to(email), DEADLINE, f"the welcome email to {email}")
    eventually(lambda: queue_settled(stack, "BillingQueueUrl"), DEADLINE, "BillingQueue empty")
    assert len(stack.intents_for(transaction_id)) == 1
