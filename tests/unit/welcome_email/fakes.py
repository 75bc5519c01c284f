"""Test doubles shared by the welcome-email and signup tests.

In-memory fakes stand in for adapters in domain tests. `throttle_ses_send_email` injects
SES throttling at the HTTP layer (before moto answers), so the real SDK, its retry policy
and the real adapter all run and the error is the `ClientError` botocore itself raises.
"""

from __future__ import annotations

import copy
import io
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
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


class CallProbe:
    """Calls in flight across threads: the most at once, the order they started and ended.

    Records run in parallel (delivery_guarantees.batch); a probe around a fake's call says
    how many were in flight together without timing anything.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.in_flight = 0
        self.max_in_flight = 0
        self.started: list[str] = []
        self.ended: list[str] = []
        self.log: list[tuple[str, str]] = []  # ("start" or "end", name), as they happened

    @contextmanager
    def call(self, name: str) -> Iterator[None]:
        with self._changed:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.started.append(name)
            self.log.append(("start", name))
            self._changed.notify_all()
        try:
            yield
        finally:
            with self._changed:
                self.in_flight -= 1
                self.ended.append(name)
                self.log.append(("end", name))
                self._changed.notify_all()

    def wait_ended(self, name: str, timeout: float) -> bool:
        """Wait until the call `name` has ended; False after `timeout` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: name in self.ended, timeout)

    def wait_for(self, in_flight: int, timeout: float) -> bool:
        """Wait until `in_flight` calls have been in flight together (at any moment, so a
        call that ends meanwhile cannot hide it); False after `timeout` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: self.max_in_flight >= in_flight, timeout)

    def hold_first(self, n: int, until_in_flight: int, wait: float) -> Callable[[Any], None]:
        """A fake's `hold` for the first `n` calls: each waits (up to `wait` seconds) until
        `until_in_flight` calls are in flight together."""
        held = iter(range(n))
        lock = threading.Lock()

        def hold(_: Any) -> None:
            with lock:
                mine = next(held, None)
            if mine is not None:
                self.wait_for(until_in_flight, wait)

        return hold

    def hold_at_the_bound(self, bound: int, wait: float) -> Callable[[Any], None]:
        """A fake's `hold` for every call: wait until `bound` calls are in flight, then
        briefly for one more, which would show here (and in `max_in_flight`) were the bound
        not kept."""

        def hold(_: Any) -> None:
            self.wait_for(bound, wait)
            self.wait_for(bound + 1, 0.2)

        return hold


@dataclass
class ConcurrentEmailSender:
    """SES behind a network, safe to call from several threads at once.

    Each send is one call in flight on `probe`; it takes `latency` seconds, calls `hold`
    (if set) with the recipient while in flight, then raises `fail_with` for the
    recipients in `fail_for`, or is accepted: recorded in `sent`, in the order SES
    accepted them.
    """

    latency: float = 0.0
    hold: Callable[[str], None] | None = None
    fail_for: set[str] = field(default_factory=set)
    fail_with: BaseException = field(default_factory=lambda: RuntimeError("SES is down"))
    probe: CallProbe = field(default_factory=CallProbe)
    sent: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, to: str, subject: str, text_body: str, html_body: str | None = None) -> str:
        with self.probe.call(to):
            if self.latency:
                time.sleep(self.latency)
            if self.hold is not None:
                self.hold(to)
            if to in self.fail_for:
                raise copy.copy(self.fail_with)  # one exception (and traceback) per send
            with self._lock:
                self.sent.append(to)
                return f"msg-{len(self.sent)}"
