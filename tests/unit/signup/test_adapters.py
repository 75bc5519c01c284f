"""The signup adapters against moto: DynamoDB accounts, SQS jobs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from delivery_guarantees.adapters.accounts_store import (
    AccountReplacedError,
    CorruptAccountError,
    DynamoDbAccountsStore,
)
from delivery_guarantees.adapters.job_queue import SqsJobQueue
from delivery_guarantees.config import WelcomeEmailDelivery
from delivery_guarantees.models import Account, EnqueuedJob, SignupJob

AT_LEAST_ONCE = WelcomeEmailDelivery.AT_LEAST_ONCE
AT_MOST_ONCE = WelcomeEmailDelivery.AT_MOST_ONCE
ADA = {"email": {"S": "ada@example.com"}}


def account(account_id: str, **changes: str) -> Account:
    fields = {
        "account_id": account_id,
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "payment_method": "pm_card_visa",
        "created_at": "2026-11-29T16:40:00.000+00:00",
    }
    return Account(**(fields | changes))


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="accounts",
            AttributeDefinitions=[{"AttributeName": "email", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "email", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def test_the_first_create_stores_the_account(dynamodb: Any) -> None:
    store = DynamoDbAccountsStore("accounts", client=dynamodb)

    stored = store.create_if_absent(account("acc_1"), AT_MOST_ONCE)

    assert (stored.account, stored.created) == (account("acc_1"), True)
    item = dynamodb.get_item(TableName="accounts", Key={"email": {"S": "ada@example.com"}})["Item"]
    assert item["account_id"] == {"S": "acc_1"}
    assert item["welcome_email_delivery"] == {"S": "at-most-once"}


def test_a_second_create_returns_the_stored_account_and_its_guarantee(dynamodb: Any) -> None:
    store = DynamoDbAccountsStore("accounts", client=dynamodb)
    store.create_if_absent(account("acc_1"), AT_MOST_ONCE)

    again = store.create_if_absent(account("acc_2", name="Someone Else"), AT_LEAST_ONCE)

    assert again.created is False
    assert again.account == account("acc_1")
    assert again.welcome_email_delivery is AT_MOST_ONCE
    assert dynamodb.scan(TableName="accounts")["Count"] == 1


class _WithoutOldItem:
    """A DynamoDB client whose condition failures omit the old item (older emulators)."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.get_item_calls = 0

    def put_item(self, **kwargs: Any) -> Any:
        try:
            return self._real.put_item(**kwargs)
        except ClientError as error:
            error.response.pop("Item", None)
            raise

    def get_item(self, **kwargs: Any) -> Any:
        self.get_item_calls += 1
        assert kwargs["ConsistentRead"] is True
        return self._real.get_item(**kwargs)


def test_without_the_old_item_in_the_error_it_reads_the_account_back(dynamodb: Any) -> None:
    DynamoDbAccountsStore("accounts", client=dynamodb).create_if_absent(
        account("acc_1"), AT_LEAST_ONCE
    )
    client = _WithoutOldItem(dynamodb)

    again = DynamoDbAccountsStore("accounts", client=client).create_if_absent(
        account("acc_2"), AT_LEAST_ONCE
    )

    assert (again.account.account_id, again.created, client.get_item_calls) == ("acc_1", False, 1)


def test_an_item_missing_attributes_is_reported_not_guessed(dynamodb: Any) -> None:
    dynamodb.put_item(
        TableName="accounts", Item={"email": {"S": "ada@example.com"}, "account_id": {"S": "a"}}
    )

    with pytest.raises(CorruptAccountError, match="name, payment_method, created_at"):
        DynamoDbAccountsStore("accounts", client=dynamodb).create_if_absent(
            account("acc_2"), AT_LEAST_ONCE
        )


def test_a_new_account_records_no_job_yet(dynamodb: Any) -> None:
    stored = DynamoDbAccountsStore("accounts", client=dynamodb).create_if_absent(
        account("acc_1"), AT_LEAST_ONCE
    )

    assert stored.enqueued == {}
    item = dynamodb.get_item(TableName="accounts", Key=ADA)["Item"]
    assert not [name for name in item if name.startswith("outbox_")]


