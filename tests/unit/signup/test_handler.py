"""functions/signup through its real entry point, on moto DynamoDB, SQS and SES."""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses import ses_backends

from functions.signup import app
from tests.support.events import load_event
from tests.unit.signup.fakes import SimulatedCrash
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
        return list(self.drain_by_message_id(queue_url).values())

    def drain_by_message_id(self, queue_url: str) -> dict[str, dict[str, Any]]:
        messages: dict[str, dict[str, Any]] = {}
        while True:
            got = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
            if not got.get("Messages"):
                return messages
            messages |= {m["MessageId"]: json.loads(m["Body"]) for m in got["Messages"]}

    def account_item(self, email: str = "ada@example.com") -> dict[str, Any]:
        item: dict[str, Any] = self.dynamodb.get_item(
            TableName="accounts", Key={"email": {"S": email}}
        )["Item"]
        return item

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


@dataclass
class AwsCalls:
    """The AWS calls the function makes, as IAM actions, seen by botocore event hooks.

    `crash_before_recording` names an outbox attribute: the function dies just before the
    UpdateItem that would record it, after its job was enqueued (a timeout, a kill).
    """

    calls: Counter[str] = field(default_factory=Counter)
    crash_before_recording: str | None = None

    def count(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.signing_name}:{model.name}"] += 1

    def maybe_crash(self, params: dict[str, Any], **_: Any) -> None:
        recording = params.get("ExpressionAttributeNames", {}).get("#job")
        if recording is not None and recording == self.crash_before_recording:
            raise SimulatedCrash(f"died before recording {recording}")

    def take(self) -> Counter[str]:
        taken, self.calls = self.calls, Counter()
        return taken


