"""The welcome-email domain: content, parsing, and the two sending guarantees (fakes only)."""

from __future__ import annotations

import json

import pytest

from delivery_guarantees.models import WelcomeEmailJob
from delivery_guarantees.welcome_email import (
    WELCOME_SUBJECT,
    InvalidWelcomeEmailJob,
    compose_welcome_email,
    parse_welcome_email_job,
    send_welcome_email,
    send_welcome_email_at_most_once,
)
from tests.unit.welcome_email.fakes import RecordingEmailSender

JOB = WelcomeEmailJob(account_id="acc_1", email="ada@example.com", name="Ada Lovelace")


def test_compose_addresses_the_job() -> None:
    email = compose_welcome_email(JOB)

    assert email.to == "ada@example.com"
    assert email.subject == WELCOME_SUBJECT
    assert email.text_body.startswith("Hello Ada Lovelace,\n")
    assert "acc_1" in email.text_body
    assert "<p>Hello Ada Lovelace,</p>" in email.html_body


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("Ada & Charles", "Ada &amp; Charles"),
        ("Ada &lt;b&gt;", "Ada &amp;lt;b&amp;gt;"),  # an entity is shown, never decoded
        ('Grace "Amazing Grace" Hopper', "Grace &quot;Amazing Grace&quot; Hopper"),
        ("O'Brien", "O&#x27;Brien"),
    ],
)
def test_a_name_that_passes_validation_cannot_inject_markup(name: str, escaped: str) -> None:
    email = compose_welcome_email(JOB.model_copy(update={"name": name}))

    assert f"<p>Hello {escaped},</p>" in email.html_body
    assert email.subject == WELCOME_SUBJECT  # no customer text in the header
    # Plain text is sent as text/plain: shown as typed, on its one line.
    assert email.text_body.splitlines()[0] == f"Hello {name},"


def test_compose_escapes_html_even_for_a_job_that_skipped_validation() -> None:
    # Defence in depth: the HTML body escapes whatever it is given.
    job = WelcomeEmailJob.model_construct(
        account_id='acc_1"><script>x</script>',
        email="ada@example.com",
        name="Ada <b>Lovelace</b>",
    )

    email = compose_welcome_email(job)

    assert "Ada &lt;b&gt;Lovelace&lt;/b&gt;" in email.html_body
    assert "&lt;script&gt;" in email.html_body
    assert "<b>" not in email.html_body
    assert "<script>" not in email.html_body
    assert email.subject == WELCOME_SUBJECT


def test_send_welcome_email_returns_the_message_id() -> None:
    sender = RecordingEmailSender()

    assert send_welcome_email(JOB, sender) == "msg-1"
    assert [(s.to, s.subject) for s in sender.sent] == [("ada@example.com", WELCOME_SUBJECT)]
    assert sender.sent[0].html_body is not None


def test_send_welcome_email_lets_a_failure_propagate_so_the_record_is_retried() -> None:
    sender = RecordingEmailSender(fail_with=RuntimeError("SES is down"))

    with pytest.raises(RuntimeError, match="SES is down"):
        send_welcome_email(JOB, sender)


def test_at_most_once_makes_one_attempt_logs_the_failure_and_drops_it(
    domain_logs: pytest.LogCaptureFixture,
) -> None:
    sender = RecordingEmailSender(fail_with=RuntimeError("SES is down"))

    assert send_welcome_email_at_most_once(JOB, sender) is None

    assert sender.attempts == ["ada@example.com"]
    dropped = [r for r in domain_logs.records if "dropped, not retried" in r.getMessage()]
    assert len(dropped) == 1
    assert dropped[0].levelname == "ERROR"
    assert dropped[0].exc_info is not None
    assert getattr(dropped[0], "account_id", None) == "acc_1"


def test_at_most_once_returns_the_message_id_on_success() -> None:
    sender = RecordingEmailSender()

    assert send_welcome_email_at_most_once(JOB, sender) == "msg-1"
    assert sender.attempts == ["ada@example.com"]


def test_parse_accepts_the_documented_message() -> None:
    body = json.dumps({"account_id": "acc_3f1c", "email": "ada@example.com", "name": "Ada"})

    assert parse_welcome_email_job(body) == WelcomeEmailJob(
        account_id="acc_3f1c", email="ada@example.com", name="Ada"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"account_id": "acc_1", "email": "ada@example.com"}', "name"),
        ('{"account_id": "acc_1", "email": "not-an-email", "name": "Ada"}', "email"),
        ('{"account_id": "", "email": "ada@example.com", "name": "Ada"}', "account_id"),
        ('{"account_id": "acc_1", "email": "ada@example.com", "name": 7}', "name"),
        ('{"account_id": "acc_1", "email": "a@example.com", "name": "Ada\\nhi"}', "name"),
        ('{"account_id": "acc_1", "email": "a@example.com", "name": "A\\u202eB"}', "name"),
        ('{"account_id": "acc_1", "email": "a@example.com", "name": "<b>Ada</b>"}', "name"),
        ('{"account_id": "acc_1", "email": "a@example.com", "name": "bank.com/verify"}', "name"),
        ('{"account_id": "acc_1\\nhi", "email": "a@example.com", "name": "Ada"}', "account_id"),
        ('{"account_id": "acc_1", "email": "a@example.com", "name": "A", "cc": "x"}', "cc"),
        ("{not json", "body"),
        ("[]", "body"),
    ],
)
def test_parse_names_the_offending_field(body: str, field: str) -> None:
    with pytest.raises(InvalidWelcomeEmailJob) as raised:
        parse_welcome_email_job(body)

    assert raised.value.field == field
    assert field in str(raised.value)