def test_a_recorded_job_is_a_map_on_the_account_and_a_retry_reads_it(dynamodb: Any) -> None:
    store = DynamoDbAccountsStore("accounts", client=dynamodb)
    store.create_if_absent(account("acc_1"), AT_LEAST_ONCE)
    charge = EnqueuedJob(enqueued_at="2026-11-29T16:40:00.100+00:00", message_id="m-charge")
    welcome = EnqueuedJob(enqueued_at="2026-11-29T16:40:00.200+00:00", message_id="m-welcome")

    store.record_enqueued(account("acc_1"), SignupJob.FIRST_CHARGE, charge)
    store.record_enqueued(account("acc_1"), SignupJob.WELCOME_EMAIL, welcome)
    again = store.create_if_absent(account("acc_2"), AT_LEAST_ONCE)

    item = dynamodb.get_item(TableName="accounts", Key=ADA)["Item"]
    assert item["outbox_first_charge"] == {
        "M": {
            "enqueued_at": {"S": "2026-11-29T16:40:00.100+00:00"},
            "message_id": {"S": "m-charge"},
        }
    }
    assert item["outbox_welcome_email"]["M"]["message_id"] == {"S": "m-welcome"}
    assert item["name"] == {"S": "Ada Lovelace"}  # the rest of the account is untouched
    assert again.enqueued == {SignupJob.FIRST_CHARGE: charge, SignupJob.WELCOME_EMAIL: welcome}


def test_recording_a_job_twice_keeps_the_first_record(dynamodb: Any) -> None:
    # Two concurrent retries may both enqueue a job; the record names the first message.
    store = DynamoDbAccountsStore("accounts", client=dynamodb)
    store.create_if_absent(account("acc_1"), AT_LEAST_ONCE)
    first = EnqueuedJob(enqueued_at="2026-11-29T16:40:00.100+00:00", message_id="m-1")
    second = EnqueuedJob(enqueued_at="2026-11-29T16:40:09.000+00:00", message_id="m-2")

    store.record_enqueued(account("acc_1"), SignupJob.FIRST_CHARGE, first)
    store.record_enqueued(account("acc_1"), SignupJob.FIRST_CHARGE, second)

    again = store.create_if_absent(account("acc_2"), AT_LEAST_ONCE)
    assert again.enqueued == {SignupJob.FIRST_CHARGE: first}


@pytest.mark.parametrize("stored_id", [None, "acc_other"], ids=["deleted", "replaced"])
def test_recording_on_a_deleted_or_replaced_account_raises_and_writes_nothing(
    dynamodb: Any, stored_id: str | None
) -> None:
    if stored_id is not None:
        DynamoDbAccountsStore("accounts", client=dynamodb).create_if_absent(
            account(stored_id), AT_LEAST_ONCE
        )
    before = dynamodb.scan(TableName="accounts")["Items"]

    with pytest.raises(AccountReplacedError, match="acc_1 is no longer stored"):
        DynamoDbAccountsStore("accounts", client=dynamodb).record_enqueued(
            account("acc_1"),
            SignupJob.FIRST_CHARGE,
            EnqueuedJob(enqueued_at="2026-11-29T16:40:00.100+00:00", message_id="m-1"),
        )

    assert dynamodb.scan(TableName="accounts")["Items"] == before  # no fragment created


def test_an_item_written_before_the_outbox_reads_as_no_job_recorded(dynamodb: Any) -> None:
    # What the code before the outbox wrote: the account and its guarantee, nothing else.
    old_item = {
        "email": {"S": "ada@example.com"},
        "account_id": {"S": "acc_old"},
        "name": {"S": "Ada Lovelace"},
        "payment_method": {"S": "pm_card_visa"},
        "created_at": {"S": "2025-01-01T00:00:00.000+00:00"},
        "welcome_email_delivery": {"S": "at-least-once"},
    }
    dynamodb.put_item(TableName="accounts", Item=old_item)
    store = DynamoDbAccountsStore("accounts", client=dynamodb)

    again = store.create_if_absent(account("acc_2"), AT_LEAST_ONCE)
    store.record_enqueued(
        again.account,
        SignupJob.FIRST_CHARGE,
        EnqueuedJob(enqueued_at="2026-11-29T16:40:00.100+00:00", message_id="m-1"),
    )

    assert (again.account.account_id, again.enqueued) == ("acc_old", {})
    later = store.create_if_absent(account("acc_3"), AT_LEAST_ONCE)
    assert set(later.enqueued) == {SignupJob.FIRST_CHARGE}


def test_an_outbox_record_missing_its_message_id_is_reported_not_guessed(dynamodb: Any) -> None:
    store = DynamoDbAccountsStore("accounts", client=dynamodb)
    store.create_if_absent(account("acc_1"), AT_LEAST_ONCE)
    dynamodb.update_item(
        TableName="accounts",
        Key=ADA,
        UpdateExpression="SET outbox_first_charge = :r",
        ExpressionAttributeValues={":r": {"M": {"enqueued_at": {"S": "2026-11-29"}}}},
    )

    with pytest.raises(CorruptAccountError, match="outbox_first_charge lacks"):
        store.create_if_absent(account("acc_2"), AT_LEAST_ONCE)