@pytest.fixture
def aws_calls(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> AwsCalls:
    """Hooks on the session the function's clients are created from (boto3's default)."""
    spy = AwsCalls()
    session = boto3.Session()
    for service in ("dynamodb", "sqs", "ses"):
        session.events.register(f"before-call.{service}", spy.count)
    session.events.register("before-parameter-build.dynamodb.UpdateItem", spy.maybe_crash)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
    app.adapters.cache_clear()
    return spy


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
    assert body["jobs_enqueued"] == ["first_charge", "welcome_email"]
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


def test_a_retried_signup_keeps_one_account_and_stores_its_jobs_once(cloud: Cloud) -> None:
    event = load_event("signup_at_least_once")
    retry_event = with_body(event, {**json.loads(event["body"]), "email": "ADA@example.com"})

    first_status, first = invoke(event)
    retry_status, retry = invoke(retry_event)
    again_status, again = invoke(event)

    assert (first_status, retry_status, again_status) == (201, 200, 200)
    assert first["account"] == retry["account"] == again["account"]
    assert (retry["welcome_email"], retry["jobs_enqueued"]) == ("enqueued", [])
    assert len(cloud.accounts()) == 1
    charges = cloud.drain(cloud.billing_queue_url)
    assert [c["transaction_id"] for c in charges] == [first["first_charge_transaction_id"]]
    assert len(cloud.drain(cloud.welcome_queue_url)) == 1


def test_twenty_identical_signups_enqueue_one_welcome_job_and_one_charge(cloud: Cloud) -> None:
    event = load_event("signup_at_least_once")

    answers = [invoke(event) for _ in range(20)]

    assert [status for status, _ in answers] == [201] + [200] * 19
    assert [body["jobs_enqueued"] for _, body in answers] == [["first_charge", "welcome_email"]] + [
        []
    ] * 19
    charges = cloud.drain_by_message_id(cloud.billing_queue_url)
    welcome_jobs = cloud.drain_by_message_id(cloud.welcome_queue_url)
    assert len(charges) == 1
    assert len(welcome_jobs) == 1
    # The account row records each job with the message ID SQS gave it.
    item = cloud.account_item()
    assert set(charges) == {item["outbox_first_charge"]["M"]["message_id"]["S"]}
    assert set(welcome_jobs) == {item["outbox_welcome_email"]["M"]["message_id"]["S"]}
    assert item["outbox_first_charge"]["M"]["enqueued_at"]["S"].startswith("20")


def test_aws_calls_per_first_signup_and_per_retry(aws_calls: AwsCalls) -> None:
    # Counted so that a change in the calls (and in the IAM actions they need) shows here.
    at_least_once, at_most_once = (
        load_event(f"signup_{m}") for m in ("at_least_once", "at_most_once")
    )

    invoke(at_least_once)
    first = aws_calls.take()
    invoke(at_least_once)
    retry = aws_calls.take()
    invoke(at_most_once)
    first_at_most_once = aws_calls.take()
    invoke(at_most_once)
    retry_at_most_once = aws_calls.take()

    print(f"\nAWS calls per first signup (at-least-once): {dict(first)}")
    print(f"AWS calls per retry of a completed signup: {dict(retry)}")
    print(f"AWS calls per first signup (at-most-once): {dict(first_at_most_once)}")
    # Create the account; per job, enqueue it, then record it. No GetItem: the failed
    # conditional PutItem of a retry returns the stored account with its outbox.
    assert first == {"dynamodb:PutItem": 1, "sqs:SendMessage": 2, "dynamodb:UpdateItem": 2}
    assert retry == {"dynamodb:PutItem": 1}
    assert first_at_most_once == {
        "dynamodb:PutItem": 1,
        "sqs:SendMessage": 1,
        "dynamodb:UpdateItem": 1,
        "ses:SendEmail": 1,
    }
    assert retry_at_most_once == {"dynamodb:PutItem": 1}


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


def test_the_hostile_name_event_file_answers_400_naming_name(cloud: Cloud) -> None:
    status, answer = invoke(load_event("signup_hostile_name"))

    assert (status, answer["field"]) == (400, "name")
    assert "control characters" in answer["message"]
    assert cloud.accounts() == []


def test_same_email_with_another_payment_method_answers_409(cloud: Cloud) -> None:
    event = load_event("signup_at_least_once")
    invoke(event)
    cloud.drain(cloud.billing_queue_url)
    other = with_body(event, {**json.loads(event["body"]), "payment_method": "pm_card_amex"})

    status, answer = invoke(other)

    assert (status, answer["field"]) == (409, "payment_method")
    assert cloud.drain(cloud.billing_queue_url) == []


def test_a_conflicting_retry_of_a_stranded_account_answers_409_and_stores_nothing(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = load_event("signup_at_least_once")
    monkeypatch.setenv("BILLING_QUEUE_URL", cloud.billing_queue_url + "-deleted")
    app.adapters.cache_clear()
    with pytest.raises(ClientError):
        invoke(event)
    monkeypatch.setenv("BILLING_QUEUE_URL", cloud.billing_queue_url)
    app.adapters.cache_clear()

    status, answer = invoke(with_body(event, {**json.loads(event["body"]), "name": "Ada King"}))

    assert (status, answer["field"]) == (409, "name")
    assert cloud.drain(cloud.billing_queue_url) == []
    assert cloud.drain(cloud.welcome_queue_url) == []
    assert not [name for name in cloud.account_item() if name.startswith("outbox_")]


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("Ada\r\nClick here", "control characters"),
        ("Ada \u202eLovelace", "bidirectional"),
        ("Ada\u200bLovelace", "invisible"),
        ("Ada <b>Lovelace</b>", "markup"),
        ("Ada https://evil.example", "link"),
        ("ada@evil.example", "@"),
        ("Ada, verify at bank.com/verify", "web address"),
    ],
)
def test_a_hostile_name_answers_400_naming_the_field_and_the_rule(
    cloud: Cloud, name: str, rule: str
) -> None:
    event = load_event("signup_at_least_once")

    status, answer = invoke(with_body(event, {**json.loads(event["body"]), "name": name}))

    assert (status, answer["field"]) == (400, "name")
    assert "name: must not contain" in answer["message"]
    assert rule in answer["message"]
    assert cloud.accounts() == []
    assert cloud.drain(cloud.billing_queue_url) == []
    assert cloud.drain(cloud.welcome_queue_url) == []
    assert cloud.sent_emails == []


