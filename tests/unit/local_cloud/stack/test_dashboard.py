"""The live view renders counters it is given and polls queue depths off the hot path."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from local_cloud.dashboard import QueueDepths, render


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
