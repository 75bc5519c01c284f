"""functions/welcome_email through its real entry point, on moto SES."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from delivery_guarantees.welcome_email import InvalidWelcomeEmailJob
from functions.welcome_email import app
from tests.support.events import load_event
from tests.unit.welcome_email.conftest import SENDER, listening_to
from tests.unit.welcome_email.fakes import FakeLambdaContext, throttle_ses_send_email


@pytest.fixture(autouse=True)
def fresh_sender() -> Iterator[None]:
    # The warm-container cache must not carry a client across tests (and moto mocks).
    app.email_sender.cache_clear()
    yield
    app.email_sender.cache_clear()


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


def test_a_malformed_record_fails_alone_and_is_logged_with_the_field(
    sent_emails: list[Any], handler_logs: pytest.LogCaptureFixture
) -> None:
    event = load_event("welcome_email_batch_with_malformed_record")
    malformed = event["Records"][1]
    assert "name" not in json.loads(malformed["body"])

    response = invoke(event)

    assert response == {"batchItemFailures": [{"itemIdentifier": malformed["messageId"]}]}
    assert recipients(sent_emails) == ["barbara@example.com", "margaret@example.com"]
    failures = [r for r in handler_logs.records if "welcome email failed" in r.getMessage()]
    assert len(failures) == 1
    assert getattr(failures[0], "message_id", None) == malformed["messageId"]
    assert failures[0].exc_info is not None
    assert "name: Field required" in str(failures[0].exc_info[1])


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
def test_a_hostile_name_fails_its_record_and_is_never_sent(
    sent_emails: list[Any], handler_logs: pytest.LogCaptureFixture, name: str, rule: str
) -> None:
    event = copy.deepcopy(load_event("welcome_email_batch"))
    hostile = event["Records"][0]
    hostile["body"] = json.dumps({**json.loads(hostile["body"]), "name": name})

    response = invoke(event)

    # Failed, not dropped: SQS redelivers it, then WelcomeEmailDeadLetterQueue keeps it.
    assert response == {"batchItemFailures": [{"itemIdentifier": hostile["messageId"]}]}
    assert json.loads(hostile["body"])["email"] not in recipients(sent_emails)
    assert len(sent_emails) == len(event["Records"]) - 1
    (failure,) = [r for r in handler_logs.records if "welcome email failed" in r.getMessage()]
    assert failure.exc_info is not None
    error = failure.exc_info[1]
    assert isinstance(error, InvalidWelcomeEmailJob)
    assert error.field == "name"
    assert "name: must not contain" in str(error)
    assert rule in str(error)


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


def test_a_batch_where_every_record_fails_raises_so_lambda_retries_it_whole(
    sent_emails: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # SES rejects an unverified sender (MessageRejected, not retried by the SDK).
    monkeypatch.setenv("SENDER_EMAIL_ADDRESS", "nobody@unverified.example.com")

    with pytest.raises(BatchProcessingError, match="MessageRejected"):
        invoke(load_event("welcome_email_batch"))

    assert sent_emails == []
