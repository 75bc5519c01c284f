"""functions/welcome_email through its real entry point, on moto SES."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from delivery_guarantees.config import ConfigurationError
from delivery_guarantees.welcome_email import InvalidWelcomeEmailJob
from functions.welcome_email import app
from tests.support.events import load_event
from tests.unit.welcome_email.conftest import (
    SENDER,
    WELCOME_EMAIL_ENV,
    dead_letters,
    listening_to,
)
from tests.unit.welcome_email.fakes import FakeLambdaContext, throttle_ses_send_email


@pytest.fixture(autouse=True)
def fresh_sender() -> Iterator[None]:
    # The warm-container cache must not carry a client across tests (and moto mocks).
    app.email_sender.cache_clear()
    app.poison_router.cache_clear()
    yield
    app.email_sender.cache_clear()
    app.poison_router.cache_clear()


@pytest.fixture
def handler_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with listening_to(caplog, app.logger.name):
        yield caplog


def invoke(event: dict[str, Any]) -> Any:
    return app.lambda_handler(event, FakeLambdaContext())


def recipients(sent_emails: list[Any]) -> list[str]:
    return sorted(address for m in sent_emails for address in m.destinations["ToAddresses"])


def test_a_batch_sends_one_email_per_record(sent_emails: list[Any]) -> None:
    response = invoke(load_event("welcome_email_batch"))

    assert response == {"batchItemFailures": []}
    assert recipients(sent_emails) == [
        "ada@example.com",
        "grace@example.com",
        "katherine@example.com",
    ]
    ada = next(m for m in sent_emails if m.destinations["ToAddresses"] == ["ada@example.com"])
    assert ada.source == SENDER
    assert ada.subject == "Welcome to Delivery Guarantees"
    assert "acc_3f1c9a7e2b4d4f6a8c0e1b3d5f7a9c2e" in ada.body


def test_a_malformed_record_is_dead_lettered_at_once_with_its_reason(
    sent_emails: list[Any], handler_logs: pytest.LogCaptureFixture
) -> None:
    event = load_event("welcome_email_batch_with_malformed_record")
    malformed = event["Records"][1]
    assert "name" not in json.loads(malformed["body"])

    response = invoke(event)

    # A poison message: copied to the DLQ at its first failure, then acknowledged.
    assert response == {"batchItemFailures": []}
    assert recipients(sent_emails) == ["barbara@example.com", "margaret@example.com"]
    [dead_letter] = dead_letters(WELCOME_EMAIL_ENV["DEAD_LETTER_QUEUE_URL"])
    assert dead_letter["Body"] == malformed["body"]
    reason = {n: v["StringValue"] for n, v in dead_letter["MessageAttributes"].items()}
    assert reason["ErrorType"] == InvalidWelcomeEmailJob.__name__
    assert "name: Field required" in reason["ErrorMessage"]
    assert reason["ErrorFunction"] == FakeLambdaContext().function_name
    assert reason["SourceMessageId"] == malformed["messageId"]
    assert reason["SourceQueue"] == malformed["eventSourceARN"].rsplit(":", 1)[-1]
    logged = [r for r in handler_logs.records if "copied to the DLQ" in r.getMessage()]
    assert len(logged) == 1
    assert getattr(logged[0], "message_id", None) == malformed["messageId"]
    assert getattr(logged[0], "field", None) == "name"


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("Ada\r\nYour account is locked: call us", "control characters"),
        ("Ada \u202emoc.elgoog", "bidirectional"),
        ("Ada\u200b", "invisible"),
        ("<a href='https://evil.example'>Ada</a>", "markup"),
        ("Ada, verify at bank.com/verify", "web address"),
        ("Ada https://evil.example", "link"),
    ],
)
def test_a_hostile_name_is_dead_lettered_and_never_sent(
    sent_emails: list[Any], handler_logs: pytest.LogCaptureFixture, name: str, rule: str
) -> None:
    event = copy.deepcopy(load_event("welcome_email_batch"))
    hostile = event["Records"][0]
    hostile["body"] = json.dumps({**json.loads(hostile["body"]), "name": name})

    response = invoke(event)

    # Not dropped: copied to WelcomeEmailDeadLetterQueue with its reason, then acknowledged.
    assert response == {"batchItemFailures": []}
    assert json.loads(hostile["body"])["email"] not in recipients(sent_emails)
    assert len(sent_emails) == len(event["Records"]) - 1
    [dead_letter] = dead_letters(WELCOME_EMAIL_ENV["DEAD_LETTER_QUEUE_URL"])
    reason = {n: v["StringValue"] for n, v in dead_letter["MessageAttributes"].items()}
    assert reason["ErrorType"] == InvalidWelcomeEmailJob.__name__
    assert "name: must not contain" in reason["ErrorMessage"]
    assert rule in reason["ErrorMessage"]
    assert name not in json.dumps(reason, ensure_ascii=False)


def test_ses_throttling_fails_only_that_record(
    sent_emails: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    event = load_event("welcome_email_batch")
    grace = next(r for r in event["Records"] if "grace@example.com" in r["body"])

    with throttle_ses_send_email(monkeypatch, {"grace@example.com"}) as attempts:
        response = invoke(event)

    assert response == {"batchItemFailures": [{"itemIdentifier": grace["messageId"]}]}
    assert recipients(sent_emails) == ["ada@example.com", "katherine@example.com"]
    # The SDK's standard retry mode tried three times before the record gave up.
    assert attempts["grace@example.com"] == 3
    assert attempts["ada@example.com"] == 1


def test_a_batch_where_every_record_fails_returns_them_all_and_is_no_function_error(
    sent_emails: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # SES rejects an unverified sender (MessageRejected, not retried by the SDK).
    monkeypatch.setenv("SENDER_EMAIL_ADDRESS", "nobody@unverified.example.com")
    event = load_event("welcome_email_batch")

    response = invoke(event)

    assert [failure["itemIdentifier"] for failure in response["batchItemFailures"]] == [
        record["messageId"] for record in event["Records"]
    ]

    assert sent_emails == []


def test_ses_throttling_is_not_copied_to_the_dlq(
    sent_emails: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    event = load_event("welcome_email_batch")
    grace = next(r for r in event["Records"] if "grace@example.com" in r["body"])

    with throttle_ses_send_email(monkeypatch, {"grace@example.com"}):
        response = invoke(event)

    assert response == {"batchItemFailures": [{"itemIdentifier": grace["messageId"]}]}
    assert dead_letters(WELCOME_EMAIL_ENV["DEAD_LETTER_QUEUE_URL"]) == []


def test_a_malformed_record_whose_copy_fails_is_reported_failed(
    sent_emails: list[Any], ses: Any
) -> None:
    event = load_event("welcome_email_batch_with_malformed_record")
    malformed = event["Records"][1]

    def refuse(**_: Any) -> None:
        raise ConnectionError("connection dropped before SQS answered")

    client = app.poison_router()._sqs
    client.meta.events.register("before-call.sqs.SendMessage", refuse)
    try:
        response = invoke(event)
    finally:
        client.meta.events.unregister("before-call.sqs.SendMessage", refuse)

    # Not acknowledged: SQS redelivers it (then, at worst, dead-letters it after 5 receives).
    assert response == {"batchItemFailures": [{"itemIdentifier": malformed["messageId"]}]}
    assert recipients(sent_emails) == ["barbara@example.com", "margaret@example.com"]
    assert dead_letters(WELCOME_EMAIL_ENV["DEAD_LETTER_QUEUE_URL"]) == []


def test_a_missing_dead_letter_queue_url_fails_the_invocation(
    ses: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEAD_LETTER_QUEUE_URL")

    with pytest.raises(ConfigurationError, match="DEAD_LETTER_QUEUE_URL"):
        invoke(load_event("welcome_email_batch"))
