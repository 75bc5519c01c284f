"""SesEmailSender against moto SES."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from delivery_guarantees.adapters.email_sender import SesEmailSender
from tests.unit.welcome_email.conftest import SENDER


def test_sends_text_and_html_from_the_sender(ses: Any, sent_emails: list[Any]) -> None:
    message_id = SesEmailSender(SENDER, client=ses).send(
        "ada@example.com", "Hello", "plain text", "<p>html</p>"
    )

    (message,) = sent_emails
    assert message.id == message_id
    assert message.source == SENDER
    assert message.destinations["ToAddresses"] == ["ada@example.com"]
    assert message.subject == "Hello"


def test_text_only_is_allowed(ses: Any, sent_emails: list[Any]) -> None:
    SesEmailSender(SENDER, client=ses).send("ada@example.com", "Hello", "plain text")

    assert sent_emails[0].body == "plain text"


def test_an_unverified_sender_raises_the_ses_error(ses: Any, sent_emails: list[Any]) -> None:
    sender = SesEmailSender("stranger@example.org", client=ses)

    with pytest.raises(ClientError, match="MessageRejected"):
        sender.send("ada@example.com", "Hello", "text")
    assert sent_emails == []
