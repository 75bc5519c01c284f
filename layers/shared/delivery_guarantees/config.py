"""Settings of each function, read from the environment on first use, never at import.

One dataclass per deployable. A missing or malformed variable raises
`ConfigurationError` naming the variable, so a misconfigured deployment fails loudly on
its first invocation instead of half-working.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class ConfigurationError(RuntimeError):
    """The function's environment is missing or has a malformed variable."""


class WelcomeEmailDelivery(StrEnum):
    AT_LEAST_ONCE = "at-least-once"
    AT_MOST_ONCE = "at-most-once"


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


def _positive_int(env: Mapping[str, str], name: str) -> int:
    raw = _required(env, name)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(
            f"environment variable {name} must be an integer, got {raw!r}"
        ) from None
    if value <= 0:
        raise ConfigurationError(f"environment variable {name} must be > 0, got {value}")
    return value


def _optional_positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    if not env.get(name, "").strip():
        return default
    return _positive_int(env, name)


def _delivery(env: Mapping[str, str], name: str) -> WelcomeEmailDelivery:
    raw = _required(env, name)
    try:
        return WelcomeEmailDelivery(raw)
    except ValueError:
        allowed = ", ".join(d.value for d in WelcomeEmailDelivery)
        raise ConfigurationError(
            f"environment variable {name} must be one of {allowed}, got {raw!r}"
        ) from None


@dataclass(frozen=True)
class SignupSettings:
    accounts_table_name: str
    welcome_email_queue_url: str
    billing_queue_url: str
    sender_email_address: str
    welcome_email_delivery: WelcomeEmailDelivery
    signup_charge_amount: int
    signup_charge_currency: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SignupSettings:
        env = os.environ if env is None else env
        return cls(
            accounts_table_name=_required(env, "ACCOUNTS_TABLE_NAME"),
            welcome_email_queue_url=_required(env, "WELCOME_EMAIL_QUEUE_URL"),
            billing_queue_url=_required(env, "BILLING_QUEUE_URL"),
            sender_email_address=_required(env, "SENDER_EMAIL_ADDRESS"),
            welcome_email_delivery=_delivery(env, "WELCOME_EMAIL_DELIVERY"),
            signup_charge_amount=_positive_int(env, "SIGNUP_CHARGE_AMOUNT"),
            signup_charge_currency=_required(env, "SIGNUP_CHARGE_CURRENCY").lower(),
        )


@dataclass(frozen=True)
class WelcomeEmailSettings:
    sender_email_address: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WelcomeEmailSettings:
        env = os.environ if env is None else env
        return cls(sender_email_address=_required(env, "SENDER_EMAIL_ADDRESS"))


@dataclass(frozen=True)
class DeadLetterSettings:
    """Where a consumer copies a poison message (delivery_guarantees.poison): its own DLQ."""

    dead_letter_queue_url: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DeadLetterSettings:
        env = os.environ if env is None else env
        return cls(dead_letter_queue_url=_required(env, "DEAD_LETTER_QUEUE_URL"))


@dataclass(frozen=True)
class BillingSettings:
    idempotency_table_name: str
    charges_table_name: str
    payment_provider_secret_parameter_name: str
    payment_provider_api_base: str
    # The largest amount a charge message may ask for, in minor units (MaxChargeAmount).
    max_charge_amount: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BillingSettings:
        env = os.environ if env is None else env
        return cls(
            idempotency_table_name=_required(env, "IDEMPOTENCY_TABLE_NAME"),
            charges_table_name=_required(env, "CHARGES_TABLE_NAME"),
            payment_provider_secret_parameter_name=_required(
                env, "PAYMENT_PROVIDER_SECRET_PARAMETER_NAME"
            ),
            payment_provider_api_base=_required(env, "PAYMENT_PROVIDER_API_BASE").rstrip("/"),
            max_charge_amount=_positive_int(env, "MAX_CHARGE_AMOUNT"),
        )


# How many records of one batch a consumer processes at once when RECORD_CONCURRENCY is
# not set: the mapping's BatchSize (template.yaml), so a full batch waits for one round of
# provider or SES calls, not one per record. Billing's parallel charges were held back
# while one run in five of tests/model failed with them (a valid charge left in the DLQ),
# most likely a valid charge refused as conflicting while a conflicting copy's record was
# in progress (fixed: billing.ConflictingCopyInProgress; docs/design.md, Records in parallel).
BILLING_RECORD_CONCURRENCY = 5
WELCOME_EMAIL_RECORD_CONCURRENCY = 10


@dataclass(frozen=True)
class RecordConcurrencySettings:
    """RECORD_CONCURRENCY: a consumer's bound on records in flight (delivery_guarantees.batch).

    Optional, a whole number >= 1 (1: one record after another, as before); `default` is
    the consumer's (BILLING_RECORD_CONCURRENCY, WELCOME_EMAIL_RECORD_CONCURRENCY).
    """

    record_concurrency: int

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, default: int
    ) -> RecordConcurrencySettings:
        env = os.environ if env is None else env
        return cls(record_concurrency=_optional_positive_int(env, "RECORD_CONCURRENCY", default))
