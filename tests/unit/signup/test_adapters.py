"""The signup adapters against moto: DynamoDB accounts, SQS jobs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from delivery_guarantees.adapters.accounts_store import CorruptAccountError, DynamoDbAccountsStore
from delivery_guarantees.adapters.job_queue import SqsJobQueue
from delivery_guarantees.config import WelcomeEmailDelivery
from delivery_guarantees.models import Account

AT_LEAST_ONCE = WelcomeEmailDelivery.AT_LEAST_ONCE
AT_MOST_ONCE = WelcomeEmailDelivery.AT_MOST_ONCE


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
