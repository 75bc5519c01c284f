"""BillingFunction end to end through `functions.billing.app.lambda_handler`.

Real DynamoDB tables (moto), the production idempotency wiring, a fake payment provider.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from aws_lambda_powertools.warnings import PowertoolsUserWarning

from delivery_guarantees.adapters.charge_journal import DynamoDbChargeJournal
from delivery_guarantees.billing import ConflictingCharge, InvalidChargeMessage
from delivery_guarantees.config import ConfigurationError
from delivery_guarantees.models import ChargeOutcome
from functions.billing import app
from tests.support.events import load_event
from tests.unit.billing.fakes import (
    FakeLambdaContext,
    FakePaymentProvider,
    charge_body,
    dead_letters,
    failed_ids,
    sqs_event,
    sqs_record,
)

pytestmark = pytest.mark.usefixtures("billing")


def emitted_metrics(stdout: str) -> dict[str, float]:
    """Metric totals from the EMF lines Powertools Metrics prints when it flushes."""
    metrics: dict[str, float] = {}
    for line in stdout.splitlines():
        entry = json.loads(line) if line.startswith("{") else {}
        for definition in (
            entry.get("_aws", {}).get("CloudWatchMetrics", [{}])[0].get("Metrics", [])
        ):
            value = entry[definition["Name"]]
            values = value if isinstance(value, list) else [value]
            metrics[definition["Name"]] = metrics.get(definition["Name"], 0) + sum(values)
    return metrics


def processing_errors() -> list[BaseException]:
    return [exc_info[1] for exc_info in app.processor.exceptions if exc_info[1] is not None]


def journal_rows(journal: DynamoDbChargeJournal) -> int:
    return journal.client.scan(TableName=journal.table_name, Select="COUNT")["Count"]


def recorded_outcome(journal: DynamoDbChargeJournal, transaction_id: str) -> ChargeOutcome:
    entry = journal.get(transaction_id)
    assert entry is not None, f"no journal row for {transaction_id}"
    return entry.outcome()


def test_a_charge_is_charged_once_and_recorded(
    provider: FakePaymentProvider, journal: DynamoDbChargeJournal, context: FakeLambdaContext
) -> None:
    response = app.lambda_handler(load_event("billing_charge"), context)

    assert response == {"batchItemFailures": []}
    assert provider.idempotency_keys == ["txn_signup_3f1c9b7e2a"]
    assert recorded_outcome(journal, "txn_signup_3f1c9b7e2a") == ChargeOutcome(
        transaction_id="txn_signup_3f1c9b7e2a",
        account_id="acc_3f1c9b7e2a",
        amount=1999,
        currency="usd",
        status="succeeded",
        payment_intent_id="pi_fake_1",
    )


def test_the_same_charge_twice_in_one_batch_is_charged_once(
    provider: FakePaymentProvider,
    journal: DynamoDbChargeJournal,
    context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    event = load_event("billing_duplicate_charge")

    response = app.lambda_handler(event, context)

    assert response == {"batchItemFailures": []}
    assert len(provider.calls) == 1
    assert journal_rows(journal) == 1
    assert emitted_metrics(capsys.readouterr().out) == {"ChargeSucceeded": 1, "DuplicateCharge": 1}
    settled = [vars(r) for r in caplog.records if r.getMessage() == "charge settled"]
    assert [log["message_id"] for log in settled] == [r["messageId"] for r in event["Records"]]
    assert [log["replayed"] for log in settled] == [False, True]
    # The duplicate is answered with the stored outcome: the same payment intent.
    assert {log["payment_intent_id"] for log in settled} == {"pi_fake_1"}


def test_a_redelivery_in_a_later_batch_is_charged_once(
    provider: FakePaymentProvider, journal: DynamoDbChargeJournal, context: FakeLambdaContext
) -> None:
    first = load_event("billing_charge")
    redelivery = load_event("billing_charge")
    redelivery["Records"][0]["attributes"]["ApproximateReceiveCount"] = "2"

    assert app.lambda_handler(first, context) == {"batchItemFailures": []}
    assert app.lambda_handler(redelivery, context) == {"batchItemFailures": []}

    assert len(provider.calls) == 1
    assert journal_rows(journal) == 1


def test_a_duplicate_returns_the_stored_outcome(
    billing: Any, provider: FakePaymentProvider, context: FakeLambdaContext
) -> None:
    from delivery_guarantees.billing import parse_charge_request

    charge = parse_charge_request(json.dumps(charge_body()))
    billing.register_lambda_context(context)

    first = billing.charge(charge)
    duplicate = billing.charge(charge)

    assert (first.replayed, duplicate.replayed) == (False, True)
    assert duplicate.outcome == first.outcome
    assert len(provider.calls) == 1


def test_the_same_transaction_with_another_amount_is_dead_lettered_and_charges_nothing(
    provider: FakePaymentProvider,
    journal: DynamoDbChargeJournal,
    context: FakeLambdaContext,
    dead_letter_queue: str,
) -> None:
    app.lambda_handler(sqs_event(sqs_record(charge_body(), message_id="m-original")), context)
    conflicting = sqs_record(charge_body(amount=2999), message_id="m-conflicting")
    other = sqs_record(charge_body(transaction_id="txn_test_0002"), message_id="m-other")

    response = app.lambda_handler(sqs_event(conflicting, other), context)

    # A poison message: copied to the DLQ at its first failure, then acknowledged.
    assert failed_ids(response) == []
    assert processing_errors() == []
    [copy] = dead_letters(dead_letter_queue)
    assert copy.body == conflicting["body"]
    assert copy.attributes["ErrorType"] == ConflictingCharge.__name__
    assert "amount: 1999 recorded, 2999 given" in copy.attributes["ErrorMessage"]
    assert copy.attributes["SourceMessageId"] == "m-conflicting"
    assert provider.idempotency_keys == ["txn_test_0001", "txn_test_0002"]
    assert recorded_outcome(journal, "txn_test_0001").amount == 1999


@pytest.mark.parametrize(
    ("body", "expected_problem"),
    [
        pytest.param(
            {k: v for k, v in charge_body().items() if k != "transaction_id"},
            "transaction_id: Field required",
            id="missing-transaction-id",
        ),
        pytest.param('{"transaction_id": "txn_x", "amount": ', "body: Invalid JSON", id="json"),
        pytest.param(
            charge_body(amount="1999"), "amount: Input should be a valid integer", id="string"
        ),
        pytest.param(
            charge_body(amount=-5), "amount: Input should be greater than 0", id="negative"
        ),
        pytest.param(charge_body(currency="xyz"), "unknown currency 'xyz'", id="currency"),
        pytest.param(
            charge_body(payment_method="4242424242424242"), "payment_method:", id="card-number"
        ),
    ],
)
def test_an_invalid_charge_is_dead_lettered_at_once_with_its_reason_and_charges_nothing(
    body: dict[str, Any] | str,
    expected_problem: str,
    provider: FakePaymentProvider,
    journal: DynamoDbChargeJournal,
    context: FakeLambdaContext,
    dead_letter_queue: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    event = sqs_event(
        sqs_record(charge_body(transaction_id="txn_good_1"), message_id="m-good-1"),
        sqs_record(body, message_id="m-bad"),
        sqs_record(charge_body(transaction_id="txn_good_2"), message_id="m-good-2"),
    )

    response = app.lambda_handler(event, context)

    # Not in the batch's failures: copied to BillingDeadLetterQueue first, then acknowledged.
    assert failed_ids(response) == []
    [copy] = dead_letters(dead_letter_queue)
    assert copy.body == event["Records"][1]["body"]
    reason = copy.attributes
    assert reason["ErrorType"] == InvalidChargeMessage.__name__
    assert expected_problem in reason["ErrorMessage"]
    assert reason["ErrorFunction"] == context.function_name
    assert datetime.fromisoformat(reason["ErrorTime"]).tzinfo is not None
    assert reason["SourceQueue"] == event["Records"][1]["eventSourceARN"].rsplit(":", 1)[-1]
    assert reason["SourceMessageId"] == "m-bad"
    assert "4242424242424242" not in json.dumps(reason)
    assert provider.idempotency_keys == ["txn_good_1", "txn_good_2"]
    assert journal_rows(journal) == 2
    assert emitted_metrics(capsys.readouterr().out) == {
        "ChargeSucceeded": 2,
        "InvalidChargeMessage": 1,
        "PoisonMessageDeadLettered": 1,
    }
    # The handler logs the reason, so an operator sees why without reading the DLQ.
    [logged] = [r for r in caplog.records if "copied to the DLQ" in r.getMessage()]
    assert expected_problem in vars(logged)["reason"]


def test_the_malformed_record_event_dead_letters_only_the_malformed_record(
    provider: FakePaymentProvider, context: FakeLambdaContext, dead_letter_queue: str
) -> None:
    event = load_event("billing_batch_with_malformed_record")

    response = app.lambda_handler(event, context)

    assert failed_ids(response) == []  # the malformed record is in the DLQ instead
    [copy] = dead_letters(dead_letter_queue)
    assert copy.attributes["SourceMessageId"] == event["Records"][1]["messageId"]
    assert len(provider.calls) == 2


def test_a_provider_timeout_fails_the_record_and_the_retry_reuses_the_key(
    billing: Any,
    provider: FakePaymentProvider,
    journal: DynamoDbChargeJournal,
    context: FakeLambdaContext,
    settings: Any,
) -> None:
    provider.time_out_next()
    timed_out = charge_body(transaction_id="txn_timeout")
    batch = sqs_event(
        sqs_record(timed_out, message_id="m-timeout"),
        sqs_record(charge_body(transaction_id="txn_fine"), message_id="m-fine"),
    )

    assert failed_ids(app.lambda_handler(batch, context)) == ["m-timeout"]
    pending = journal.get("txn_timeout")
    assert pending is not None
    assert pending.status == "pending"
    # The function raised, so Powertools deleted the INPROGRESS record: only txn_fine's is left.
    stored = journal.client.scan(TableName=settings.idempotency_table_name)["Items"]
    assert [item["status"]["S"] for item in stored] == ["COMPLETED"]

    retry = sqs_event(sqs_record(timed_out, message_id="m-timeout", receive_count=2))
    assert app.lambda_handler(retry, context) == {"batchItemFailures": []}

    assert provider.idempotency_keys == ["txn_timeout", "txn_fine", "txn_timeout"]
    assert recorded_outcome(journal, "txn_timeout").status == "succeeded"


def test_a_batch_whose_every_record_fails_returns_them_all_and_is_no_function_error(
    provider: FakePaymentProvider, context: FakeLambdaContext
) -> None:
    """Raising would count as a function error (the Errors alarm) for one failed record;
    the answer lists every record instead, so SQS redelivers them all the same."""
    provider.time_out_next()
    event = load_event("billing_charge")

    response = app.lambda_handler(event, context)

    assert failed_ids(response) == [record["messageId"] for record in event["Records"]]


def test_a_declined_card_is_recorded_as_declined_and_not_retried(
    provider: FakePaymentProvider,
    journal: DynamoDbChargeJournal,
    context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = load_event("billing_declined_card")

    assert app.lambda_handler(event, context) == {"batchItemFailures": []}
    assert app.lambda_handler(event, context) == {"batchItemFailures": []}  # redelivered

    assert len(provider.calls) == 1
    recorded = recorded_outcome(journal, "txn_signup_d3c11ed0ff")
    assert (recorded.status, recorded.decline_code) == ("declined", "generic_decline")
    assert emitted_metrics(capsys.readouterr().out) == {"ChargeDeclined": 1, "DuplicateCharge": 1}


def test_without_the_idempotency_table_the_journal_alone_answers_a_duplicate(
    provider: FakePaymentProvider,
    journal: DynamoDbChargeJournal,
    context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Powertools' kill switch removes the fast path; the journal still charges once."""
    monkeypatch.setenv("POWERTOOLS_IDEMPOTENCY_DISABLED", "true")
    event = load_event("billing_duplicate_charge")

    with pytest.warns(PowertoolsUserWarning):
        response = app.lambda_handler(event, context)

    assert response == {"batchItemFailures": []}
    assert len(provider.calls) == 1
    assert journal_rows(journal) == 1
    settled = [vars(r) for r in caplog.records if r.getMessage() == "charge settled"]
    assert [log["settled_from"] for log in settled] == ["provider", "journal"]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_missing_setting_fails_the_invocation_naming_the_variable(
    provider: FakePaymentProvider, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.billing.install(None)  # back to the production path: settings from the environment
    monkeypatch.delenv("IDEMPOTENCY_TABLE_NAME", raising=False)

    with pytest.raises(ConfigurationError, match="IDEMPOTENCY_TABLE_NAME"):
        app.lambda_handler(load_event("billing_charge"), context)

    assert provider.calls == []
