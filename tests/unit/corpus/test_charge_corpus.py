"""Every hostile charge in the corpus, between two good charges, through the billing handler.

Real DynamoDB tables (moto) and SQS, the production idempotency wiring, the fake
provider. The hostile record is a poison message: copied to BillingDeadLetterQueue at
once with its reason (never lost, never silently dropped), then acknowledged, so it is not
in batchItemFailures; the reason names the problem and never repeats the hostile value,
the provider is never called for it and the journal never holds it; both good charges
are charged once.
"""

from __future__ import annotations

import json

import pytest

from delivery_guarantees.adapters.charge_journal import DynamoDbChargeJournal
from delivery_guarantees.billing import InvalidChargeMessage
from delivery_guarantees.poison import ERROR_MESSAGE_MAX_CHARS
from functions.billing import app
from tests.corpus.hostile_inputs import CHARGE, HostileInput, Target, cases_for
from tests.unit.billing.fakes import FakeLambdaContext, FakePaymentProvider, dead_letters
from tests.unit.corpus.conftest import (
    LogText,
    assert_never_repeated,
    failed_ids,
    sqs_event,
    sqs_record,
)

pytestmark = pytest.mark.usefixtures("billing")


def sqs_can_carry(body: str) -> bool:
    """Whether SendMessage accepts this body (moto's limit; AWS's is 256 KiB)."""
    try:
        return len(body.encode()) <= 1_048_576
    except UnicodeEncodeError:
        return False


def good_charge(transaction_id: str) -> str:
    return json.dumps({**CHARGE, "transaction_id": transaction_id})


@pytest.mark.parametrize("case", cases_for(Target.CHARGE), ids=lambda case: case.id)
def test_a_hostile_charge_is_dead_lettered_with_its_reason_and_never_charged(
    case: HostileInput,
    dead_letter_queue: str,
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

    if not sqs_can_carry(case.text()):
        # A body SQS itself refuses (not UTF-8, over its size limit) cannot be copied: the
        # record fails and takes the redelivery path, as before; never lost.
        assert failed_ids(response) == ["m-hostile"]
        [failure] = [exc_info[1] for exc_info in app.processor.exceptions]
        assert isinstance(failure, InvalidChargeMessage)
        assert provider.idempotency_keys == ["txn_corpus_good_1", "txn_corpus_good_2"]
        return
    assert failed_ids(response) == []
    [copy] = dead_letters(dead_letter_queue)
    assert copy.body == event["Records"][1]["body"]
    assert copy.attributes["ErrorType"] == InvalidChargeMessage.__name__
    error = copy.attributes["ErrorMessage"]
    assert f"{case.names}: " in error
    assert case.says in error
    assert len(error) <= ERROR_MESSAGE_MAX_CHARS
    assert provider.idempotency_keys == ["txn_corpus_good_1", "txn_corpus_good_2"]
    assert provider.searches == []
    rows = journal.client.scan(TableName=journal.table_name)["Items"]
    assert sorted(row["transaction_id"]["S"] for row in rows) == [
        "txn_corpus_good_1",
        "txn_corpus_good_2",
    ]
    assert_never_repeated(case.never_repeated, json.dumps(copy.attributes), logs.text())
