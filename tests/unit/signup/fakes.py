"""In-memory fakes of the signup adapters, for domain tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from delivery_guarantees.adapters.accounts_store import StoredAccount
from delivery_guarantees.config import WelcomeEmailDelivery
from delivery_guarantees.models import Account, EnqueuedJob, SignupJob


class SimulatedCrash(Exception):
    """The function died here (a timeout, an out-of-memory kill): nothing after it ran."""


@dataclass
class AccountRow:
    """One AccountsTable item: the account, its guarantee and its outbox records."""

    account: Account
    welcome_email_delivery: WelcomeEmailDelivery
    enqueued: dict[SignupJob, EnqueuedJob] = field(default_factory=dict)
    idempotency_key_sha256: str | None = None
    last_signup_notice_at: str | None = None


@dataclass
class InMemoryAccountsStore:
    """AccountsTable in a dict. `crash_before_recording` dies instead of recording that job;
    `fail_notice_claims_with` is raised by `claim_signup_notice`."""

    rows: dict[str, AccountRow] = field(default_factory=dict)
    crash_before_recording: SignupJob | None = None
    fail_notice_claims_with: Exception | None = None
    notice_claims: int = 0  # calls of claim_signup_notice, granted or not

    def create_if_absent(
        self,
        account: Account,
        welcome_email_delivery: WelcomeEmailDelivery,
        idempotency_key_sha256: str | None = None,
    ) -> StoredAccount:
        if account.email in self.rows:
            row = self.rows[account.email]
            return StoredAccount(
                row.account,
                created=False,
                welcome_email_delivery=row.welcome_email_delivery,
                enqueued=dict(row.enqueued),
                idempotency_key_sha256=row.idempotency_key_sha256,
            )
        self.rows[account.email] = AccountRow(
            account, welcome_email_delivery, idempotency_key_sha256=idempotency_key_sha256
        )
        return StoredAccount(
            account,
            created=True,
            welcome_email_delivery=welcome_email_delivery,
            idempotency_key_sha256=idempotency_key_sha256,
        )

    def claim_signup_notice(self, account: Account, now: str, last_before: str) -> bool:
        self.notice_claims += 1
        if self.fail_notice_claims_with is not None:
            raise self.fail_notice_claims_with
        row = self.rows.get(account.email)
        if row is None or row.account.account_id != account.account_id:
            return False
        if row.last_signup_notice_at is not None and row.last_signup_notice_at > last_before:
            return False
        row.last_signup_notice_at = now
        return True

    def record_enqueued(self, account: Account, job: SignupJob, enqueued: EnqueuedJob) -> None:
        if job is self.crash_before_recording:
            raise SimulatedCrash(f"died after enqueueing {job.value}, before recording it")
        row = self.rows[account.email]
        assert row.account.account_id == account.account_id
        row.enqueued.setdefault(job, enqueued)

    def add_old_format_row(self, account: Account, delivery: WelcomeEmailDelivery) -> None:
        """An item written before the outbox attributes existed: no job is recorded."""
        self.rows[account.email] = AccountRow(account, delivery)

    def recorded(self, email: str) -> dict[SignupJob, EnqueuedJob]:
        return self.rows[email].enqueued


@dataclass
class RecordingJobQueue:
    """Keeps every job per queue URL; raises `fail_with` for sends to `fail_on`."""

    fail_on: str | None = None
    fail_with: Exception = field(default_factory=lambda: ConnectionError("SQS unreachable"))
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def enqueue(self, queue_url: str, body: dict[str, Any]) -> str:
        if queue_url == self.fail_on:
            raise self.fail_with
        self.sent.append((queue_url, body))
        return f"mid-{len(self.sent)}"

    def on(self, queue_url: str) -> list[dict[str, Any]]:
        return [body for url, body in self.sent if url == queue_url]
