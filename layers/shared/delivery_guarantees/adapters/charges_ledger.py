"""The charges ledger: one row per transaction, the final outcome of its charge.

The row is written with a condition (the transaction is not there yet), so a replay of the
same outcome, e.g. after the function crashed between the write and the idempotency
record's completion, is a no-op, while a different outcome for a recorded transaction is
an error instead of a silent overwrite.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from botocore.exceptions import ClientError

from delivery_guarantees.models import ChargeOutcome, ChargeStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class ChargesLedger(Protocol):
    def record(self, outcome: ChargeOutcome) -> None:
        """Store the outcome of a charge; recording the same outcome again is a no-op."""
        ...


class LedgerConflict(RuntimeError):
    """The transaction is already recorded with a different outcome."""

    def __init__(self, recorded: ChargeOutcome | None, attempted: ChargeOutcome) -> None:
        super().__init__(
            f"transaction {attempted.transaction_id} is already recorded as {recorded!r}; "
            f"refusing to overwrite it with {attempted!r}"
        )
        self.recorded = recorded
        self.attempted = attempted


class DynamoDbChargesLedger:
    """ChargesTable: partition key `transaction_id` (S)."""

    def __init__(self, table_name: str, *, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb")
        return self._client

    def record(self, outcome: ChargeOutcome) -> None:
        item = _to_item(outcome)
        item["recorded_at"] = {"S": datetime.now(UTC).isoformat(timespec="milliseconds")}
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(transaction_id)",
                # The existing row comes back with the failure: no extra read to compare.
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            existing = cast(dict[str, Any], exc.response).get("Item")
            recorded = _from_item(existing) if existing else self.get(outcome.transaction_id)
            if recorded != outcome:
                raise LedgerConflict(recorded, outcome) from None

    def get(self, transaction_id: str) -> ChargeOutcome | None:
        response = self.client.get_item(
            TableName=self.table_name,
            Key={"transaction_id": {"S": transaction_id}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _from_item(cast(dict[str, Any], item)) if item else None


def _to_item(outcome: ChargeOutcome) -> dict[str, Any]:
    item: dict[str, Any] = {
        "transaction_id": {"S": outcome.transaction_id},
        "account_id": {"S": outcome.account_id},
        "amount": {"N": str(outcome.amount)},
        "currency": {"S": outcome.currency},
        "status": {"S": outcome.status},
    }
    if outcome.payment_intent_id is not None:
        item["payment_intent_id"] = {"S": outcome.payment_intent_id}
    if outcome.decline_code is not None:
        item["decline_code"] = {"S": outcome.decline_code}
    return item


def _from_item(item: dict[str, Any]) -> ChargeOutcome:
    def optional(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    return ChargeOutcome(
        transaction_id=item["transaction_id"]["S"],
        account_id=item["account_id"]["S"],
        amount=int(item["amount"]["N"]),
        currency=item["currency"]["S"],
        status=cast(ChargeStatus, item["status"]["S"]),
        payment_intent_id=optional("payment_intent_id"),
        decline_code=optional("decline_code"),
    )