@pytest.mark.parametrize(
    "card", ["pm_4242_4242_4242_4242", "pm_card_4242424242424242", "4242 4242 4242 4242"]
)
def test_a_card_number_answers_400_and_is_never_repeated_in_the_answer_or_logs(
    cloud: Cloud,
    card: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = load_event("signup_at_least_once")
    body = {**json.loads(event["body"]), "payment_method": card}

    with listening_to(caplog, app.logger.name), listening_to(caplog, "delivery_guarantees"):
        status, answer = invoke(with_body(event, body))

    assert (status, answer["field"]) == (400, "payment_method")
    assert "a card number is never accepted" in answer["message"]
    (rejected,) = [r for r in caplog.records if "signup rejected" in r.getMessage()]
    assert "a card number is never accepted" in getattr(rejected, "reason", "")
    logged = [json.dumps(vars(record), default=str) for record in caplog.records]
    for text in (json.dumps(answer), *logged, capsys.readouterr().out):
        assert "4242" not in text
    assert cloud.accounts() == []
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

    # The failure came after the account and the charge were stored and recorded.
    assert len(cloud.accounts()) == 1
    assert "outbox_first_charge" in cloud.account_item()
    assert "outbox_welcome_email" not in cloud.account_item()
    monkeypatch.setenv("WELCOME_EMAIL_QUEUE_URL", cloud.welcome_queue_url)
    app.adapters.cache_clear()
    status, body = invoke(event)

    assert (status, body["jobs_enqueued"]) == (200, ["welcome_email"])
    charges = cloud.drain(cloud.billing_queue_url)
    assert [c["transaction_id"] for c in charges] == [body["first_charge_transaction_id"]]
    assert len(cloud.drain(cloud.welcome_queue_url)) == 1


def test_a_stranded_account_gets_its_jobs_from_the_clients_retry(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The queue fails on the first call: the account exists, no job does, the client sees
    # an error (500) and retries with the same details.
    event = load_event("signup_at_least_once")
    monkeypatch.setenv("BILLING_QUEUE_URL", cloud.billing_queue_url + "-deleted")
    app.adapters.cache_clear()
    with pytest.raises(ClientError):
        invoke(event)
    assert len(cloud.accounts()) == 1
    assert not [name for name in cloud.account_item() if name.startswith("outbox_")]

    monkeypatch.setenv("BILLING_QUEUE_URL", cloud.billing_queue_url)
    app.adapters.cache_clear()
    retry_status, retry = invoke(event)
    again_status, again = invoke(event)

    assert (retry_status, retry["jobs_enqueued"]) == (200, ["first_charge", "welcome_email"])
    assert (again_status, again["jobs_enqueued"]) == (200, [])
    assert len(cloud.drain(cloud.billing_queue_url)) == 1
    assert len(cloud.drain(cloud.welcome_queue_url)) == 1


@pytest.mark.parametrize(
    ("crash_before", "enqueued_by_retry", "charges", "welcome_jobs"),
    [
        ("outbox_first_charge", ["first_charge", "welcome_email"], 2, 1),
        ("outbox_welcome_email", ["welcome_email"], 1, 2),
    ],
)
def test_a_crash_after_enqueue_before_the_record_repeats_only_that_job(
    cloud: Cloud,
    aws_calls: AwsCalls,
    crash_before: str,
    enqueued_by_retry: list[str],
    charges: int,
    welcome_jobs: int,
) -> None:
    event = load_event("signup_at_least_once")
    aws_calls.crash_before_recording = crash_before
    with pytest.raises(SimulatedCrash):
        invoke(event)
    aws_calls.crash_before_recording = None

    status, retry = invoke(event)
    _, again = invoke(event)

    assert (status, retry["jobs_enqueued"], again["jobs_enqueued"]) == (200, enqueued_by_retry, [])
    charge_bodies = cloud.drain(cloud.billing_queue_url)
    assert len(charge_bodies) == charges
    assert {c["transaction_id"] for c in charge_bodies} == {retry["first_charge_transaction_id"]}
    assert len(cloud.drain(cloud.welcome_queue_url)) == welcome_jobs


def test_an_account_written_before_the_outbox_gets_each_job_once(cloud: Cloud) -> None:
    cloud.dynamodb.put_item(
        TableName="accounts",
        Item={
            "email": {"S": "ada@example.com"},
            "account_id": {"S": "acc_old"},
            "name": {"S": "Ada Lovelace"},
            "payment_method": {"S": "pm_card_visa"},
            "created_at": {"S": "2025-01-01T00:00:00.000+00:00"},
            "welcome_email_delivery": {"S": "at-least-once"},
        },
    )
    event = load_event("signup_at_least_once")

    answers = [invoke(event) for _ in range(3)]

    assert [(status, body["jobs_enqueued"]) for status, body in answers] == [
        (200, ["first_charge", "welcome_email"]),
        (200, []),
        (200, []),
    ]
    assert [c["transaction_id"] for c in cloud.drain(cloud.billing_queue_url)] == [
        "txn_signup_acc_old"
    ]
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
    assert (body["jobs_enqueued"], retry["jobs_enqueued"]) == (["first_charge"], [])
    # One HTTP attempt in all: no SDK retry, and the retried signup does not try again.
    assert attempts == {"grace@example.com": 1}
    assert cloud.sent_emails == []
    assert cloud.drain(cloud.welcome_queue_url) == []
    charges = cloud.drain(cloud.billing_queue_url)
    assert [c["transaction_id"] for c in charges] == [body["first_charge_transaction_id"]]
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
