"""The plain records the domain and its adapters pass around: dataclasses and enums.

No pydantic here, so a handler module imports them without pydantic and the message
models (delivery_guarantees.models, which re-exports these), loaded on the first message.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

ChargeStatus = Literal["succeeded", "declined"]


@dataclass(frozen=True)
class ChargeOutcome:
    """The final outcome of a charge, as stored in ChargesTable and replayed on duplicates."""

    transaction_id: str
    account_id: str
    amount: int
    currency: str
    status: ChargeStatus
    payment_intent_id: str | None
    decline_code: str | None = None


@dataclass(frozen=True)
class Account:
    account_id: str
    email: str
    name: str
    payment_method: str
    created_at: str


class SignupJob(StrEnum):
    """The jobs a signup stores for its account, each recorded on the account once enqueued."""

    FIRST_CHARGE = "first_charge"  # the ChargeRequest on BillingQueue
    WELCOME_EMAIL = "welcome_email"  # the WelcomeEmailJob on WelcomeEmailQueue (at-least-once)


@dataclass(frozen=True)
class EnqueuedJob:
    """The account's record that a job is on its queue: when, and as which SQS message."""

    enqueued_at: str
    message_id: str
