"""How long each step of a start-up or a deployment took, timed one way everywhere.

    watch = Stopwatch(phases)   # phases: the dict the report reads (name -> seconds)
    watch.start()
    ...                         # the step
    watch.stop("build")         # phases["build"] = the seconds since start()

One Stopwatch per thread of steps: the local cloud times steps that overlap (the endpoint
starts in a thread of its own while the stack builds), each on its own watch, into one dict.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping


class Stopwatch:
    def __init__(self, phases: MutableMapping[str, float]) -> None:
        self.phases = phases
        self._started: float | None = None

    def start(self) -> None:
        self._started = time.perf_counter()

    def stop(self, name: str) -> float:
        """Record the seconds since start() as phase `name`, and return them."""
        if self._started is None:
            raise RuntimeError(f"phase {name!r} stopped before it was started")
        seconds = time.perf_counter() - self._started
        self.phases[name] = seconds
        self._started = None
        return seconds
