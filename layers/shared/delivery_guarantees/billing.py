"""Billing: charge a card with exactly-once effect on top of at-least-once delivery.

BillingQueue may deliver a charge more than once, at any time: SQS is at-least-once, a
failed batch is redelivered, a producer retries, and a DLQ redrive sends a copy back days
or weeks later with a new message ID. Every guard is keyed on the producer's
`transaction_id` (never on the SQS messageId, which differs between a message and its
resend):

1. The charge journal (ChargesTable, adapters/charge_journal.py) is the durable guard.
   The transaction is written `pending` before the provider is called and made final
   after it answers; the row is never deleted. A later delivery that finds a final row is
   answered from it; one that finds a pending row (the earlier attempt crashed, timed out,
   or could not record the outcome) asks the provider with the same idempotency key while
   the provider still remembers it, and reconciles with the provider (a search by
   transaction ID) once it may have forgotten it. So the bound is the journal's lifetime,
   which is forever, not the provider's key window.
2. The same ID is the provider's idempotency key: concurrent or quick retries of one
   attempt are answered with the provider's first result.
3. Powertools idempotency (IdempotencyTable) is the fast path: a recent duplicate is
   answered from its record in one DynamoDB call, and a twin running concurrently is
   refused (IdempotencyAlreadyInProgressError) until the first finishes or times out.

Payload validation covers every field that defines a charge: the same transaction ID
with another account, amount, currency or payment method is a `ConflictingCharge`, never
a replay and never a charge, when the journal holds the other charge. While a copy with
other details merely holds the in-progress idempotency record (the journal has no row,
or a row for this charge) the charge is retried (`ConflictingCopyInProgress`), never
refused. The rules and their bounds: docs/design.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError
from aws_lambda_powertools.utilities.idempotency.serialization.base import (
    BaseIdempotencySerializer,
)

from delivery_guarantees.adapters.charge_journal import (
    CHARGE_FIELDS,
    DYNAMODB_CALL_WORST_CASE_SECONDS,
    ChargeJournal,
    DynamoDbChargeJournal,
    dynamodb_client_config,
)
from delivery_guarantees.adapters.payment_provider import (
    ParameterStoreSecret,
    PaymentProvider,
    PaymentProviderUnavailable,
    StripePaymentProvider,
    call_worst_case_seconds,
)
from delivery_guarantees.records import ChargeOutcome

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient

    from delivery_guarantees.config import BillingSettings
    from delivery_guarantees.models import ChargeRequest

DAY_SECONDS = 24 * 60 * 60
# Stripe keeps an idempotency key (and replays its first answer) for at least 24 hours.
PROVIDER_KEY_WINDOW = timedelta(hours=24)
# A pending charge whose first attempt is older than this is reconciled (searched at the
# provider) before it is retried. An hour short of the key window: the margin covers
# clock differences between Lambda and the provider. Younger rows are retried with the
# same key, which the provider still remembers, so no search (Stripe's search API has a
# lower rate limit and may lag writes; a key younger than 24 h makes that lag harmless).
RECONCILE_PENDING_AFTER = PROVIDER_KEY_WINDOW - timedelta(hours=1)
# The fast path only: duplicates within this time are answered from the idempotency
# record with one DynamoDB call; later ones from the journal (three calls). It covers a
# message's normal life: 4 days on BillingQueue, 14 in BillingDeadLetterQueue, a day for
# the redrive. Correctness no longer depends on it: the journal never expires.
IDEMPOTENCY_RECORD_LIFETIME_SECONDS = (4 + 14 + 1) * DAY_SECONDS
# A fixed prefix instead of Powertools' default (function name + qualified name): records
# must survive a renamed function or a redeployed stack, or the fast path would miss.
IDEMPOTENCY_KEY_PREFIX = "billing.charge_card"
# Stripe's largest amount (99,999,999 minor units, e.g. 999,999.99 USD); the template's
# MaxChargeAmount parameter can lower it.
PROVIDER_MAX_AMOUNT = 99_999_999


class InvalidChargeMessage(ValueError):
    """A message body that is not a valid charge. Nothing is charged."""


class ConflictingCharge(ValueError):
    """The transaction ID is already recorded for a different charge. Nothing is charged.

    A producer reused a transaction ID (or changed a charge and kept its ID, e.g. a retry
    with a new card after a decline: that is a new transaction and needs a new ID).
    Retrying cannot help; a human decides.
    """

    def __init__(self, transaction_id: str, differences: list[str]) -> None:
        detail = "; ".join(differences) or f"one of {', '.join(CHARGE_FIELDS)} differs"
        super().__init__(
            f"transaction {transaction_id} is already recorded for a different charge "
            f"({detail}); nothing was charged. Use a new transaction_id for a new charge."
        )
        self.transaction_id = transaction_id
        self.differences = differences


class ConflictingCopyInProgress(RuntimeError):
    """A copy with other details holds the transaction's in-progress idempotency record.

    Transient: nothing is charged now, the record fails and SQS redelivers it. Powertools
    compares the payload before it looks at a record's status, so while another charge
    under this ID is in progress (another instance, or a killed invocation whose record
    lives until its in-progress expiry) this charge is refused as if it conflicted. The
    journal has no row for the transaction or a row for this very charge, so it is not a
    conflict (yet): the redelivery decides, by then that copy has finished or its record
    has expired (docs/design.md, the bound).
    """

    def __init__(self, transaction_id: str) -> None:
        super().__init__(
            f"transaction {transaction_id}: a copy with other details is in progress "
            "(its idempotency record is not settled yet) and the charge journal holds no "
            "other charge under this ID; nothing was charged, the charge will be retried"
        )
        self.transaction_id = transaction_id


# ---------------------------------------------------------------- the time budget


@dataclass(frozen=True)
class TimeBudget:
    """What one provider call may cost, and what must still fit in the invocation after it.

    A record may start a provider call only while the invocation's remaining time covers
    `required_seconds`: the call's worst case (every attempt's connect and read timeouts
    and the SDK's back-off) plus the DynamoDB writes that follow it (the journal's settle
    and the idempotency record's completion, each at its own worst case). A record that
    finds less is deferred: it fails with `ChargeDeferred`, a transient error, so SQS
    redelivers it; nothing was sent to the provider. So a hung provider call costs its own
    record a redelivery and never times out the batch: the records already settled stay
    settled (a timed-out batch is redelivered whole), the rest are retried.

    With the defaults (payment_provider.DEFAULT_TIMEOUT_SECONDS (2, 4), one network retry;
    DynamoDB 1 s connect, 1.5 s read, 2 attempts):
    provider call 2 x (2 + 4) + 0.5 = 12.5 s; after it 2 x (2 x (1 + 1.5) + 1) = 12 s;
    required 24.5 s, which leaves 15.5 s of BillingFunction's 40 s for the reads and writes
    before the call and the cold start. A healthy batch of 5 takes well under a second per
    record; a batch with a hung call settles the records before it, spends at most 12.5 s
    on the hung one, and defers the rest. The template rule
    `billing_timeout_fits_the_time_budget` (tests/unit/template) checks these numbers
    against the template's Timeout and BatchSize.

    When the invocation starts with less than `required_seconds` (a function timeout
    shorter than the budget, such as the demo's copy of the template with every timeout
    divided by 10), no promise can be kept: the guard stands aside and the function
    behaves as it would without it (the Lambda timeout is then the limit).
    """

    provider_call_seconds: float
    after_call_seconds: float

    @property
    def required_seconds(self) -> float:
        return self.provider_call_seconds + self.after_call_seconds


# The provider call and, after it, the journal's settle and the idempotency record's update.
DEFAULT_TIME_BUDGET = TimeBudget(
    provider_call_seconds=call_worst_case_seconds(),
    after_call_seconds=2 * DYNAMODB_CALL_WORST_CASE_SECONDS,
)


class ChargeDeferred(PaymentProviderUnavailable):
    """Too little of the invocation is left to call the provider and record its answer.

    Transient: the record fails before anything reaches the provider, and SQS redelivers it.
    """


class _DeadlineGuardedProvider:
    """A provider whose calls start only while `time_left()` covers the budget."""

    def __init__(
        self, provider: PaymentProvider, budget: TimeBudget, time_left: Callable[[], float]
    ) -> None:
        self._provider = provider
        self._budget = budget
        self._time_left = time_left

    def _check(self, request: ChargeRequest) -> None:
        left = self._time_left()
        if left < self._budget.required_seconds:
            raise ChargeDeferred(
                request.transaction_id,
                f"{left:.1f} s of the invocation left, a provider call and its recording "
                f"need up to {self._budget.required_seconds:.1f} s: deferred to a redelivery, "
                "nothing was sent to the provider",
            )

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        self._check(request)
        return self._provider.charge(request)

    def find_charge(self, request: ChargeRequest) -> ChargeOutcome | None:
        self._check(request)
        return self._provider.find_charge(request)


# ---------------------------------------------------------------- messages


def parse_charge_request(body: str, *, max_amount: int = PROVIDER_MAX_AMOUNT) -> ChargeRequest:
    """Parse a BillingQueue message body; the error names the offending fields."""
    # On first use, not at import: pydantic and the message models cost ~90 ms of cold start.
    from pydantic import ValidationError

    from delivery_guarantees.models import ChargeRequest, describe_problems, validation_problems

    try:
        charge = ChargeRequest.from_json(body)
    except ValidationError as exc:
        problems = describe_problems(validation_problems(exc))
        raise InvalidChargeMessage(f"not a valid charge: {problems}") from None
    if charge.amount > max_amount:
        raise InvalidChargeMessage(
            f"not a valid charge: amount: {charge.amount} is above the maximum of "
            f"{max_amount} minor units"
        )
    return charge


class SettledFrom(StrEnum):
    """Where a delivery's answer came from; only PROVIDER and RECONCILIATION may charge."""

    PROVIDER = "provider"  # the provider was asked to charge (a replayed key charges nothing)
    RECONCILIATION = "reconciliation"  # an earlier attempt's intent, found by search
    JOURNAL = "journal"  # a final row in ChargesTable: a duplicate, nothing charged
    IDEMPOTENCY_RECORD = "idempotency-record"  # Powertools' record: a duplicate, one read


