"""The scaling rule of an SQS mapping (scaling.py): pure functions and a clock stepped by hand."""

from __future__ import annotations

import pytest

from local_cloud.event_sources import scaling
from local_cloud.event_sources.scaling import (
    ConcurrencyScaler,
    ScalingLimits,
    ScalingRule,
    ceiling,
    initial_concurrency,
    target_concurrency,
)

RULE = ScalingRule(initial=5, step=1, interval_seconds=2.0, backoff_floor=1)
ROOMY = ScalingLimits(function_limit=1000, local_cap=1000)


def _next(
    current: int,
    *,
    limits: ScalingLimits = ROOMY,
    elapsed: float = 2.0,
    saturated: bool = False,
    waiting: int = 0,
    failures: int = 0,
    groups: int | None = None,
) -> int:
    return target_concurrency(
        current,
        elapsed=elapsed,
        saturated=saturated,
        waiting_messages=waiting,
        failures=failures,
        limits=limits,
        rule=RULE,
        message_groups=groups,
    )


def _climb(limits: ScalingLimits, intervals: int, start: int = 5) -> list[int]:
    seen = [start]
    for _ in range(intervals):
        seen.append(_next(seen[-1], limits=limits, saturated=True, waiting=100))
    return seen


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- where it starts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        (ScalingLimits(function_limit=10, local_cap=8), 5),
        (ScalingLimits(function_limit=10, maximum_concurrency=2, local_cap=8), 2),
        (ScalingLimits(function_limit=1, local_cap=8), 1),
        (ScalingLimits(function_limit=10, local_cap=3), 3),
        (ScalingLimits(function_limit=0, local_cap=8), 1),  # reserved 0: polled, throttled
    ],
)
def test_a_mapping_starts_at_five_batches_within_its_limits(
    limits: ScalingLimits, expected: int
) -> None:
    assert initial_concurrency(limits, RULE) == expected


# -- scaling up --------------------------------------------------------------------------------


def test_while_messages_wait_and_every_batch_runs_it_adds_one_batch_per_interval() -> None:
    assert _climb(ROOMY, 4) == [5, 6, 7, 8, 9]


def test_several_intervals_since_the_last_step_count_as_several_steps() -> None:
    assert _next(5, elapsed=6.5, saturated=True, waiting=10) == 8


def test_less_than_an_interval_changes_nothing() -> None:
    assert _next(5, elapsed=1.9, saturated=True, waiting=10) == 5
    assert _next(5, elapsed=1.9, failures=3) == 5


def test_it_does_not_scale_up_while_batches_are_free_or_nothing_waits() -> None:
    assert _next(5, saturated=False, waiting=100) == 5  # a free batch takes them anyway
    assert _next(5, saturated=True, waiting=0) == 5


@pytest.mark.parametrize(
    ("limits", "top"),
    [
        (ScalingLimits(function_limit=1000, maximum_concurrency=7, local_cap=1000), 7),
        (ScalingLimits(function_limit=6, local_cap=1000), 6),  # reserved concurrency
        (ScalingLimits(function_limit=1000, local_cap=8), 8),  # max_concurrent_batches
        (ScalingLimits(function_limit=5000, local_cap=5000), 1000),  # AWS's own maximum
    ],
)
def test_scaling_up_stops_at_each_limit(limits: ScalingLimits, top: int) -> None:
    climbed = _climb(limits, 1200)

    assert max(climbed) == climbed[-1] == top
    assert ceiling(limits, RULE) == top


def test_a_concurrency_above_a_lowered_limit_is_brought_down_to_it() -> None:
    lowered = ScalingLimits(function_limit=6, local_cap=8)

    assert _next(9, limits=lowered, saturated=True, waiting=10) == 6
    assert _next(9, limits=lowered) == 5


