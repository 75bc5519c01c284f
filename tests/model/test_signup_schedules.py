"""Signups, welcome emails and first charges under random schedules.

A Hypothesis state machine signs people up through the real SignupFunction handler
(first signups with either welcome-email guarantee, with an Idempotency-Key or without,
producer retries with the same details and the same key, twenty identical keyed signups
at once, someone else signing up with a taken email and no key),
while faults strike (killed between enqueueing a job and recording it, SQS or SES down,
killed after SES accepted an email); delivers welcome jobs to the real WelcomeEmailFunction
(SES throttled, killed after sending) and first charges to the real BillingFunction (the
billing faults); moves the clock by minutes to weeks and redrives the DLQs. Guarantees:

- at-most-once: never two welcome emails for one account (at every step);
- at-least-once: every account's welcome email arrives (after settling, client retries
  of unanswered signups included);
- twenty identical signups store at most one welcome job and one charge; every account's
  jobs are enqueued once (one more per kill between enqueueing and recording);
- every account's first charge is charged exactly once, as billing guarantees;
- no account oracle (at every step): no answer gives an account's details to a request
  that did not send them, every 409 is the same, and an account holder gets at most one
  signup notice in 24 hours.
"""

from __future__ import annotations

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from tests.model.billing_world import (
    BILLING_FAULTS,
    BillingFault,
    BillingWorld,
    check_exactly_one_charge,
    check_journal_matches_provider,
    check_message_fates,
    check_no_double_charge,
)
from tests.model.harness import (
    BILLING_BATCH_SIZE,
    WELCOME_BATCH_SIZE,
    ModelMachine,
    broken,
    check_nothing_lost,
    model_settings,
    settle,
    tracked,
)
from tests.model.signup_world import (
    DELIVERIES,
    PEOPLE,
    SIGNUP_FAULTS,
    WELCOME_FAULTS,
    SignupFault,
    SignupWorld,
    WelcomeFault,
    check_at_least_once,
    check_at_most_once,
    check_emails_only_to_accounts,
    check_jobs_stored_once,
    check_no_account_oracle,
    check_notices_at_most_daily,
)

pytestmark = pytest.mark.model

people = st.sampled_from(list(PEOPLE))


