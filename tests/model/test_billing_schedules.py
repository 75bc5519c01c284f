"""Billing under random schedules: one charge per valid transaction, whatever happens.

A Hypothesis state machine sends charges (valid ones, duplicates with the same body,
the same transaction ID with other details, invalid messages), delivers them in batches
to the real BillingFunction handler while faults strike (see `BILLING_FAULTS`: the
provider times out, charges and loses its answer, is down or its search lags; the function
is killed after the provider charged, after a journal write or after saving an in-progress
idempotency record; DynamoDB throttles a write
or loses its answer once the provider answered; a poison message's copy to the DLQ fails;
the invocation is nearly out of time), delivers until the queue is empty under one fault
(an outage), moves the clock by minutes to weeks, and redrives the DLQ. At each step no
transaction may be charged twice; once the schedule settles (`harness.settle`) every
guarantee is checked (`billing_world.check_*`).

A failure prints the schedule twice: as the rule calls Hypothesis replays
(`state.deliver(batch=1, fault='kill after charge')`) with a note after each, and as one
line such as "send txn_0; deliver txn_0 (kill after charge); advance 25 h; ...".
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, invariant, rule

from tests.model.billing_world import (
    BILLING_FAULTS,
    BillingFault,
    BillingWorld,
    check_conflicts_are_real,
    check_exactly_one_charge,
    check_final_rows_answer_without_the_provider,
    check_invalid_never_charged,
    check_journal_matches_provider,
    check_message_fates,
    check_no_double_charge,
)
from tests.model.harness import (
    BILLING_BATCH_SIZE,
    ModelMachine,
    check_nothing_lost,
    model_settings,
    settle,
    tracked,
)

pytestmark = pytest.mark.model

CARDS = ("pm_card_visa", "pm_card_chargeDeclined")
# What a producer may change while reusing a transaction ID.
CHANGES: dict[str, tuple[str, Any]] = {
    "amount": ("amount", 2500),
    "card": ("payment_method", "pm_card_mastercard"),
    "account": ("account_id", "acc_someone_else"),
    "currency": ("currency", "eur"),
}
# Messages that are not valid charges, named by their problem.
INVALID: dict[str, Callable[[str], dict[str, Any] | str]] = {
    "not JSON": lambda txn: '{"transaction_id": "' + txn + '", "amount": ',
    "amount 0": lambda txn: charge_body(txn, amount=0),
    "amount above the maximum": lambda txn: charge_body(txn, amount=100_000_000),
    "a card number": lambda txn: charge_body(txn, payment_method="pm_4242424242424242"),
    "unknown currency": lambda txn: charge_body(txn, currency="usx"),
    "amount as a string": lambda txn: charge_body(txn, amount="1000"),
    "an extra field": lambda txn: {**charge_body(txn), "coupon": "FREE"},
}


def charge_body(txn: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "transaction_id": txn,
        "account_id": "acc_model_1",
        "amount": 1000,
        "currency": "usd",
        "payment_method": "pm_card_visa",
    }
    return body | overrides


class BillingSchedules(ModelMachine):
    # Bundle values print as their variable names: txn_0 is the transaction txn_0.
    transactions = Bundle("txn")

    def build(self) -> None:
        self.world = BillingWorld(self.clock, self.schedule)
        self.bodies: dict[str, dict[str, Any]] = {}
        self._transaction_ids = itertools.count()
        self._invalid_ids = itertools.count()

    def release(self) -> None:
        self.world.close()

    # -------------------------------------------------------------- producers

    @rule(target=transactions, card=st.sampled_from(CARDS))
    @tracked
    def send_charge(self, card: str) -> str:
        txn = f"txn_{next(self._transaction_ids)}"
        body = charge_body(txn, amount=1000 + len(self.bodies), payment_method=card)
        self.bodies[txn] = body
        self.world.send(body, txn)
        declines = " (a card that declines)" if card == "pm_card_chargeDeclined" else ""
        self.schedule.step(f"send {txn}{declines}")
        return txn

    @rule(txn=transactions)
    @tracked
    def send_duplicate(self, txn: str) -> None:
        """A producer retry or an SQS duplicate: the same body, a new message."""
        self.world.send(self.bodies[txn], f"{txn} (dup)")
        self.schedule.step(f"send {txn} again (same body)")

    @rule(txn=transactions, change=st.sampled_from(list(CHANGES)))
    @tracked
    def send_conflicting(self, txn: str, change: str) -> None:
        """The transaction ID reused for another charge: never a charge, never a replay."""
        name, value = CHANGES[change]
        self.world.send({**self.bodies[txn], name: value}, f"{txn} (other {change})")
        self.schedule.step(f"send {txn} with another {change}")

    @rule(kind=st.sampled_from(list(INVALID)))
    @tracked
    def send_invalid(self, kind: str) -> None:
        txn = f"txn_invalid_{next(self._invalid_ids)}"
        self.world.send(INVALID[kind](txn), f"{txn} ({kind})")
        self.schedule.step(f"send {txn}: invalid, {kind}")

    # -------------------------------------------------------------- the consumer

    # No preconditions: an empty queue makes a step a no-op. Preconditions would make
    # Hypothesis discard most shrink attempts (a deleted send disables a later delivery).
    @rule(batch=st.integers(1, BILLING_BATCH_SIZE), fault=st.sampled_from(BILLING_FAULTS))
    @tracked
    def deliver(self, batch: int, fault: BillingFault) -> None:
        self.schedule.step(*self.world.deliver(batch, fault))

    @rule(fault=st.sampled_from(BILLING_FAULTS))
    @tracked
    def deliver_until_empty(self, fault: BillingFault) -> None:
        """Receives keep coming until every message is processed or dead-lettered, the
        fault striking each (an outage: five receives of a message can all fail)."""
        self.schedule.step(*self.world.outage(fault))

    @rule()
    @tracked
    def redrive(self) -> None:
        self.schedule.step(*self.world.redrive())

    # -------------------------------------------------------------- guarantees

    @invariant()
    @tracked
    def never_charged_twice(self) -> None:
        check_no_double_charge(self.world)
        check_invalid_never_charged(self.world)
        check_final_rows_answer_without_the_provider(self.world)

    def settle_and_check(self) -> None:
        settle(
            self.schedule, {"BillingQueue": self.world.drain}, {"BillingQueue": self.world.queue}
        )
        check_no_double_charge(self.world)
        check_invalid_never_charged(self.world)
        check_final_rows_answer_without_the_provider(self.world)
        check_nothing_lost(self.schedule, {"BillingQueue": self.world.queue})
        check_exactly_one_charge(self.world)
        check_journal_matches_provider(self.world)
        check_message_fates(self.world)
        check_conflicts_are_real(self.world)


BillingSchedules.TestCase.settings = model_settings(max_examples=150)
TestBillingSchedules = BillingSchedules.TestCase
