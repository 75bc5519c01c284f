"""The simulator's clock: the /_simulator/clock hook, key expiry and `created` by it.

The Simulator's real clock is frozen at REAL_NOW, so simulator time moves only when a
test advances it: without the offset, none of the "later" tests below could pass.
"""

from __future__ import annotations

import pytest

from local_cloud.payment_provider.clock import ClockAdvanceError, SimulatorClock
from tests.unit.local_cloud.payment_provider.simulator import (
    REAL_NOW,
    Simulator,
    body,
    error_of,
)

HOUR = 3600


def test_get_reports_the_time_and_post_moves_it_forward(sim: Simulator) -> None:
    before = body(sim.client.get("/_simulator/clock"))
    advanced = sim.advance_clock(25 * HOUR)
    after = body(sim.client.get("/_simulator/clock"))

    assert before == {"now": REAL_NOW, "offset_seconds": 0}
    assert advanced.status_code == 200
    assert body(advanced) == {"now": REAL_NOW + 25 * HOUR, "offset_seconds": 25 * HOUR}
    assert after == body(advanced)  # GET does not move it


def test_advances_add_up_and_may_be_fractional_or_zero(sim: Simulator) -> None:
    sim.advance_clock(60)
    sim.advance_clock(0)

    assert body(sim.advance_clock(0.5))["offset_seconds"] == 60.5


@pytest.mark.parametrize(
    ("sent", "reason"),
    [
        ('{"advance_seconds": -1}', "time never goes backwards"),
        ('{"advance_seconds": "3600"}', "must be a number of seconds, got str"),
        ('{"advance_seconds": true}', "must be a number of seconds, got bool"),
        ('{"advance_seconds": null}', "must be a number of seconds, got NoneType"),
        ('{"advance_seconds": Infinity}', "finite number"),
        ('{"advance_seconds": NaN}', "finite number"),
        ('{"advance_seconds": 1' + "0" * 400 + "}", "finite number"),
        ("{}", "advance_seconds is required"),
        ('{"advance_seconds": 60, "seconds": 60}', "unknown field(s) ['seconds']"),
        ("[3600]", "must be a JSON object"),
        ("in a day", "must be JSON"),
        ("", "must be JSON"),
    ],
)
def test_a_bad_advance_is_a_400_naming_the_field_and_moves_nothing(
    sim: Simulator, sent: str, reason: str
) -> None:
    response = sim.client.post("/_simulator/clock", data=sent, content_type="application/json")

    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_request_error"
    assert error_of(response)["param"] == "advance_seconds"
    assert "advance_seconds" in error_of(response)["message"]
    assert reason in error_of(response)["message"]
    assert body(sim.client.get("/_simulator/clock"))["offset_seconds"] == 0


def test_a_key_younger_than_24_hours_still_replays(sim: Simulator) -> None:
    first = sim.charge(key="txn_1")
    sim.advance_clock(24 * HOUR - 1)
    retry = sim.charge(key="txn_1")

    assert retry.headers["Idempotent-Replayed"] == "true"
    assert body(retry)["id"] == body(first)["id"]
    assert sim.stats()["charges_succeeded"] == 1


def test_after_25_hours_the_key_is_pruned_and_the_request_executes_again(
    sim: Simulator,
) -> None:
    first = sim.charge(key="txn_1")
    sim.advance_clock(25 * HOUR)
    second = sim.charge(key="txn_1")
    retry_of_second = sim.charge(key="txn_1")

    assert second.status_code == 200
    assert "Idempotent-Replayed" not in second.headers
    assert body(second)["id"] != body(first)["id"]
    assert sim.stats()["charges_succeeded"] == 2
    # The key now belongs to the second execution, and replays it for 24 hours more.
    assert retry_of_second.headers["Idempotent-Replayed"] == "true"
    assert body(retry_of_second)["id"] == body(second)["id"]


def test_created_is_simulator_time(sim: Simulator) -> None:
    before = body(sim.charge(key="k1"))
    sim.advance_clock(2 * HOUR)
    after = body(sim.charge(key="k2"))

    assert before["created"] == int(REAL_NOW)
    assert after["created"] == int(REAL_NOW) + 2 * HOUR


def test_reset_forgets_everything_and_returns_to_real_time(sim: Simulator) -> None:
    sim.charge(key="txn_1")
    sim.advance_clock(25 * HOUR)

    sim.client.post("/_simulator/reset")

    assert body(sim.client.get("/_simulator/clock")) == {"now": REAL_NOW, "offset_seconds": 0}
    assert body(sim.charge(key="txn_1"))["created"] == int(REAL_NOW)


def test_the_clock_adds_its_offset_to_the_real_clock_as_that_moves() -> None:
    real = [1000.0]
    clock = SimulatorClock(lambda: real[0])
    clock.advance(50)
    real[0] = 1010.0

    assert clock.now() == 1060.0
    assert clock.to_json() == {"now": 1060.0, "offset_seconds": 50.0}


@pytest.mark.parametrize("step", [-0.001, float("inf"), float("nan"), True, "60"])
def test_the_clock_refuses_steps_that_are_not_forward_numbers(step: object) -> None:
    clock = SimulatorClock(lambda: 1000.0)

    with pytest.raises(ClockAdvanceError, match="advance_seconds"):
        clock.advance(step)  # type: ignore[arg-type]

    assert clock.offset_seconds == 0
