"""functions/signup through its real entry point, on moto DynamoDB, SQS and SES.

Retries that should be answered with the account send the first request's
Idempotency-Key; an attempt without it gets the one 409 whatever it sent (no account
oracle), and the account holder a notice email, at most once per 24 hours.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import time_machine
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses import ses_backends

from delivery_guarantees.signup import SIGNUP_NOTICE_SUBJECT
from functions.signup import app
from tests.support.events import load_event
from tests.unit.signup.fakes import SimulatedCrash
from tests.unit.welcome_email.conftest import listening_to
from tests.unit.welcome_email.fakes import FakeLambdaContext, throttle_ses_send_email

REGION = "us-east-1"
SENDER = "welcome@delivery-guarantees.example.com"
KEY = "3c1d9a6e-0f4b-4b8e-a2d7-6e5f4c3b2a19"  # the first request's Idempotency-Key
TAKEN = {"message": "an account with this email address already exists", "field": "email"}


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

    def notices(self) -> list[list[str]]:
        """The recipients of each signup notice SES accepted."""
        return [
            m.destinations["ToAddresses"]
            for m in self.sent_emails
            if m.subject == SIGNUP_NOTICE_SUBJECT
        ]


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


def invoke_raw(event: dict[str, Any]) -> dict[str, Any]:
    """The handler's whole answer to API Gateway: status, headers, body, as it returns them."""
    response: dict[str, Any] = app.lambda_handler(event, FakeLambdaContext())
    assert response["headers"]["Content-Type"] == "application/json"
    return response


def invoke(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = invoke_raw(event)
    return response["statusCode"], json.loads(response["body"])


def with_body(event: dict[str, Any], body: dict[str, Any] | str) -> dict[str, Any]:
    return event | {"body": body if isinstance(body, str) else json.dumps(body)}


def with_key(event: dict[str, Any], key: str | None = KEY) -> dict[str, Any]:
    """The event with an Idempotency-Key header (as API Gateway passes it: lower case)."""
    if key is None:
        return event
    return event | {"headers": event["headers"] | {"idempotency-key": key}}


def with_details(event: dict[str, Any], **changes: str) -> dict[str, Any]:
    return with_body(event, {**json.loads(event["body"]), **changes})


def keyed_event(name: str = "signup_at_least_once") -> dict[str, Any]:
    return with_key(load_event(name))


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


def test_a_keyed_retry_is_answered_with_the_first_answer_and_replayed_header(
    cloud: Cloud,
) -> None:
    event = keyed_event()
    retry_event = with_details(event, email="ADA@example.com")

    first = invoke_raw(event)
    retry = invoke_raw(retry_event)
    again = invoke_raw(event)

    assert [r["statusCode"] for r in (first, retry, again)] == [201, 201, 201]
    assert "Idempotent-Replayed" not in first["headers"]
    assert retry["headers"]["Idempotent-Replayed"] == again["headers"]["Idempotent-Replayed"]
    assert retry["headers"]["Idempotent-Replayed"] == "true"
    first_body, retry_body = json.loads(first["body"]), json.loads(retry["body"])
    # The first answer again; only jobs_enqueued says what this call stored.
    assert first_body["jobs_enqueued"] == ["first_charge", "welcome_email"]
    assert retry_body == first_body | {"jobs_enqueued": []}
    assert again["body"] == retry["body"]
    assert len(cloud.accounts()) == 1
    charges = cloud.drain(cloud.billing_queue_url)
    assert [c["transaction_id"] for c in charges] == [first_body["first_charge_transaction_id"]]
    assert len(cloud.drain(cloud.welcome_queue_url)) == 1
    assert cloud.sent_emails == []  # the key's holder is answered, nobody is notified


def test_the_sample_event_with_a_key_is_created_then_replayed(cloud: Cloud) -> None:
    # events/signup_with_idempotency_key.json, as `sam local invoke -e` sends it twice.
    event = load_event("signup_with_idempotency_key")

    first, retry = invoke_raw(event), invoke_raw(event)

    assert (first["statusCode"], retry["statusCode"]) == (201, 201)
    assert (
        first["headers"].get("Idempotent-Replayed"),
        retry["headers"].get("Idempotent-Replayed"),
    ) == (None, "true")
    assert cloud.account_item()["idempotency_key_sha256"] == {
        "S": hashlib.sha256(event["headers"]["idempotency-key"].encode()).hexdigest()
    }


def test_twenty_identical_signups_enqueue_one_welcome_job_and_one_charge(cloud: Cloud) -> None:
    event = keyed_event()

    answers = [invoke(event) for _ in range(20)]

    assert [status for status, _ in answers] == [201] * 20
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
        keyed_event(f"signup_{m}") for m in ("at_least_once", "at_most_once")
    )
    unkeyed = load_event("signup_at_least_once")

    invoke(at_least_once)
    first = aws_calls.take()
    invoke(at_least_once)
    retry = aws_calls.take()
    invoke(unkeyed)
    taken_notified = aws_calls.take()
    invoke(unkeyed)
    taken_not_due = aws_calls.take()
    invoke(at_most_once)
    first_at_most_once = aws_calls.take()
    invoke(at_most_once)
    retry_at_most_once = aws_calls.take()

    print(f"\nAWS calls per first signup (at-least-once): {dict(first)}")
    print(f"AWS calls per keyed retry of a completed signup: {dict(retry)}")
    print(f"AWS calls per 409, the day's notice sent: {dict(taken_notified)}")
    print(f"AWS calls per 409 within 24 hours of a notice: {dict(taken_not_due)}")
    print(f"AWS calls per first signup (at-most-once): {dict(first_at_most_once)}")
    # Create the account; per job, enqueue it, then record it. No GetItem: the failed
    # conditional PutItem of a retry returns the stored account with its outbox.
    assert first == {"dynamodb:PutItem": 1, "sqs:SendMessage": 2, "dynamodb:UpdateItem": 2}
    assert retry == {"dynamodb:PutItem": 1}
    # A 409 claims the day's notice (a conditional UpdateItem), then sends it if claimed.
    assert taken_notified == {"dynamodb:PutItem": 1, "dynamodb:UpdateItem": 1, "ses:SendEmail": 1}
    assert taken_not_due == {"dynamodb:PutItem": 1, "dynamodb:UpdateItem": 1}
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


