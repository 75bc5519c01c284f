"""Billing's exactly-once charge through faults in the Lambda runtime, on the deployed stack.

The faults are added over HTTP on the endpoint (`"service": "lambda"`), as a person would
with curl; nothing in the billing function changes. The local cloud's runtime acts them
out, so these tests run on the local cloud only.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from local_cloud.endpoint import EndpointFaults
from tests.integration.app.conftest import POLL_SECONDS, StackUnderTest, eventually
from tests.unit.billing.fakes import sqs_event, sqs_record


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def charge(transaction_id: str) -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "account_id": "acc_runtime_faults",
        "amount": 2500,
        "currency": "usd",
        "payment_method": "pm_card_visa",
    }


@pytest.fixture
def faults(stack: StackUnderTest) -> Iterator[EndpointFaults]:
    if stack.name != "local cloud":
        pytest.skip("lambda faults are acted out by the local cloud's runtime")
    faults = EndpointFaults(stack.endpoint_url)
    faults.clear()
    yield faults
    faults.clear()
    stack.provider().clear_faults()


def lapse_in_progress_idempotency_records(stack: StackUnderTest) -> int:
    """What the wait for a redelivery does to a killed invocation's INPROGRESS record.

    Powertools gives it the invocation's remaining time (BillingFunction: 40 s); SQS
    redelivers after BillingQueue's 242 s visibility timeout. Tests invoke the redelivery
    at once, so they move that expiry into the past instead of waiting.
    """
    dynamodb = stack.client("dynamodb")
    table = stack.outputs["IdempotencyTableName"]
    past_ms = str(int(time.time() * 1000) - 1000)
    lapsed = 0
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            if item.get("status", {}).get("S") != "INPROGRESS":
                continue
            dynamodb.update_item(
                TableName=table,
                Key={"id": item["id"]},
                UpdateExpression="SET in_progress_expiration = :past",
                ExpressionAttributeValues={":past": {"N": past_ms}},
            )
            lapsed += 1
    return lapsed


def test_billing_killed_right_after_the_provider_charged_charges_once_on_redelivery(
    stack: StackUnderTest, faults: EndpointFaults
) -> None:
    transaction_id = unique("txn_killed_after_charge")
    body = charge(transaction_id)
    faults.add(
        service="lambda",
        function="BillingFunction",
        action="crash",
        after_calls=1,
        call_matching="/v1/payment_intents",
    )

    first = sqs_event(sqs_record(body, message_id="m-killed", receive_count=1))
    error = stack.invoke_expecting_error("BillingFunctionName", first)

    assert error["errorType"] == "Runtime.ExitError"
    assert "signal: killed" in error["errorMessage"]
    [fired] = faults.fired()
    assert fired["call"].startswith("POST http://")
    assert "/v1/payment_intents" in fired["call"]
    # Killed after the provider answered and before the journal heard of it.
    [intent] = stack.intents_for(transaction_id)
    assert intent["status"] == "succeeded"
    row = stack.ledger_row(transaction_id)
    assert row is not None
    assert row["status"]["S"] == "pending"

    # The redelivery, as SQS makes it once the visibility timeout lapsed.
    assert lapse_in_progress_idempotency_records(stack) >= 1
    again = sqs_event(sqs_record(body, message_id="m-killed", receive_count=2))
    assert stack.invoke("BillingFunctionName", again) == {"batchItemFailures": []}

    assert [i["id"] for i in stack.intents_for(transaction_id)] == [intent["id"]]
    settled = stack.settled_row(transaction_id)
    assert settled is not None
    assert (settled["status"]["S"], settled["payment_intent_id"]["S"]) == (
        "succeeded",
        intent["id"],
    )


def idempotency_writes(faults: EndpointFaults, probes: dict[int, str]) -> list[str]:
    """The idempotency table's writes the probes saw, in the order they came."""
    return [probes[f["id"]] for f in faults.fired() if f["id"] in probes]


def test_a_twin_delivered_while_the_first_still_runs_is_charged_once(
    stack: StackUnderTest, faults: EndpointFaults
) -> None:
    """BillingQueue's mapping runs up to 5 batches at once. The first delivery is held:
    the provider answers its charge 3.5 s late and its journal write comes 1.2 s late, each
    just inside the client's read timeout (4 s and 1.5 s, see the time budget), so nothing
    is retried. Its message was made visible again as soon as its batch was handed over,
    so another invoker receives the twin (after the 2 s batching window) and runs it
    meanwhile."""
    transaction_id = unique("txn_twin")
    faults.add(service="lambda", function="BillingFunction", action="release_visibility")
    stack.provider().inject_fault("delay", delay_ms=3_500, count=1)
    faults.add(
        service="dynamodb",
        operation="UpdateItem",
        resource=stack.outputs["ChargesTableName"],
        latency_ms=1_200,
    )
    # Probes, not faults: 1 ms late, they list each idempotency write in the order it came.
    added = faults.add_all(
        [
            {
                "service": "dynamodb",
                "operation": operation,
                "resource": stack.outputs["IdempotencyTableName"],
                "latency_ms": 1,
                "count": 10,
            }
            for operation in ("PutItem", "UpdateItem")
        ]
    )
    probes = {probe["id"]: probe["operation"] for probe in added}

    message_id = stack.send("BillingQueueUrl", charge(transaction_id))

    settled = eventually(
        lambda: stack.settled_row(transaction_id),
        timeout=120,
        what=f"{transaction_id} settled in the journal",
    )
    # Both deliveries are over once the first completed its idempotency record and the
    # twin's in-progress write was refused. Without that guard these writes never come:
    # then give the twin 30 s to charge a second time before the charges are counted.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        writes = idempotency_writes(faults, probes)
        if writes.count("PutItem") >= 2 and "UpdateItem" in writes:
            break
        time.sleep(POLL_SECONDS)
    eventually(
        lambda: stack.queue_depth("BillingQueueUrl") == (0, 0),
        timeout=120,
        what="BillingQueue empty, nothing in flight",
    )

    intents = stack.intents_for(transaction_id)
    assert [i["id"] for i in intents] == [settled["payment_intent_id"]["S"]]
    assert settled["status"]["S"] == "succeeded"
    [released] = [f for f in faults.fired() if f.get("service") == "lambda"]
    assert released["message_ids"] == [message_id]
    # The twin came while the first still ran: its in-progress write (refused by the
    # condition: IdempotencyAlreadyInProgressError) fell between the first's in-progress
    # write and its completion.
    writes = idempotency_writes(faults, probes)
    assert writes[:3] == ["PutItem", "PutItem", "UpdateItem"], writes
