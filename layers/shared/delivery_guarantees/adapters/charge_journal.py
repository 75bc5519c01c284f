"""The charge journal (ChargesTable): the durable record of every charge attempt.

One row per transaction, never deleted and never expiring. It outlives everything else
that remembers a charge: the Powertools idempotency record (days), the provider's
idempotency key (Stripe: at least 24 hours), the message itself (a DLQ redrive gives it a
new ID and a fresh retention period). Its states:

    (no row) --begin--> pending --settle--> succeeded | declined

- `begin` writes `pending` *before* the provider is called, with everything that defines
  the charge (account, amount, currency, payment method) and the time of the first attempt.
  The write is conditional: if the row exists, the stored row comes back instead, in the
  same call (ReturnValuesOnConditionCheckFailure), and the caller decides from it.
- `settle` turns `pending` into a final state, once. Settling a final row again with the
  same outcome is a no-op (a retry after a crash between the two writes); a different
  outcome is a `JournalConflict`, never an overwrite.

A `pending` row is the trace of an attempt whose outcome is not known here: the provider
may or may not have charged. The billing logic (delivery_guarantees.billing) retries it
with the same idempotency key while the provider still remembers that key, and reconciles
it with the provider (search by transaction ID) once it may not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from botocore.config import Config
from botocore.exceptions import ClientError

from delivery_guarantees.adapters.aws_retries import call_worst_case_seconds
from delivery_guarantees.records import ChargeOutcome

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from delivery_guarantees.models import ChargeRequest

# DynamoDB answers a single-item call in milliseconds: a call that has not connected in
# 1 s or answered in 1.5 s is stuck, and one more attempt (standard mode, after a back-off
# of at most 1 s) is worth more than waiting. Billing's time budget counts on these.
DYNAMODB_CONNECT_TIMEOUT_SECONDS = 1.0
DYNAMODB_READ_TIMEOUT_SECONDS = 1.5
DYNAMODB_MAX_ATTEMPTS = 2


def dynamodb_client_config() -> Config:
    """Explicit timeouts and retries for the DynamoDB clients of billing and signup."""
    return Config(
        connect_timeout=DYNAMODB_CONNECT_TIMEOUT_SECONDS,
        read_timeout=DYNAMODB_READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": DYNAMODB_MAX_ATTEMPTS},
    )


# 2 x (1 s + 1.5 s) + one back-off of at most 1 s + 5 s (x-amz-retry-after) = 11 s.
DYNAMODB_CALL_WORST_CASE_SECONDS = call_worst_case_seconds(dynamodb_client_config())


JournalStatus = Literal["pending", "succeeded", "declined"]
# How a row became final: the provider answered a charge, or a search at the provider
# found the intent an earlier, unrecorded attempt had created.
SettledBy = Literal["charge", "reconciliation"]

# The fields that define a charge: a second request with the same transaction ID must
# match every one of them, or it is a different charge reusing the ID.
CHARGE_FIELDS = ("account_id", "amount", "currency", "payment_method")
# Never written into an error, a log line or a trace: only named when it differs.
PERSONAL_CHARGE_FIELDS = frozenset({"payment_method"})


@dataclass(frozen=True)
class JournalEntry:
    """A ChargesTable row."""

    request: ChargeRequest
    status: JournalStatus
    first_attempt_at: datetime
    payment_intent_id: str | None = None
    decline_code: str | None = None
    settled_at: datetime | None = None
    settled_by: SettledBy | None = None

    @property
    def transaction_id(self) -> str:
        return self.request.transaction_id

    @property
    def is_final(self) -> bool:
        return self.status != "pending"

    def outcome(self) -> ChargeOutcome:
        """The final outcome this row records; only for a final row."""
        if self.status == "pending":
            raise ValueError(f"transaction {self.transaction_id} is pending: no outcome yet")
        return ChargeOutcome(
            transaction_id=self.request.transaction_id,
            account_id=self.request.account_id,
            amount=self.request.amount,
            currency=self.request.currency,
            status=self.status,
            payment_intent_id=self.payment_intent_id,
            decline_code=self.decline_code,
        )

    def differences(self, request: ChargeRequest) -> list[str]:
        """What `request` changes in the charge this row records, field by field: with both
        values ("amount: 1999 recorded, 2999 given"), except for a field whose values are
        personal data (the payment method), which is only named: these go to the log and
        into the DLQ copy's ErrorMessage."""
        found = []
        for name in CHARGE_FIELDS:
            recorded, given = getattr(self.request, name), getattr(request, name)
            if recorded == given:
                continue
            if name in PERSONAL_CHARGE_FIELDS:
                found.append(f"{name} differs")
            else:
                found.append(f"{name}: {recorded!r} recorded, {given!r} given")
        return found


@dataclass(frozen=True)
class Begun:
    entry: JournalEntry
    created: bool  # False: the row already existed, `entry` is what was stored