TAKEN_ATTEMPTS = [
    pytest.param(None, {}, id="no key, the same details"),
    pytest.param(None, {"name": "Ada King"}, id="no key, another name"),
    pytest.param(None, {"payment_method": "pm_card_amex"}, id="no key, another payment method"),
    pytest.param(None, {"welcome_email_delivery": "at-most-once"}, id="no key, another mode"),
    pytest.param("another-key", {}, id="another key, the same details"),
    pytest.param("another-key", {"name": "Ada King"}, id="another key, another name"),
]


@pytest.mark.parametrize(("key", "change"), TAKEN_ATTEMPTS)
def test_a_taken_address_without_its_key_answers_409_and_stores_nothing(
    cloud: Cloud, key: str | None, change: dict[str, str]
) -> None:
    invoke(keyed_event())
    cloud.drain(cloud.billing_queue_url)
    cloud.drain(cloud.welcome_queue_url)
    item_before = cloud.account_item()

    status, answer = invoke(
        with_key(with_details(load_event("signup_at_least_once"), **change), key)
    )

    assert (status, answer) == (409, TAKEN)
    assert cloud.drain(cloud.billing_queue_url) == []
    assert cloud.drain(cloud.welcome_queue_url) == []
    # Nothing from the request is stored: the row differs only by the notice's timestamp.
    item = cloud.account_item()
    assert set(item) - set(item_before) == {"last_signup_notice_at"}
    assert {k: v for k, v in item.items() if k != "last_signup_notice_at"} == item_before


def test_the_409_is_the_same_bytes_whatever_the_details_so_it_reveals_none(
    cloud: Cloud,
) -> None:
    # (a) The old answers were an oracle: 409 naming name, then payment_method, then 200
    # with the account. Now every attempt without the key gets the very same response.
    invoke(keyed_event())
    event = load_event("signup_at_least_once")
    attempts = {
        "the same details": event,
        "another name": with_details(event, name="Ada King"),
        "another payment method": with_details(event, payment_method="pm_card_amex"),
        "both others": with_details(event, name="Eve", payment_method="pm_card_mastercard"),
        "another key": with_key(event, "another-key"),
        "another key, another name": with_key(with_details(event, name="Eve"), "another-key"),
    }

    responses = {what: invoke_raw(attempt) for what, attempt in attempts.items()}

    expected = responses["the same details"]
    assert expected["statusCode"] == 409
    assert json.loads(expected["body"]) == TAKEN
    for what, response in responses.items():
        assert json.dumps(response, sort_keys=True) == json.dumps(expected, sort_keys=True), what
    assert set(expected["headers"]) == {"Content-Type"}  # no Idempotent-Replayed, nothing else


