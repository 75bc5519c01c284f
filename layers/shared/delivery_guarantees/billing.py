"""Billing: charge a card with exactly-once effect on top of at-least-once delivery.

BillingQueue may deliver a charge more than once (SQS is at-least-once; a failed batch, a
redrive from the DLQ or a producer retry repeat it). Two guards, both keyed on the
producer's `transaction_id` (never on the SQS messageId, which differs between a message
and its resend):

1. The idempotency table (Powertools): the first delivery records INPROGRESS, charges,
   stores the outcome; every later delivery gets that outcome back without a charge.
2. The same ID is the payment provider's idempotency key. It covers what (1) cannot: a
   function killed after charging but before completing its record leaves an INPROGRESS
   record that expires, and the retry charges again; the provider replays the first answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.serialization.dataclass import (
    DataclassSerializer,
)
from pydantic import ValidationError

from delivery_guarantees.adapters.charges_ledger import ChargesLedger, DynamoDbChargesLedger
from delivery_guarantees.adapters.payment_provider import (
    ParameterStoreSecret,
    PaymentProvider,
    StripePaymentProvider,
)
from delivery_guarantees.models import (
    ChargeOutcome,
    ChargeRequest,
    describe_problems,
    validation_problems,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient

    from delivery_guarantees.config import BillingSettings

DAY_SECONDS = 24 * 60 * 60
# How long a duplicate of a charge can still arrive: 4 days of retention on BillingQueue,
# then up to 14 days in BillingDeadLetterQueue before a redrive sends it back, plus a day
# for the redrive and its retries. The provider forgets keys after ~24 h, so past that the
# idempotency record is the only guard: it must outlive every copy of the message.
IDEMPOTENCY_RECORD_LIFETIME_SECONDS = (4 + 14 + 1) * DAY_SECONDS
# A fixed prefix instead of Powertools' default (function name + qualified name): the key
# must survive a renamed function or a redeployed stack, or old duplicates would charge.
IDEMPOTENCY_KEY_PREFIX = "billing.charge_card"


class InvalidChargeMessage(ValueError):
    """A message body that is not a valid charge. Nothing is charged."""


def parse_charge_request(body: str) -> ChargeRequest:
    """Parse a BillingQueue message body; the error names every offending field."""
    try:
        return ChargeRequest.model_validate_json(body)
    except ValidationError as exc:
        problems = describe_problems(validation_problems(exc))
        raise InvalidChargeMessage(f"not a valid charge: {problems}") from None


def charge_card(
    charge: ChargeRequest, provider: PaymentProvider, ledger: ChargesLedger
) -> ChargeOutcome:
    """Charge once through the provider and record the outcome in the ledger.

    Not idempotent by itself beyond what the provider's idempotency key gives; use
    `IdempotentBilling` to answer duplicates without calling the provider.
    """
    outcome = provider.charge(charge)
    ledger.record(outcome)
    return outcome


@dataclass(frozen=True)
class ChargeResult:
    outcome: ChargeOutcome
    replayed: bool  # True: a duplicate, answered from the idempotency table, nothing charged


@dataclass(frozen=True)
class _Replayed:
    outcome: ChargeOutcome


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> _Replayed:
    # Powertools calls this hook only when it answers from a stored record, which makes
    # spotting a duplicate free (no extra read).
    return _Replayed(response)


class IdempotentBilling:
    """`charge_card` behind the idempotency table, keyed on `transaction_id`."""

    def __init__(
        self,
        *,
        provider: PaymentProvider,
        ledger: ChargesLedger,
        persistence_store: BasePersistenceLayer,
        expires_after_seconds: int = IDEMPOTENCY_RECORD_LIFETIME_SECONDS,
    ) -> None:
        self.provider = provider
        self.ledger = ledger
        self.config = IdempotencyConfig(
            event_key_jmespath="transaction_id",
            # The same transaction ID with another account, amount or currency is a
            # producer bug: fail it (IdempotencyValidationError) rather than replay.
            payload_validation_jmespath="[account_id, amount, currency]",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=expires_after_seconds,
            response_hook=_mark_replayed,
        )
        self._charge_once: Callable[..., ChargeOutcome | _Replayed] = idempotent_function(
            self._charge,
            data_keyword_argument="charge",
            config=self.config,
            persistence_store=persistence_store,
            output_serializer=DataclassSerializer(ChargeOutcome),
            key_prefix=IDEMPOTENCY_KEY_PREFIX,
        )

    def register_lambda_context(self, context: LambdaContext) -> None:
        """Call once per invocation, before `charge`.

        The in-progress record then expires when this invocation would time out, so a
        retry after a timeout can run; without it the record would block retries for days.
        """
        self.config.register_lambda_context(context)

    def charge(self, charge: ChargeRequest) -> ChargeResult:
        if self.config.lambda_context is None:
            raise RuntimeError("IdempotentBilling.register_lambda_context was not called")
        result = self._charge_once(charge=charge)
        if isinstance(result, _Replayed):
            return ChargeResult(result.outcome, replayed=True)
        return ChargeResult(result, replayed=False)

    def _charge(self, *, charge: ChargeRequest) -> ChargeOutcome:
        return charge_card(charge, self.provider, self.ledger)


def billing_from_settings(
    settings: BillingSettings,
    *,
    dynamodb_client: DynamoDBClient | None = None,
    provider: PaymentProvider | None = None,
) -> IdempotentBilling:
    """The production wiring: IdempotencyTable, ChargesTable and Stripe, keyed from SSM."""
    if dynamodb_client is None:
        import boto3

        dynamodb_client = boto3.client("dynamodb")
    if provider is None:
        provider = StripePaymentProvider(
            api_key=ParameterStoreSecret(settings.payment_provider_secret_parameter_name),
            api_base=settings.payment_provider_api_base,
        )
    return IdempotentBilling(
        provider=provider,
        ledger=DynamoDbChargesLedger(settings.charges_table_name, client=dynamodb_client),
        persistence_store=DynamoDBPersistenceLayer(
            table_name=settings.idempotency_table_name, boto3_client=dynamodb_client
        ),
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
