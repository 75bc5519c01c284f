"""A valid charge is never refused because a conflicting copy holds the in-progress record.

Powertools' idempotency compares a payload's hash with the stored record's before it looks
at the record's status. So while a copy reusing the transaction ID with other details
holds the record IN_PROGRESS (another instance is running it, or its invocation was
killed and the record lives until its in-progress expiry, the invocation's remaining
time), the valid charge meets `IdempotencyValidationError`. That copy has settled
nothing: the journal has no row, or the valid charge's own row. The valid charge must be
retried (a transient error, the record reported failed and redelivered after the
visibility timeout), then charged exactly once; never dead-lettered as a conflict. Only
a journal row for another charge makes it a conflict.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import pytest
import time_machine

from delivery_guarantees.adapters.charge_journal import DynamoDbChargeJournal
from delivery_guarantees.adapters.payment_provider import PaymentProviderUnavailable
from delivery_guarantees.billing import (
    ConflictingCharge,
    ConflictingCopyInProgress,
    IdempotentBilling,
    SettledFrom,
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
from tests.unit.billing.test_billing_handler import emitted_metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient

pytestmark = pytest.mark.usefixtures("billing")

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
# BillingQueue's VisibilityTimeout (242 s) rounded up: a failed record returns no sooner.
# The conflicting copy's in-progress record expires with its invocation: 30 s here
# (FakeLambdaContext), at most BillingFunction's Timeout (40 s) in production.
VISIBILITY_TIMEOUT = timedelta(minutes=4)

VALID = charge_body(transaction_id="txn_reused", amount=1999)
CONFLICTING = charge_body(transaction_id="txn_reused", amount=2500)


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(START, tick=True) as traveller:
        yield traveller


class KillAfterInProgressRecord:
    """Kills the function (`FunctionKilled`) right after the next in-progress record is saved.

    A botocore hook on the billing function's own client: the PutItem on IdempotencyTable
    is applied, then the function dies before it reaches the journal, as a timeout or an
    out-of-memory kill at that moment would. The record stays IN_PROGRESS until its
    in-progress expiry.
    """

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.armed = False
        self.fired = 0
        self._table = table
        self._writing = False
        client.meta.events.register("provide-client-params.dynamodb.PutItem", self._before)
        client.meta.events.register("after-call.dynamodb.PutItem", self._after)

    def _before(self, params: dict[str, Any], **_: Any) -> None:
        self._writing = self.armed and params.get("TableName") == self._table

    def _after(self, http_response: Any, **_: Any) -> None:
        if self._writing and http_response.status_code == 200:  # the record was saved
            self.armed = self._writing = False
            self.fired += 1
            raise FunctionKilled("killed after saving the in-progress record")


@pytest.fixture
def kill(dynamodb: DynamoDBClient, settings: BillingSettings) -> KillAfterInProgressRecord:
    return KillAfterInProgressRecord(dynamodb, settings.idempotency_table_name)


def deliver(body: dict[str, Any], message_id: str, context: FakeLambdaContext) -> list[str]:
    return failed_ids(
        app.lambda_handler(sqs_event(sqs_record(body, message_id=message_id)), context)
    )


def kill_conflicting_copy_mid_call(
    kill: KillAfterInProgressRecord, context: FakeLambdaContext
) -> None:
    kill.armed = True
    with pytest.raises(FunctionKilled):
        deliver(CONFLICTING, "m-conflicting", context)
    assert kill.fired == 1


def leave_a_pending_row(
    billing: IdempotentBilling, provider: FakePaymentProvider, valid: ChargeRequest
) -> None:
    """The valid charge's first attempt met a provider outage: its row is pending."""
    provider.time_out_next()
    with pytest.raises(PaymentProviderUnavailable):
        billing.charge(valid)