def test_the_key_with_other_details_answers_422_naming_the_header(cloud: Cloud) -> None:
    # (c) Only the key's holder can get this answer: it reveals nothing to anyone else.
    invoke(keyed_event())
    cloud.drain(cloud.billing_queue_url)

    answers = [
        invoke(with_key(with_details(load_event("signup_at_least_once"), **change)))
        for change in (
            {"name": "Ada King"},
            {"payment_method": "pm_card_amex"},
            {"welcome_email_delivery": "at-most-once"},
        )
    ]

    for status, answer in answers:
        assert (status, answer["field"]) == (422, "Idempotency-Key")
        assert "Idempotency-Key was used for another request" in answer["message"]
        assert set(answer) == {"message", "field"}  # no account in it
    assert cloud.drain(cloud.billing_queue_url) == []
    assert cloud.account_item()["name"] == {"S": "Ada Lovelace"}
    assert cloud.sent_emails == []


def test_the_row_keeps_the_keys_sha256_and_the_key_is_never_logged_or_answered(
    cloud: Cloud, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with listening_to(caplog, app.logger.name), listening_to(caplog, "delivery_guarantees"):
        answers = [invoke_raw(keyed_event()) for _ in range(2)]
        answers.append(invoke_raw(with_key(with_details(keyed_event(), name="Ada King"))))

    item = cloud.account_item()
    assert item["idempotency_key_sha256"] == {"S": hashlib.sha256(KEY.encode()).hexdigest()}
    logged = [json.dumps(vars(record), default=str) for record in caplog.records]
    for text in (json.dumps(item), *map(json.dumps, answers), *logged, capsys.readouterr().out):
        assert KEY not in text


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("", "must not be empty"),
        ("k" * 256, "at most 255 characters"),
        ("key\x1b[2J", "printable ASCII"),
        ("key\u00e9", "printable ASCII"),
    ],
    ids=["empty", "256 characters", "escape sequence", "non-ASCII"],
)
@pytest.mark.parametrize("address", ["new", "taken"])
def test_an_invalid_idempotency_key_answers_400_naming_the_header_before_any_lookup(
    cloud: Cloud, key: str, says: str, address: str
) -> None:
    if address == "taken":
        invoke(keyed_event())
    before = cloud.accounts()
    emails_before = len(cloud.sent_emails)

    status, answer = invoke(with_key(load_event("signup_at_least_once"), key))

    assert (status, answer["field"]) == (400, "Idempotency-Key")
    assert says in answer["message"]
    if key:
        assert key not in answer["message"]
    assert cloud.accounts() == before  # the same 400 whether the address is taken or not
    assert len(cloud.sent_emails) == emails_before


@pytest.mark.parametrize(
    ("key", "change", "status"),
    [
        (KEY, {}, 201),
        (None, {}, 409),
        (None, {"name": "Ada King", "payment_method": "pm_card_amex"}, 409),
        ("another-key", {}, 409),
    ],
    ids=["the key", "no key", "no key, other details", "another key"],
)
def test_a_half_done_first_attempt_is_completed_by_any_later_attempt(
    cloud: Cloud,
    monkeypatch: pytest.MonkeyPatch,
    key: str | None,
    change: dict[str, str],
    status: int,
) -> None:
    # (e) The first attempt created the account and failed to enqueue (a 500). Whoever
    # comes next, keyed or not, stores the account's own jobs, with the row's details.
    event = keyed_event()
    monkeypatch.setenv("BILLING_QUEUE_URL", cloud.billing_queue_url + "-deleted")
    app.adapters.cache_clear()
    with pytest.raises(ClientError):
        invoke(event)
    monkeypatch.setenv("BILLING_QUEUE_URL", cloud.billing_queue_url)
    app.adapters.cache_clear()
    account_id = cloud.account_item()["account_id"]["S"]

    answer_status, answer = invoke(
        with_key(with_details(load_event("signup_at_least_once"), **change), key)
    )

    assert answer_status == status
    if status == 201:
        assert answer["jobs_enqueued"] == ["first_charge", "welcome_email"]
    else:
        assert answer == TAKEN
    assert cloud.drain(cloud.billing_queue_url) == [
        {
            "transaction_id": f"txn_signup_{account_id}",
            "account_id": account_id,
            "amount": 1999,
            "currency": "usd",
            "payment_method": "pm_card_visa",
        }
    ]
    assert cloud.drain(cloud.welcome_queue_url) == [
        {"account_id": account_id, "email": "ada@example.com", "name": "Ada Lovelace"}
    ]
    item = cloud.account_item()
    assert {"outbox_first_charge", "outbox_welcome_email"} <= set(item)
    assert (item["name"], item["payment_method"]) == ({"S": "Ada Lovelace"}, {"S": "pm_card_visa"})


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
    event = keyed_event()
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

    assert (status, body["jobs_enqueued"]) == (201, ["welcome_email"])
    charges = cloud.drain(cloud.billing_queue_url)
    assert [c["transaction_id"] for c in charges] == [body["first_charge_transaction_id"]]
    assert len(cloud.drain(cloud.welcome_queue_url)) == 1


