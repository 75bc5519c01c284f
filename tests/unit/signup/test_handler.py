"""functions/signup through its real entry point, on moto DynamoDB, SQS and SES."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses import ses_backends

from functions.signup import app
from tests.support.events import load_event
from tests.unit.welcome_email.conftest import listening_to
from tests.unit.welcome_email.fakes import FakeLambdaContext, throttle_ses_send_email

REGION = "us-east-1"
SENDER = "welcome@delivery-guarantees.example.com"


@dataclass
class Cloud:
    dynamodb: Any
    sqs: Any
    billing_queue_url: str
    welcome_queue_url: str

    def drain(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message on the queue, parsed (moto hands out all visible ones at once)."""
        bodies: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
            if not got.get("Messages"):
                return bodies
            bodies += [json.loads(m["Body"]) for m in got["Messages"]]

    def accounts(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.dynamodb.scan(TableName="accounts")["Items"]
        return items

    @property
    def sent_emails(self) -> list[Any]:
        messages: list[Any] = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
        return messages


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName="accounts",
            AttributeDefinitions=[{"AttributeName": "email", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "email", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sqs = boto3.client("sqs", region_name=REGION)
        billing = sqs.create_queue(QueueName="billing")["QueueUrl"]
        welcome = sqs.create_queue(QueueName="welcome-email")["QueueUrl"]
        boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress=SENDER)
        for name, value in {
            "ACCOUNTS_TABLE_NAME": "accounts",
            "WELCOME_EMAIL_QUEUE_URL": welcome,
            "BILLING_QUEUE_URL": billing,
            "SENDER_EMAIL_ADDRESS": SENDER,
            "WELCOME_EMAIL_DELIVERY": "at-least-once",
            "SIGNUP_CHARGE_AMOUNT": "1999",
            "SIGNUP_CHARGE_CURRENCY": "usd",
        }.items():
            monkeypatch.setenv(name, value)
        app.adapters.cache_clear()
        yield Cloud(dynamodb, sqs, billing, welcome)
        app.adapters.cache_clear()


def invoke(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = app.lambda_handler(event, FakeLambdaContext())
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def with_body(event: dict[str, Any], body: dict[str, Any] | str) -> dict[str, Any]:
    return event | {"body": body if isinstance(body, str) else json.dumps(body)}


def test_first_signup_answers_201_with_the_account_and_stores_both_jobs(cloud: Cloud) -> None:
    status, body = invoke(load_event("signup_at_least_once"))

    assert status == 201
    account = body["account"]
    assert account["email"] == "ada@example.com"
    assert account["account_id"].startswith("acc_")
    assert body["first_charge_transaction_id"] == f"txn_signup_{account['account_id']}"
    assert body["welcome_email"] == "enqueued"
    assert cloud.drain(cloud.billing_queue_url) == [
        {
            "transaction_id": body["first_charge_transaction_id"],
            "account_id": account["account_id"],
            "amount": 1999,
            "currency": "usd",
            "payment_method": "pm_card_visa",
        }
    ]
    assert cloud.drain(cloud.welcome_queue_url) == [
        {"account_id": account["account_id"], "email": "ada@example.com", "name": "Ada Lovelace"}
    ]
    assert [item["account_id"]["S"] for item in cloud.accounts()] == [account["account_id"]]


def test_a_retried_signup_keeps_one_account_and_one_transaction_id(cloud: Cloud) -> None:
    event = load_event("signup_at_least_once")
    retry_event = with_body(event, {**json.loads(event["body"]), "email": "ADA@example.com"})

    first_status, first = invoke(event)
    retry_status, retry = invoke(retry_event)
    again_status, again = invoke(event)

    assert (first_status, retry_status, again_status) == (201, 200, 200)
    assert first["account"] == retry["account"] == again["account"]
    assert len(cloud.accounts()) == 1
    charges = cloud.drain(cloud.billing_queue_url)
    assert len(charges) == 3
    assert {c["transaction_id"] for c in charges} == {first["first_charge_transaction_id"]}
    assert {c["account_id"] for c in charges} == {first["account"]["account_id"]}


def test_a_base64_encoded_body_is_decoded(cloud: Cloud) -> None:
    event = load_event("signup_at_least_once")
    event |= {"body": base64.b64encode(event["body"].encode()).decode(), "isBase64Encoded": True}

    status, _ = invoke(event)

    assert status == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("{oops", "body"),
        ({"email": "ada@example.com", "name": "Ada"}, "payment_method"),
        (
            {"email": "ada@example.com", "name": "Ada", "payment_method": "4242424242424242"},
            "payment_method",
        ),
        (
            {"email": "ada@example.com", "name": "Ada", "payment_method": "pm_card_visa", "x": 1},
            "x",
        ),
    ],
)
def test_invalid_input_answers_400_naming_the_field_and_stores_nothing(
    cloud: Cloud, body: dict[str, Any] | str, field: str
) -> None:
    status, answer = invoke(with_body(load_event("signup_at_least_once"), body))

    assert status == 400
    assert answer["field"] == field
    assert field in answer["message"]
    assert cloud.accounts() == []
    assert cloud.drain(cloud.billing_queue_url) == []
    assert cloud.drain(cloud.welcome_queue_url) == []


def test_the_invalid_event_file_answers_400_naming_email(cloud: Cloud) -> None:
    status, answer = invoke(load_event("signup_invalid_email"))

    assert (status, answer["field"]) == (400, "email")
    assert cloud.accounts() == []
    assert cloud.drain(cloud.billing_queue_url) == []


def test_same_email_with_another_payment_method_answers_409(cloud: Cloud) -> None:
    event = load_event("signup_at_least_once")
    invoke(event)
    cloud.drain(cloud.billing_queue_url)
    other = with_body(event, {**json.loads(event["body"]), "payment_method": "pm_card_amex"})

    status, answer = invoke(other)

    assert (status, answer["field"]) == (409, "payment_method")
    assert cloud.drain(cloud.billing_queue_url) == []


def test_when_a_job_cannot_be_stored_the_signup_fails_and_a_retry_completes_it(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = load_event("signup_at_least_once")
    gone = cloud.welcome_queue_url + "-deleted"
    monkeypatch.setenv("WELCOME_EMAIL_QUEUE_URL", gone)
    app.adapters.cache_clear()

    with pytest.raises(ClientError, match=r"NonExistentQueue|QueueDoesNotExist"):
        invoke(event)  # no answer: API Gateway turns the error into a 500

    # The crash came after the account and the charge were stored.
    assert len(cloud.accounts()) == 1
    monkeypatch.setenv("WELCOME_EMAIL_QUEUE_URL", cloud.welcome_queue_url)
    app.adapters.cache_clear()
    status, body = invoke(event)

    assert status == 200
    charges = cloud.drain(cloud.billing_queue_url)
    assert len(charges) == 2
    assert {c["transaction_id"] for c in charges} == {body["first_charge_transaction_id"]}
    assert len(cloud.drain(cloud.welcome_queue_url)) == 1


def test_when_the_charge_cannot_be_stored_nothing_is_enqueued_and_no_success(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLING_QUEUE_URL", cloud.billing_queue_url + "-deleted")
    app.adapters.cache_clear()

    with pytest.raises(ClientError):
        invoke(load_event("signup_at_least_once"))

    assert cloud.drain(cloud.welcome_queue_url) == []


def test_at_most_once_sends_the_email_directly_and_queues_no_welcome_job(cloud: Cloud) -> None:
    status, body = invoke(load_event("signup_at_most_once"))

    assert status == 201
    assert (body["welcome_email_delivery"], body["welcome_email"]) == ("at-most-once", "sent")
    assert [m.destinations["ToAddresses"] for m in cloud.sent_emails] == [["grace@example.com"]]
    assert cloud.drain(cloud.welcome_queue_url) == []
    assert len(cloud.drain(cloud.billing_queue_url)) == 1


def test_at_most_once_makes_one_ses_attempt_logs_the_failure_and_still_succeeds(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    event = load_event("signup_at_most_once")

    with (
        listening_to(caplog, "delivery_guarantees"),
        throttle_ses_send_email(monkeypatch) as attempts,
    ):
        status, body = invoke(event)
        retry_status, retry = invoke(event)

    assert (status, body["welcome_email"]) == (201, "dropped")
    assert (retry_status, retry["welcome_email"]) == (200, "not-resent")
    # One HTTP attempt in all: no SDK retry, and the retried signup does not try again.
    assert attempts == {"grace@example.com": 1}
    assert cloud.sent_emails == []
    assert cloud.drain(cloud.welcome_queue_url) == []
    charges = cloud.drain(cloud.billing_queue_url)
    assert {c["transaction_id"] for c in charges} == {body["first_charge_transaction_id"]}
    dropped = [r for r in caplog.records if "dropped, not retried" in r.getMessage()]
    assert len(dropped) == 1
    assert "Throttling" in str(dropped[0].exc_info[1] if dropped[0].exc_info else "")


def test_missing_configuration_fails_loudly_naming_the_variable(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BILLING_QUEUE_URL")
    app.adapters.cache_clear()

    with pytest.raises(Exception, match="BILLING_QUEUE_URL"):
        invoke(load_event("signup_at_least_once"))
    assert cloud.accounts() == []
