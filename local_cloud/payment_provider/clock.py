"""The simulator's clock: the real clock plus an offset that tests can only move forward.

Stripe's behaviour depends on time in ways a test cannot wait for: idempotency keys are
pruned once at least 24 hours old, and every object carries a `created` timestamp. The
`POST /_simulator/clock` hook advances this clock so a test can, say, retry a charge
25 hours "later" in a few milliseconds and see the key executed afresh.

Time never goes backwards while the simulator remembers anything: the offset only
grows. `/_simulator/reset` forgets every intent and key, and the offset with them (the
simulator is then as good as restarted, so nothing can observe the jump back).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class ClockAdvanceError(ValueError):
    """An advance the clock refuses; the message names `advance_seconds` and the problem."""


def advance_seconds_from_body(body: str) -> float:
    """The step a test posts to /_simulator/clock as `{"advance_seconds": N}`."""
    try:
        spec = json.loads(body)
    except ValueError as error:
        raise ClockAdvanceError(
            f'the body must be JSON such as {{"advance_seconds": 90000}} ({error}).'
        ) from None
    if not isinstance(spec, dict):
        raise ClockAdvanceError(
            f'the body must be a JSON object such as {{"advance_seconds": 90000}}, got {spec!r}.'
        )
    unknown = sorted(set(spec) - {"advance_seconds"})
    if unknown:
        raise ClockAdvanceError(f"unknown field(s) {unknown}; the only field is advance_seconds.")
    if "advance_seconds" not in spec:
        raise ClockAdvanceError("advance_seconds is required (a number of seconds >= 0).")
    return _check_step(spec["advance_seconds"])


def _check_step(seconds: object) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ClockAdvanceError(
            f"advance_seconds must be a number of seconds, got {type(seconds).__name__} "
            f"{seconds!r}."
        )
    try:
        step = float(seconds)
    except OverflowError:  # an integer too large for a float
        step = math.inf
    if not math.isfinite(step) or step < 0:
        raise ClockAdvanceError(
            "advance_seconds must be a finite number >= 0 (time never goes backwards), "
            f"got {seconds!r}."
        )
    return step


@dataclass
class SimulatorClock:
    """Thread-safe: requests read it while a test hook advances it."""

    real_clock: Callable[[], float] = time.time
    _offset_seconds: float = field(default=0.0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def now(self) -> float:
        """Epoch seconds as the simulator sees them; pass this as a `clock` callable."""
        with self._lock:
            return self.real_clock() + self._offset_seconds

    @property
    def offset_seconds(self) -> float:
        with self._lock:
            return self._offset_seconds

    def advance(self, seconds: float) -> None:
        """Move simulator time forward; a negative, infinite or NaN step is refused."""
        step = _check_step(seconds)
        with self._lock:
            self._offset_seconds += step

    def reset(self) -> None:
        """Back to real time; only for a full simulator reset, when nothing is remembered."""
        with self._lock:
            self._offset_seconds = 0.0

    def to_json(self) -> dict[str, float]:
        """What the clock hook answers: `now` and `offset_seconds` read together."""
        with self._lock:
            offset = self._offset_seconds
            return {"now": self.real_clock() + offset, "offset_seconds": offset}
