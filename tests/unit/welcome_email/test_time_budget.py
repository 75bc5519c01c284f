"""The time budget: a stuck SES send never times out the whole batch of welcome emails.

The clock is simulated: a stuck send moves it forward by one send's worst case (what the
SES client's timeouts, attempts and back-offs allow) and fails as botocore's read timeout
would; the Lambda context's remaining time reads the same clock. No test waits.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from botocore.retries.standard import ExponentialBackoff, RetryContext

from delivery_guarantees.adapters.aws_retries import standard_mode_max_backoff_seconds
from delivery_guarantees.adapters.email_sender import (
    SES_CLIENT_CONFIG,
    SES_CONNECT_TIMEOUT_SECONDS,
    SES_MAX_ATTEMPTS,
    SES_READ_TIMEOUT_SECONDS,
    send_worst_case_seconds,
)
from delivery_guarantees.welcome_email import SEND_WORST_CASE_SECONDS, EmailDeferred
from functions.welcome_email import app
from tests.support.events import load_event
from tests.unit.welcome_email.conftest import WELCOME_EMAIL_ENV, dead_letters, listening_to
from tests.unit.welcome_email.fakes import FakeLambdaContext, RecordingEmailSender

# A Timeout with room for one send at its worst case (34 s) and the invocation's setup.
# template.yaml's 30 s has not: tests/unit/template's rule
# welcome_email_timeout_fits_the_time_budget says so.
FITTING_TIMEOUT_SECONDS = 40.0
# The demo's copy of the template divides every timeout by 10.
DEMO_TIMEOUT_SECONDS = 3.0
HEALTHY_SEND_SECONDS = 0.25  # exact in binary: the boundary test compares to the ms


@dataclass
class SimulatedInvocation:
    """A Lambda invocation whose remaining time follows a simulated clock."""

    timeout_seconds: float = FITTING_TIMEOUT_SECONDS
    elapsed: float = 0.0

    def context(self) -> Any:
        invocation = self

        class Context(FakeLambdaContext):
            def get_remaining_time_in_millis(self) -> int:
                return int((invocation.timeout_seconds - invocation.elapsed) * 1000)

        return Context()

    @property
    def timed_out(self) -> bool:
        return self.elapsed > self.timeout_seconds


@dataclass
class StuckSesSender:
    """The recording fake sender behind a network where the sends to `stuck` hang."""

    invocation: SimulatedInvocation
    stuck: set[str] = field(default_factory=set)
    inner: RecordingEmailSender = field(default_factory=RecordingEmailSender)

    def send(self, to: str, subject: str, text_body: str, html_body: str | None = None) -> str:
        if to in self.stuck:
            self.inner.attempts.append(to)
            # Every attempt stalls until its timeouts, every back-off is the longest.
            self.invocation.elapsed += send_worst_case_seconds()
            raise ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com/")
        self.invocation.elapsed += HEALTHY_SEND_SECONDS
        return self.inner.send(to, subject, text_body, html_body)

    @property
    def attempted(self) -> list[str]:
        return self.inner.attempts


def recipient(n: int) -> str:
    return f"person{n}@example.com"


def sqs_record(n: int, receive_count: int = 1) -> dict[str, Any]:
    """A WelcomeEmailQueue record shaped like events/welcome_email_batch.json's."""
    record: dict[str, Any] = copy.deepcopy(load_event("welcome_email_batch")["Records"][0])
    body = json.dumps(
        {"account_id": f"acc_budget_{n}", "email": recipient(n), "name": f"Person {n}"}
    )
    record["messageId"] = f"m-{n}"
    record["receiptHandle"] = f"AQEB-m-{n}-{receive_count}"
    record["body"] = body
    record["md5OfBody"] = hashlib.md5(body.encode(), usedforsecurity=False).hexdigest()
    record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
    return record


