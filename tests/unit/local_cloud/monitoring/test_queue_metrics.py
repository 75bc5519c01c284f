"""The AWS/SQS metrics of one queue (local_cloud/monitoring/queue_metrics.py)."""

from __future__ import annotations

from local_cloud.monitoring.queue_metrics import (
    NAMESPACE,
    QueuedMessage,
    QueueSnapshot,
    metric_data,
    snapshot,
)

NOW = 1_796_040_000.0  # 2026-11-30T12:00:00Z


def message(
    age: float, *, receives: int = 0, visible: bool = True, delayed: bool = False
) -> QueuedMessage:
    return QueuedMessage(
        sent_at=NOW - age, receive_count=receives, visible=visible, delayed=delayed
    )


def test_messages_are_counted_as_visible_in_flight_or_delayed() -> None:
    queue = [
        message(10),
        message(20),
        message(30, receives=1, visible=False),
        message(5, delayed=True),
        message(6, visible=False, delayed=True),
    ]

    counts = snapshot(queue, now=NOW)

    assert (counts.visible, counts.in_flight, counts.delayed) == (2, 1, 2)


def test_an_empty_queue_is_all_zeros() -> None:
    assert snapshot([], now=NOW) == QueueSnapshot(0, 0, 0, 0.0)


def test_the_age_is_whole_seconds_since_the_oldest_message_was_sent() -> None:
    queue = [message(12.9), message(125.7, receives=1, visible=False), message(40, delayed=True)]

    assert snapshot(queue, now=NOW).oldest_age_seconds == 125.0


def test_a_message_received_three_times_no_longer_counts_for_the_age() -> None:
    queue = [message(500, receives=3, visible=False), message(100, receives=2)]

    assert snapshot(queue, now=NOW).oldest_age_seconds == 100.0


def test_a_message_received_twice_still_counts_for_the_age() -> None:
    queue = [message(500, receives=2, visible=False), message(100)]

    assert snapshot(queue, now=NOW).oldest_age_seconds == 500.0


def test_messages_received_three_times_count_when_no_other_is_left() -> None:
    queue = [message(500, receives=3), message(300, receives=7, visible=False)]

    assert snapshot(queue, now=NOW).oldest_age_seconds == 500.0


def test_a_message_sent_after_now_has_age_zero() -> None:
    assert snapshot([message(-5)], now=NOW).oldest_age_seconds == 0.0


def test_metric_data_is_four_queue_name_datums_with_their_units() -> None:
    data = metric_data("BillingDeadLetterQueue", QueueSnapshot(3, 2, 1, 42.0))

    assert NAMESPACE == "AWS/SQS"
    assert [(d["MetricName"], d["Value"], d["Unit"]) for d in data] == [
        ("ApproximateNumberOfMessagesVisible", 3.0, "Count"),
        ("ApproximateNumberOfMessagesNotVisible", 2.0, "Count"),
        ("ApproximateNumberOfMessagesDelayed", 1.0, "Count"),
        ("ApproximateAgeOfOldestMessage", 42.0, "Seconds"),
    ]
    assert all(
        d["Dimensions"] == [{"Name": "QueueName", "Value": "BillingDeadLetterQueue"}] for d in data
    )
    assert all(isinstance(d["Value"], float) for d in data)