def test_a_stranded_account_gets_its_jobs_from_the_clients_retry(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The queue fails on the first call: the account exists, no job does, the client sees
    # an error (500) and retries with the same details and the same key.
    event = keyed_event()
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

    assert (retry_status, retry["jobs_enqueued"]) == (201, ["first_charge", "welcome_email"])
    assert (again_status, again["jobs_enqueued"]) == (201, [])
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
    event = keyed_event()
    aws_calls.crash_before_recording = crash_before
    with pytest.raises(SimulatedCrash):
        invoke(event)
    aws_calls.crash_before_recording = None

    status, retry = invoke(event)
    _, again = invoke(event)

    assert (status, retry["jobs_enqueued"], again["jobs_enqueued"]) == (201, enqueued_by_retry, [])
    charge_bodies = cloud.drain(cloud.billing_queue_url)
    assert len(charge_bodies) == charges
    assert {c["transaction_id"] for c in charge_bodies} == {retry["first_charge_transaction_id"]}
    assert len(cloud.drain(cloud.welcome_queue_url)) == welcome_jobs


def test_an_account_written_before_the_outbox_gets_each_job_once(cloud: Cloud) -> None:
    # Such a row holds no key digest either: every later attempt is answered 409 (the
    # account's details are no one's to read back), and the first one stores the jobs.
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

    answers = [invoke(keyed_event()) for _ in range(3)]

    assert answers == [(409, TAKEN)] * 3
    assert {"outbox_first_charge", "outbox_welcome_email"} <= set(cloud.account_item())
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
    event = keyed_event("signup_at_most_once")

    with (
        listening_to(caplog, "delivery_guarantees"),
        throttle_ses_send_email(monkeypatch) as attempts,
    ):
        status, body = invoke(event)
        retry_status, retry = invoke(event)

    assert (status, body["welcome_email"]) == (201, "dropped")
    assert (retry_status, retry["welcome_email"]) == (201, "not-resent")
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


def test_the_notice_email_is_sent_once_in_24_hours_however_often_someone_tries(
    cloud: Cloud,
) -> None:
    # (d) Through the real adapters: the conditional UpdateItem on last_signup_notice_at
    # and SES on moto; time-machine moves the function's clock.
    start = datetime(2026, 11, 29, 16, 40, tzinfo=UTC)
    event = load_event("signup_at_least_once")
    with time_machine.travel(start, tick=False) as clock:
        invoke(keyed_event())
        answers = [invoke_raw(event)]
        answers.append(invoke_raw(with_details(event, name="Eve")))
        for later in (timedelta(hours=1), timedelta(hours=23, minutes=59)):
            clock.move_to(start + later)
            answers.append(invoke_raw(with_details(event, payment_method="pm_card_amex")))
            answers.append(invoke_raw(with_key(event, "another-key")))
        assert cloud.notices() == [["ada@example.com"]]
        clock.move_to(start + timedelta(hours=24, seconds=1))
        answers.append(invoke_raw(event))

    assert cloud.notices() == [["ada@example.com"], ["ada@example.com"]]
    assert {json.dumps(a, sort_keys=True) for a in answers} == {
        json.dumps(answers[0], sort_keys=True)
    }
    assert cloud.account_item()["last_signup_notice_at"] == {"S": "2026-11-30T16:40:01.000+00:00"}
    [notice, *_] = [m for m in cloud.sent_emails if m.subject == SIGNUP_NOTICE_SUBJECT]
    assert notice.source == SENDER
    assert "Eve" not in notice.body
    assert "pm_card_amex" not in notice.body


def test_a_notice_ses_refuses_is_logged_and_the_answer_is_the_same_409(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    invoke(keyed_event())
    event = load_event("signup_at_least_once")

    with (
        listening_to(caplog, "delivery_guarantees"),
        throttle_ses_send_email(monkeypatch) as attempts,
    ):
        refused = invoke_raw(event)
        later = invoke_raw(event)

    assert refused == later
    assert json.loads(refused["body"]) == TAKEN
    assert attempts == {"ada@example.com": 1}  # one attempt, no SDK retry, none the next time
    assert cloud.notices() == []
    assert any("signup notice attempt failed" in r.getMessage() for r in caplog.records)


def test_missing_configuration_fails_loudly_naming_the_variable(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BILLING_QUEUE_URL")
    app.adapters.cache_clear()

    with pytest.raises(Exception, match="BILLING_QUEUE_URL"):
        invoke(load_event("signup_at_least_once"))
    assert cloud.accounts() == []