def batch_of_five(receive_count: int = 1) -> dict[str, Any]:
    return {"Records": [sqs_record(n, receive_count) for n in range(1, 6)]}


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def emitted_metrics(stdout: str) -> dict[str, float]:
    """Metric totals from the EMF lines Powertools Metrics prints when it flushes."""
    totals: dict[str, float] = {}
    for line in stdout.splitlines():
        entry = json.loads(line) if line.startswith("{") else {}
        for definition in (
            entry.get("_aws", {}).get("CloudWatchMetrics", [{}])[0].get("Metrics", [])
        ):
            value = entry[definition["Name"]]
            values = value if isinstance(value, list) else [value]
            totals[definition["Name"]] = totals.get(definition["Name"], 0) + sum(values)
    return totals


@pytest.fixture(autouse=True)
def fresh_poison_router(ses: Any) -> Iterator[None]:
    # moto SES and the DLQ with the function's env (ses fixture); no cached client across mocks.
    app.poison_router.cache_clear()
    yield
    app.poison_router.cache_clear()


@pytest.fixture(autouse=True)
def records_one_after_another(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests model the batch as records sent one after another on one simulated
    # clock: a stuck send moves it for every record after it, and the assertions name
    # which records were attempted in batch order. With records in parallel (the default,
    # RECORD_CONCURRENCY of BatchSize) the records after a stuck send would have started
    # beside it, before the clock moved. The parallel case, where each record checks the
    # deadline on the invocation's clock when it starts its send, is tested in
    # test_parallel_records.py (records queued behind stuck sends are deferred).
    monkeypatch.setenv("RECORD_CONCURRENCY", "1")


@pytest.fixture
def invocation() -> SimulatedInvocation:
    return SimulatedInvocation()


@pytest.fixture
def sender(invocation: SimulatedInvocation, monkeypatch: pytest.MonkeyPatch) -> StuckSesSender:
    stuck = StuckSesSender(invocation)
    monkeypatch.setattr(app, "email_sender", lambda: stuck)
    return stuck


def test_the_worst_case_of_a_send_is_the_arithmetic_of_the_client_config(
    sender: StuckSesSender,
) -> None:
    # 3 attempts x (2 s connect + 5 s read), then botocore's longest back-offs before
    # retries 1 and 2: 1 s and 2 s, each plus the 5 s an x-amz-retry-after header may add.
    assert (SES_CONNECT_TIMEOUT_SECONDS, SES_READ_TIMEOUT_SECONDS, SES_MAX_ATTEMPTS) == (2, 5, 3)
    assert SES_CLIENT_CONFIG.connect_timeout == SES_CONNECT_TIMEOUT_SECONDS
    assert SES_CLIENT_CONFIG.read_timeout == SES_READ_TIMEOUT_SECONDS
    assert SES_CLIENT_CONFIG.retries == {"mode": "standard", "total_max_attempts": 3}
    assert send_worst_case_seconds() == pytest.approx(3 * (2 + 5) + (1 + 5) + (2 + 5))
    assert send_worst_case_seconds() == pytest.approx(34.0)
    assert send_worst_case_seconds() == SEND_WORST_CASE_SECONDS

    # The handler guards with exactly that figure: with 34 s left a send starts, with a
    # healthy send's 0.25 s less it is deferred.
    boundary = SimulatedInvocation(timeout_seconds=34.0 + HEALTHY_SEND_SECONDS)
    sender.invocation = boundary
    event = {"Records": [sqs_record(1), sqs_record(2), sqs_record(3)]}

    response = app.lambda_handler(event, boundary.context())

    assert sender.attempted == [recipient(1), recipient(2)]
    assert failed_ids(response) == ["m-3"]


@pytest.mark.parametrize("retry", [1, 2, 5, 6])
def test_the_longest_back_off_is_the_installed_botocore_s(retry: int) -> None:
    # Full jitter at its top (random() -> 1), the throttling base scale, and a server
    # asking for far longer than botocore will add: the longest sleep before `retry`.
    class Throttled:
        def is_throttling_error_from_context(self, context: Any) -> bool:
            return True

    response = AWSResponse(
        "https://email.us-east-1.amazonaws.com/", 400, {"x-amz-retry-after": "3600000"}, None
    )
    backoff = ExponentialBackoff(random=lambda: 1.0, throttling_detector=Throttled())
    context = RetryContext(attempt_number=retry, http_response=response)

    assert backoff.delay_amount(context) == pytest.approx(standard_mode_max_backoff_seconds(retry))


def test_two_stuck_sends_defer_the_rest_of_the_batch_instead_of_timing_it_out(
    sender: StuckSesSender,
    invocation: SimulatedInvocation,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender.stuck = {recipient(2), recipient(3)}

    with listening_to(caplog, app.logger.name):
        response = app.lambda_handler(batch_of_five(), invocation.context())

    # Record 1 sent; record 2 stuck and failed; 3, 4 and 5 never reached SES.
    assert [email.to for email in sender.inner.sent] == [recipient(1)]
    assert sender.attempted == [recipient(1), recipient(2)]
    assert failed_ids(response) == ["m-2", "m-3", "m-4", "m-5"]
    assert not invocation.timed_out, f"{invocation.elapsed:.1f} s in a 40 s function"
    # Deferred, not poison: nothing on the DLQ; counted and logged apart from failures.
    assert dead_letters(WELCOME_EMAIL_ENV["DEAD_LETTER_QUEUE_URL"]) == []
    assert emitted_metrics(capsys.readouterr().out) == {
        "WelcomeEmailsSent": 1,
        "WelcomeEmailsFailed": 1,
        "WelcomeEmailsDeferred": 3,
    }
    deferred = [r for r in caplog.records if "deferred" in r.getMessage()]
    assert [getattr(r, "message_id", None) for r in deferred] == ["m-3", "m-4", "m-5"]
    assert {r.levelname for r in deferred} == {"WARNING"}
    # The reason says how much time was left and how much a send needs.
    assert getattr(deferred[0], "reason", "") == str(EmailDeferred(40.0 - 0.25 - 34.0, 34.0))
    assert "5.8 s of the invocation left, one email send needs up to 34.0 s" in str(
        getattr(deferred[0], "reason", "")
    )


def test_a_stuck_first_send_defers_every_record_after_it(
    sender: StuckSesSender, invocation: SimulatedInvocation
) -> None:
    sender.stuck = {recipient(1)}

    response = app.lambda_handler(batch_of_five(), invocation.context())

    assert sender.attempted == [recipient(1)]
    assert sender.inner.sent == []
    assert failed_ids(response) == ["m-1", "m-2", "m-3", "m-4", "m-5"]
    assert not invocation.timed_out


def test_deferred_records_are_sent_on_their_redelivery(
    sender: StuckSesSender, invocation: SimulatedInvocation
) -> None:
    sender.stuck = {recipient(2), recipient(3)}
    first = app.lambda_handler(batch_of_five(), invocation.context())
    assert failed_ids(first) == ["m-2", "m-3", "m-4", "m-5"]

    # SES recovers; SQS redelivers the failed records in a new invocation.
    sender.stuck = set()
    redelivery = SimulatedInvocation()
    sender.invocation = redelivery
    again = {"Records": [sqs_record(n, receive_count=2) for n in (2, 3, 4, 5)]}
    second = app.lambda_handler(again, redelivery.context())

    assert failed_ids(second) == []
    assert sorted(email.to for email in sender.inner.sent) == [recipient(n) for n in range(1, 6)]


def test_the_guard_stands_aside_for_an_invocation_that_starts_short_and_only_for_it(
    sender: StuckSesSender,
) -> None:
    # The demo's 3 s Timeout: were the guard to insist on 34 s, no email could ever be sent.
    short = SimulatedInvocation(timeout_seconds=DEMO_TIMEOUT_SECONDS)
    sender.invocation = short
    assert failed_ids(app.lambda_handler(batch_of_five(), short.context())) == []
    assert len(sender.inner.sent) == 5

    # The next invocation of the same warm container starts with room: guarded again.
    fitting = SimulatedInvocation()
    sender.invocation = fitting
    sender.stuck = {recipient(1)}
    response = app.lambda_handler(batch_of_five(receive_count=2), fitting.context())

    assert failed_ids(response) == ["m-1", "m-2", "m-3", "m-4", "m-5"]
    assert len(sender.inner.sent) == 5  # nothing more: records 2 to 5 were deferred