@dataclass(frozen=True)
class ChargeResult:
    outcome: ChargeOutcome
    settled_from: SettledFrom

    @property
    def replayed(self) -> bool:
        """A duplicate: answered from a stored result, the provider was not called."""
        return self.settled_from in (SettledFrom.JOURNAL, SettledFrom.IDEMPOTENCY_RECORD)


def settle_charge(
    charge: ChargeRequest,
    provider: PaymentProvider,
    journal: ChargeJournal,
    *,
    now: Callable[[], datetime],
    reconcile_pending_after: timedelta = RECONCILE_PENDING_AFTER,
) -> ChargeResult:
    """Charge at most once per transaction, whenever and however often it is delivered.

    The journal row is written pending before the provider is called, so a crash at any
    later point leaves a trace the next delivery finds. See the module docstring.
    """
    begun = journal.begin(charge, now())
    entry = begun.entry
    if not begun.created:
        differences = entry.differences(charge)
        if differences:
            raise ConflictingCharge(charge.transaction_id, differences)
        if entry.is_final:
            return ChargeResult(entry.outcome(), SettledFrom.JOURNAL)
        if now() - entry.first_attempt_at >= reconcile_pending_after:
            # The provider may have forgotten the key: charging with it could charge again.
            found = provider.find_charge(charge)
            if found is not None:
                journal.settle(found, now(), "reconciliation")
                return ChargeResult(found, SettledFrom.RECONCILIATION)
    outcome = provider.charge(charge)
    journal.settle(outcome, now(), "charge")
    return ChargeResult(outcome, SettledFrom.PROVIDER)


