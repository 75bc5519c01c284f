"""Exactly-once for the whole life of a charge: duplicates that come back after time passed.

Each test moves the clock (time-machine moves it for Powertools, the journal and the fake
provider alike) past the bounds that used to hold the guarantee together: the idempotency
record's lifetime (19 days), the provider's key window (24 hours), an invocation's
timeout. The provider fake keeps Stripe's documented rules, forgetting included, and can
charge and then lose its answer or kill the function, so a guard that is missing shows up
as a second payment intent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import pytest
import time_machine
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyKeyError
from botocore.exceptions import ClientError

from delivery_guarantees.adapters.charge_journal import DynamoDbChargeJournal
from delivery_guarantees.billing import (
    IDEMPOTENCY_RECORD_LIFETIME_SECONDS,
    ConflictingCharge,
    IdempotentBilling,
    SettledFrom,
    parse_charge_request,
)
from delivery_guarantees.config import BillingSettings
from delivery_guarantees.models import ChargeRequest
from functions.billing import app
from tests.unit.billing.fakes import (
    FakeLambdaContext,
    FakePaymentProvider,
    FunctionKilled,
    charge_body,
    dead_letters,
    failed_ids,
    sqs_event,
    sqs_record,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient

pytestmark = pytest.mark.usefixtures("billing")

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
RECEIVES_BEFORE_DLQ = 5  # BillingQueue's maxReceiveCount


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(START, tick=True) as traveller:
        yield traveller


def deliver(body: dict[str, Any], message_id: str, context: FakeLambdaContext) -> list[str]:
    """One delivery of one message through the real handler; the IDs of failed records."""
    return failed_ids(
        app.lambda_handler(sqs_event(sqs_record(body, message_id=message_id)), context)
    )


def settled_from(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [vars(r)["settled_from"] for r in caplog.records if r.getMessage() == "charge settled"]


def journal_entry(journal: DynamoDbChargeJournal, transaction_id: str) -> Any:
    entry = journal.get(transaction_id)
    assert entry is not None, f"no journal row for {transaction_id}"
    return entry


class ThrottledJournalWrites:
    """Fails every UpdateItem on ChargesTable, as a throttled or forbidden table would."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self.table_name = table_name
        self.failures = 0
        self.active = True
        client.meta.events.register("provide-client-params.dynamodb.UpdateItem", self._fail)

    def _fail(self, params: dict[str, Any], **_: Any) -> None:
        if self.active and params.get("TableName") == self.table_name:
            self.failures += 1
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
                "UpdateItem",
            )


# ------------------------------------------------------------ the review's reproductions


