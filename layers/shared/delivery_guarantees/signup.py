"""Signing up: create the account (idempotent per email) and store its jobs exactly once.

The guarantees:
- The first charge is at-least-once delivered and exactly-once in effect: its transaction
  ID is derived from the account ID, so however often a signup is retried, every charge
  message for an account carries the same ID, and billing recognises the duplicates.
- The account row is the outbox of its jobs. Each job is enqueued, then recorded on the
  account (UpdateItem); a retry enqueues only the jobs not recorded yet. So twenty
  identical signups store one charge and one welcome job, yet an account stranded by a
  crash between creating it and enqueueing gets its jobs from the client's retry. A crash
  between enqueueing a job and recording it re-enqueues that job on the next retry: a
  duplicate the consumers tolerate, never a lost job.
- Every job is stored before `sign_up` returns: a caller that saw success knows they are.
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
from typing import Any

from pydantic import ValidationError

from delivery_guarantees.adapters.accounts_store import AccountsStore, StoredAccount
from delivery_guarantees.adapters.email_sender import EmailSender
from delivery_guarantees.adapters.job_queue import JobQueue
from delivery_guarantees.config import SignupSettings, WelcomeEmailDelivery
from delivery_guarantees.models import (
    Account,
    ChargeRequest,
    EnqueuedJob,
    SignupJob,
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
    ENQUEUED = "enqueued"  # at-least-once: the job is on WelcomeEmailQueue (this call or before)
    SENT = "sent"  # at-most-once: the one attempt succeeded
    DROPPED = "dropped"  # at-most-once: the one attempt failed; logged, not retried
    NOT_RESENT = "not-resent"  # at-most-once: a retry; the creating call owned the attempt


@dataclass(frozen=True)
class SignupResult:
    """What the signup found or created, and what this call stored.

    `jobs_enqueued` are the jobs this call put on their queues: all of them on a first
    signup, none on a retry of a completed one, the missing ones on a retry of a signup
    that failed half-way (or of an account written before the outbox existed).
    """

    account: Account
    created: bool
    first_charge_transaction_id: str
    welcome_email_delivery: WelcomeEmailDelivery
    welcome_email: WelcomeEmailOutcome
    jobs_enqueued: tuple[SignupJob, ...]


def parse_signup_request(body: str | None) -> SignupRequest:
    """Parse a POST /accounts body; raise `InvalidSignupRequest` naming the offending field."""
    if not body:
        raise InvalidSignupRequest("body", "request body is empty: expected a JSON object")
    try:
        return SignupRequest.from_json(body)
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
    """Create or find the account, then store each of its jobs that is not recorded yet.

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
        created_at=_timestamp(now),
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
    welcome = WelcomeEmailJob(account_id=account.account_id, email=account.email, name=account.name)
    outbox: dict[SignupJob, tuple[str, dict[str, Any]]] = {
        SignupJob.FIRST_CHARGE: (settings.billing_queue_url, charge.model_dump(mode="json"))
    }
    if stored.welcome_email_delivery is WelcomeEmailDelivery.AT_LEAST_ONCE:
        outbox[SignupJob.WELCOME_EMAIL] = (
            settings.welcome_email_queue_url,
            welcome.model_dump(mode="json"),
        )
    enqueued_now = _store_unrecorded_jobs(outbox, stored, accounts, jobs, now)

    if stored.welcome_email_delivery is WelcomeEmailDelivery.AT_LEAST_ONCE:
        outcome = WelcomeEmailOutcome.ENQUEUED
    elif stored.created:
        sent = send_welcome_email_at_most_once(welcome, email_sender)
        outcome = WelcomeEmailOutcome.SENT if sent is not None else WelcomeEmailOutcome.DROPPED
    else:
        outcome = WelcomeEmailOutcome.NOT_RESENT

    return SignupResult(
        account=account,
        created=stored.created,
        first_charge_transaction_id=charge.transaction_id,
        welcome_email_delivery=stored.welcome_email_delivery,
        welcome_email=outcome,
        jobs_enqueued=enqueued_now,
    )


def _store_unrecorded_jobs(
    outbox: dict[SignupJob, tuple[str, dict[str, Any]]],
    stored: StoredAccount,
    accounts: AccountsStore,
    jobs: JobQueue,
    now: Callable[[], datetime],
) -> tuple[SignupJob, ...]:
    """Enqueue each job the account does not record yet, then record it; in `outbox` order.

    Enqueue first, record second: a crash in between leaves the job unrecorded, so the
    next retry enqueues it again (a duplicate) rather than trusting a record of a job that
    never reached its queue (a loss). One UpdateItem per job, so a crash while storing the
    second job never makes a retry repeat the first.
    """
    enqueued_now: list[SignupJob] = []
    for job, (queue_url, body) in outbox.items():
        if job in stored.enqueued:
            continue
        message_id = jobs.enqueue(queue_url, body)
        accounts.record_enqueued(
            stored.account, job, EnqueuedJob(enqueued_at=_timestamp(now), message_id=message_id)
        )
        enqueued_now.append(job)
    if enqueued_now and not stored.created:
        # An earlier call created the account but did not record these jobs: it crashed
        # or timed out half-way, or the row predates the outbox attributes.
        logger.warning(
            "retried signup stored jobs an earlier attempt had not recorded",
            extra={
                "account_id": stored.account.account_id,
                "jobs_enqueued": [job.value for job in enqueued_now],
            },
        )
    return tuple(enqueued_now)


def _timestamp(now: Callable[[], datetime]) -> str:
    return now().isoformat(timespec="milliseconds")


def _ensure_same_signup(existing: Account, request: SignupRequest) -> None:
    # A retry repeats the request; different details mean a second person or a changed
    # mind, and answering 200 would silently ignore them (and charge the stored method).
    for field in ("name", "payment_method"):
        if getattr(existing, field) != getattr(request, field):
            raise AccountConflictError(
                field,
                f"an account already exists for {existing.email} with a different {field}",
            )
