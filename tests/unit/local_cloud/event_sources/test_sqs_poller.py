"""The poller with an in-process fake queue and a fake Lambda service: no sockets, no processes."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from local_cloud.event_sources import (
    InvalidEventSourceMapping,
    SqsEventSourcePoller,
    validate_mapping,
)
from local_cloud.lambda_runtime import InvocationResult, Throttled
from local_cloud.model import FunctionSpec, SqsEventSourceSpec

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:jobs"
FIFO_ARN = "arn:aws:sqs:us-east-1:123456789012:jobs.fifo"


class FakeQueue:
    """Just enough of an SQS client: a list of messages, every call recorded."""

    def __init__(
        self, messages: list[dict[str, Any]], *, failing_deletes: frozenset[str] = frozenset()
    ):
        self.messages = messages
        self.failing_deletes = failing_deletes
        self.receives: list[dict[str, Any]] = []
        self.deleted: list[str] = []
        self.released: list[str] = []

    def receive_message(self, **request: Any) -> dict[str, Any]:
        self.receives.append(request)
        taken = self.messages[: request["MaxNumberOfMessages"]]
        del self.messages[: len(taken)]
        return {"Messages": taken} if taken else {}

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        assert len(Entries) <= 10
        failed = []
        for entry in Entries:
            if entry["ReceiptHandle"] in self.failing_deletes:
                failed.append({"Id": entry["Id"], "Code": "ReceiptHandleIsInvalid", "Message": "x"})
            else:
                self.deleted.append(entry["ReceiptHandle"])
        return {"Successful": [], "Failed": failed}

    def change_message_visibility_batch(
        self, QueueUrl: str, Entries: list[dict[str, Any]]
    ) -> dict[str, Any]:
        assert all(entry["VisibilityTimeout"] == 0 for entry in Entries)
        self.released.extend(entry["ReceiptHandle"] for entry in Entries)
        return {"Successful": [], "Failed": []}

    def get_queue_attributes(self, **request: Any) -> dict[str, Any]:
        return {"Attributes": {"VisibilityTimeout": "30"}}


class FakeLambda:
    """Answers every invocation with `response`, or raises `Throttled`; records the events."""

    def __init__(
        self, response: Any = None, *, error: dict[str, Any] | None = None, limit: int = 10
    ):
        self.response = response
        self.error = error
        self.limit = limit
        self.throttle = False
        self.events: list[dict[str, Any]] = []

    def invoke(self, function_name_or_logical_id: str, event: Any) -> InvocationResult:
        if self.throttle:
            raise Throttled(function_name_or_logical_id, 1, True)
        self.events.append(event)
        raw = json.dumps(self.response)
        return InvocationResult(
            payload=self.response,
            error=self.error,
            logs="",
            duration_ms=1.0,
            cold_start=False,
            raw_payload=raw,
        )

    def function(self, name_or_logical_id: str) -> FunctionSpec:
        return FunctionSpec("Fn", "fn", "app.handler", "python3.13", Path("."), timeout_seconds=3)

    def concurrency_limit(self, name_or_logical_id: str) -> int:
        return self.limit


def _message(number: int, group: str | None = None) -> dict[str, Any]:
    attributes = {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": "1",
        "SenderId": "A",
        "ApproximateFirstReceiveTimestamp": "1",
    }
    if group is not None:
        attributes |= {
            "MessageGroupId": group,
            "MessageDeduplicationId": str(number),
            "SequenceNumber": str(number),
        }
    return {
        "MessageId": f"m{number}",
        "ReceiptHandle": f"r{number}",
        "Body": "{}",
        "MD5OfBody": "x",
        "Attributes": attributes,
    }


def _poller(queue: FakeQueue, lambda_: FakeLambda, **options: Any) -> SqsEventSourcePoller:
    spec = SqsEventSourceSpec(
        logical_id="Mapping",
        function_name="fn",
        queue_arn=options.pop("queue_arn", QUEUE_ARN),
        queue_url="http://queue",
        **options,
    )
    return SqsEventSourcePoller(
        spec,
        lambda_,
        endpoint_url="http://unused",
        region="us-east-1",
        client_factory=lambda: queue,
    )


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"batch_size": 0}, "BatchSize 0"),
        ({"batch_size": 10_001, "maximum_batching_window_seconds": 1}, "BatchSize 10001"),
        ({"batch_size": 11, "queue_arn": FIFO_ARN}, "FIFO"),
        ({"batch_size": 11}, "needs MaximumBatchingWindowInSeconds >= 1"),
        ({"maximum_batching_window_seconds": 301}, "MaximumBatchingWindowInSeconds 301"),
        ({"maximum_batching_window_seconds": 1, "queue_arn": FIFO_ARN}, "not supported for FIFO"),
        ({"maximum_concurrency": 1}, "MaximumConcurrency 1"),
        ({"queue_arn": "jobs"}, "not an SQS queue ARN"),
    ],
)
def test_a_mapping_aws_would_reject_is_rejected(options: dict[str, Any], complaint: str) -> None:
    spec = SqsEventSourceSpec(
        logical_id="Mapping",
        function_name="fn",
        queue_url="http://queue",
        **{"queue_arn": QUEUE_ARN, **options},
    )

    with pytest.raises(ValueError, match=complaint):
        validate_mapping(spec)


@pytest.mark.parametrize(
    ("maximum_concurrency", "function_limit", "expected"),
    [(None, 10, 5), (2, 10, 2), (None, 1, 1), (100, 3, 3)],
)
def test_concurrency_starts_at_five_within_the_mapping_and_function_limits(
    maximum_concurrency: int | None, function_limit: int, expected: int
) -> None:
    poller = _poller(
        FakeQueue([]), FakeLambda(limit=function_limit), maximum_concurrency=maximum_concurrency
    )

    assert poller.concurrency == expected


def test_a_function_with_no_concurrency_is_polled_by_one_poller_and_throttled() -> None:
    lambda_ = FakeLambda(limit=0)
    lambda_.throttle = True
    queue = FakeQueue([_message(1)])
    poller = _poller(queue, lambda_)

    report = poller.process_next_batch()

    assert poller.concurrency == 1
    assert report is not None
    assert report.throttled
    assert queue.deleted == []


def test_a_function_timeout_above_the_visibility_timeout_is_rejected_at_start() -> None:
    class ShortVisibility(FakeQueue):
        def get_queue_attributes(self, **request: Any) -> dict[str, Any]:
            return {"Attributes": {"VisibilityTimeout": "2"}}

    poller = _poller(ShortVisibility([]), FakeLambda())

    with pytest.raises(InvalidEventSourceMapping, match="visibility timeout 2 s is less than"):
        poller.start()


def test_receive_asks_for_every_attribute() -> None:
    queue = FakeQueue([_message(1)])

    _poller(queue, FakeLambda()).process_next_batch()

    (request,) = queue.receives
    assert request["AttributeNames"] == ["All"]
    assert request["MessageSystemAttributeNames"] == ["All"]
    assert request["MessageAttributeNames"] == ["All"]
    assert 1 <= request["WaitTimeSeconds"] <= 2


def test_without_a_window_one_receive_makes_the_batch() -> None:
    queue = FakeQueue([_message(i) for i in range(15)])
    lambda_ = FakeLambda()

    report = _poller(queue, lambda_, batch_size=10).process_next_batch()

    assert report is not None
    assert len(report.message_ids) == 10
    assert len(queue.receives) == 1
    assert len(lambda_.events[0]["Records"]) == 10


def test_a_window_gathers_receives_up_to_the_batch_size_and_deletes_in_tens() -> None:
    queue = FakeQueue([_message(i) for i in range(30)])

    report = _poller(
        queue, FakeLambda(), batch_size=25, maximum_batching_window_seconds=5
    ).process_next_batch()

    assert report is not None
    assert len(report.message_ids) == 25
    assert [r["MaxNumberOfMessages"] for r in queue.receives] == [10, 10, 5]
    assert len(queue.deleted) == 25


def test_no_message_means_no_invocation() -> None:
    lambda_ = FakeLambda()

    assert _poller(FakeQueue([]), lambda_).process_next_batch() is None
    assert lambda_.events == []


def test_a_throttled_batch_is_not_deleted() -> None:
    queue = FakeQueue([_message(1), _message(2)])
    lambda_ = FakeLambda()
    lambda_.throttle = True
    poller = _poller(queue, lambda_)

    report = poller.process_next_batch()

    assert report is not None
    assert report.throttled
    assert queue.deleted == []
    assert poller.stats().throttles == 1
    assert poller.stats().failed == 2


def test_partial_failures_delete_the_rest_and_are_counted() -> None:
    queue = FakeQueue([_message(1), _message(2), _message(3)])
    lambda_ = FakeLambda({"batchItemFailures": [{"itemIdentifier": "m2"}]})
    poller = _poller(queue, lambda_, report_batch_item_failures=True)

    poller.process_next_batch()

    assert queue.deleted == ["r1", "r3"]
    stats = poller.stats()
    assert (stats.batches, stats.received, stats.deleted, stats.failed) == (1, 3, 2, 1)
    assert stats.partial_batch_failures == 1


def test_a_failed_delete_is_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    queue = FakeQueue([_message(1), _message(2)], failing_deletes=frozenset({"r2"}))
    poller = _poller(queue, FakeLambda())

    with caplog.at_level(logging.WARNING):
        report = poller.process_next_batch()

    assert report is not None
    assert report.delete_failures == 1
    assert poller.stats().deleted == 1
    assert poller.stats().delete_failures == 1
    assert "could not delete message m2: ReceiptHandleIsInvalid" in caplog.text


def test_fifo_keeps_only_the_first_retained_message_of_a_group_in_flight() -> None:
    queue = FakeQueue([_message(1, "a"), _message(2, "a"), _message(3, "a"), _message(4, "b")])
    lambda_ = FakeLambda({"batchItemFailures": [{"itemIdentifier": "m2"}]})

    _poller(
        queue, lambda_, queue_arn=FIFO_ARN, report_batch_item_failures=True
    ).process_next_batch()

    assert queue.deleted == ["r1", "r4"]
    assert queue.released == ["r3"]  # m2 stays in flight and holds group a


def test_fifo_is_short_polled() -> None:
    queue = FakeQueue([])

    _poller(queue, FakeLambda(), queue_arn=FIFO_ARN).process_next_batch()

    assert queue.receives[0]["WaitTimeSeconds"] == 0