class _ChargeResultSerializer(BaseIdempotencySerializer):
    """Stores the outcome in the idempotency record; what comes back from it is a duplicate."""

    def to_dict(self, data: ChargeResult) -> dict[str, Any]:
        return asdict(data.outcome)

    def from_dict(self, data: dict[str, Any]) -> ChargeResult:
        # Powertools calls this only when it answers from a stored record.
        return ChargeResult(ChargeOutcome(**data), SettledFrom.IDEMPOTENCY_RECORD)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class IdempotentBilling:
    """`settle_charge` behind the idempotency table (the fast path), keyed on transaction_id."""

    def __init__(
        self,
        *,
        provider: PaymentProvider,
        journal: ChargeJournal,
        persistence_store: BasePersistenceLayer,
        expires_after_seconds: int = IDEMPOTENCY_RECORD_LIFETIME_SECONDS,
        max_amount: int = PROVIDER_MAX_AMOUNT,
        now: Callable[[], datetime] = _utc_now,
        time_budget: TimeBudget = DEFAULT_TIME_BUDGET,
    ) -> None:
        self.provider = provider
        self.journal = journal
        self.max_amount = max_amount
        self._now = now
        self.time_budget = time_budget
        self._guard_provider = False
        self.config = IdempotencyConfig(
            event_key_jmespath="transaction_id",
            # Everything that defines a charge: the same transaction ID with another
            # account, amount, currency or payment method is refused, never replayed.
            payload_validation_jmespath="[" + ", ".join(CHARGE_FIELDS) + "]",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=expires_after_seconds,
        )
        self._charge_once: Callable[..., ChargeResult] = idempotent_function(
            self._settle,
            data_keyword_argument="charge",
            config=self.config,
            persistence_store=persistence_store,
            output_serializer=_ChargeResultSerializer(),
            key_prefix=IDEMPOTENCY_KEY_PREFIX,
        )

    def register_lambda_context(self, context: LambdaContext) -> None:
        """Call once per invocation, before `charge`.

        The in-progress record then expires when this invocation would time out, so a
        retry after a timeout can run; without it the record would block retries for days.
        """
        self.config.register_lambda_context(context)
        # The guard holds only where the budget fits the invocation (see TimeBudget).
        self._guard_provider = self._seconds_left() >= self.time_budget.required_seconds

    def _seconds_left(self) -> float:
        context = self.config.lambda_context
        assert context is not None
        return float(context.get_remaining_time_in_millis()) / 1000

    def parse(self, body: str) -> ChargeRequest:
        return parse_charge_request(body, max_amount=self.max_amount)

    def charge(self, charge: ChargeRequest) -> ChargeResult:
        if self.config.lambda_context is None:
            raise RuntimeError("IdempotentBilling.register_lambda_context was not called")
        try:
            return self._charge_once(charge=charge)
        except IdempotencyValidationError:
            # The idempotency record holds another payload under this ID. Powertools
            # compares payloads before statuses, so that record may be a conflicting
            # copy's in progress, not a settled charge: the journal decides (one read, on
            # this error path only). A row for another charge is a conflict. No row, or
            # a row for this charge, means the other copy has not settled anything: a
            # copy that completes has a row of its own details (the journal's row is
            # written before the provider is called and never changes its details), and
            # one that met this charge's row failed and deleted its record. So its record
            # is in progress, and this charge is retried once it is gone.
            entry = self.journal.get(charge.transaction_id)
            differences = entry.differences(charge) if entry is not None else []
            if differences:
                raise ConflictingCharge(charge.transaction_id, differences) from None
            raise ConflictingCopyInProgress(charge.transaction_id) from None

    def _settle(self, *, charge: ChargeRequest) -> ChargeResult:
        provider: PaymentProvider = self.provider
        if self._guard_provider:
            provider = _DeadlineGuardedProvider(provider, self.time_budget, self._seconds_left)
        return settle_charge(charge, provider, self.journal, now=self._now)