@pytest.mark.parametrize("journal_row", ["none", "the valid charge's, pending"])
def test_a_valid_charge_meeting_a_killed_conflicting_copys_record_is_retried_then_charged_once(
    journal_row: str,
    clock: time_machine.Traveller,
    billing: IdempotentBilling,
    provider: FakePaymentProvider,
    journal: DynamoDbChargeJournal,
    kill: KillAfterInProgressRecord,
    context: FakeLambdaContext,
) -> None:
    valid = ChargeRequest(**VALID)
    billing.register_lambda_context(cast("LambdaContext", context))
    if journal_row != "none":
        leave_a_pending_row(billing, provider, valid)
    calls_before = len(provider.calls)
    kill_conflicting_copy_mid_call(kill, context)
    entry = journal.get("txn_reused")
    assert (entry is None) == (journal_row == "none")  # the copy died before the journal

    with pytest.raises(ConflictingCopyInProgress) as refused:
        billing.charge(valid)

    assert "txn_reused" in str(refused.value)
    assert "will be retried" in str(refused.value)
    assert len(provider.calls) == calls_before  # nothing sent while the copy holds the record
    clock.shift(VISIBILITY_TIMEOUT)  # the redelivery: the copy's record has expired
    result = billing.charge(valid)
    assert result.settled_from is SettledFrom.PROVIDER
    assert result.outcome.amount == 1999
    assert len(provider.intents_for("txn_reused")) == 1
    settled = journal.get("txn_reused")
    assert settled is not None
    assert (settled.status, settled.outcome().amount) == ("succeeded", 1999)


def test_a_conflicting_copy_in_progress_with_its_own_journal_row_is_a_conflict(
    billing: IdempotentBilling,
    provider: FakePaymentProvider,
    journal: DynamoDbChargeJournal,
    context: FakeLambdaContext,
) -> None:
    """The copy got to the journal first and was charged, then killed: the other charge
    under its ID is the conflict, refused at once naming what differs."""
    provider.kill_after_charge_next()
    with pytest.raises(FunctionKilled):
        deliver(CONFLICTING, "m-conflicting", context)
    billing.register_lambda_context(cast("LambdaContext", context))

    with pytest.raises(ConflictingCharge, match="amount: 2500 recorded, 1999 given"):
        billing.charge(ChargeRequest(**VALID))

    assert len(provider.intents_for("txn_reused")) == 1


def test_the_handler_reports_the_valid_charge_failed_not_dead_lettered_and_charges_it_later(
    clock: time_machine.Traveller,
    provider: FakePaymentProvider,
    journal: DynamoDbChargeJournal,
    kill: KillAfterInProgressRecord,
    context: FakeLambdaContext,
    dead_letter_queue: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    provider.time_out_next()
    assert deliver(VALID, "m-valid", context) == ["m-valid"]  # pending row, retried
    kill_conflicting_copy_mid_call(kill, context)
    capsys.readouterr()

    # A copy of the valid charge (a producer retry) while the conflicting copy's record
    # is IN_PROGRESS: reported failed, so SQS redelivers it; never copied to the DLQ.
    assert deliver(VALID, "m-valid-again", context) == ["m-valid-again"]

    assert dead_letters(dead_letter_queue) == []
    assert emitted_metrics(capsys.readouterr().out) == {"ConflictingCopyInProgress": 1}
    assert provider.intents_for("txn_reused") == []
    clock.shift(VISIBILITY_TIMEOUT)
    assert deliver(VALID, "m-valid", context) == []
    assert deliver(VALID, "m-valid-again", context) == []  # a duplicate, answered
    # The conflicting copy's redelivery: now the journal holds the valid charge.
    assert deliver(CONFLICTING, "m-conflicting", context) == []
    [copy] = dead_letters(dead_letter_queue)
    assert copy.attributes["ErrorType"] == ConflictingCharge.__name__
    assert copy.attributes["SourceMessageId"] == "m-conflicting"
    assert [i["amount"] for i in provider.intents_for("txn_reused")] == [1999]
    settled = journal.get("txn_reused")
    assert settled is not None
    assert (settled.status, settled.outcome().amount) == ("succeeded", 1999)
