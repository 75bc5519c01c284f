"""Welcome emails: what they say, and the two ways of sending them.

`send_welcome_email` is the at-least-once consumer's step: any failure raises, so the
SQS record is retried (and may be sent twice). `send_welcome_email_at_most_once` makes one
attempt and swallows its failure: the email may be lost, but it is never repeated.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass

from pydantic import ValidationError

from delivery_guarantees.adapters.email_sender import EmailSender
from delivery_guarantees.models import WelcomeEmailJob, describe_problems, validation_problems

logger = logging.getLogger(__name__)

WELCOME_SUBJECT = "Welcome to Delivery Guarantees"


class InvalidWelcomeEmailJob(ValueError):
    """A queue message that is not a welcome-email job; `field` names the first bad field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class WelcomeEmail:
    to: str
    subject: str
    text_body: str
    html_body: str


def parse_welcome_email_job(body: str) -> WelcomeEmailJob:
    """Parse an SQS message body; raise `InvalidWelcomeEmailJob` naming the offending field."""
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


def send_welcome_email(job: WelcomeEmailJob, sender: EmailSender) -> str:
    """Send the welcome email and return its message ID; any failure propagates."""
    email = compose_welcome_email(job)
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
