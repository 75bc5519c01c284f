"""The signup domain with in-memory fakes: idempotency per email, each job stored once.

The account row is the outbox: a job is enqueued, then recorded on the account, and a
retry enqueues only what is not recorded. The crash tests stop the function at each
step in between and check that the client's retry neither loses nor repeats a job.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from delivery_guarantees.config import SignupSettings, WelcomeEmailDelivery
from delivery_guarantees.models import Account, EnqueuedJob, SignupJob, SignupRequest
from delivery_guarantees.signup import (
    AccountConflictError,
    InvalidSignupRequest,
    SignupResult,
    WelcomeEmailOutcome,
    first_charge_transaction_id,
    parse_signup_request,
    sign_up,
)
from tests.unit.signup.fakes import InMemoryAccountsStore, RecordingJobQueue, SimulatedCrash
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
ADA_AT_MOST_ONCE = ADA.model_copy(update={"welcome_email_delivery": "at-most-once"})
CHARGE, WELCOME_JOB = SignupJob.FIRST_CHARGE, SignupJob.WELCOME_EMAIL
BOTH = (CHARGE, WELCOME_JOB)


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
    assert result.jobs_enqueued == BOTH
    # Each job recorded on the account with the message ID its queue gave it.
    assert world.accounts.recorded("ada@example.com") == {
        CHARGE: EnqueuedJob(enqueued_at="2026-11-29T16:40:00.000+00:00", message_id="mid-1"),
        WELCOME_JOB: EnqueuedJob(enqueued_at="2026-11-29T16:40:00.000+00:00", message_id="mid-2"),
    }
    assert world.sender.attempts == []


def test_a_retry_returns_the_same_account_and_stores_no_job_again() -> None:
    world = World()

    first = world.sign_up(ADA)
    retry = world.sign_up(ADA.model_copy(update={"email": "ada@example.com"}))

    assert not retry.created
    assert retry.account == first.account
    assert retry.first_charge_transaction_id == first.first_charge_transaction_id
    assert retry.welcome_email is WelcomeEmailOutcome.ENQUEUED  # it is on the queue
    assert retry.jobs_enqueued == ()
    assert len(world.jobs.on(BILLING)) == 1
    assert len(world.jobs.on(WELCOME)) == 1


def test_twenty_identical_signups_store_one_charge_and_one_welcome_job() -> None:
    world = World()

    results = [world.sign_up(ADA) for _ in range(20)]

    assert [r.created for r in results] == [True] + [False] * 19
    assert [r.jobs_enqueued for r in results] == [BOTH] + [()] * 19
    assert len(world.jobs.on(BILLING)) == 1
    assert len(world.jobs.on(WELCOME)) == 1  # no email bombing by repeating a signup


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


def test_a_conflicting_request_stores_nothing_even_for_a_stranded_account() -> None:
    # The account exists but its jobs are not recorded: only a real retry may store them.
    world = World(BILLING)
    with pytest.raises(ConnectionError):
        world.sign_up(ADA)
    world.jobs.fail_on = None

    with pytest.raises(AccountConflictError):
        world.sign_up(ADA.model_copy(update={"payment_method": "pm_card_amex"}))

    assert world.jobs.sent == []
    assert world.accounts.recorded("ada@example.com") == {}


def test_a_stranded_account_gets_its_jobs_from_the_retry_with_the_same_details() -> None:
    world = World(BILLING)  # the queue fails on the first call

    with pytest.raises(ConnectionError):
        world.sign_up(ADA)
    assert world.jobs.sent == []
    assert "ada@example.com" in world.accounts.rows  # created before the failure
    assert world.accounts.recorded("ada@example.com") == {}

    world.jobs.fail_on = None
    retry = world.sign_up(ADA)
    again = world.sign_up(ADA)

    assert not retry.created
    assert retry.jobs_enqueued == BOTH
    assert again.jobs_enqueued == ()
    assert [c["transaction_id"] for c in world.jobs.on(BILLING)] == ["txn_signup_acc_1"]
    assert len(world.jobs.on(WELCOME)) == 1
    assert set(world.accounts.recorded("ada@example.com")) == set(BOTH)


def test_a_failed_welcome_enqueue_fails_the_signup_and_the_retry_stores_only_that_job() -> None:
    world = World(WELCOME)

    with pytest.raises(ConnectionError):
        world.sign_up(ADA)
    assert set(world.accounts.recorded("ada@example.com")) == {CHARGE}

    world.jobs.fail_on = None
    retry = world.sign_up(ADA)

    assert retry.jobs_enqueued == (WELCOME_JOB,)
    assert len(world.jobs.on(BILLING)) == 1
    assert len(world.jobs.on(WELCOME)) == 1


@pytest.mark.parametrize("crashed_job", BOTH, ids=lambda job: job.value)
def test_a_crash_between_enqueue_and_record_repeats_that_one_job_and_nothing_else(
    crashed_job: SignupJob,
) -> None:
    world = World()
    world.accounts.crash_before_recording = crashed_job

    with pytest.raises(SimulatedCrash):
        world.sign_up(ADA)
    sent_before_retry = list(world.jobs.sent)

    world.accounts.crash_before_recording = None
    retry = world.sign_up(ADA)
    again = world.sign_up(ADA)

    # The crashed job was on its queue but not recorded: the retry stores it again (a
    # duplicate the consumer absorbs) and, had the crash come earlier, what came after.
    assert retry.jobs_enqueued == BOTH[BOTH.index(crashed_job) :]
    assert again.jobs_enqueued == ()
    assert world.jobs.sent[: len(sent_before_retry)] == sent_before_retry
    repeated = world.jobs.sent[len(sent_before_retry)]
    assert repeated == sent_before_retry[-1]  # the same message again, not a new charge
    counts = {url: len(world.jobs.on(url)) for url in (BILLING, WELCOME)}
    if crashed_job is CHARGE:
        assert counts == {BILLING: 2, WELCOME: 1}
    else:
        assert counts == {BILLING: 1, WELCOME: 2}


@pytest.mark.parametrize(
    ("delivery", "expected_jobs"),
    [(WelcomeEmailDelivery.AT_LEAST_ONCE, BOTH), (WelcomeEmailDelivery.AT_MOST_ONCE, (CHARGE,))],
)
def test_an_account_written_before_the_outbox_gets_its_jobs_once(
    delivery: WelcomeEmailDelivery,
    expected_jobs: tuple[SignupJob, ...],
    domain_logs: pytest.LogCaptureFixture,
) -> None:
    world = World()
    old = Account("acc_old", "ada@example.com", "Ada Lovelace", "pm_card_visa", "2025-01-01")
    world.accounts.add_old_format_row(old, delivery)

    retry = world.sign_up(ADA)
    again = world.sign_up(ADA)

    assert retry.jobs_enqueued == expected_jobs
    assert again.jobs_enqueued == ()
    assert [c["transaction_id"] for c in world.jobs.on(BILLING)] == ["txn_signup_acc_old"]
    assert len(world.jobs.on(WELCOME)) == (
        1 if delivery is WelcomeEmailDelivery.AT_LEAST_ONCE else 0
    )
    assert world.sender.attempts == []  # at-most-once: only the creating call sends
    assert any("had not recorded" in r.getMessage() for r in domain_logs.records)


def test_at_most_once_sends_directly_once_and_enqueues_no_welcome_job() -> None:
    world = World()

    result = world.sign_up(ADA_AT_MOST_ONCE)
    retries = [world.sign_up(ADA_AT_MOST_ONCE) for _ in range(5)]

    assert result.welcome_email_delivery is WelcomeEmailDelivery.AT_MOST_ONCE
    assert result.welcome_email is WelcomeEmailOutcome.SENT
    assert result.jobs_enqueued == (CHARGE,)
    assert {(r.welcome_email, r.jobs_enqueued) for r in retries} == {
        (WelcomeEmailOutcome.NOT_RESENT, ())
    }
    assert world.sender.attempts == ["ada@example.com"]
    assert world.jobs.on(WELCOME) == []
    assert len(world.jobs.on(BILLING)) == 1


def test_at_most_once_stranded_by_the_queue_gets_its_charge_but_never_the_email() -> None:
    # The creating call failed before its one attempt: the email is lost (at-most-once),
    # the charge is not (the retry stores it).
    world = World(BILLING)
    with pytest.raises(ConnectionError):
        world.sign_up(ADA_AT_MOST_ONCE)
    world.jobs.fail_on = None

    retry = world.sign_up(ADA_AT_MOST_ONCE)

    assert (retry.welcome_email, retry.jobs_enqueued) == (WelcomeEmailOutcome.NOT_RESENT, (CHARGE,))
    assert world.sender.attempts == []
    assert len(world.jobs.on(BILLING)) == 1


def test_at_most_once_failure_is_logged_dropped_and_the_signup_succeeds(
    domain_logs: pytest.LogCaptureFixture,
) -> None:
    world = World()
    world.sender.fail_with = TimeoutError("SES did not answer")

    result = world.sign_up(ADA_AT_MOST_ONCE)

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
    world.sign_up(ADA_AT_MOST_ONCE)

    retry = world.sign_up(ADA.model_copy(update={"welcome_email_delivery": "at-least-once"}))

    assert retry.welcome_email_delivery is WelcomeEmailDelivery.AT_MOST_ONCE
    assert retry.welcome_email is WelcomeEmailOutcome.NOT_RESENT
    assert retry.jobs_enqueued == ()  # no welcome job: the outbox follows the stored mode
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
        (json.dumps(VALID | {"payment_method": "pm_4242_4242_4242_4242"}), "payment_method"),
        (json.dumps(VALID | {"name": "Ada\r\nBcc: x"}), "name"),
        (json.dumps(VALID | {"name": "Ada bank.com/verify"}), "name"),
        (json.dumps(VALID | {"welcome_email_delivery": "twice"}), "welcome_email_delivery"),
        (json.dumps(VALID | {"plan": "pro"}), "plan"),
    ],
)
def test_parse_names_the_offending_field(body: str | None, field: str) -> None:
    with pytest.raises(InvalidSignupRequest) as raised:
        parse_signup_request(body)

    assert raised.value.field == field
    assert field in str(raised.value)
