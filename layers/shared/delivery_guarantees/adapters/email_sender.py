"""Sending email: the `EmailSender` protocol and its SES (v1 API) implementation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import boto3

if TYPE_CHECKING:
    from botocore.config import Config


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
            self._client = boto3.client("ses", config=self._client_config)
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
