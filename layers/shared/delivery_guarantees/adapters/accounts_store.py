"""Accounts: the `AccountsStore` protocol and its DynamoDB implementation (AccountsTable).

The table's partition key is the normalised (lower-case) email address, so "one account
per address" is enforced by DynamoDB itself and a retried signup finds the account the
first attempt created instead of making a second one.

The account row is also the outbox of its signup: once a job is on its queue, one
attribute per job records when and as which SQS message (`outbox_first_charge`,
`outbox_welcome_email`, each a map of `enqueued_at` and `message_id`). A retried signup
reads them from the failed conditional PutItem (no extra GetItem) and enqueues only what
is not recorded yet.

Two more attributes keep signup answers from revealing an account's details
(docs/design.md, "Signup answers reveal nothing"): `idempotency_key_sha256`, the SHA-256
hex digest of the first request's `Idempotency-Key` (never the key itself), which a retry
must match to be answered with the account; and `last_signup_notice_at`, when the account
holder was last told by email that someone tried to sign up with their address, which a
conditional UpdateItem claims at most once per 24 hours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import boto3
from botocore.exceptions import ClientError

from delivery_guarantees.adapters.charge_journal import dynamodb_client_config
from delivery_guarantees.config import WelcomeEmailDelivery
from delivery_guarantees.records import Account, EnqueuedJob, SignupJob


@dataclass(frozen=True)
class StoredAccount:
    """The account as stored, whether this call created it, and which jobs it records.

    `welcome_email_delivery` is the guarantee chosen when the account was created; a
    retried signup honours it, so an at-most-once welcome email is never repeated by a
    retry that asks for at-least-once. `enqueued` holds the jobs an earlier call put on
    their queues and recorded; a job missing from it may or may not be on its queue.
    """

    account: Account
    created: bool
    welcome_email_delivery: WelcomeEmailDelivery
    enqueued: Mapping[SignupJob, EnqueuedJob] = field(default_factory=dict)
    # The SHA-256 hex digest of the Idempotency-Key the creating request sent, if any.
    idempotency_key_sha256: str | None = None


class AccountsStore(Protocol):
    def create_if_absent(
        self,
        account: Account,
        welcome_email_delivery: WelcomeEmailDelivery,
        idempotency_key_sha256: str | None = None,
    ) -> StoredAccount:
        """Store `account` unless one exists for its email; return whichever is stored.

        `idempotency_key_sha256` is stored with a new account only; an existing one keeps
        the digest (or the absence of one) its creating request left.
        """
        ...

    def record_enqueued(self, account: Account, job: SignupJob, enqueued: EnqueuedJob) -> None:
        """Record on the account that `job` is on its queue. Raises if it was not recorded."""
        ...

    def claim_signup_notice(self, account: Account, now: str, last_before: str) -> bool:
        """Set `last_signup_notice_at` to `now` unless a notice was claimed after `last_before`.

        True: this call may send the notice (and no other call may until the window has
        passed). False: a notice was claimed since `last_before`, or the row no longer
        holds this account. Timestamps are ISO 8601 UTC strings of one format, so they
        compare as strings. Raises on any other failure.
        """
        ...


class CorruptAccountError(RuntimeError):
    """An AccountsTable item lacks an attribute this code writes on every account."""


class AccountReplacedError(RuntimeError):
    """The account row disappeared, or now holds another account, before a job was recorded."""


_ATTRIBUTES = ("email", "account_id", "name", "payment_method", "created_at")
IDEMPOTENCY_KEY_ATTRIBUTE = "idempotency_key_sha256"
SIGNUP_NOTICE_ATTRIBUTE = "last_signup_notice_at"


def outbox_attribute(job: SignupJob) -> str:
    """The AccountsTable attribute that records `job` once it is on its queue."""
    return f"outbox_{job.value}"


class DynamoDbAccountsStore:
    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self._table_name = table_name
        self._client = client

    @property
    def _dynamodb(self) -> Any:
        # Created on first use, never at import.
        if self._client is None:
            self._client = boto3.client("dynamodb", config=dynamodb_client_config())
        return self._client

    def create_if_absent(
        self,
        account: Account,
        welcome_email_delivery: WelcomeEmailDelivery,
        idempotency_key_sha256: str | None = None,
    ) -> StoredAccount:
        item = {name: {"S": getattr(account, name)} for name in _ATTRIBUTES}
        item["welcome_email_delivery"] = {"S": welcome_email_delivery.value}
        if idempotency_key_sha256 is not None:
            item[IDEMPOTENCY_KEY_ATTRIBUTE] = {"S": idempotency_key_sha256}
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
            account=account,
            created=True,
            welcome_email_delivery=welcome_email_delivery,
            idempotency_key_sha256=idempotency_key_sha256,
        )

    def record_enqueued(self, account: Account, job: SignupJob, enqueued: EnqueuedJob) -> None:
        # if_not_exists keeps the first record when two concurrent retries both enqueued
        # the job (a duplicate the consumers absorb); the condition stops an UpdateItem
        # from creating a fragment of an account that was deleted or replaced meanwhile.
        try:
            self._dynamodb.update_item(
                TableName=self._table_name,
                Key={"email": {"S": account.email}},
                UpdateExpression="SET #job = if_not_exists(#job, :enqueued)",
                ConditionExpression="account_id = :account_id",
                ExpressionAttributeNames={"#job": outbox_attribute(job)},
                ExpressionAttributeValues={
                    ":enqueued": {
                        "M": {
                            "enqueued_at": {"S": enqueued.enqueued_at},
                            "message_id": {"S": enqueued.message_id},
                        }
                    },
                    ":account_id": {"S": account.account_id},
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            raise AccountReplacedError(
                f"account {account.account_id} is no longer stored for its email address; "
                f"{job.value} (message {enqueued.message_id}) was enqueued but not recorded"
            ) from None

    def claim_signup_notice(self, account: Account, now: str, last_before: str) -> bool:
        # One conditional write decides which attempt may send the notice: concurrent
        # attempts cannot both pass, and the email is sent only after the claim (a failed
        # send is not retried: at most one notice per window, possibly none).
        try:
            self._dynamodb.update_item(
                TableName=self._table_name,
                Key={"email": {"S": account.email}},
                UpdateExpression="SET #notice = :now",
                ConditionExpression=(
                    "account_id = :account_id AND "
                    "(attribute_not_exists(#notice) OR #notice <= :last_before)"
                ),
                ExpressionAttributeNames={"#notice": SIGNUP_NOTICE_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":now": {"S": now},
                    ":last_before": {"S": last_before},
                    ":account_id": {"S": account.account_id},
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True

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
            enqueued=_enqueued_jobs(item),
            idempotency_key_sha256=item.get(IDEMPOTENCY_KEY_ATTRIBUTE, {}).get("S"),
        )


def _enqueued_jobs(item: dict[str, Any]) -> dict[SignupJob, EnqueuedJob]:
    # Items written before the outbox existed have no outbox attributes: their jobs read
    # as not recorded, so the next retry enqueues each once more and records it. The old
    # code enqueued on every call, so the job is probably on its queue already; one more
    # copy is a duplicate the consumers absorb, while trusting the old row could lose one.
    enqueued: dict[SignupJob, EnqueuedJob] = {}
    for job in SignupJob:
        attribute = item.get(outbox_attribute(job))
        if attribute is None:
            continue
        record = attribute.get("M", {})
        if "enqueued_at" not in record or "message_id" not in record:
            raise CorruptAccountError(
                f"AccountsTable item {item['email']['S']!r}: {outbox_attribute(job)} lacks "
                "enqueued_at or message_id"
            )
        enqueued[job] = EnqueuedJob(
            enqueued_at=record["enqueued_at"]["S"], message_id=record["message_id"]["S"]
        )
    return enqueued