def billing_from_settings(
    settings: BillingSettings,
    *,
    dynamodb_client: DynamoDBClient | None = None,
    provider: PaymentProvider | None = None,
) -> IdempotentBilling:
    """The production wiring: IdempotencyTable, ChargesTable and Stripe, keyed from SSM."""
    if dynamodb_client is None:
        import boto3

        dynamodb_client = boto3.client("dynamodb", config=dynamodb_client_config())
    if provider is None:
        provider = StripePaymentProvider(
            api_key=ParameterStoreSecret(settings.payment_provider_secret_parameter_name),
            api_base=settings.payment_provider_api_base,
        )
    return IdempotentBilling(
        provider=provider,
        journal=DynamoDbChargeJournal(settings.charges_table_name, client=dynamodb_client),
        persistence_store=DynamoDBPersistenceLayer(
            table_name=settings.idempotency_table_name, boto3_client=dynamodb_client
        ),
        max_amount=settings.max_charge_amount,
    )


class LazyBilling:
    """An `IdempotentBilling` built on first use and kept for the execution environment.

    Settings are read then, not at import. `install` swaps in another one (tests, fault
    injection); `install(None)` goes back to building from settings.
    """

    def __init__(self, build: Callable[[], IdempotentBilling]) -> None:
        self._build = build
        self._billing: IdempotentBilling | None = None

    def get(self) -> IdempotentBilling:
        if self._billing is None:
            self._billing = self._build()
        return self._billing

    def install(self, billing: IdempotentBilling | None) -> None:
        self._billing = billing