def test_the_key_digest_is_stored_with_a_new_account_only(dynamodb: Any) -> None:
    store = DynamoDbAccountsStore("accounts", client=dynamodb)

    created = store.create_if_absent(account("acc_1"), AT_LEAST_ONCE, "a" * 64)
    again = store.create_if_absent(account("acc_2"), AT_LEAST_ONCE, "b" * 64)
    unkeyed = store.create_if_absent(account("acc_3"), AT_LEAST_ONCE)

    assert created.idempotency_key_sha256 == "a" * 64
    assert again.idempotency_key_sha256 == "a" * 64  # the first request's, not overwritten
    assert unkeyed.idempotency_key_sha256 == "a" * 64
    item = dynamodb.get_item(TableName="accounts", Key=ADA)["Item"]
    assert item["idempotency_key_sha256"] == {"S": "a" * 64}


def test_an_account_created_without_a_key_has_no_digest(dynamodb: Any) -> None:
    store = DynamoDbAccountsStore("accounts", client=dynamodb)

    store.create_if_absent(account("acc_1"), AT_LEAST_ONCE)
    again = store.create_if_absent(account("acc_2"), AT_LEAST_ONCE, "b" * 64)

    assert again.idempotency_key_sha256 is None
    item = dynamodb.get_item(TableName="accounts", Key=ADA)["Item"]
    assert "idempotency_key_sha256" not in item


def test_the_signup_notice_is_claimed_once_per_window(dynamodb: Any) -> None:
    store = DynamoDbAccountsStore("accounts", client=dynamodb)
    store.create_if_absent(account("acc_1"), AT_LEAST_ONCE)
    ada = account("acc_1")

    claims = [
        store.claim_signup_notice(
            ada, "2026-11-29T16:40:00.000+00:00", "2026-11-28T16:40:00.000+00:00"
        ),
        store.claim_signup_notice(
            ada, "2026-11-29T16:41:00.000+00:00", "2026-11-28T16:41:00.000+00:00"
        ),
        store.claim_signup_notice(
            ada, "2026-11-30T16:39:59.999+00:00", "2026-11-29T16:39:59.999+00:00"
        ),
        store.claim_signup_notice(
            ada, "2026-11-30T16:40:00.000+00:00", "2026-11-29T16:40:00.000+00:00"
        ),
        store.claim_signup_notice(
            ada, "2026-11-30T16:40:00.001+00:00", "2026-11-29T16:40:00.001+00:00"
        ),
    ]

    assert claims == [True, False, False, True, False]
    item = dynamodb.get_item(TableName="accounts", Key=ADA)["Item"]
    assert item["last_signup_notice_at"] == {"S": "2026-11-30T16:40:00.000+00:00"}
    assert item["name"] == {"S": "Ada Lovelace"}  # the rest of the account is untouched


@pytest.mark.parametrize("stored_id", [None, "acc_other"], ids=["deleted", "replaced"])
def test_no_notice_is_claimed_for_a_deleted_or_replaced_account(
    dynamodb: Any, stored_id: str | None
) -> None:
    store = DynamoDbAccountsStore("accounts", client=dynamodb)
    if stored_id is not None:
        store.create_if_absent(account(stored_id), AT_LEAST_ONCE)
    before = dynamodb.scan(TableName="accounts")["Items"]

    claimed = store.claim_signup_notice(
        account("acc_1"), "2026-11-29T16:40:00.000+00:00", "2026-11-28T16:40:00.000+00:00"
    )

    assert claimed is False
    assert dynamodb.scan(TableName="accounts")["Items"] == before  # no fragment created


def test_a_failed_notice_claim_raises(dynamodb: Any) -> None:
    store = DynamoDbAccountsStore("no-such-table", client=dynamodb)

    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        store.claim_signup_notice(
            account("acc_1"), "2026-11-29T16:40:00.000+00:00", "2026-11-28T16:40:00.000+00:00"
        )


def test_other_dynamodb_errors_propagate(dynamodb: Any) -> None:
    store = DynamoDbAccountsStore("no-such-table", client=dynamodb)

    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        store.create_if_absent(account("acc_1"), AT_LEAST_ONCE)


def test_the_job_queue_stores_a_json_body_and_returns_its_message_id() -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="jobs")["QueueUrl"]

        message_id = SqsJobQueue(client=sqs).enqueue(url, {"b": 2, "a": "x"})

        (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
        assert message["MessageId"] == message_id
        assert json.loads(message["Body"]) == {"a": "x", "b": 2}


def test_the_job_queue_raises_when_the_queue_does_not_exist() -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="jobs")["QueueUrl"]

        with pytest.raises(ClientError):
            SqsJobQueue(client=sqs).enqueue(url + "-gone", {"a": 1})


def test_adapters_create_no_client_until_used() -> None:
    # No AWS mock is active: constructing must not touch boto3 or the network.
    DynamoDbAccountsStore("accounts")
    SqsJobQueue()
