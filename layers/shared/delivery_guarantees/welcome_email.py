"""Welcome emails: what they say, and the two ways of sending them.

`send_welcome_email` is the at-least-once consumer's step: any failure raises, so the
SQS record is retried (and may be sent twice). `send_welcome_email_at_most_once` makes one
attempt and swallows its failure: the email may be lost, but it is never repeated.

`SendDeadline` is the consumer's time budget: a send starts only while the invocation has
time left for one send at its worst case, so a stuck SES call fails its own record and
defers the rest of the batch instead of timing out the whole invocation.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from delivery_guarantees.adapters.email_sender import EmailSender, send_worst_case_seconds

if TYPE_CHECKING:
    from delivery_guarantees.models import WelcomeEmailJob

logger = logging.getLogger(__name__)

WELCOME_SUBJECT = "Welcome to Delivery Guarantees"
# One send through the consumer's SES client (adapters/email_sender.SES_CLIENT_CONFIG) at
# its worst case: 34 s with the defaults. The template rule
# `welcome_email_timeout_fits_the_time_budget` (tests/unit/template) checks it against
# WelcomeEmailFunction's Timeout.
SEND_WORST_CASE_SECONDS = send_worst_case_seconds()


class InvalidWelcomeEmailJob(ValueError):
    """A queue message that is not a welcome-email job; `field` names the first bad field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class EmailDeferred(RuntimeError):
    """Too little of the invocation is left for one send at its worst case.

    Transient: nothing was sent; the record fails and SQS redelivers it. Never poison.
    """

    transient: ClassVar[bool] = True

    def __init__(self, seconds_left: float, seconds_needed: float) -> None:
        super().__init__(
            f"{seconds_left:.1f} s of the invocation left, one email send needs up to "
            f"{seconds_needed:.1f} s: deferred to a redelivery, nothing was sent"
        )
        self.seconds_left = seconds_left
        self.seconds_needed = seconds_needed


class SendDeadline:
    """Starts a send only while the invocation's remaining time covers one send's worst case.

    `start` once per invocation with the invocation's clock, then `check` before each send.
    A record that finds less time left fails with `EmailDeferred` and is redelivered; the
    records sent before it stay sent (a timed-out invocation would return the whole batch
    and count as a function error).

    When the invocation starts with less than one send needs (a Timeout shorter than the
    budget, such as the demo's copy of the template with every timeout divided by 10), no
    send could ever start: the guard stands aside for that invocation and the Lambda
    timeout is the limit, as without it. Billing's `TimeBudget` does the same.
    """

    def __init__(self, send_seconds: float = SEND_WORST_CASE_SECONDS) -> None:
        self.send_seconds = send_seconds
        self._time_left: Callable[[], float] | None = None

    def start(self, time_left: Callable[[], float]) -> None:
        """Begin an invocation; `time_left` returns the seconds it has left."""
        self._time_left = time_left if time_left() >= self.send_seconds else None

    @property
    def holds(self) -> bool:
        """Whether this invocation is guarded (it started with time for one send)."""
        return self._time_left is not None

    def check(self) -> None:
        """Raise `EmailDeferred` if a send started now might outlast the invocation."""
        if self._time_left is None:
            return
        left = self._time_left()
        if left < self.send_seconds:
            raise EmailDeferred(left, self.send_seconds)


@dataclass(frozen=True)
class WelcomeEmail:
    to: str
    subject: str
    text_body: str
    html_body: str


def parse_welcome_email_job(body: str) -> WelcomeEmailJob:
    """Parse an SQS message body; raise `InvalidWelcomeEmailJob` naming the offending field."""
    # On first use, not at import: pydantic and the message models cost ~90 ms of cold start.
    from pydantic import ValidationError

    from delivery_guarantees.models import WelcomeEmailJob, describe_problems, validation_problems

    try:
        return WelcomeEmailJob.from_json(body)
    except ValidationError as error:
        problems = validation_problems(error)
        raise InvalidWelcomeEmailJob(
            problems[0][0], f"invalid welcome-email job: {describe_problems(problems)}"
        ) from None


def compose_welcome_email(job: WelcomeEmailJob) -> WelcomeEmail:
    """The email for `job`. Customer text goes only where it cannot become markup or headers.

    - Subject: fixed, no customer text at all (a subject is a header and a phishing lure).
    - Text body: plain text (SES sends it as text/plain, never rendered as HTML); the name
      cannot forge lines or links because `PersonName` refused control characters, bidi
      controls, URLs and host names before the job existed.
    - HTML body: every value is HTML-escaped, including quotes, whatever validation let in.
    """
    text_body = f"Hello {job.name},\n\nYour account {job.account_id} is ready. Welcome aboard!\n"
    # The name comes from the signup form: escape it before it goes into HTML.
    html_body = (
        f"<p>Hello {html.escape(job.name)},</p>"
        f"<p>Your account <code>{html.escape(job.account_id)}</code> is ready. Welcome aboard!</p>"
    )
    return WelcomeEmail(
        to=str(job.email), subject=WELCOME_SUBJECT, text_body=text_body, html_body=html_body
    )


def send_welcome_email(
    job: WelcomeEmailJob, sender: EmailSender, deadline: SendDeadline | None = None
) -> str:
    """Send the welcome email and return its message ID; any failure propagates.

    With a `deadline`, nothing is sent when too little time is left (`EmailDeferred`).
    """
    email = compose_welcome_email(job)
    if deadline is not None:
        deadline.check()
    return sender.send(email.to, email.subject, email.text_body, email.html_body)


def send_welcome_email_at_most_once(job: WelcomeEmailJob, sender: EmailSender) -> str | None:
    """One attempt. On failure: log, return None, never retry (that is the guarantee).

    The sender must not retry on its own either: an SDK retry after a timeout could send
    a second copy of an email SES had already accepted.
    """
    try:
        return send_welcome_email(job, sender)
    except Exception:
        # Deliberately broad: at-most-once drops the email whatever went wrong, but says so.
        logger.exception(
            "at-most-once welcome email attempt failed; dropped, not retried",
            extra={"account_id": job.account_id},
        )
        return None