class SignupSchedules(ModelMachine):
    def build(self) -> None:
        self.billing = BillingWorld(self.clock, self.schedule)
        self.world = SignupWorld(self.clock, self.schedule, self.billing)
        self.twenty_done = False

    def release(self) -> None:
        try:
            self.world.close()
        finally:
            self.billing.close()

    # -------------------------------------------------------------- clients

    @rule(
        person=people,
        delivery=st.sampled_from(DELIVERIES),
        fault=st.sampled_from(SIGNUP_FAULTS),
        keyed=st.booleans(),
    )
    @tracked
    def sign_up(self, person: str, delivery: str, fault: SignupFault, keyed: bool) -> None:
        """A new signup: a new Idempotency-Key, or none."""
        key = self.world.new_key(person) if keyed else None
        outcome, _ = self.world.post(self.world.request(person, delivery), fault, key)
        suffix = "" if fault == "none" else f" ({fault})"
        with_key = f", key {key}" if key else ", no key"
        self.schedule.step(f"sign up {person}, {delivery}{with_key}{suffix}", outcome)

    @rule(person=people, fault=st.sampled_from(SIGNUP_FAULTS))
    @tracked
    def retry_signup(self, person: str, fault: SignupFault) -> None:
        """The client repeats its last request: the same details, the same key (or none)."""
        email, name, _ = PEOPLE[person]
        last = self.world.last_request.get((email, name))
        if last is None:
            self.schedule.step(f"retry {person}'s signup", "never signed up: nothing to do")
            return
        body, key = last
        outcome, _ = self.world.post(body, fault, key)
        suffix = "" if fault == "none" else f" ({fault})"
        self.schedule.step(f"retry {person}'s signup{suffix}", outcome)

    @rule(person=people, delivery=st.sampled_from(DELIVERIES))
    @tracked
    def twenty_identical_signups(self, person: str, delivery: str) -> None:
        if self.twenty_done:  # once per schedule is enough, and keeps examples fast
            self.schedule.step(f"sign up {person} 20 times", "done once already: nothing to do")
            return
        self.twenty_done = True
        email = PEOPLE[person][0]
        jobs_before = (self.world.welcome_jobs[email], self.world.charges[email])
        body = self.world.request(person, delivery)
        key = self.world.new_key(person)  # one signup, retried: the same key each time
        statuses = [self.world.post(body, key=key)[1] for _ in range(20)]
        statuses = [int(status) if status is not None else None for status in statuses]
        new_jobs = self.world.welcome_jobs[email] - jobs_before[0]
        new_charges = self.world.charges[email] - jobs_before[1]
        self.schedule.step(
            f"sign up {person} 20 times, {delivery}",
            f"HTTP {sorted(set(statuses), key=str)}, {new_jobs} welcome job(s) and "
            f"{new_charges} charge(s) enqueued",
        )
        if new_jobs > 1 or new_charges > 1 or len(set(statuses) - {201}) > 1:
            raise broken(
                self.schedule,
                "TWENTY IDENTICAL SIGNUPS STORED MORE THAN ONE JOB",
                [f"{person}: statuses {statuses}, {new_jobs} welcome jobs, {new_charges} charges"],
            )

    @rule(person=people)
    @tracked
    def conflicting_signup(self, person: str) -> None:
        """Someone else signs up with this person's email address (without its key)."""
        body = self.world.request(person, "default", name="Someone Else")
        outcome, _ = self.world.post(body)
        self.schedule.step(f"sign up {person}'s email as Someone Else", outcome)

    # -------------------------------------------------------------- consumers

    @rule(batch=st.integers(1, WELCOME_BATCH_SIZE), fault=st.sampled_from(WELCOME_FAULTS))
    @tracked
    def deliver_welcome_emails(self, batch: int, fault: WelcomeFault) -> None:
        self.schedule.step(*self.world.deliver(batch, fault))

    @rule(batch=st.integers(1, BILLING_BATCH_SIZE), fault=st.sampled_from(BILLING_FAULTS))
    @tracked
    def deliver_charges(self, batch: int, fault: BillingFault) -> None:
        self.schedule.step(*self.billing.deliver(batch, fault))

    @rule(fault=st.sampled_from(WELCOME_FAULTS))
    @tracked
    def deliver_welcome_emails_until_empty(self, fault: WelcomeFault) -> None:
        self.schedule.step(*self.world.outage(fault))

    @rule(fault=st.sampled_from(BILLING_FAULTS))
    @tracked
    def deliver_charges_until_empty(self, fault: BillingFault) -> None:
        self.schedule.step(*self.billing.outage(fault))

    @rule(queue=st.sampled_from(("welcome emails", "charges")))
    @tracked
    def redrive(self, queue: str) -> None:
        self.schedule.step(*(self.world if queue == "welcome emails" else self.billing).redrive())

    # -------------------------------------------------------------- guarantees

    @invariant()
    @tracked
    def never_twice(self) -> None:
        check_at_most_once(self.world)
        check_no_double_charge(self.billing)
        check_no_account_oracle(self.world)
        check_notices_at_most_daily(self.world)

    def settle_and_check(self) -> None:
        retries = self.world.retry_unanswered()
        if retries:
            self.schedule.step("clients retry unanswered signups", f"{retries} request(s)")
        queues = {"WelcomeEmailQueue": self.world.welcome_queue, "BillingQueue": self.billing.queue}
        settle(
            self.schedule,
            {"WelcomeEmailQueue": self.world.drain, "BillingQueue": self.billing.drain},
            queues,
        )
        check_at_most_once(self.world)
        check_no_double_charge(self.billing)
        check_no_account_oracle(self.world)
        check_notices_at_most_daily(self.world)
        check_nothing_lost(self.schedule, queues)
        check_at_least_once(self.world)
        check_emails_only_to_accounts(self.world)
        check_jobs_stored_once(self.world)
        check_exactly_one_charge(self.billing)
        check_journal_matches_provider(self.billing)
        check_message_fates(self.billing)


SignupSchedules.TestCase.settings = model_settings(max_examples=100)
TestSignupSchedules = SignupSchedules.TestCase
