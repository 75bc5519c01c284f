"""Operating the stack's DLQs end to end with local_cloud.operations.dlq (issue #8): a
dead-lettered charge is listed with its source and reason, redriven (StartMessageMoveTask
on the local cloud) and charged once; a copy redriven days later charges nothing more."""

from __future__ import annotations

import json
import uuid
from typing import Any

from local_cloud.operations.dlq import (
    UNKNOWN_REASON,
    DeadLetter,
    dead_letter_queues,
    find_queue,
    list_dead_letters,
    redrive,
)
from tests.integration.app.conftest import StackUnderTest, eventually

HOUR = 60 * 60


def charge(transaction_id: str) -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "account_id": "acc_dlq_ops",
        "amount": 1500,
        "currency": "usd",
        "payment_method": "pm_card_visa",
    }


def dead_letter(stack: StackUnderTest, body: dict[str, Any], **attributes: str) -> str:
    """Where SQS puts a charge after its last receive failed (maxReceiveCount)."""
    response = stack.client("sqs").send_message(
        QueueUrl=stack.outputs["BillingDeadLetterQueueUrl"],
        MessageBody=json.dumps(body),
        MessageAttributes={
            name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
        },
    )
    return str(response["MessageId"])


def listed(stack: StackUnderTest, transaction_id: str) -> list[DeadLetter]:
    sqs = stack.client("sqs")
    queue = find_queue(dead_letter_queues(sqs, stack.outputs), "BillingDeadLetterQueue")
    [listing] = list_dead_letters(sqs, [queue])
    return [m for m in listing.messages if json.loads(m.body)["transaction_id"] == transaction_id]


def billing_queue_idle(stack: StackUnderTest) -> None:
    eventually(
        lambda: stack.queue_depth("BillingQueueUrl") == (0, 0),
        timeout=120,
        what="BillingQueue empty, nothing in flight",
    )


def test_the_stack_has_two_dead_letter_queues_with_their_sources(stack: StackUnderTest) -> None:
    queues = {q.logical_id: q for q in dead_letter_queues(stack.client("sqs"), stack.outputs)}
    assert set(queues) == {"BillingDeadLetterQueue", "WelcomeEmailDeadLetterQueue"}
    assert (
        queues["BillingDeadLetterQueue"].sources
        == stack.outputs["BillingQueueUrl"].rsplit("/", 1)[-1]
    )


def test_listing_shows_reason_and_source_and_consumes_nothing(stack: StackUnderTest) -> None:
    transaction_id = f"txn_dlq_reason_{uuid.uuid4().hex[:10]}"
    message_id = dead_letter(
        stack, charge(transaction_id), ErrorType="ValidationError", ErrorMessage="bad amount"
    )
    other = f"txn_dlq_plain_{uuid.uuid4().hex[:10]}"
    dead_letter(stack, charge(other))

    for _ in range(2):  # a second look still sees them: the first consumed nothing
        [message] = listed(stack, transaction_id)
        assert message.message_id == message_id
        assert message.reason == "ValidationError: bad amount"
        assert message.source == stack.outputs["BillingQueueUrl"].rsplit("/", 1)[-1]
        [plain] = listed(stack, other)
        assert plain.reason == UNKNOWN_REASON

    # clean up for the next test: redrive both, and let billing settle them
    assert stack.redrive("BillingDeadLetterQueueUrl", "BillingQueueUrl") == 2
    eventually(lambda: stack.settled_row(transaction_id) and stack.settled_row(other))
    billing_queue_idle(stack)


def test_a_dead_lettered_charge_redriven_is_charged_once_also_days_later(
    stack: StackUnderTest,
) -> None:
    transaction_id = f"txn_dlq_redrive_{uuid.uuid4().hex[:10]}"
    dead_letter(stack, charge(transaction_id))
    [message] = listed(stack, transaction_id)
    assert message.source == stack.outputs["BillingQueueUrl"].rsplit("/", 1)[-1]

    sqs = stack.client("sqs")
    queue = find_queue(dead_letter_queues(sqs, stack.outputs), "BillingDeadLetterQueueUrl")
    result = redrive(sqs, queue)

    assert result.ok, result
    assert result.moved == 1
    if stack.name == "local cloud":
        assert result.method == "StartMessageMoveTask"
    assert listed(stack, transaction_id) == []
    first = eventually(lambda: stack.settled_row(transaction_id), what="charged")
    billing_queue_idle(stack)
    [intent] = stack.intents_for(transaction_id)

    # Days later: idempotency records expired, the provider forgot the key, and a copy
    # is dead-lettered and redriven again (by the send-then-delete loop this time).
    assert stack.expire_idempotency_records() >= 1
    stack.provider().advance_clock(25 * HOUR)
    dead_letter(stack, charge(transaction_id))
    again = redrive(sqs, queue, use_move_task=False)

    assert again.method == "send-then-delete"
    assert again.moved == 1
    assert again.messages[0].new_message_id != again.messages[0].old_message_id
    billing_queue_idle(stack)
    assert [i["id"] for i in stack.intents_for(transaction_id)] == [intent["id"]]
    assert stack.ledger_row(transaction_id) == first
