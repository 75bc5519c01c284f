"""The signup domain with in-memory fakes: idempotency per email, jobs stored before success."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from delivery_guarantees.config import SignupSettings, WelcomeEmailDelivery
from delivery_guarantees.models import SignupRequest
from delivery_guarantees.signup import (
    AccountConflictError,
    InvalidSignupRequest,
    SignupResult,
    WelcomeEmailOutcome,
    first_charge_transaction_id,
    parse_signup_request,
    sign_up,
)
from tests.unit.signup.fakes import InMemoryAccountsStore, RecordingJobQueue
from tests.unit.welcome_email.fakes import RecordingEmailSender

BILLING = "https://sqs.us-east-1.amazonaws.com/123456789012/billing"
WELCOME = "https://sqs.us-east-1.amazonaws.com/123456789012/welcome"
SETTINGS = SignupSettings(
    accounts_table_name="accounts",
    welcome_email_queue_url=WELCOME,
    billing_queue_url=BILLING,
    sender_email_address="welcome@example.com",
    welcome_email_delivery=WelcomeEmailDelivery.AT_LEAST_ONCE,
    signup_charge_amount=1999,
    signup_charge_currency="usd",
)
ADA = SignupRequest(email="Ada@Example.com", name="Ada Lovelace", payment_method="pm_card_visa")


class World:
    def __init__(self, fail_on: str | None = None) -> None:
        self.accounts = InMemoryAccountsStore()
        self.jobs = RecordingJobQueue(fail_on=fail_on)
        self.sender = RecordingEmailSender()
        self._ids = (f"acc_{n}" for n in itertools.count(1))

    def sign_up(self, request: SignupRequest, settings: SignupSettings = SETTINGS) -> SignupResult:
        return sign_up(
            request,
            self.accounts,
            self.jobs,
            self.sender,
            settings,
            make_account_id=lambda: next(self._ids),
            now=lambda: datetime(2026, 11, 29, 16, 40, tzinfo=UTC),
        )


def test_first_signup_creates_the_account_and_enqueues_charge_then_welcome_job() -> None:
    world = World()

    result = world.sign_up(ADA)

    assert result.created
    assert result.account.account_id == "acc_1"
    assert result.account.email == "ada@example.com"
    assert result.account.created_at == "2026-11-29T16:40:00.000+00:00"
    assert result.first_charge_transaction_id == "txn_signup_acc_1"
    assert result.welcome_email is WelcomeEmailOutcome.ENQUEUED
    assert world.jobs.sent == [
        (
            BILLING,
            {
                "transaction_id": "txn_signup_acc_1",
                "account_id": "acc_1",
                "amount": 1999,
                "currency": "usd",
                "payment_method": "pm_card_visa",
            },
        ),
        (WELCOME, {"account_id": "acc_1", "email": "ada@example.com", "name": "Ada Lovelace"}),
    ]
    assert world.sender.attempts == []


def test_a_retry_returns_the_same_account_and_the_same_charge() -> None:
    world = World()

    first = world.sign_up(ADA)
    retry = world.sign_up(ADA.model_copy(update={"email": "ada@example.com"}))

    assert not retry.created
    assert retry.account == first.account
    assert retry.first_charge_transaction_id == first.first_charge_transaction_id
    charges = world.jobs.on(BILLING)
    assert len(charges) == 2
    assert charges[0] == charges[1]  # a duplicate billing absorbs, never a second charge
    # Welcome emails are at-least-once: the retry enqueues again, by design.
    assert len(world.jobs.on(WELCOME)) == 2


def test_the_transaction_id_depends_on_the_account_only() -> None:
    assert first_charge_transaction_id("acc_9") == first_charge_transaction_id("acc_9")
    assert first_charge_transaction_id("acc_9") != first_charge_transaction_id("acc_8")


@pytest.mark.parametrize(
    ("change", "field"),
    [({"name": "Ada King"}, "name"), ({"payment_method": "pm_x"}, "payment_method")],
)
def test_same_email_with_other_details_is_a_conflict_and_enqueues_nothing(
    change: dict[str, str], field: str
) -> None:
    world = World()
    world.sign_up(ADA)
    world.jobs.sent.clear()

    with pytest.raises(AccountConflictError) as raised:
        world.sign_up(ADA.model_copy(update=change))

    assert raised.value.field == field
    assert world.jobs.sent == []


def test_a_failed_charge_enqueue_fails_the_signup_and_a_retry_recovers() -> None:
    world = World(BILLING)

    with pytest.raises(ConnectionError):
        world.sign_up(ADA)
    assert world.jobs.sent == []
    assert "ada@example.com" in world.accounts.rows  # created before the crash

    world.jobs.fail_on = None
    retry = world.sign_up(ADA)

    assert not retry.created
    assert world.jobs.on(BILLING)[0]["transaction_id"] == "txn_signup_acc_1"
    assert len(world.jobs.on(WELCOME)) == 1


def test_a_failed_welcome_enqueue_fails_the_signup() -> None:
    world = World(WELCOME)

    with pytest.raises(ConnectionError):
        world.sign_up(ADA)


def test_at_most_once_sends_directly_once_and_enqueues_no_welcome_job() -> None:
    world = World()

    result = world.sign_up(ADA.model_copy(update={"welcome_email_delivery": "at-most-once"}))

    assert result.welcome_email_delivery is WelcomeEmailDelivery.AT_MOST_ONCE
    assert result.welcome_email is WelcomeEmailOutcome.SENT
    assert world.sender.attempts == ["ada@example.com"]
    assert world.jobs.on(WELCOME) == []
    assert len(world.jobs.on(BILLING)) == 1


def test_at_most_once_failure_is_logged_dropped_and_the_signup_succeeds(
    domain_logs: pytest.LogCaptureFixture,
) -> None:
    world = World()
    world.sender.fail_with = TimeoutError("SES did not answer")

    result = world.sign_up(ADA.model_copy(update={"welcome_email_delivery": "at-most-once"}))

    assert result.created
    assert result.welcome_email is WelcomeEmailOutcome.DROPPED
    assert world.sender.attempts == ["ada@example.com"]
    assert world.jobs.on(WELCOME) == []
    assert len(world.jobs.on(BILLING)) == 1
    assert any("dropped, not retried" in r.getMessage() for r in domain_logs.records)


def test_an_at_most_once_retry_never_resends_even_if_it_asks_for_at_least_once(
    domain_logs: pytest.LogCaptureFixture,
) -> None:
    world = World()
    world.sign_up(ADA.model_copy(update={"welcome_email_delivery": "at-most-once"}))

    retry = world.sign_up(ADA.model_copy(update={"welcome_email_delivery": "at-least-once"}))

    assert retry.welcome_email_delivery is WelcomeEmailDelivery.AT_MOST_ONCE
    assert retry.welcome_email is WelcomeEmailOutcome.NOT_RESENT
    assert world.sender.attempts == ["ada@example.com"]
    assert world.jobs.on(WELCOME) == []
    assert any("keeping the first" in r.getMessage() for r in domain_logs.records)


def test_the_setting_is_the_default_guarantee() -> None:
    world = World()
    settings = replace(SETTINGS, welcome_email_delivery=WelcomeEmailDelivery.AT_MOST_ONCE)

    result = world.sign_up(ADA, settings)

    assert result.welcome_email is WelcomeEmailOutcome.SENT
    assert world.jobs.on(WELCOME) == []


def test_parse_accepts_the_documented_body() -> None:
    body = json.dumps(
        {
            "email": "ada@example.com",
            "name": "Ada Lovelace",
            "payment_method": "pm_card_visa",
            "welcome_email_delivery": "at-least-once",
        }
    )

    assert parse_signup_request(body).welcome_email_delivery == "at-least-once"


VALID = {"email": "ada@example.com", "name": "Ada", "payment_method": "pm_card_visa"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (None, "body"),
        ("", "body"),
        ("{not json", "body"),
        ('["ada@example.com"]', "body"),
        (json.dumps({k: v for k, v in VALID.items() if k != "email"}), "email"),
        (json.dumps(VALID | {"email": "ada@"}), "email"),
        (json.dumps(VALID | {"email": 7}), "email"),
        (json.dumps(VALID | {"name": "  "}), "name"),
        (json.dumps(VALID | {"payment_method": "4242424242424242"}), "payment_method"),
        (json.dumps(VALID | {"welcome_email_delivery": "twice"}), "welcome_email_delivery"),
        (json.dumps(VALID | {"plan": "pro"}), "plan"),
    ],
)
def test_parse_names_the_offending_field(body: str | None, field: str) -> None:
    with pytest.raises(InvalidSignupRequest) as raised:
        parse_signup_request(body)

    assert raised.value.field == field
    assert field in str(raised.value)