class ChargeJournal(Protocol):
    def begin(self, request: ChargeRequest, now: datetime) -> Begun:
        """Record `request` as pending unless the transaction has a row; return the row."""
        ...

    def settle(self, outcome: ChargeOutcome, now: datetime, settled_by: SettledBy) -> None:
        """Make the pending row final; the same outcome again is a no-op."""
        ...

    def get(self, transaction_id: str) -> JournalEntry | None: ...


class JournalConflict(RuntimeError):
    """The transaction is already final with a different outcome: nothing is overwritten."""

    def __init__(self, recorded: JournalEntry | None, attempted: ChargeOutcome) -> None:
        super().__init__(
            f"transaction {attempted.transaction_id} is already recorded as "
            f"{recorded.outcome() if recorded else None!r}; refusing to overwrite it with "
            f"{attempted!r}"
        )
        self.recorded = recorded
        self.attempted = attempted


class CorruptJournalEntry(RuntimeError):
    """A ChargesTable row lacks an attribute this code writes on every row."""


class DynamoDbChargeJournal:
    """ChargesTable: partition key `transaction_id` (S). PutItem, UpdateItem, GetItem."""

    def __init__(self, table_name: str, *, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb", config=dynamodb_client_config())
        return self._client

    def begin(self, request: ChargeRequest, now: datetime) -> Begun:
        item: dict[str, Any] = {
            "transaction_id": {"S": request.transaction_id},
            "account_id": {"S": request.account_id},
            "amount": {"N": str(request.amount)},
            "currency": {"S": request.currency},
            "payment_method": {"S": request.payment_method},
            "status": {"S": "pending"},
            "first_attempt_at": {"S": _timestamp(now)},
        }
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(transaction_id)",
                # The existing row comes back with the failure: no extra read.
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            existing = _item_of_failed_condition(exc)
            if existing is None:
                stored = self.get(request.transaction_id)
                if stored is None:
                    raise CorruptJournalEntry(
                        f"transaction {request.transaction_id} failed the create condition "
                        "but cannot be read back"
                    ) from None
                return Begun(stored, created=False)
            return Begun(_from_item(existing), created=False)
        return Begun(_from_item(item), created=True)

    def settle(self, outcome: ChargeOutcome, now: datetime, settled_by: SettledBy) -> None:
        names = {"#status": "status"}
        values: dict[str, Any] = {
            ":pending": {"S": "pending"},
            ":status": {"S": outcome.status},
            ":settled_at": {"S": _timestamp(now)},
            ":settled_by": {"S": settled_by},
        }
        assignments = ["#status = :status", "settled_at = :settled_at", "settled_by = :settled_by"]
        for name in ("payment_intent_id", "decline_code"):
            value = getattr(outcome, name)
            if value is not None:
                assignments.append(f"{name} = :{name}")
                values[f":{name}"] = {"S": value}
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"transaction_id": {"S": outcome.transaction_id}},
                UpdateExpression="SET " + ", ".join(assignments),
                ConditionExpression="#status = :pending",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            existing = _item_of_failed_condition(exc)
            recorded = _from_item(existing) if existing else self.get(outcome.transaction_id)
            # No row at all (begin was never called) is a bug, as is a different outcome.
            if recorded is None or not recorded.is_final or recorded.outcome() != outcome:
                raise JournalConflict(recorded, outcome) from None

    def get(self, transaction_id: str) -> JournalEntry | None:
        response = self.client.get_item(
            TableName=self.table_name,
            Key={"transaction_id": {"S": transaction_id}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _from_item(cast(dict[str, Any], item)) if item else None


def _item_of_failed_condition(exc: ClientError) -> dict[str, Any] | None:
    """The stored item a failed condition returned; re-raise anything that is not that."""
    if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
        raise exc
    item = cast(dict[str, Any], exc.response).get("Item")
    return item or None


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _from_item(item: dict[str, Any]) -> JournalEntry:
    required = ("transaction_id", "account_id", "amount", "currency", "status", "first_attempt_at")
    missing = [name for name in required if name not in item]
    if missing:
        raise CorruptJournalEntry(
            f"ChargesTable row {item.get('transaction_id', {}).get('S')!r} lacks "
            f"{', '.join(missing)}"
        )

    def optional(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    settled_at = optional("settled_at")
    # On first use, not at import: pydantic and the message models cost ~90 ms of cold start.
    from delivery_guarantees.models import ChargeRequest

    # model_construct: the row was validated when it was written; an old row or a
    # tightened rule must not make a recorded charge unreadable.
    request = ChargeRequest.model_construct(
        transaction_id=item["transaction_id"]["S"],
        account_id=item["account_id"]["S"],
        amount=int(item["amount"]["N"]),
        currency=item["currency"]["S"],
        payment_method=optional("payment_method") or "",
    )
    return JournalEntry(
        request=request,
        status=cast(JournalStatus, item["status"]["S"]),
        first_attempt_at=datetime.fromisoformat(item["first_attempt_at"]["S"]),
        payment_intent_id=optional("payment_intent_id"),
        decline_code=optional("decline_code"),
        settled_at=datetime.fromisoformat(settled_at) if settled_at else None,
        settled_by=cast(SettledBy | None, optional("settled_by")),
    )
