"""How many batches an SQS event source mapping runs at once: Lambda's scaling rule, sped up.

What AWS documents (Lambda developer guide):

* "Configuring scaling behavior for SQS event source mappings": for a standard queue,
  once messages are available Lambda processes five batches at a time; while messages
  are still available it adds up to 300 more concurrent batches per minute (formerly 60 a
  minute), up to 1,000 batches per mapping (the knowledge-center article "Why isn't my
  Lambda function with an Amazon SQS event source optimally scaling?" says 1,250
  concurrent invocations); ScalingConfig.MaximumConcurrency (2-1000)
  and the function's reserved concurrency (else the account's) bound it; when traffic is
  low it scales back to five batches (and may go down to two, which we do not do).
  A FIFO mapping scales to the number of active message groups.
* "Handling errors for an SQS event source in Lambda", "Backoff strategy for failed
  invocations": after function errors and after throttles Lambda gradually backs off,
  reducing the concurrency of the mapping. No figure is given.

What the local cloud does, once per `ScalingRule.interval_seconds` (default 2 s):

* a function error (raised, timed out, crashed) or a throttle in the interval: one step
  (`step`, default 1) down, to no fewer than `backoff_floor` (1) batch;
* else, if every batch the mapping may run was running at some point of the interval and
  messages are still waiting in the queue: one step up, to the ceiling;
* else (idle, or traffic the current concurrency absorbs): one step back toward the
  resting level, min(5, ceiling).

The ceiling is min(MaximumConcurrency, the function's concurrency limit, the local cap
(`max_concurrent_batches`, default max(5, 4 x CPUs)), 1,000); for a FIFO queue also
max(5, active message groups + 1): one more than the groups seen, to find the next one.

The time is compressed, on purpose: the local cloud exists to show behaviour quickly.
One local interval stands for AWS's minute, and one step for its 300 batches: a local
ceiling is 8 to 10 batches, which AWS's step would reach at once and show nothing, so the
climb from 5 to the ceiling takes a few seconds here where AWS takes a minute or more.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

AWS_INITIAL_CONCURRENCY = 5  # batches a standard queue's mapping starts with
AWS_MAXIMUM_CONCURRENCY = 1000  # batches one mapping processes simultaneously, at most
DEFAULT_INTERVAL_SECONDS = 2.0  # AWS's minute, locally


def default_local_cap() -> int:
    """The local cap on one mapping's concurrent batches: max(5, 4 x the CPUs)."""
    return max(AWS_INITIAL_CONCURRENCY, 4 * (os.cpu_count() or 1))


@dataclass(frozen=True)
class ScalingRule:
    initial: int = AWS_INITIAL_CONCURRENCY  # where a mapping starts and rests
    step: int = 1  # batches added or removed per interval
    interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    backoff_floor: int = 1  # the fewest batches while invocations fail


@dataclass(frozen=True)
class ScalingLimits:
    function_limit: int  # LambdaService.concurrency_limit: reserved concurrency, else the cap
    maximum_concurrency: int | None = None  # the mapping's ScalingConfig.MaximumConcurrency
    local_cap: int = AWS_INITIAL_CONCURRENCY  # max_concurrent_batches


def ceiling(limits: ScalingLimits, rule: ScalingRule, *, message_groups: int | None = None) -> int:
    """The most batches the mapping may run at once; at least 1 (a function with reserved
    concurrency 0 is still polled by one, and every batch is throttled, as in AWS)."""
    bounds = [limits.function_limit, limits.local_cap, AWS_MAXIMUM_CONCURRENCY]
    if limits.maximum_concurrency is not None:
        bounds.append(limits.maximum_concurrency)
    if message_groups is not None:
        bounds.append(max(rule.initial, message_groups + 1))
    return max(1, min(bounds))


def initial_concurrency(limits: ScalingLimits, rule: ScalingRule) -> int:
    return min(rule.initial, ceiling(limits, rule))


def target_concurrency(
    current: int,
    *,
    elapsed: float,
    saturated: bool,
    waiting_messages: int,
    failures: int,
    limits: ScalingLimits,
    rule: ScalingRule,
    message_groups: int | None = None,
) -> int:
    """The concurrency for the next interval, from what the mapping saw since its last step.

    elapsed: seconds since the last step (whole intervals count; less than one changes
    nothing); saturated: every batch the mapping may run was running at some point;
    waiting_messages: visible messages in the queue (ApproximateNumberOfMessages);
    failures: function errors and throttles; message_groups: the active message groups of
    a FIFO queue, None for a standard queue.
    """
    steps = int(elapsed // rule.interval_seconds)
    top = ceiling(limits, rule, message_groups=message_groups)
    resting = min(rule.initial, top)
    current = max(1, min(current, top))
    if steps < 1:
        return current
    change = steps * rule.step
    if failures > 0:
        return max(min(rule.backoff_floor, top), current - change)
    if saturated and waiting_messages > 0:
        return min(top, current + change)
    if current > resting:
        return max(resting, current - change)
    return min(resting, current + change)


class ConcurrencyScaler:
    """The rule over time for one mapping: what the interval saw, then a step when it is due.

    Thread safe: invokers record their batches' outcomes, the receiver steps. The clock is
    injected (time.monotonic by default), so tests step it by hand.
    """

    def __init__(
        self,
        limits: ScalingLimits,
        rule: ScalingRule | None = None,
        *,
        fifo: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self.rule = rule or ScalingRule()
        self._fifo = fifo
        self._clock = clock
        self._lock = threading.Lock()
        self.current = initial_concurrency(limits, self.rule)
        self._last_step = clock()
        self._failures = 0
        self._groups_in_flight: dict[str, int] = {}
        self._groups_seen: set[str] = set()

    def record_outcome(self, *, failed: bool) -> None:
        """One batch's invocation: failed is a function error or a throttle."""
        with self._lock:
            self._failures += int(failed)

    def batch_started(self, groups: Iterable[str]) -> None:
        """A FIFO batch handed to an invoker, with the message groups it holds."""
        with self._lock:
            for group in set(groups):
                self._groups_in_flight[group] = self._groups_in_flight.get(group, 0) + 1
                self._groups_seen.add(group)

    def batch_ended(self, groups: Iterable[str]) -> None:
        with self._lock:
            for group in set(groups):
                left = self._groups_in_flight.get(group, 0) - 1
                if left > 0:
                    self._groups_in_flight[group] = left
                else:
                    self._groups_in_flight.pop(group, None)

    def seconds_to_next_step(self) -> float:
        return max(0.0, self._last_step + self.rule.interval_seconds - self._clock())

    def due(self) -> bool:
        return self.seconds_to_next_step() == 0.0

    def step(self, *, saturated: bool, waiting_messages: int) -> int:
        """Apply the rule to what was seen since the last step, if one is due; the concurrency."""
        with self._lock:
            now = self._clock()
            if now - self._last_step < self.rule.interval_seconds:
                return self.current
            groups = len(self._groups_seen | set(self._groups_in_flight)) if self._fifo else None
            self.current = target_concurrency(
                self.current,
                elapsed=now - self._last_step,
                saturated=saturated,
                waiting_messages=waiting_messages,
                failures=self._failures,
                limits=self.limits,
                rule=self.rule,
                message_groups=groups,
            )
            self._last_step = now
            self._failures = 0
            self._groups_seen.clear()
            return self.current
