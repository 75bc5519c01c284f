"""Every hostile charge in the corpus, between two good charges, through the billing handler.

Real DynamoDB tables (moto), the production idempotency wiring, the fake provider. The
hostile record alone is reported in batchItemFailures (so SQS redelivers it, then
dead-letters it: never lost, never silently dropped), its error names the problem, the
provider is never called for it and the journal never holds it; both good charges are
charged once.
"""

from __future__ import annotations

import json

import pytest

from delivery_guarantees.adapters.charge_journal import DynamoDbChargeJournal
from delivery_guarantees.billing import InvalidChargeMessage
from functions.billing import app
from tests.corpus.hostile_inputs import CHARGE, HostileInput, Target, cases_for
from tests.unit.billing.fakes import FakeLambdaContext, FakePaymentProvider
from tests.unit.corpus.conftest import (
    LogText,
    assert_never_repeated,
    failed_ids,
    sqs_event,
    sqs_record,
)

pytestmark = pytest.mark.usefixtures("billing")


def good_charge(transaction_id: str) -> str:
    return json.dumps({**CHARGE, "transaction_id": transaction_id})


@pytest.mark.parametrize("case", cases_for(Target.CHARGE), ids=lambda case: case.id)
def test_a_hostile_charge_fails_only_its_own_record_and_is_never_charged(
    case: HostileInput,
    provider: FakePaymentProvider,
    journal: DynamoDbChargeJournal,
    context: FakeLambdaContext,
    logs: LogText,
) -> None:
    event = sqs_event(
        sqs_record(good_charge("txn_corpus_good_1"), "m-good-1"),
        sqs_record(case.text(), "m-hostile"),
        sqs_record(good_charge("txn_corpus_good_2"), "m-good-2"),
    )

    response = app.lambda_handler(event, context)

    assert failed_ids(response) == ["m-hostile"]
    [error] = [exc_info[1] for exc_info in app.processor.exceptions]
    assert isinstance(error, InvalidChargeMessage)
    assert f"{case.names}: " in str(error)
    assert case.says in str(error)
    assert len(str(error)) < 2048
    assert provider.idempotency_keys == ["txn_corpus_good_1", "txn_corpus_good_2"]
    assert provider.searches == []
    rows = journal.client.scan(TableName=journal.table_name)["Items"]
    assert sorted(row["transaction_id"]["S"] for row in rows) == [
        "txn_corpus_good_1",
        "txn_corpus_good_2",
    ]
    assert_never_repeated(case.never_repeated, str(error), logs.text())
