"""DynamoDbChargesLedger against a moto ChargesTable."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from delivery_guarantees.adapters.charges_ledger import DynamoDbChargesLedger, LedgerConflict
from delivery_guarantees.config import BillingSettings
from delivery_guarantees.models import ChargeOutcome
from tests.unit.billing.fakes import DynamoDbCallCounter

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

OUTCOME = ChargeOutcome(
    transaction_id="txn_ledger_1",
    account_id="acc_ledger_1",
    amount=1999,
    currency="usd",
    status="declined",
    payment_intent_id="pi_123",
    decline_code="insufficient_funds",
)


@pytest.fixture
def counted_ledger(
    dynamodb: DynamoDBClient, dynamodb_calls: DynamoDbCallCounter, settings: BillingSettings
) -> DynamoDbChargesLedger:
    return DynamoDbChargesLedger(settings.charges_table_name, client=dynamodb)


def test_an_outcome_is_stored_and_read_back(counted_ledger: DynamoDbChargesLedger) -> None:
    counted_ledger.record(OUTCOME)

    assert counted_ledger.get(OUTCOME.transaction_id) == OUTCOME
    item = counted_ledger.client.get_item(
        TableName=counted_ledger.table_name, Key={"transaction_id": {"S": "txn_ledger_1"}}
    )["Item"]
    assert item["amount"] == {"N": "1999"}
    assert "recorded_at" in item


def test_optional_fields_are_omitted_not_stored_as_empty(
    counted_ledger: DynamoDbChargesLedger,
) -> None:
    succeeded = replace(OUTCOME, status="succeeded", payment_intent_id=None, decline_code=None)

    counted_ledger.record(succeeded)

    assert counted_ledger.get(succeeded.transaction_id) == succeeded


def test_recording_the_same_outcome_again_is_a_no_op_costing_one_call(
    counted_ledger: DynamoDbChargesLedger, dynamodb_calls: DynamoDbCallCounter
) -> None:
    counted_ledger.record(OUTCOME)
    dynamodb_calls.reset()

    counted_ledger.record(OUTCOME)

    assert dynamodb_calls.calls == {"PutItem": 1}
    assert counted_ledger.get(OUTCOME.transaction_id) == OUTCOME


def test_a_different_outcome_for_a_recorded_transaction_is_refused(
    counted_ledger: DynamoDbChargesLedger,
) -> None:
    counted_ledger.record(OUTCOME)
    different = replace(OUTCOME, status="succeeded", decline_code=None)

    with pytest.raises(LedgerConflict, match="transaction txn_ledger_1 is already recorded"):
        counted_ledger.record(different)

    assert counted_ledger.get(OUTCOME.transaction_id) == OUTCOME


def test_an_unknown_transaction_reads_as_none(counted_ledger: DynamoDbChargesLedger) -> None:
    assert counted_ledger.get("txn_never_seen") is None
