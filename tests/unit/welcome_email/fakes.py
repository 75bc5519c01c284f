"""Test doubles shared by the welcome-email and signup tests.

In-memory fakes stand in for adapters in domain tests. `throttle_ses_send_email` injects
SES throttling at the HTTP layer (before moto answers), so the real SDK, its retry policy
and the real adapter all run and the error is the `ClientError` botocore itself raises.
"""

from __future__ import annotations

import io
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse


@dataclass
class SentEmail:
    to: str
    subject: str
    text_body: str
    html_body: str | None


@dataclass
class RecordingEmailSender:
    """Records every attempt; raises `fail_with` for the addresses in `fail_for` (all if None)."""

    fail_with: Exception | None = None
    fail_for: set[str] | None = None
    attempts: list[str] = field(default_factory=list)
    sent: list[SentEmail] = field(default_factory=list)

    def send(self, to: str, subject: str, text_body: str, html_body: str | None = None) -> str:
        self.attempts.append(to)
        if self.fail_with is not None and (self.fail_for is None or to in self.fail_for):
            raise self.fail_with
        self.sent.append(SentEmail(to, subject, text_body, html_body))
        return f"msg-{len(self.sent)}"


@dataclass
class FakeLambdaContext:
    function_name: str = "delivery-guarantees-test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:delivery-guarantees-test"
    )
    aws_request_id: str = "6f6d3b8e-1c2a-4f0e-9b7d-5a4c3e2f1d0b"
    log_group_name: str = "/aws/lambda/delivery-guarantees-test"
    log_stream_name: str = "2026/11/29/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class _RawBody(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.read()


_THROTTLING_XML = (
    '<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">'
    "<Error><Type>Sender</Type><Code>Throttling</Code>"
    "<Message>Maximum sending rate exceeded.</Message></Error>"
    "<RequestId>0e8a3f1c-7b2d-4c5e-9a1f-3d6b8e0c2a4f</RequestId></ErrorResponse>"
)


@contextmanager
def throttle_ses_send_email(
    monkeypatch: pytest.MonkeyPatch, recipients: set[str] | None = None
) -> Iterator[Counter[str]]:
    """Answer SES SendEmail to `recipients` (all if None) with HTTP 400 Throttling.

    Yields a counter of HTTP attempts per recipient, throttled or not. Applies to clients
    created from boto3's default session while active, which is how the functions create
    theirs lazily.
    """
    attempts: Counter[str] = Counter()

    def before_send(request: Any, **_: Any) -> AWSResponse | None:
        body = request.body or b""
        form = urllib.parse.parse_qs(body.decode() if isinstance(body, bytes) else body)
        to = form.get("Destination.ToAddresses.member.1", [""])[0]
        attempts[to] += 1
        if recipients is None or to in recipients:
            # botocore still calls every before-send handler, moto's included; moving the
            # request off any AWS host makes moto ignore it, so SES never sees the email.
            request.url = "https://throttled.invalid/"
            return AWSResponse(
                request.url, 400, {"Content-Type": "text/xml"}, _RawBody(_THROTTLING_XML.encode())
            )
        return None  # moto answers

    session = boto3.Session()
    # First, so it runs before moto's own before-send handler.
    session.events.register_first("before-send.ses.SendEmail", before_send)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
    yield attempts
