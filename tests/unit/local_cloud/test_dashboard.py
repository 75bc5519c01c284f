"""The live view renders counters it is given and polls queue depths off the hot path."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from local_cloud.dashboard import AlarmStates, QueueDepths, render


@dataclass(frozen=True)
class Stats:
    invocations: int = 3
    errors: int = 1
    cold_starts: int = 1
    timeouts: int = 0
    busy_workers: int = 0


class FakeSqs:
    def __init__(self) -> None:
        self.calls = 0

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
        self.calls += 1
        if QueueUrl.endswith("broken"):
            raise RuntimeError("queue gone")
        return {
            "Attributes": {
                "ApproximateNumberOfMessages": "4",
                "ApproximateNumberOfMessagesNotVisible": "2",
            }
        }


def test_the_view_shows_queues_mappings_and_functions() -> None:
    console = Console(width=140, record=True)
    console.print(
        render(
            "orders",
            {"OrdersQueue": (4, 2), "OrdersDeadLetterQueue": (1, 0), "Gone": "error: x"},
            {"OrdersDeadLetterQueue"},
            {"OrdersFunctionOrders": {"batches": 7, "received": 9, "deleted": 8, "failed": 1}},
            {"OrdersFunction": Stats()},
            12.0,
        )
    )
    text = console.export_text()
    assert "OrdersDeadLetterQueue" in text
    assert "DLQ" in text
    assert "OrdersFunctionOrders" in text
    assert "error: x" in text
    assert "up 12 s" in text


def test_queue_depths_are_polled_in_the_background_and_errors_shown() -> None:
    sqs = FakeSqs()
    depths = QueueDepths(sqs, {"Orders": "http://q/orders", "Broken": "http://q/broken"}, 0.05)
    depths.start()
    deadline = time.monotonic() + 5
    while len(depths.snapshot()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    depths.stop()
    snapshot = depths.snapshot()
    assert snapshot["Orders"] == (4, 2)
    assert "queue gone" in str(snapshot["Broken"])


class FakeCloudWatch:
    """DescribeAlarms answering from a list the test changes."""

    def __init__(self, states: dict[str, str]) -> None:
        self.states = states
        self.prefixes: list[str] = []

    def get_paginator(self, operation: str) -> FakeCloudWatch:
        assert operation == "describe_alarms"
        return self

    def paginate(self, AlarmNamePrefix: str) -> list[dict[str, Any]]:
        self.prefixes.append(AlarmNamePrefix)
        alarms = [
            {"AlarmName": name, "StateValue": state, "StateReason": f"why {state}"}
            for name, state in self.states.items()
        ]
        return [{"MetricAlarms": alarms}]


def test_alarm_states_report_each_change_once_and_the_view_shows_them() -> None:
    cloudwatch = FakeCloudWatch({"orders-DlqDepth": "INSUFFICIENT_DATA", "orders-Errors": "OK"})
    changes: list[tuple[str, str, str, str]] = []
    alarms = AlarmStates(cloudwatch, "orders-", on_change=lambda *c: changes.append(c))

    alarms.poll()
    cloudwatch.states["orders-DlqDepth"] = "ALARM"
    alarms.poll()
    alarms.poll()

    assert changes == [("orders-DlqDepth", "INSUFFICIENT_DATA", "ALARM", "why ALARM")]
    assert cloudwatch.prefixes == ["orders-"] * 3
    console = Console(width=140, record=True)
    console.print(render("orders", {}, set(), {}, {}, 1.0, alarm_states=alarms.snapshot()))
    text = console.export_text()
    assert "orders-DlqDepth" in text
    assert "ALARM" in text
    assert "why ALARM" in text
