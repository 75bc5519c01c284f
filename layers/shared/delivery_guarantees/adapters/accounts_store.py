"""Accounts: the `AccountsStore` protocol and its DynamoDB implementation (AccountsTable).

The table's partition key is the normalised (lower-case) email address, so "one account
per address" is enforced by DynamoDB itself and a retried signup finds the account the
first attempt created instead of making a second one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import boto3
from botocore.exceptions import ClientError

from delivery_guarantees.config import WelcomeEmailDelivery
from delivery_guarantees.models import Account


@dataclass(frozen=True)
class StoredAccount:
    """The account as stored, and whether this call created it.

    `welcome_email_delivery` is the guarantee chosen when the account was created; a
    retried signup honours it, so an at-most-once welcome email is never repeated by a
    retry that asks for at-least-once.
    """

    account: Account
    created: bool
    welcome_email_delivery: WelcomeEmailDelivery


class AccountsStore(Protocol):
    def create_if_absent(
        self, account: Account, welcome_email_delivery: WelcomeEmailDelivery
    ) -> StoredAccount:
        """Store `account` unless one exists for its email; return whichever is stored."""
        ...


class CorruptAccountError(RuntimeError):
    """An AccountsTable item lacks an attribute this code writes on every account."""


_ATTRIBUTES = ("email", "account_id", "name", "payment_method", "created_at")


class DynamoDbAccountsStore:
    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self._table_name = table_name
        self._client = client

    @property
    def _dynamodb(self) -> Any:
        # Created on first use, never at import.
        if self._client is None:
            self._client = boto3.client("dynamodb")
        return self._client

    def create_if_absent(
        self, account: Account, welcome_email_delivery: WelcomeEmailDelivery
    ) -> StoredAccount:
        item = {name: {"S": getattr(account, name)} for name in _ATTRIBUTES}
        item["welcome_email_delivery"] = {"S": welcome_email_delivery.value}
        try:
            self._dynamodb.put_item(
                TableName=self._table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(email)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            existing = error.response.get("Item") or self._read(account.email)
            return self._from_item(existing, created=False)
        return StoredAccount(
            account=account, created=True, welcome_email_delivery=welcome_email_delivery
        )

    def _read(self, email: str) -> dict[str, Any]:
        # Only reached when the store did not return the conflicting item with the error.
        response = self._dynamodb.get_item(
            TableName=self._table_name, Key={"email": {"S": email}}, ConsistentRead=True
        )
        if "Item" not in response:
            raise CorruptAccountError(
                f"account {email!r} failed the create condition but cannot be read back"
            )
        item: dict[str, Any] = response["Item"]
        return item

    def _from_item(self, item: dict[str, Any], *, created: bool) -> StoredAccount:
        missing = [name for name in (*_ATTRIBUTES, "welcome_email_delivery") if name not in item]
        if missing:
            raise CorruptAccountError(
                f"AccountsTable item {item.get('email', {}).get('S')!r} lacks {', '.join(missing)}"
            )
        values = {name: item[name]["S"] for name in _ATTRIBUTES}
        return StoredAccount(
            account=Account(**values),
            created=created,
            welcome_email_delivery=WelcomeEmailDelivery(item["welcome_email_delivery"]["S"]),
        )
