"""Sending email: the `EmailSender` protocol and its SES (v1 API) implementation."""

from __future__ import annotations

from typing import Any, Protocol

import boto3
from botocore.config import Config

# SES answers SendEmail in well under a second: explicit timeouts so a stuck connection
# fails its record (or its signup) instead of running into the function's timeout. The
# callers pass their own retry policy (at-most-once allows no retry at all).
SES_CONNECT_TIMEOUT_SECONDS = 2.0
SES_READ_TIMEOUT_SECONDS = 5.0
SES_CLIENT_CONFIG = Config(
    connect_timeout=SES_CONNECT_TIMEOUT_SECONDS,
    read_timeout=SES_READ_TIMEOUT_SECONDS,
    retries={"mode": "standard", "total_max_attempts": 3},
)


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
