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

What the caller learns (docs/design.md, "Signup answers reveal nothing"): the account
(name, payment method) is given only to the caller that created it, and on a retry only
to the holder of the first request's `Idempotency-Key` (stored as its SHA-256 digest).
Anyone else who signs up with a taken address gets the same 409 whatever details they
sent, nothing they sent is stored, and the account holder is told by email instead, at
most once a day. Whatever the answer, the account's own unrecorded jobs are completed
first, with the account's details, never the request's.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from delivery_guarantees.adapters.accounts_store import AccountsStore, StoredAccount
from delivery_guarantees.adapters.email_sender import EmailSender
from delivery_guarantees.adapters.job_queue import JobQueue
from delivery_guarantees.config import SignupSettings, WelcomeEmailDelivery
from delivery_guarantees.records import Account, EnqueuedJob, SignupJob
from delivery_guarantees.welcome_email import send_welcome_email_at_most_once

if TYPE_CHECKING:
    from delivery_guarantees.models import SignupRequest

logger = logging.getLogger(__name__)


class InvalidSignupRequest(ValueError):
    """The request is not a valid signup; `field` names the first bad field (or header)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX_LENGTH = 255  # Stripe's limit for the same header
_IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]+")  # fullmatch: printable ASCII, space included

EMAIL_TAKEN_MESSAGE = "an account with this email address already exists"
IDEMPOTENCY_KEY_REUSED_MESSAGE = (
    "this Idempotency-Key was used for another request: a retry must repeat the first "
    "request's email, name, payment_method and welcome_email_delivery; a new signup needs "
    "a new key"
)
SIGNUP_NOTICE_INTERVAL = timedelta(hours=24)
SIGNUP_NOTICE_SUBJECT = "Someone tried to sign up with your email address"
SIGNUP_NOTICE_TEXT = (
    "Hello,\n\n"
    "Someone just tried to create a Delivery Guarantees account with this email address, "
    "which already has an account. No second account was created, and nothing they sent "
    "was stored or changed in yours.\n\n"
    "If it was you, you already have an account: there is no need to sign up again.\n"
    "If it was not you, you can ignore this email.\n\n"
    "We send this notice at most once a day.\n"
)


class EmailTakenError(ValueError):
    """The email already has an account and the request does not hold its idempotency key.

    Answered 409 with the same bytes whatever the request's other details: a caller who
    is not the account's creator learns that the address is taken, nothing more. `notice`
    says what became of the email telling the account holder (for logs and metrics only).
    """

    field = "email"

    def __init__(self, account_id: str, notice: SignupNoticeOutcome) -> None:
        super().__init__(EMAIL_TAKEN_MESSAGE)
        self.account_id = account_id
        self.notice = notice


class IdempotencyKeyReusedError(ValueError):
    """The request holds the account's idempotency key but differs from the first request.

    Only the key's holder can get this answer (422), so it tells nobody else anything.
    """

    field = IDEMPOTENCY_KEY_HEADER

    def __init__(self, account_id: str, differing: tuple[str, ...]) -> None:
        super().__init__(IDEMPOTENCY_KEY_REUSED_MESSAGE)
        self.account_id = account_id
        self.differing = differing


class SignupNoticeOutcome(StrEnum):
    SENT = "sent"  # this attempt claimed the day's notice and SES accepted it
    FAILED = "failed"  # claimed, but the claim or the send failed: logged, not retried
    NOT_DUE = "not-due"  # a notice was claimed in the last 24 hours


class WelcomeEmailOutcome(StrEnum):
    ENQUEUED = "enqueued"  # at-least-once: the job is on WelcomeEmailQueue (this call or before)
    SENT = "sent"  # at-most-once: the one attempt succeeded
    DROPPED = "dropped"  # at-most-once: the one attempt failed; logged, not retried
    NOT_RESENT = "not-resent"  # at-most-once: a retry; the creating call owned the attempt


@dataclass(frozen=True)
class SignupResult:
    """What the signup created, or the first answer replayed, and what this call stored.

    `replayed`: a retry holding the first request's idempotency key, with the same details,
    answered as the first request was. `jobs_enqueued` are the jobs this call put on their
    queues: all of them on a first signup, none on a retry of a completed one, the missing
    ones on a retry of a signup that failed half-way (or of an account written before the
    outbox existed).
    """

    account: Account
    created: bool
    replayed: bool
    first_charge_transaction_id: str
    welcome_email_delivery: WelcomeEmailDelivery
    welcome_email: WelcomeEmailOutcome
    jobs_enqueued: tuple[SignupJob, ...]


def parse_signup_request(body: str | None) -> SignupRequest:
    """Parse a POST /accounts body; raise `InvalidSignupRequest` naming the offending field."""
    if not body:
        raise InvalidSignupRequest("body", "request body is empty: expected a JSON object")
    # On first use, not at import: pydantic and the message models cost ~90 ms of cold start.
    from pydantic import ValidationError

    from delivery_guarantees.models import SignupRequest, describe_problems, validation_problems

    try:
        return SignupRequest.from_json(body)
    except ValidationError as error:
        problems = validation_problems(error)
        raise InvalidSignupRequest(
            problems[0][0], f"invalid signup request: {describe_problems(problems)}"
        ) from None


def parse_idempotency_key(value: str | None) -> str | None:
    """The `Idempotency-Key` header's value, or None when absent; raise `InvalidSignupRequest`.

    1 to 255 printable ASCII characters (space to ~). The value is never repeated in the
    error: it is the caller's secret for reading the account back.
    """
    if value is None:
        return None
    problem = None
    if not value:
        problem = "must not be empty"
    elif len(value) > IDEMPOTENCY_KEY_MAX_LENGTH:
        problem = f"must be at most {IDEMPOTENCY_KEY_MAX_LENGTH} characters"
    elif not _IDEMPOTENCY_KEY.fullmatch(value):
        problem = (
            "must contain only printable ASCII characters (space to ~): no control "
            "characters, line breaks or non-ASCII characters"
        )
    if problem is not None:
        raise InvalidSignupRequest(
            IDEMPOTENCY_KEY_HEADER,
            f"invalid {IDEMPOTENCY_KEY_HEADER} header: {problem}; send a new random value "
            "(such as a UUID) for each signup and the same value when retrying it",
        )
    return value


def idempotency_key_digest(key: str) -> str:
    """What the account row keeps of an idempotency key: its SHA-256, never the key."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()


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
    idempotency_key: str | None = None,
    make_account_id: Callable[[], str] = new_account_id,
    now: Callable[[], datetime] = _utc_now,
) -> SignupResult:
    """Create the account or find it, store each of its jobs not recorded yet, then answer.

    A new address: the account is created (with the key's digest, if a key was given)
    and returned. A taken address: the account's unrecorded jobs are stored first, from
    the row, whoever asks; then a request holding the row's key with the same details is
    answered as the first one was (`replayed`), one holding it with other details raises
    `IdempotencyKeyReusedError`, and any other raises `EmailTakenError` after the account
    holder is notified (at most once per `SIGNUP_NOTICE_INTERVAL`). Any store or queue
    error propagates, so the caller never reports success for jobs that were not stored.
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
    key_digest = idempotency_key_digest(idempotency_key) if idempotency_key is not None else None
    stored = accounts.create_if_absent(candidate, requested_delivery, key_digest)
    account = stored.account
    # Not at import (pydantic: ~90 ms of cold start); parse_signup_request has loaded it.
    from delivery_guarantees.models import ChargeRequest, WelcomeEmailJob

    # The outbox comes first, whatever the answer will be: a first attempt that crashed
    # half-way is completed by any later attempt, keyed or not. From the row's details:
    # nothing from a request that did not create the account is ever used or stored.
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

    if not stored.created:
        if not _holds_the_key(key_digest, stored):
            notice = _notify_account_holder(account, accounts, email_sender, now)
            raise EmailTakenError(account.account_id, notice)
        differing = _differing_details(stored, request)
        if differing:
            raise IdempotencyKeyReusedError(account.account_id, differing)

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
        replayed=not stored.created,
        first_charge_transaction_id=charge.transaction_id,
        welcome_email_delivery=stored.welcome_email_delivery,
        welcome_email=outcome,
        jobs_enqueued=enqueued_now,
    )


def _holds_the_key(key_digest: str | None, stored: StoredAccount) -> bool:
    """The request sent the key the account was created with (compared in constant time)."""
    if key_digest is None or stored.idempotency_key_sha256 is None:
        return False
    return hmac.compare_digest(key_digest, stored.idempotency_key_sha256)


def _differing_details(stored: StoredAccount, request: SignupRequest) -> tuple[str, ...]:
    """The request's details that are not the first request's (the key's holder only).

    The email matches by construction (the row is found by the normalised address); the
    welcome-email guarantee is compared only when the retry gives one.
    """
    differing = [
        field
        for field in ("name", "payment_method")
        if getattr(stored.account, field) != getattr(request, field)
    ]
    if (
        request.welcome_email_delivery is not None
        and request.welcome_email_delivery != stored.welcome_email_delivery.value
    ):
        differing.append("welcome_email_delivery")
    return tuple(differing)


def _notify_account_holder(
    account: Account,
    accounts: AccountsStore,
    email_sender: EmailSender,
    now: Callable[[], datetime],
) -> SignupNoticeOutcome:
    """Tell the account holder someone tried their address: at most once per interval.

    Best-effort and at-most-once: the row's `last_signup_notice_at` is claimed first (a
    conditional write), then one send is attempted; a failure of either is logged and
    never changes the answer, and a claimed notice that failed is not retried. The email
    carries nothing from the request, which may come from anyone.
    """
    moment = now()
    try:
        claimed = accounts.claim_signup_notice(
            account,
            now=moment.isoformat(timespec="milliseconds"),
            last_before=(moment - SIGNUP_NOTICE_INTERVAL).isoformat(timespec="milliseconds"),
        )
    except Exception:
        # Deliberately broad: the notice must never turn the 409 into another answer.
        logger.exception(
            "could not claim the signup notice; none sent", extra={"account_id": account.account_id}
        )
        return SignupNoticeOutcome.FAILED
    if not claimed:
        return SignupNoticeOutcome.NOT_DUE
    try:
        email_sender.send(account.email, SIGNUP_NOTICE_SUBJECT, SIGNUP_NOTICE_TEXT)
    except Exception:
        logger.exception(
            "signup notice attempt failed; dropped, not retried before the next interval",
            extra={"account_id": account.account_id},
        )
        return SignupNoticeOutcome.FAILED
    return SignupNoticeOutcome.SENT


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
            "a later signup for this address stored jobs an earlier attempt had not recorded",
            extra={
                "account_id": stored.account.account_id,
                "jobs_enqueued": [job.value for job in enqueued_now],
            },
        )
    return tuple(enqueued_now)


def _timestamp(now: Callable[[], datetime]) -> str:
    return now().isoformat(timespec="milliseconds")
