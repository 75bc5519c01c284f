"""Signing up: create the account (idempotent per email) and persist its jobs.

The guarantees:
- The first charge is at-least-once delivered and exactly-once in effect: its transaction
  ID is derived from the account ID, so however often a signup is retried, every charge
  message for an account carries the same ID, and billing recognises the duplicates.
- Both jobs are put on their queues on every call, even when the account already existed
  (an earlier attempt may have crashed between creating the account and enqueueing), and
  before `sign_up` returns: a caller that saw success knows the jobs are stored.
- The welcome email is at-least-once (a queued job; it may be sent twice) or at-most-once
  (one direct attempt, made only by the call that created the account, so a retried
  signup can never send it again; if that attempt fails or the call crashes first, the
  email is lost). The mode is fixed when the account is created; retries honour it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import ValidationError

from delivery_guarantees.adapters.accounts_store import AccountsStore
from delivery_guarantees.adapters.email_sender import EmailSender
from delivery_guarantees.adapters.job_queue import JobQueue
from delivery_guarantees.config import SignupSettings, WelcomeEmailDelivery
from delivery_guarantees.models import (
    Account,
    ChargeRequest,
    SignupRequest,
    WelcomeEmailJob,
    describe_problems,
    validation_problems,
)
from delivery_guarantees.welcome_email import send_welcome_email_at_most_once

logger = logging.getLogger(__name__)


class InvalidSignupRequest(ValueError):
    """The request body is not a valid signup; `field` names the first bad field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class AccountConflictError(ValueError):
    """The email already has an account with different details: not a retry of its signup."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class WelcomeEmailOutcome(StrEnum):
    ENQUEUED = "enqueued"  # at-least-once: the job is on WelcomeEmailQueue
    SENT = "sent"  # at-most-once: the one attempt succeeded
    DROPPED = "dropped"  # at-most-once: the one attempt failed; logged, not retried
    NOT_RESENT = "not-resent"  # at-most-once: a retry; the creating call owned the attempt


@dataclass(frozen=True)
class SignupResult:
    account: Account
    created: bool
    first_charge_transaction_id: str
    welcome_email_delivery: WelcomeEmailDelivery
    welcome_email: WelcomeEmailOutcome


def parse_signup_request(body: str | None) -> SignupRequest:
    """Parse a POST /accounts body; raise `InvalidSignupRequest` naming the offending field."""
    if not body:
        raise InvalidSignupRequest("body", "request body is empty: expected a JSON object")
    try:
        return SignupRequest.model_validate_json(body)
    except ValidationError as error:
        problems = validation_problems(error)
        raise InvalidSignupRequest(
            problems[0][0], f"invalid signup request: {describe_problems(problems)}"
        ) from None


def normalise_email(email: str) -> str:
    # One account per mailbox regardless of how the address was typed.
    return email.strip().lower()


def new_account_id() -> str:
    return f"acc_{uuid.uuid4().hex}"


def first_charge_transaction_id(account_id: str) -> str:
    """The signup charge's ID: a function of the account alone, so retries cannot mint another."""
    return f"txn_signup_{account_id}"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def sign_up(
    request: SignupRequest,
    accounts: AccountsStore,
    jobs: JobQueue,
    email_sender: EmailSender,
    settings: SignupSettings,
    *,
    make_account_id: Callable[[], str] = new_account_id,
    now: Callable[[], datetime] = _utc_now,
) -> SignupResult:
    """Create or find the account, then persist its first charge and its welcome email.

    Raises `AccountConflictError` if the email belongs to an account with another name or
    payment method (nothing is enqueued then), and lets any store or queue error propagate
    so the caller never reports success for jobs that were not stored.
    """
    requested_delivery = (
        WelcomeEmailDelivery(request.welcome_email_delivery)
        if request.welcome_email_delivery is not None
        else settings.welcome_email_delivery
    )
    candidate = Account(
        account_id=make_account_id(),
        email=normalise_email(str(request.email)),
        name=request.name,
        payment_method=request.payment_method,
        created_at=now().isoformat(timespec="milliseconds"),
    )
    stored = accounts.create_if_absent(candidate, requested_delivery)
    account = stored.account
    if not stored.created:
        _ensure_same_signup(account, request)
        if requested_delivery is not stored.welcome_email_delivery:
            logger.info(
                "retried signup asked for another welcome-email guarantee; keeping the first",
                extra={
                    "account_id": account.account_id,
                    "requested": requested_delivery.value,
                    "kept": stored.welcome_email_delivery.value,
                },
            )

    charge = ChargeRequest(
        transaction_id=first_charge_transaction_id(account.account_id),
        account_id=account.account_id,
        amount=settings.signup_charge_amount,
        currency=settings.signup_charge_currency,
        payment_method=account.payment_method,
    )
    jobs.enqueue(settings.billing_queue_url, charge.model_dump(mode="json"))

    job = WelcomeEmailJob(account_id=account.account_id, email=account.email, name=account.name)
    if stored.welcome_email_delivery is WelcomeEmailDelivery.AT_LEAST_ONCE:
        jobs.enqueue(settings.welcome_email_queue_url, job.model_dump(mode="json"))
        outcome = WelcomeEmailOutcome.ENQUEUED
    elif stored.created:
        sent = send_welcome_email_at_most_once(job, email_sender)
        outcome = WelcomeEmailOutcome.SENT if sent is not None else WelcomeEmailOutcome.DROPPED
    else:
        outcome = WelcomeEmailOutcome.NOT_RESENT

    return SignupResult(
        account=account,
        created=stored.created,
        first_charge_transaction_id=charge.transaction_id,
        welcome_email_delivery=stored.welcome_email_delivery,
        welcome_email=outcome,
    )


def _ensure_same_signup(existing: Account, request: SignupRequest) -> None:
    # A retry repeats the request; different details mean a second person or a changed
    # mind, and answering 200 would silently ignore them (and charge the stored method).
    for field in ("name", "payment_method"):
        if getattr(existing, field) != getattr(request, field):
            raise AccountConflictError(
                field,
                f"an account already exists for {existing.email} with a different {field}",
            )
