"""Focused searches: the billing machine restricted to one double-charge path at a time.

Not collected by `pytest tests/model` (the name does not start with test_); run it by
name: `.venv/bin/python -m pytest tests/model/focused.py`. On the current code every
machine passes. Against code that lacks a guard, each finds and shrinks its own path,
where the full machine reports only the smallest double charge of all:

- LateDuplicate: no faults; a copy of a settled charge comes back weeks later.
- FailedAfterCharge: the provider charged, the delivery failed (answer lost, journal
  write throttled), the message returns after the provider forgot the key.
- KilledAfterCharge: the function killed after the provider charged, then redelivered.
- ConflictingCopyKilled: the transaction ID reused with other details, the function killed
  right after saving a record's in-progress idempotency record (or the provider timing
  out): a valid charge that meets a conflicting copy's IN_PROGRESS record must be retried,
  never dead-lettered as a conflict (`check_conflicts_are_real`).
- *Polling: the consumer keeps polling, so the clock jumps only while BillingQueue is
  empty: a message outlives a jump only in the DLQ, and returns by a redrive.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import rule

from tests.model.billing_world import BillingFault
from tests.model.harness import BILLING_BATCH_SIZE, DURATIONS, model_settings, tracked
from tests.model.test_billing_schedules import BillingSchedules

pytestmark = pytest.mark.model


class Polling(BillingSchedules):
    """The consumer keeps polling: no clock jump while BillingQueue holds a message."""

    @rule(by=st.sampled_from(list(DURATIONS)))
    @tracked
    def advance(self, by: str) -> None:
        if self.world.queue.waiting:
            self.schedule.step(f"advance {by}", "the poller is busy: nothing to do")
            return
        self.clock.advance(DURATIONS[by])
        self.schedule.step(f"advance {by}")


def focused(
    name: str,
    base: type[BillingSchedules],
    faults: tuple[BillingFault, ...],
    *hidden: str,
    conflicting: bool = False,
) -> type[BillingSchedules]:
    """`base` with only these faults, without invalid sends and `hidden`, and without
    conflicting sends unless `conflicting`."""
    choices: tuple[BillingFault, ...] = ("none", *faults)

    @rule(batch=st.integers(1, BILLING_BATCH_SIZE), fault=st.sampled_from(choices))
    @tracked
    def deliver(self: BillingSchedules, batch: int, fault: BillingFault) -> None:
        self.schedule.step(*self.world.deliver(batch, fault))

    @rule(fault=st.sampled_from(choices))
    @tracked
    def deliver_until_empty(self: BillingSchedules, fault: BillingFault) -> None:
        self.schedule.step(*self.world.outage(fault))

    # A plain attribute in the subclass hides the inherited rule from Hypothesis.
    namespace: dict[str, Any] = dict.fromkeys(
        (*(() if conflicting else ("send_conflicting",)), "send_invalid", *hidden)
    )
    namespace |= {"deliver": deliver, "deliver_until_empty": deliver_until_empty}
    machine: type[BillingSchedules] = type(name, (base,), namespace)
    machine.TestCase.settings = model_settings(max_examples=300)
    return machine


LateDuplicate = focused("LateDuplicate", BillingSchedules, ())
FailedAfterCharge = focused(
    "FailedAfterCharge",
    BillingSchedules,
    ("answer lost", "journal write throttled"),
    "send_duplicate",
)
FailedAfterChargePolling = focused(
    "FailedAfterChargePolling",
    Polling,
    ("answer lost", "journal write throttled"),
    "send_duplicate",
)
KilledAfterCharge = focused(
    "KilledAfterCharge", BillingSchedules, ("kill after charge",), "send_duplicate"
)
KilledAfterChargePolling = focused(
    "KilledAfterChargePolling", Polling, ("kill after charge",), "send_duplicate"
)
ConflictingCopyKilled = focused(
    "ConflictingCopyKilled",
    BillingSchedules,
    ("provider times out", "kill after in-progress record"),
    "redrive",
    conflicting=True,
)

TestLateDuplicate = LateDuplicate.TestCase
TestFailedAfterCharge = FailedAfterCharge.TestCase
TestFailedAfterChargePolling = FailedAfterChargePolling.TestCase
TestKilledAfterCharge = KilledAfterCharge.TestCase
TestKilledAfterChargePolling = KilledAfterChargePolling.TestCase
TestConflictingCopyKilled = ConflictingCopyKilled.TestCase
