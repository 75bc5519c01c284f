"""DynamoDbChargeJournal against a moto ChargesTable: its states, transitions and costs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from delivery_guarantees.adapters.charge_journal import (
    CorruptJournalEntry,
    DynamoDbChargeJournal,
    JournalConflict,
)
from delivery_guarantees.config import BillingSettings
from delivery_guarantees.models import ChargeOutcome, ChargeRequest
from tests.unit.billing.fakes import DynamoDbCallCounter

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
REQUEST = ChargeRequest(
    transaction_id="txn_journal_1",
    account_id="acc_journal_1",
    amount=1999,
    currency="usd",
    payment_method="pm_card_visa",
)
DECLINED = ChargeOutcome(
    transaction_id="txn_journal_1",
    account_id="acc_journal_1",
    amount=1999,
    currency="usd",
    status="declined",
    payment_intent_id="pi_123",
    decline_code="insufficient_funds",
)


@pytest.fixture
def counted_journal(
    dynamodb: DynamoDBClient, dynamodb_calls: DynamoDbCallCounter, settings: BillingSettings
) -> DynamoDbChargeJournal:
    return DynamoDbChargeJournal(settings.charges_table_name, client=dynamodb)


def row(journal: DynamoDbChargeJournal) -> dict[str, dict[str, str]]:
    item = journal.client.get_item(
        TableName=journal.table_name, Key={"transaction_id": {"S": REQUEST.transaction_id}}
    )["Item"]
    return {name: dict(value) for name, value in item.items()}


def test_begin_records_the_whole_charge_as_pending_in_one_call(
    counted_journal: DynamoDbChargeJournal, dynamodb_calls: DynamoDbCallCounter
) -> None:
    begun = counted_journal.begin(REQUEST, T0)

    assert begun.created
    assert (begun.entry.status, begun.entry.request) == ("pending", REQUEST)
    assert dynamodb_calls.calls == {"PutItem": 1}
    assert row(counted_journal) == {
        "transaction_id": {"S": "txn_journal_1"},
        "account_id": {"S": "acc_journal_1"},
        "amount": {"N": "1999"},
        "currency": {"S": "usd"},
        "payment_method": {"S": "pm_card_visa"},
        "status": {"S": "pending"},
        "first_attempt_at": {"S": "2026-11-30T09:00:00.000+00:00"},
    }


def test_begin_again_returns_the_stored_row_unchanged_in_the_same_call(
    counted_journal: DynamoDbChargeJournal, dynamodb_calls: DynamoDbCallCounter
) -> None:
    counted_journal.begin(REQUEST, T0)
    dynamodb_calls.reset()

    again = counted_journal.begin(REQUEST, T0 + timedelta(days=30))

    assert not again.created
    # The first attempt's time is kept: it is what tells how old the provider's key is.
    assert again.entry.first_attempt_at == T0
    assert dynamodb_calls.calls == {"PutItem": 1}  # no GetItem: the failed condition returns it


def test_settle_makes_the_pending_row_final_with_the_outcome(
    counted_journal: DynamoDbChargeJournal, dynamodb_calls: DynamoDbCallCounter
) -> None:
    counted_journal.begin(REQUEST, T0)
    dynamodb_calls.reset()

    counted_journal.settle(DECLINED, T0 + timedelta(seconds=1), "charge")

    assert dynamodb_calls.calls == {"UpdateItem": 1}
    entry = counted_journal.get(REQUEST.transaction_id)
    assert entry is not None
    assert entry.outcome() == DECLINED
    assert (entry.settled_by, entry.settled_at) == ("charge", T0 + timedelta(seconds=1))
    assert entry.first_attempt_at == T0


def test_a_final_row_is_what_a_later_begin_finds(counted_journal: DynamoDbChargeJournal) -> None:
    counted_journal.begin(REQUEST, T0)
    counted_journal.settle(DECLINED, T0, "charge")

    later = counted_journal.begin(REQUEST, T0 + timedelta(days=400))

    assert later.entry.is_final
    assert later.entry.outcome() == DECLINED


def test_optional_fields_are_omitted_not_stored_as_empty(
    counted_journal: DynamoDbChargeJournal,
) -> None:
    succeeded = replace(DECLINED, status="succeeded", decline_code=None)
    counted_journal.begin(REQUEST, T0)

    counted_journal.settle(succeeded, T0, "reconciliation")

    assert "decline_code" not in row(counted_journal)
    entry = counted_journal.get(REQUEST.transaction_id)
    assert entry is not None
    assert (entry.outcome(), entry.settled_by) == (succeeded, "reconciliation")


def test_settling_the_same_outcome_again_is_a_no_op(
    counted_journal: DynamoDbChargeJournal, dynamodb_calls: DynamoDbCallCounter
) -> None:
    counted_journal.begin(REQUEST, T0)
    counted_journal.settle(DECLINED, T0, "charge")
    dynamodb_calls.reset()

    counted_journal.settle(DECLINED, T0 + timedelta(hours=1), "charge")

    assert dynamodb_calls.calls == {"UpdateItem": 1}
    entry = counted_journal.get(REQUEST.transaction_id)
    assert entry is not None
    assert entry.settled_at == T0  # untouched


def test_a_different_outcome_for_a_final_row_is_refused(
    counted_journal: DynamoDbChargeJournal,
) -> None:
    counted_journal.begin(REQUEST, T0)
    counted_journal.settle(DECLINED, T0, "charge")
    different = replace(DECLINED, status="succeeded", payment_intent_id="pi_456", decline_code=None)

    with pytest.raises(JournalConflict, match="transaction txn_journal_1 is already recorded"):
        counted_journal.settle(different, T0, "charge")

    entry = counted_journal.get(REQUEST.transaction_id)
    assert entry is not None
    assert entry.outcome() == DECLINED


def test_settling_a_transaction_that_was_never_begun_is_refused_and_writes_nothing(
    counted_journal: DynamoDbChargeJournal,
) -> None:
    with pytest.raises(JournalConflict):
        counted_journal.settle(DECLINED, T0, "charge")

    assert counted_journal.get(REQUEST.transaction_id) is None


def test_differences_name_every_field_that_changes_the_charge(
    counted_journal: DynamoDbChargeJournal,
) -> None:
    entry = counted_journal.begin(REQUEST, T0).entry
    other = REQUEST.model_copy(update={"amount": 2999, "payment_method": "pm_card_mastercard"})

    assert entry.differences(other) == [
        "amount: 1999 recorded, 2999 given",
        "payment_method differs",  # named only: its values are personal data
    ]
    assert entry.differences(REQUEST) == []


def test_a_row_missing_what_every_row_has_is_reported_not_guessed(
    counted_journal: DynamoDbChargeJournal,
) -> None:
    counted_journal.client.put_item(
        TableName=counted_journal.table_name,
        Item={"transaction_id": {"S": "txn_broken"}, "status": {"S": "succeeded"}},
    )

    with pytest.raises(CorruptJournalEntry, match="lacks account_id, amount, currency"):
        counted_journal.get("txn_broken")


def test_an_unknown_transaction_reads_as_none(counted_journal: DynamoDbChargeJournal) -> None:
    assert counted_journal.get("txn_never_seen") is None
