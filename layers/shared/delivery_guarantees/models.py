"""Message models at the edges (pydantic) and plain dataclasses inside.

A message that does not fit its model raises pydantic's `ValidationError`, whose text
names the offending field; the record then fails and is retried or dead-lettered, and
nothing is charged or sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from delivery_guarantees.currencies import ISO_4217_CODES

# Stripe allows idempotency keys up to 255 characters; the transaction ID is forwarded as one.
TransactionId = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_\-:.]+$")
]
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


def validation_problems(error: ValidationError) -> list[tuple[str, str]]:
    """(field, message) for each problem pydantic found; "body" when it is the whole body."""
    return [
        (".".join(str(part) for part in detail["loc"]) or "body", detail["msg"])
        for detail in error.errors(include_url=False)
    ]


def describe_problems(problems: list[tuple[str, str]]) -> str:
    return "; ".join(f"{field}: {message}" for field, message in problems)


class _Message(BaseModel):
    # Strict: "1999" is not an amount and true is not a string. Unknown fields are
    # rejected so a misspelled field is an error, not a silently ignored value.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class ChargeRequest(_Message):
    """A charge on BillingQueue. Carries everything the charge needs."""

    transaction_id: TransactionId
    account_id: NonEmpty
    amount: int = Field(gt=0, description="minor units, e.g. cents")
    currency: str
    # A provider token such as Stripe's pm_card_visa, never a card number.
    payment_method: Annotated[str, StringConstraints(pattern=r"^pm_[A-Za-z0-9_]+$", max_length=255)]

    @field_validator("currency")
    @classmethod
    def _iso_4217_lower_case(cls, value: str) -> str:
        if value not in ISO_4217_CODES:
            raise ValueError(f"unknown currency {value!r}: expected an ISO 4217 code in lower case")
        return value


class WelcomeEmailJob(_Message):
    """A welcome email to send, on WelcomeEmailQueue."""

    account_id: NonEmpty
    email: EmailStr
    name: NonEmpty


class SignupRequest(_Message):
    """The body of POST /accounts."""

    email: EmailStr
    name: NonEmpty
    payment_method: Annotated[str, StringConstraints(pattern=r"^pm_[A-Za-z0-9_]+$", max_length=255)]
    welcome_email_delivery: Literal["at-least-once", "at-most-once"] | None = None


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