def test_a_fifo_queue_scales_to_one_more_than_its_active_message_groups() -> None:
    assert _next(5, saturated=True, waiting=50, groups=1) == 5  # never below the start
    assert _next(5, saturated=True, waiting=50, groups=5) == 6  # to find a sixth group
    assert _next(6, saturated=True, waiting=50, groups=5) == 6
    assert _next(6, saturated=True, waiting=50, groups=9) == 7
    assert _next(8, saturated=True, waiting=50, groups=2) == 5


# -- backing off -------------------------------------------------------------------------------


def test_errors_or_throttles_take_a_batch_away_per_interval_even_with_messages_waiting() -> None:
    seen = [8]
    for _ in range(10):
        seen.append(_next(seen[-1], saturated=True, waiting=100, failures=2))

    assert seen == [8, 7, 6, 5, 4, 3, 2, 1, 1, 1, 1]


def test_after_errors_stop_it_climbs_again_while_messages_wait() -> None:
    assert _next(1, saturated=True, waiting=100) == 2


# -- scaling down ------------------------------------------------------------------------------


def test_when_the_queue_is_idle_it_steps_back_to_five() -> None:
    seen = [9]
    for _ in range(6):
        seen.append(_next(seen[-1]))

    assert seen == [9, 8, 7, 6, 5, 5, 5]


def test_traffic_the_concurrency_absorbs_counts_as_low_traffic() -> None:
    assert _next(9, saturated=False, waiting=100) == 8


def test_after_a_back_off_an_idle_queue_brings_it_back_to_five() -> None:
    assert _next(2) == 3
    assert _next(2, limits=ScalingLimits(function_limit=2, local_cap=8)) == 2


# -- the local cap -----------------------------------------------------------------------------


@pytest.mark.parametrize(("cpus", "cap"), [(1, 5), (2, 8), (16, 64), (None, 5)])
def test_the_local_cap_is_four_batches_per_cpu_and_at_least_five(
    monkeypatch: pytest.MonkeyPatch, cpus: int | None, cap: int
) -> None:
    monkeypatch.setattr(scaling.os, "cpu_count", lambda: cpus)

    assert scaling.default_local_cap() == cap


# -- over time: the scaler with an injected clock ----------------------------------------------


def test_the_scaler_steps_once_per_interval_with_what_the_interval_saw() -> None:
    clock = Clock()
    scaler = ConcurrencyScaler(ScalingLimits(function_limit=10, local_cap=8), RULE, clock=clock)
    assert scaler.current == 5
    assert not scaler.due()
    assert scaler.seconds_to_next_step() == 2.0

    clock.now += 1.0
    assert scaler.step(saturated=True, waiting_messages=40) == 5  # not due yet
    clock.now += 1.0
    assert scaler.due()
    assert scaler.step(saturated=True, waiting_messages=40) == 6
    assert not scaler.due()

    scaler.record_outcome(failed=False)
    scaler.record_outcome(failed=True)
    clock.now += 2.0
    assert scaler.step(saturated=True, waiting_messages=40) == 5  # backed off

    clock.now += 2.0  # the failure belonged to the last interval only
    assert scaler.step(saturated=True, waiting_messages=40) == 6
    for _ in range(10):
        clock.now += 2.0
        scaler.step(saturated=True, waiting_messages=40)
    assert scaler.current == 8  # the local cap

    clock.now += 2.0
    assert scaler.step(saturated=False, waiting_messages=0) == 7  # idle: back toward five


def test_the_scaler_counts_the_fifo_groups_in_flight_and_seen_in_the_interval() -> None:
    clock = Clock()
    scaler = ConcurrencyScaler(
        ScalingLimits(function_limit=10, local_cap=8), RULE, fifo=True, clock=clock
    )
    for group in ("a", "b", "c", "d", "e"):
        scaler.batch_started([group, group])
    scaler.batch_ended(["e"])  # seen in this interval, so still active

    clock.now += 2.0
    assert scaler.step(saturated=True, waiting_messages=9) == 6  # five groups: look for a sixth

    clock.now += 2.0  # e is neither in flight nor seen any more: four groups
    assert scaler.step(saturated=True, waiting_messages=9) == 5