@pytest.mark.parametrize("days_later", [20, 60, 400])
def test_a_settled_charge_arriving_again_after_every_other_memory_expired_is_not_charged(
    days_later: int,
    clock: time_machine.Traveller,
    provider: FakePaymentProvider,
    journal: DynamoDbChargeJournal,
    context: FakeLambdaContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A retried signup's charge, or a copy redriven from the DLQ weeks later (new message ID)."""
    body = charge_body(transaction_id="txn_signup_acc_late")
    assert deliver(body, "m-first", context) == []

    # Past the idempotency record's 19 days and the provider's 24 hours.
    clock.shift(timedelta(days=days_later))
    assert deliver(body, "m-redriven-copy", context) == []

    assert [i["id"] for i in provider.intents_for("txn_signup_acc_late")] == ["pi_fake_1"]
    assert settled_from(caplog) == ["provider", "journal"]
    assert provider.searches == []  # a final row answers without asking the provider


def test_a_charge_whose_journal_write_failed_after_the_provider_charged_is_adopted_not_repeated(
    clock: time_machine.Traveller,
    dynamodb: DynamoDBClient,
    settings: BillingSettings,
    provider: FakePaymentProvider,
    journal: DynamoDbChargeJournal,
    context: FakeLambdaContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = charge_body(transaction_id="txn_unrecorded")
    throttled = ThrottledJournalWrites(dynamodb, settings.charges_table_name)
    for receive in range(1, RECEIVES_BEFORE_DLQ + 1):
        assert deliver(body, f"m-receive-{receive}", context) == [f"m-receive-{receive}"]
        clock.shift(timedelta(minutes=3))  # the visibility timeout
    # Five receives, one intent (the key replayed it), the row still pending: dead-lettered.
    assert throttled.failures == RECEIVES_BEFORE_DLQ
    assert len(provider.intents_for("txn_unrecorded")) == 1
    assert journal_entry(journal, "txn_unrecorded").status == "pending"

    throttled.active = False
    clock.shift(timedelta(hours=25))  # the provider has forgotten the key
    assert deliver(body, "m-redriven", context) == []

    intents = provider.intents_for("txn_unrecorded")
    assert [i["id"] for i in intents] == ["pi_fake_1"]
    entry = journal_entry(journal, "txn_unrecorded")
    assert (entry.status, entry.payment_intent_id, entry.settled_by) == (
        "succeeded",
        "pi_fake_1",
        "reconciliation",
    )
    assert settled_from(caplog) == [SettledFrom.RECONCILIATION]


def test_a_function_killed_after_the_provider_charged_and_redelivered_a_day_later(
    clock: time_machine.Traveller,
    provider: FakePaymentProvider,
    journal: DynamoDbChargeJournal,
    context: FakeLambdaContext,
) -> None:
    body = charge_body(transaction_id="txn_killed")
    provider.kill_after_charge_next()
    with pytest.raises(FunctionKilled):
        deliver(body, "m-killed", context)
    assert journal_entry(journal, "txn_killed").status == "pending"

    clock.shift(timedelta(hours=25))
    assert deliver(body, "m-redelivered", context) == []

    assert [i["id"] for i in provider.intents_for("txn_killed")] == ["pi_fake_1"]
    assert journal_entry(journal, "txn_killed").settled_by == "reconciliation"


def test_a_lost_answer_retried_within_the_key_window_reuses_the_key_without_a_search(
    clock: time_machine.Traveller,
    provider: FakePaymentProvider,
    journal: DynamoDbChargeJournal,
    context: FakeLambdaContext,
) -> None:
    body = charge_body(transaction_id="txn_lost_answer")
    provider.lose_response_next()
    assert deliver(body, "m-1", context) == ["m-1"]

    clock.shift(timedelta(hours=22))  # younger than the reconcile threshold (23 h)
    assert deliver(body, "m-1", context) == []

    assert provider.searches == []
    assert provider.idempotency_keys == ["txn_lost_answer", "txn_lost_answer"]
    assert len(provider.intents_for("txn_lost_answer")) == 1
    assert journal_entry(journal, "txn_lost_answer").settled_by == "charge"


def test_an_old_pending_charge_the_provider_never_saw_is_charged_once_after_the_search(
    clock: time_machine.Traveller,
    provider: FakePaymentProvider,
    journal: DynamoDbChargeJournal,
    context: FakeLambdaContext,
) -> None:
    body = charge_body(transaction_id="txn_never_reached")
    provider.time_out_next()  # the request never reached the provider
    assert deliver(body, "m-1", context) == ["m-1"]

    clock.shift(timedelta(days=3))
    assert deliver(body, "m-redriven", context) == []

    assert provider.searches == ["txn_never_reached"]
    assert len(provider.intents_for("txn_never_reached")) == 1
    assert journal_entry(journal, "txn_never_reached").status == "succeeded"


def test_a_declined_attempt_found_by_reconciliation_is_recorded_as_declined(
    clock: time_machine.Traveller,
    provider: FakePaymentProvider,
    journal: DynamoDbChargeJournal,
    context: FakeLambdaContext,
) -> None:
    body = charge_body(transaction_id="txn_declined_lost", payment_method="pm_card_chargeDeclined")
    provider.lose_response_next()
    assert deliver(body, "m-1", context) == ["m-1"]

    clock.shift(timedelta(hours=25))
    assert deliver(body, "m-2", context) == []

    assert len(provider.intents_for("txn_declined_lost")) == 1
    entry = journal_entry(journal, "txn_declined_lost")
    assert (entry.status, entry.decline_code) == ("declined", "generic_decline")


@pytest.mark.parametrize("days_later", [0, 20], ids=["record-alive", "record-expired"])
def test_the_same_transaction_with_another_payment_method_is_refused_naming_it(
    days_later: int,
    clock: time_machine.Traveller,
    provider: FakePaymentProvider,
    context: FakeLambdaContext,
    dead_letter_queue: str,
) -> None:
    """A producer retrying a declined charge with a new card must mint a new transaction ID."""
    declined = charge_body(transaction_id="txn_new_card", payment_method="pm_card_chargeDeclined")
    assert deliver(declined, "m-declined", context) == []
    clock.shift(timedelta(days=days_later))

    assert (
        deliver(
            charge_body(transaction_id="txn_new_card", payment_method="pm_card_visa"),
            "m-new-card",
            context,
        )
        == []
    )  # acknowledged: a poison message, copied to the DLQ at once

    [copy] = dead_letters(dead_letter_queue)
    assert copy.attributes["ErrorType"] == ConflictingCharge.__name__
    assert "payment_method differs" in copy.attributes["ErrorMessage"]
    assert len(provider.calls) == 1


def test_an_amount_above_the_maximum_is_refused_before_anything_is_stored(
    provider: FakePaymentProvider,
    journal: DynamoDbChargeJournal,
    context: FakeLambdaContext,
    dead_letter_queue: str,
) -> None:
    body = charge_body(transaction_id="txn_huge", amount=100_000_000)

    assert deliver(body, "m-huge", context) == []  # acknowledged: copied to the DLQ at once

    [copy] = dead_letters(dead_letter_queue)
    assert "amount: 100000000 is above the maximum of 99999999" in copy.attributes["ErrorMessage"]
    assert provider.calls == []
    assert journal.get("txn_huge") is None


# ------------------------------------------------------------ the Powertools settings


def test_a_duplicate_days_later_takes_the_fast_path_while_its_record_lives(
    clock: time_machine.Traveller, context: FakeLambdaContext, caplog: pytest.LogCaptureFixture
) -> None:
    """The record lives 19 days (a message's normal life): duplicates cost one DynamoDB call."""
    body = charge_body(transaction_id="txn_fast_path")
    deliver(body, "m-1", context)

    clock.shift(timedelta(seconds=IDEMPOTENCY_RECORD_LIFETIME_SECONDS) - timedelta(days=1))
    deliver(body, "m-2", context)

    assert settled_from(caplog) == ["provider", "idempotency-record"]


def test_records_survive_a_renamed_function_or_a_redeployed_stack(
    context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = charge_body(transaction_id="txn_renamed")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "delivery-guarantees-BillingFunction-A1")
    deliver(body, "m-1", context)

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "delivery-guarantees-v2-BillingFunction-B2")
    deliver(body, "m-2", context)

    assert settled_from(caplog) == ["provider", "idempotency-record"]


def test_a_charge_without_a_transaction_id_is_refused_by_the_idempotency_layer(
    billing: IdempotentBilling,
    provider: FakePaymentProvider,
    dynamodb: DynamoDBClient,
    context: FakeLambdaContext,
) -> None:
    """Belt and braces behind the model: no key must never mean "run without the guard"."""
    keyless = ChargeRequest.model_construct(
        **{k: v for k, v in charge_body().items() if k != "transaction_id"}
    )
    # Powertools' LambdaContext is a class, not a Protocol (and types the remaining time as a
    # staticmethod, so a subclass cannot override it as a method): the fake has what billing
    # reads of it, and says so by this cast.
    billing.register_lambda_context(cast("LambdaContext", context))

    with pytest.raises(IdempotencyKeyError):
        billing.charge(keyless)

    assert provider.calls == []


def test_charging_without_a_registered_lambda_context_is_refused(
    billing: IdempotentBilling, provider: FakePaymentProvider
) -> None:
    charge = parse_charge_request(json.dumps(charge_body()))

    with pytest.raises(RuntimeError, match="register_lambda_context"):
        billing.charge(charge)

    assert provider.calls == []


def test_a_killed_invocation_blocks_its_charge_only_until_its_timeout(
    clock: time_machine.Traveller,
    provider: FakePaymentProvider,
    journal: DynamoDbChargeJournal,
    context: FakeLambdaContext,
) -> None:
    """register_lambda_context bounds the INPROGRESS record by the invocation's remaining time.

    Without it the record would block every retry for its whole 19-day lifetime and the
    message would be dead-lettered with the charge never settled.
    """
    body = charge_body(transaction_id="txn_killed_quickly")
    provider.kill_after_charge_next()
    with pytest.raises(FunctionKilled):
        deliver(body, "m-killed", context)

    clock.shift(timedelta(minutes=4))  # the visibility timeout, well past the 40 s timeout
    assert deliver(body, "m-killed", context) == []

    assert journal_entry(journal, "txn_killed_quickly").status == "succeeded"
    assert len(provider.intents_for("txn_killed_quickly")) == 1


def test_an_in_progress_duplicate_alone_in_its_batch_fails_its_record_not_the_invocation(
    provider: FakePaymentProvider,
    journal: DynamoDbChargeJournal,
    context: FakeLambdaContext,
) -> None:
    """A twin delivered while the first delivery's record is INPROGRESS must wait for a
    redelivery. It is answered in batchItemFailures: raising would be a function error,
    and one in-progress duplicate would move the function's Errors alarm."""
    body = charge_body(transaction_id="txn_twin_in_progress")
    provider.kill_after_charge_next()
    with pytest.raises(FunctionKilled):
        deliver(body, "m-first", context)

    assert deliver(body, "m-twin", context) == ["m-twin"]  # returned, not raised

    assert len(provider.intents_for("txn_twin_in_progress")) == 1
    assert journal_entry(journal, "txn_twin_in_progress").status == "pending"
