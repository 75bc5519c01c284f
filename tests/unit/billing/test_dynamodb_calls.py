"""How many DynamoDB calls a billing record costs: a regression test on the observed numbers.

Fresh charge: PutItem (INPROGRESS) + PutItem (journal: pending) + UpdateItem (journal: final)
+ UpdateItem (COMPLETED) = 4.
Duplicate while its idempotency record lives (the fast path): one conditional PutItem that
fails and, thanks to ReturnValuesOnConditionCheckFailure, returns the stored record.
Duplicate after the record expired: PutItem (INPROGRESS) + PutItem (journal, fails and
returns the final row) + UpdateItem (COMPLETED) = 3, and no provider call.
A change in Powertools or in the wiring shows up here.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from functions.billing import app
from tests.unit.billing.fakes import (
    DynamoDbCallCounter,
    FakeLambdaContext,
    FakePaymentProvider,
    charge_body,
    sqs_event,
    sqs_record,
)

pytestmark = pytest.mark.usefixtures("billing")


def test_dynamodb_calls_per_fresh_and_per_duplicate_record(
    dynamodb_calls: DynamoDbCallCounter,
    provider: FakePaymentProvider,
    context: FakeLambdaContext,
) -> None:
    fresh = sqs_event(sqs_record(charge_body(), message_id="m-1"))
    duplicate = sqs_event(sqs_record(charge_body(), message_id="m-2"))

    dynamodb_calls.reset()
    app.lambda_handler(fresh, context)
    per_fresh = Counter(dynamodb_calls.calls)
    dynamodb_calls.reset()
    app.lambda_handler(duplicate, context)
    per_duplicate = Counter(dynamodb_calls.calls)

    print(f"\nDynamoDB calls per fresh billing record: {dict(per_fresh)}")
    print(f"DynamoDB calls per duplicate billing record: {dict(per_duplicate)}")
    assert per_fresh == {"PutItem": 2, "UpdateItem": 2}
    assert per_duplicate == {"PutItem": 1}
    assert len(provider.calls) == 1


def test_dynamodb_calls_for_a_batch_of_ten_with_five_duplicates(
    dynamodb_calls: DynamoDbCallCounter, context: FakeLambdaContext
) -> None:
    records = [
        sqs_record(charge_body(transaction_id=f"txn_{n % 5}"), message_id=f"m-{n}")
        for n in range(10)
    ]

    dynamodb_calls.reset()
    app.lambda_handler(sqs_event(*records), context)

    print(f"\nDynamoDB calls for 10 records, 5 of them duplicates: {dict(dynamodb_calls.calls)}")
    assert dynamodb_calls.calls == {"PutItem": 5 * 2 + 5 * 1, "UpdateItem": 5 * 2}


def test_dynamodb_calls_for_a_duplicate_after_its_idempotency_record_expired(
    dynamodb_calls: DynamoDbCallCounter,
    provider: FakePaymentProvider,
    context: FakeLambdaContext,
) -> None:
    with time_machine.travel(datetime(2026, 11, 1, tzinfo=UTC), tick=True) as traveller:
        app.lambda_handler(sqs_event(sqs_record(charge_body(), message_id="m-1")), context)
        traveller.shift(timedelta(days=30))  # the record (19 days) has expired
        dynamodb_calls.reset()
        app.lambda_handler(sqs_event(sqs_record(charge_body(), message_id="m-2")), context)

    print(f"\nDynamoDB calls per duplicate after expiry: {dict(dynamodb_calls.calls)}")
    assert dynamodb_calls.calls == {"PutItem": 2, "UpdateItem": 1}
    assert len(provider.calls) == 1
