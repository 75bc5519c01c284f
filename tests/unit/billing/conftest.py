"""Billing fixtures: real DynamoDB tables in moto, a Stripe-like fake provider, the real handler."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest
from moto import mock_aws

from delivery_guarantees.adapters.charge_journal import DynamoDbChargeJournal
from delivery_guarantees.billing import IdempotentBilling, billing_from_settings
from delivery_guarantees.config import BillingSettings
from functions.billing import app
from tests.unit.billing.fakes import DynamoDbCallCounter, FakeLambdaContext, FakePaymentProvider

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BILLING_ENV = {
    "IDEMPOTENCY_TABLE_NAME": "test-IdempotencyTable",
    "CHARGES_TABLE_NAME": "test-ChargesTable",
    "PAYMENT_PROVIDER_SECRET_PARAMETER_NAME": "/delivery-guarantees/payment-provider-secret-key",
    "PAYMENT_PROVIDER_API_BASE": "http://127.0.0.1:12111",
    "MAX_CHARGE_AMOUNT": "99999999",
    # What moto's CreateQueue answers for the queue the dead_letter_queue fixture creates.
    "DEAD_LETTER_QUEUE_URL": (
        "https://sqs.us-east-1.amazonaws.com/123456789012/test-BillingDeadLetterQueue"
    ),
}


@pytest.fixture
def settings() -> BillingSettings:
    return BillingSettings.from_env(BILLING_ENV)


@pytest.fixture
def dynamodb(settings: BillingSettings) -> Iterator[DynamoDBClient]:
    """A moto DynamoDB with IdempotencyTable and ChargesTable as template.yaml declares them."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for name, key in (
            (settings.idempotency_table_name, "id"),
            (settings.charges_table_name, "transaction_id"),
        ):
            client.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        yield client


@pytest.fixture
def dynamodb_calls(dynamodb: DynamoDBClient) -> DynamoDbCallCounter:
    return DynamoDbCallCounter(dynamodb)


@pytest.fixture
def provider() -> FakePaymentProvider:
    return FakePaymentProvider()


@pytest.fixture
def journal(dynamodb: DynamoDBClient, settings: BillingSettings) -> DynamoDbChargeJournal:
    """A second view of ChargesTable for assertions (its own client: not counted)."""
    return DynamoDbChargeJournal(
        settings.charges_table_name, client=boto3.client("dynamodb", region_name="us-east-1")
    )


@pytest.fixture
def dead_letter_queue(dynamodb: DynamoDBClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """BillingDeadLetterQueue in moto, named in the environment as the template does; its URL."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    url: str = sqs.create_queue(QueueName="test-BillingDeadLetterQueue")["QueueUrl"]
    assert url == BILLING_ENV["DEAD_LETTER_QUEUE_URL"]
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", url)
    app.poison_router.cache_clear()  # no client from another test's moto
    yield url
    app.poison_router.cache_clear()


@pytest.fixture
def billing(
    dead_letter_queue: str,
    dynamodb: DynamoDBClient,
    dynamodb_calls: DynamoDbCallCounter,
    provider: FakePaymentProvider,
    settings: BillingSettings,
) -> Iterator[IdempotentBilling]:
    """The production wiring with the fake provider, installed into the real handler module."""
    wired = billing_from_settings(settings, dynamodb_client=dynamodb, provider=provider)
    app.billing.install(wired)
    yield wired
    app.billing.install(None)


@pytest.fixture
def context() -> FakeLambdaContext:
    return FakeLambdaContext()
