"""The signup domain with in-memory fakes: idempotency per email, each job stored once.

The account row is the outbox: a job is enqueued, then recorded on the account, and a
retry enqueues only what is not recorded. The crash tests stop the function at each
step in between and check that the client's retry neither loses nor repeats a job.

The answers reveal nothing (docs/design.md): a retry holding the first request's
Idempotency-Key gets the first answer again; anyone else gets `EmailTakenError` whatever
they sent, and the account holder a notice email, at most once per 24 hours.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from delivery_guarantees.config import SignupSettings, WelcomeEmailDelivery
from delivery_guarantees.models import Account, EnqueuedJob, SignupJob, SignupRequest
from delivery_guarantees.signup import (
    SIGNUP_NOTICE_SUBJECT,
    EmailTakenError,
    IdempotencyKeyReusedError,
    InvalidSignupRequest,
    SignupNoticeOutcome,
    SignupResult,
    WelcomeEmailOutcome,
    first_charge_transaction_id,
    idempotency_key_digest,
    parse_idempotency_key,
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
KEY = "9b2f4c1e-5d7a-4e3b-8f60-2a1c9d8e7f10"  # the client's Idempotency-Key for Ada's signup
START = datetime(2026, 11, 29, 16, 40, tzinfo=UTC)


class World:
    def __init__(self, fail_on: str | None = None) -> None:
        self.accounts = InMemoryAccountsStore()
        self.jobs = RecordingJobQueue(fail_on=fail_on)
        self.sender = RecordingEmailSender()
        self.now = START  # the injected clock; tests move it
        self._ids = (f"acc_{n}" for n in itertools.count(1))

    def sign_up(
        self,
        request: SignupRequest,
        settings: SignupSettings = SETTINGS,
        *,
        key: str | None = None,
    ) -> SignupResult:
        return sign_up(
            request,
            self.accounts,
            self.jobs,
            self.sender,
            settings,
            idempotency_key=key,
            make_account_id=lambda: next(self._ids),
            now=lambda: self.now,
        )

    def taken(self, request: SignupRequest, *, key: str | None = None) -> EmailTakenError:
        """Sign up expecting the 409; the error."""
        with pytest.raises(EmailTakenError) as raised:
            self.sign_up(request, key=key)
        return raised.value

    def notices(self) -> list[str]:
        return [e.to for e in self.sender.sent if e.subject == SIGNUP_NOTICE_SUBJECT]

    def welcome_emails(self) -> list[str]:
        return [e.to for e in self.sender.sent if e.subject != SIGNUP_NOTICE_SUBJECT]


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


def test_a_keyed_retry_is_answered_with_the_first_answer_and_stores_no_job_again() -> None:
    world = World()

    first = world.sign_up(ADA, key=KEY)
    retry = world.sign_up(ADA.model_copy(update={"email": "ada@example.com"}), key=KEY)

    assert (first.created, first.replayed) == (True, False)
    assert (retry.created, retry.replayed) == (False, True)
    assert retry.account == first.account
    assert retry.first_charge_transaction_id == first.first_charge_transaction_id
    assert retry.welcome_email_delivery is first.welcome_email_delivery
    assert retry.welcome_email is WelcomeEmailOutcome.ENQUEUED  # it is on the queue
    assert retry.jobs_enqueued == ()
    assert len(world.jobs.on(BILLING)) == 1
    assert len(world.jobs.on(WELCOME)) == 1
    assert world.sender.sent == []  # the key's holder is answered, nobody is notified


def test_the_row_keeps_the_keys_sha256_never_the_key() -> None:
    world = World()

    world.sign_up(ADA, key=KEY)

    row = world.accounts.rows["ada@example.com"]
    assert row.idempotency_key_sha256 == hashlib.sha256(KEY.encode()).hexdigest()
    assert row.idempotency_key_sha256 == idempotency_key_digest(KEY)
    assert KEY not in repr(row)


def test_twenty_identical_keyed_signups_store_one_charge_and_one_welcome_job() -> None:
    world = World()

    results = [world.sign_up(ADA, key=KEY) for _ in range(20)]

    assert [(r.created, r.replayed) for r in results] == [(True, False)] + [(False, True)] * 19
    assert [r.jobs_enqueued for r in results] == [BOTH] + [()] * 19
    assert len(world.jobs.on(BILLING)) == 1
    assert len(world.jobs.on(WELCOME)) == 1  # no email bombing by repeating a signup


def test_twenty_identical_unkeyed_signups_store_one_charge_and_send_one_notice() -> None:
    world = World()

    world.sign_up(ADA)
    errors = [world.taken(ADA) for _ in range(19)]

    assert [e.notice for e in errors] == [SignupNoticeOutcome.SENT] + [
        SignupNoticeOutcome.NOT_DUE
    ] * 18
    assert len(world.jobs.on(BILLING)) == 1
    assert len(world.jobs.on(WELCOME)) == 1
    assert world.notices() == ["ada@example.com"]


def test_the_transaction_id_depends_on_the_account_only() -> None:
    assert first_charge_transaction_id("acc_9") == first_charge_transaction_id("acc_9")
    assert first_charge_transaction_id("acc_9") != first_charge_transaction_id("acc_8")


# ------------------------------------------------------------------ no account oracle

OTHER_DETAILS = [
    pytest.param({}, id="the same details"),
    pytest.param({"name": "Ada King"}, id="another name"),
    pytest.param({"payment_method": "pm_card_amex"}, id="another payment method"),
    pytest.param({"welcome_email_delivery": "at-most-once"}, id="another guarantee"),
]


@pytest.mark.parametrize("change", OTHER_DETAILS)
@pytest.mark.parametrize("key", [None, "another-key"], ids=["no key", "another key"])
def test_a_taken_address_without_its_key_is_the_same_error_whatever_the_details(
    change: dict[str, str], key: str | None
) -> None:
    world = World()
    world.sign_up(ADA, key=KEY)
    world.jobs.sent.clear()

    error = world.taken(ADA.model_copy(update=change), key=key)

    assert (error.field, str(error)) == (
        "email",
        "an account with this email address already exists",
    )
    assert world.jobs.sent == []  # the account's jobs are recorded: nothing to store
    row = world.accounts.rows["ada@example.com"]
    assert (row.account.name, row.account.payment_method) == ("Ada Lovelace", "pm_card_visa")
    assert row.welcome_email_delivery is WelcomeEmailDelivery.AT_LEAST_ONCE
    assert row.idempotency_key_sha256 == idempotency_key_digest(KEY)  # not the other key's


@pytest.mark.parametrize(
    ("change", "differing"),
    [
        ({"name": "Ada King"}, ("name",)),
        ({"payment_method": "pm_card_amex"}, ("payment_method",)),
        ({"welcome_email_delivery": "at-most-once"}, ("welcome_email_delivery",)),
        ({"name": "Ada King", "payment_method": "pm_x"}, ("name", "payment_method")),
    ],
)
def test_the_key_with_other_details_is_refused_and_stores_nothing(
    change: dict[str, str], differing: tuple[str, ...]
) -> None:
    world = World()
    world.sign_up(ADA, key=KEY)
    world.jobs.sent.clear()

    with pytest.raises(IdempotencyKeyReusedError) as raised:
        world.sign_up(ADA.model_copy(update=change), key=KEY)

    assert raised.value.field == "Idempotency-Key"
    assert "Idempotency-Key was used for another request" in str(raised.value)
    assert raised.value.differing == differing
    assert world.jobs.sent == []
    assert world.sender.sent == []  # the key's holder is answered; no notice
    assert world.accounts.rows["ada@example.com"].account.name == "Ada Lovelace"


def test_a_keyed_retry_that_gives_the_stored_guarantee_or_none_is_the_same_request() -> None:
    world = World()
    world.sign_up(ADA_AT_MOST_ONCE, key=KEY)

    explicit = world.sign_up(ADA_AT_MOST_ONCE, key=KEY)
    omitted = world.sign_up(ADA, key=KEY)  # welcome_email_delivery not given

    assert explicit.replayed
    assert omitted.replayed
    assert omitted.welcome_email_delivery is WelcomeEmailDelivery.AT_MOST_ONCE


def test_an_account_created_without_a_key_is_never_replayed() -> None:
    world = World()
    world.sign_up(ADA)

    assert world.taken(ADA, key=KEY).field == "email"


# ------------------------------------------------------------------ the notice email


def test_the_notice_is_sent_once_within_24_hours_and_again_after() -> None:
    world = World()
    world.sign_up(ADA, key=KEY)

    outcomes = [world.taken(ADA).notice]
    for later in (timedelta(minutes=1), timedelta(hours=12), timedelta(hours=23, minutes=59)):
        world.now = START + later
        outcomes.append(world.taken(ADA.model_copy(update={"name": "Eve"})).notice)
    world.now = START + timedelta(hours=24, minutes=1)
    outcomes.append(world.taken(ADA).notice)

    assert outcomes == [
        SignupNoticeOutcome.SENT,
        SignupNoticeOutcome.NOT_DUE,
        SignupNoticeOutcome.NOT_DUE,
        SignupNoticeOutcome.NOT_DUE,
        SignupNoticeOutcome.SENT,
    ]
    assert world.notices() == ["ada@example.com", "ada@example.com"]
    assert world.accounts.rows["ada@example.com"].last_signup_notice_at == (
        "2026-11-30T16:41:00.000+00:00"
    )


def test_the_notice_says_nothing_the_request_said() -> None:
    world = World()
    world.sign_up(ADA, key=KEY)
    world.sender.sent.clear()

    world.taken(ADA.model_copy(update={"name": "Eve Attacker", "payment_method": "pm_evil"}))

    [notice] = world.sender.sent
    assert (notice.to, notice.subject) == ("ada@example.com", SIGNUP_NOTICE_SUBJECT)
    assert "if it was you" in notice.text_body.lower()
    for text in ("Eve", "Attacker", "pm_evil", "Ada Lovelace", "pm_card_visa", KEY):
        assert text not in notice.text_body
    assert notice.html_body is None


def test_a_failed_notice_is_logged_not_retried_and_the_answer_is_the_same(
    domain_logs: pytest.LogCaptureFixture,
) -> None:
    world = World()
    world.sign_up(ADA)
    world.sender.fail_with = TimeoutError("SES did not answer")

    failed = world.taken(ADA)
    world.sender.fail_with = None
    later = world.taken(ADA)

    assert (failed.notice, later.notice) == (
        SignupNoticeOutcome.FAILED,
        SignupNoticeOutcome.NOT_DUE,
    )
    assert str(failed) == str(later)
    assert world.sender.attempts == ["ada@example.com"]  # one attempt a day, even a failed one
    assert any("signup notice attempt failed" in r.getMessage() for r in domain_logs.records)


def test_a_failed_notice_claim_is_logged_and_the_answer_is_the_same(
    domain_logs: pytest.LogCaptureFixture,
) -> None:
    world = World()
    world.sign_up(ADA)
    world.accounts.fail_notice_claims_with = ConnectionError("DynamoDB unreachable")

    error = world.taken(ADA)

    assert (error.field, error.notice) == ("email", SignupNoticeOutcome.FAILED)
    assert world.sender.attempts == []  # no claim, no email
    assert any("could not claim the signup notice" in r.getMessage() for r in domain_logs.records)


def test_the_key_holder_and_a_first_signup_claim_no_notice() -> None:
    world = World()

    world.sign_up(ADA, key=KEY)
    world.sign_up(ADA, key=KEY)

    assert world.accounts.notice_claims == 0


# ------------------------------------------------------------------ the outbox, whoever asks


@pytest.mark.parametrize(
    "retry_key", [KEY, None, "another-key"], ids=["keyed", "no key", "other key"]
)
def test_a_stranded_account_gets_its_jobs_from_any_later_attempt(retry_key: str | None) -> None:
    world = World(BILLING)  # the queue fails on the first call

    with pytest.raises(ConnectionError):
        world.sign_up(ADA, key=KEY)
    assert world.jobs.sent == []
    assert "ada@example.com" in world.accounts.rows  # created before the failure
    assert world.accounts.recorded("ada@example.com") == {}

    world.jobs.fail_on = None
    if retry_key == KEY:
        retry = world.sign_up(ADA, key=KEY)
        again = world.sign_up(ADA, key=KEY)
        assert (retry.replayed, retry.jobs_enqueued, again.jobs_enqueued) == (True, BOTH, ())
    else:
        world.taken(ADA, key=retry_key)
        world.taken(ADA, key=retry_key)

    assert [c["transaction_id"] for c in world.jobs.on(BILLING)] == ["txn_signup_acc_1"]
    assert len(world.jobs.on(WELCOME)) == 1
    assert set(world.accounts.recorded("ada@example.com")) == set(BOTH)


@pytest.mark.parametrize("change", OTHER_DETAILS[1:])
def test_a_stranded_account_gets_its_own_jobs_from_a_request_with_other_details(
    change: dict[str, str],
) -> None:
    # Whoever asks completes the outbox, always with the row's details: the charge is
    # the account's payment method, the welcome job its name, the mode its own.
    world = World(BILLING)
    with pytest.raises(ConnectionError):
        world.sign_up(ADA)
    world.jobs.fail_on = None

    world.taken(ADA.model_copy(update=change))

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
    assert set(world.accounts.recorded("ada@example.com")) == set(BOTH)


def test_a_failed_welcome_enqueue_fails_the_signup_and_the_retry_stores_only_that_job() -> None:
    world = World(WELCOME)

    with pytest.raises(ConnectionError):
        world.sign_up(ADA, key=KEY)
    assert set(world.accounts.recorded("ada@example.com")) == {CHARGE}

    world.jobs.fail_on = None
    retry = world.sign_up(ADA, key=KEY)

    assert retry.jobs_enqueued == (WELCOME_JOB,)
    assert len(world.jobs.on(BILLING)) == 1
    assert len(world.jobs.on(WELCOME)) == 1


@pytest.mark.parametrize("crashed_job", BOTH, ids=lambda job: job.value)
@pytest.mark.parametrize("retry_key", [KEY, None], ids=["keyed retry", "unkeyed retry"])
def test_a_crash_between_enqueue_and_record_repeats_that_one_job_and_nothing_else(
    crashed_job: SignupJob, retry_key: str | None
) -> None:
    world = World()
    world.accounts.crash_before_recording = crashed_job

    with pytest.raises(SimulatedCrash):
        world.sign_up(ADA, key=KEY)
    sent_before_retry = list(world.jobs.sent)

    world.accounts.crash_before_recording = None
    if retry_key is None:
        world.taken(ADA)
        world.taken(ADA)
    else:
        retry = world.sign_up(ADA, key=KEY)
        again = world.sign_up(ADA, key=KEY)
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
    # Such a row has no key digest either: every later attempt is answered 409, and the
    # first of them stores the jobs.
    world = World()
    old = Account("acc_old", "ada@example.com", "Ada Lovelace", "pm_card_visa", "2025-01-01")
    world.accounts.add_old_format_row(old, delivery)

    world.taken(ADA, key=KEY)
    assert set(world.accounts.recorded("ada@example.com")) == set(expected_jobs)
    world.taken(ADA)

    assert [c["transaction_id"] for c in world.jobs.on(BILLING)] == ["txn_signup_acc_old"]
    assert len(world.jobs.on(WELCOME)) == (
        1 if delivery is WelcomeEmailDelivery.AT_LEAST_ONCE else 0
    )
    assert world.welcome_emails() == []  # at-most-once: only the creating call sends
    assert any("had not recorded" in r.getMessage() for r in domain_logs.records)


def test_at_most_once_sends_directly_once_and_enqueues_no_welcome_job() -> None:
    world = World()

    result = world.sign_up(ADA_AT_MOST_ONCE, key=KEY)
    retries = [world.sign_up(ADA_AT_MOST_ONCE, key=KEY) for _ in range(5)]
    world.taken(ADA_AT_MOST_ONCE)

    assert result.welcome_email_delivery is WelcomeEmailDelivery.AT_MOST_ONCE
    assert result.welcome_email is WelcomeEmailOutcome.SENT
    assert result.jobs_enqueued == (CHARGE,)
    assert {(r.welcome_email, r.jobs_enqueued, r.replayed) for r in retries} == {
        (WelcomeEmailOutcome.NOT_RESENT, (), True)
    }
    assert world.welcome_emails() == ["ada@example.com"]
    assert world.jobs.on(WELCOME) == []
    assert len(world.jobs.on(BILLING)) == 1


def test_at_most_once_stranded_by_the_queue_gets_its_charge_but_never_the_email() -> None:
    # The creating call failed before its one attempt: the email is lost (at-most-once),
    # the charge is not (the retry stores it).
    world = World(BILLING)
    with pytest.raises(ConnectionError):
        world.sign_up(ADA_AT_MOST_ONCE, key=KEY)
    world.jobs.fail_on = None

    retry = world.sign_up(ADA_AT_MOST_ONCE, key=KEY)

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


def test_an_at_most_once_account_is_never_sent_a_second_welcome_email() -> None:
    # Neither by the key's holder asking for at-least-once (refused: another request),
    # nor by anyone else: only the creating call sends the email.
    world = World()
    world.sign_up(ADA_AT_MOST_ONCE, key=KEY)
    at_least_once = ADA.model_copy(update={"welcome_email_delivery": "at-least-once"})

    with pytest.raises(IdempotencyKeyReusedError):
        world.sign_up(at_least_once, key=KEY)
    world.taken(at_least_once)

    assert world.welcome_emails() == ["ada@example.com"]
    assert world.jobs.on(WELCOME) == []  # no welcome job: the outbox follows the stored mode
    assert world.accounts.rows["ada@example.com"].welcome_email_delivery is (
        WelcomeEmailDelivery.AT_MOST_ONCE
    )


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


@pytest.mark.parametrize(
    "key",
    [
        "a",
        "9b2f4c1e-5d7a-4e3b-8f60-2a1c9d8e7f10",
        "x" * 255,
        "printable ascii ~!@#$%^&*()_+{}|:<>?",
    ],
    ids=["one character", "a UUID", "255 characters", "punctuation and spaces"],
)
def test_an_idempotency_key_of_1_to_255_printable_ascii_characters_is_accepted(key: str) -> None:
    assert parse_idempotency_key(key) == key


def test_no_idempotency_key_header_is_no_key() -> None:
    assert parse_idempotency_key(None) is None


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("", "must not be empty"),
        ("x" * 256, "at most 255 characters"),
        ("key\x1b[31m", "printable ASCII"),
        ("key\tkey", "printable ASCII"),
        ("key\x7f", "printable ASCII"),
        ("key\r\nSet-Cookie: a=b", "printable ASCII"),
        ("cl\u00e9", "printable ASCII"),
        ("\u202ekey", "printable ASCII"),
    ],
    ids=["empty", "256 characters", "escape", "tab", "delete", "CR LF", "non-ASCII", "bidi"],
)
def test_an_invalid_idempotency_key_names_the_header_and_never_repeats_it(
    key: str, says: str
) -> None:
    with pytest.raises(InvalidSignupRequest) as raised:
        parse_idempotency_key(key)

    assert raised.value.field == "Idempotency-Key"
    assert says in str(raised.value)
    assert "Idempotency-Key" in str(raised.value)
    if key:
        assert key not in str(raised.value)
