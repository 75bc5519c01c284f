"""One way to time the steps of a start-up and a deployment."""

from __future__ import annotations

import pytest

from local_cloud.phases import Stopwatch


def test_a_step_is_recorded_under_its_name() -> None:
    phases: dict[str, float] = {}
    watch = Stopwatch(phases)
    watch.start()
    seconds = watch.stop("build")
    assert phases == {"build": seconds}
    assert seconds >= 0


def test_a_step_stopped_twice_or_never_started_is_a_mistake() -> None:
    watch = Stopwatch({})
    with pytest.raises(RuntimeError, match="'zip' stopped before it was started"):
        watch.stop("zip")
    watch.start()
    watch.stop("zip")
    with pytest.raises(RuntimeError, match="'zip' stopped before it was started"):
        watch.stop("zip")
