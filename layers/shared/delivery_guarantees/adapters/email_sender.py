"""Sending email: the `EmailSender` protocol and its SES (v1 API) implementation."""

from __future__ import annotations

from typing import Any, Protocol

import boto3
from botocore.config import Config

from delivery_guarantees.adapters.aws_retries import call_worst_case_seconds

# SES answers SendEmail in well under a second: explicit timeouts so a stuck connection
# fails its record (or its signup) instead of running into the function's timeout. The
# callers pass their own retry policy (at-most-once allows no retry at all); the default
# is the at-least-once consumer's (WelcomeEmailFunction): a few quick SDK retries absorb a
# throttling blip, beyond that SQS redelivers the record.
SES_CONNECT_TIMEOUT_SECONDS = 2.0
SES_READ_TIMEOUT_SECONDS = 5.0
SES_MAX_ATTEMPTS = 3


def ses_client_config(total_max_attempts: int = SES_MAX_ATTEMPTS) -> Config:
    """The SES client's timeouts and retries; `send_worst_case_seconds` reads them back."""
    return Config(
        connect_timeout=SES_CONNECT_TIMEOUT_SECONDS,
        read_timeout=SES_READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": total_max_attempts},
    )


SES_CLIENT_CONFIG = ses_client_config()


def send_worst_case_seconds(config: Config = SES_CLIENT_CONFIG) -> float:
    """The longest one `SesEmailSender.send` can take with the client built from `config`.

    Every attempt stalls just short of its connect and read timeouts, and every back-off
    between attempts is botocore's longest. Read from the same `Config` the client is built
    with, so the figure follows any change of timeouts or attempts. With the defaults:
    3 x (2 s + 5 s) + (1 s + 5 s) + (2 s + 5 s) = 34 s.
    """
    return call_worst_case_seconds(config)


class EmailSender(Protocol):
    def send(self, to: str, subject: str, text_body: str, html_body: str | None = None) -> str:
        """Send one email and return the provider's message ID. Raises on any failure."""
        ...


class SesEmailSender:
    """Sends through SES `SendEmail` from a verified sender identity.

    Every `ClientError` (throttling included) propagates: the caller decides whether the
    failure fails an SQS record (at-least-once) or is logged and dropped (at-most-once).
    """

    def __init__(
        self, sender_address: str, client: Any | None = None, client_config: Config | None = None
    ) -> None:
        self._sender_address = sender_address
        self._client = client
        self._client_config = client_config

    @property
    def _ses(self) -> Any:
        # Created on first use, never at import, so tests and cold starts stay cheap.
        if self._client is None:
            config = SES_CLIENT_CONFIG
            if self._client_config is not None:
                config = config.merge(self._client_config)
            self._client = boto3.client("ses", config=config)
        return self._client

    def send(self, to: str, subject: str, text_body: str, html_body: str | None = None) -> str:
        body: dict[str, dict[str, str]] = {"Text": {"Data": text_body, "Charset": "UTF-8"}}
        if html_body is not None:
            body["Html"] = {"Data": html_body, "Charset": "UTF-8"}
        response = self._ses.send_email(
            Source=self._sender_address,
            Destination={"ToAddresses": [to]},
            Message={"Subject": {"Data": subject, "Charset": "UTF-8"}, "Body": body},
        )
        message_id: str = response["MessageId"]
        return message_id
