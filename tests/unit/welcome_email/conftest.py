"""Fixtures for the welcome-email tests: moto SES with a verified sender, captured logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses import ses_backends

SENDER = "welcome@delivery-guarantees.example.com"
REGION = "us-east-1"
DEAD_LETTER_QUEUE_NAME = "test-WelcomeEmailDeadLetterQueue"
# The function's environment, as template.yaml sets it (the DLQ URL is moto's for the name).
WELCOME_EMAIL_ENV = {
    "SENDER_EMAIL_ADDRESS": SENDER,
    "DEAD_LETTER_QUEUE_URL": f"https://sqs.{REGION}.amazonaws.com/123456789012/{DEAD_LETTER_QUEUE_NAME}",
}


@pytest.fixture
def ses(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto SES with the sender identity verified, WelcomeEmailDeadLetterQueue, and the
    function's settings in the env."""
    for name, value in WELCOME_EMAIL_ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("ses", region_name=REGION)
        client.verify_email_identity(EmailAddress=SENDER)
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName=DEAD_LETTER_QUEUE_NAME)["QueueUrl"]
        assert url == WELCOME_EMAIL_ENV["DEAD_LETTER_QUEUE_URL"]
        yield client


def dead_letters(queue_url: str) -> list[dict[str, Any]]:
    """Every message on a (moto) DLQ with its message attributes, consumed."""
    sqs = boto3.client("sqs", region_name=REGION)
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        messages += batch
        for message in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return messages


@pytest.fixture
def sent_emails(ses: Any) -> list[Any]:
    """The messages moto SES accepted (moto's documented inspection API)."""
    messages: list[Any] = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    return messages


@contextmanager
def listening_to(caplog: pytest.LogCaptureFixture, name: str) -> Iterator[None]:
    """Capture the records of logger `name` even when it does not propagate to the root.

    Powertools' Logger and copy_config_to_registered_loggers both turn propagation off,
    and caplog listens on the root logger.
    """
    target = logging.getLogger(name)
    propagate = target.propagate
    # Not also via the root logger: every record once, whichever module ran first.
    target.propagate = False
    target.addHandler(caplog.handler)
    try:
        yield
    finally:
        target.removeHandler(caplog.handler)
        target.propagate = propagate


@pytest.fixture
def domain_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Records logged by the delivery_guarantees package."""
    caplog.set_level(logging.INFO, logger="delivery_guarantees")
    with listening_to(caplog, "delivery_guarantees"):
        yield caplog
