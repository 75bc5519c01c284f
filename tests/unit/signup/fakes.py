"""In-memory fakes of the signup adapters, for domain tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from delivery_guarantees.adapters.accounts_store import StoredAccount
from delivery_guarantees.config import WelcomeEmailDelivery
from delivery_guarantees.models import Account


@dataclass
class InMemoryAccountsStore:
    rows: dict[str, tuple[Account, WelcomeEmailDelivery]] = field(default_factory=dict)

    def create_if_absent(
        self, account: Account, welcome_email_delivery: WelcomeEmailDelivery
    ) -> StoredAccount:
        if account.email in self.rows:
            existing, delivery = self.rows[account.email]
            return StoredAccount(existing, created=False, welcome_email_delivery=delivery)
        self.rows[account.email] = (account, welcome_email_delivery)
        return StoredAccount(account, created=True, welcome_email_delivery=welcome_email_delivery)


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
