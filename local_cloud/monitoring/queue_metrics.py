"""The AWS/SQS metrics of one queue, computed the way SQS documents them.

- ApproximateNumberOfMessagesVisible: messages available for retrieval;
- ApproximateNumberOfMessagesNotVisible: messages in flight (received, not deleted);
- ApproximateNumberOfMessagesDelayed: messages sent with a delay not yet over;
- ApproximateAgeOfOldestMessage: seconds since the oldest message still in the queue
  was sent. As SQS does, a message received three times or more without being deleted
  no longer counts (it moved "to the back of the queue"), unless no other message is
  left; in a dead-letter queue a message's age runs from when it was first sent, since a
  redrive by maxReceiveCount keeps its timestamp.

SQS publishes them every minute for active queues; the local cloud samples every
`--monitoring-interval` seconds (default 10) and always, so an alarm fires in seconds.
Each is a datum with the dimension QueueName.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

NAMESPACE = "AWS/SQS"
# After this many receives, a message no longer counts for ApproximateAgeOfOldestMessage.
AGE_IGNORES_AFTER_RECEIVES = 3


@dataclass(frozen=True)
class QueuedMessage:
    sent_at: float  # epoch seconds
    receive_count: int
    visible: bool
    delayed: bool


@dataclass(frozen=True)
class QueueSnapshot:
    visible: int
    in_flight: int
    delayed: int
    oldest_age_seconds: float


def snapshot(messages: Iterable[QueuedMessage], *, now: float) -> QueueSnapshot:
    listed = list(messages)
    visible = sum(1 for m in listed if m.visible and not m.delayed)
    delayed = sum(1 for m in listed if m.delayed)
    in_flight = sum(1 for m in listed if not m.visible and not m.delayed)
    counted = [m for m in listed if m.receive_count < AGE_IGNORES_AFTER_RECEIVES] or listed
    oldest = min((m.sent_at for m in counted), default=None)
    age = 0.0 if oldest is None else max(0.0, now - oldest)
    return QueueSnapshot(visible, in_flight, delayed, float(int(age)))


def metric_data(queue_name: str, queue: QueueSnapshot) -> list[dict[str, object]]:
    """PutMetricData entries (namespace AWS/SQS) for one queue's snapshot."""
    dimensions = [{"Name": "QueueName", "Value": queue_name}]
    return [
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Value": float(queue.visible),
            "Unit": "Count",
            "Dimensions": dimensions,
        },
        {
            "MetricName": "ApproximateNumberOfMessagesNotVisible",
            "Value": float(queue.in_flight),
            "Unit": "Count",
            "Dimensions": dimensions,
        },
        {
            "MetricName": "ApproximateNumberOfMessagesDelayed",
            "Value": float(queue.delayed),
            "Unit": "Count",
            "Dimensions": dimensions,
        },
        {
            "MetricName": "ApproximateAgeOfOldestMessage",
            "Value": queue.oldest_age_seconds,
            "Unit": "Seconds",
            "Dimensions": dimensions,
        },
    ]
