"""The poller with an in-process fake queue and a fake Lambda service: no sockets, no processes."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from local_cloud.event_sources import (
    InvalidEventSourceMapping,
    SqsEventSourcePoller,
    sqs_poller,
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

    with pytest.raises(
        InvalidEventSourceMapping,
        match="Queue visibility timeout: 2 seconds is less than Function timeout",
    ):
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


# -- the running mapping: one receiver, a pool of invokers ------------------------------------


class LongPollingQueue(FakeQueue):
    """A FakeQueue whose empty receives wait like a long poll (a tenth of the real time),
    and which records which thread made each receive."""

    def __init__(self, messages: list[dict[str, Any]]):
        super().__init__(messages)
        self.arrived = threading.Condition()
        self.receiving_threads: list[str] = []

    def send(self, *messages: dict[str, Any]) -> None:
        with self.arrived:
            self.messages.extend(messages)
            self.arrived.notify_all()

    def receive_message(self, **request: Any) -> dict[str, Any]:
        self.receiving_threads.append(threading.current_thread().name)
        with self.arrived:
            self.arrived.wait_for(lambda: self.messages, timeout=request["WaitTimeSeconds"] / 10)
            return super().receive_message(**request)


class BlockingLambda(FakeLambda):
    """Holds every invocation until `release` is set; counts those running."""

    def __init__(self, limit: int = 10):
        super().__init__(limit=limit)
        self.release = threading.Event()
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    def invoke(self, function_name_or_logical_id: str, event: Any) -> InvocationResult:
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            self.release.wait(10)
            return super().invoke(function_name_or_logical_id, event)
        finally:
            with self._lock:
                self.running -= 1


def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.01)


def test_the_receiver_receives_nothing_while_no_invoker_is_idle() -> None:
    queue = LongPollingQueue([_message(i) for i in range(15)])
    lambda_ = BlockingLambda(limit=1)
    poller = _poller(queue, lambda_, batch_size=5)

    poller.start()
    try:
        _wait_until(lambda: lambda_.running == 1)
        time.sleep(0.2)  # room for a receive that must not happen

        # The one invoker is busy: the next 5 messages stay in the queue, not in flight here.
        assert len(queue.receives) == 1
        assert len(queue.messages) == 10
        lambda_.release.set()
        _wait_until(lambda: poller.stats().deleted == 15)
    finally:
        lambda_.release.set()
        poller.stop(timeout=5)

    assert poller.stats().batches == 3


def test_invokers_run_batches_in_parallel_and_one_thread_receives() -> None:
    queue = LongPollingQueue([_message(i) for i in range(10)])
    lambda_ = BlockingLambda()
    poller = _poller(queue, lambda_, batch_size=1, maximum_concurrency=3)

    poller.start()
    try:
        _wait_until(lambda: lambda_.running == 3)
        assert poller.stats().pollers == 3
        lambda_.release.set()
        _wait_until(lambda: poller.stats().deleted == 10)
    finally:
        lambda_.release.set()
        poller.stop(timeout=5)

    assert lambda_.most_running == 3
    assert set(queue.receiving_threads) == {"Mapping-receiver"}
    assert poller.stats().pollers == 0
    assert not poller.running


def test_a_message_arriving_within_the_window_joins_the_batch_and_a_full_batch_ends_it() -> None:
    queue = LongPollingQueue([_message(1)])
    lambda_ = FakeLambda()
    poller = _poller(queue, lambda_, batch_size=2, maximum_batching_window_seconds=30)

    poller.start()
    try:
        _wait_until(lambda: len(queue.receives) >= 2)  # the window is open, gathering
        queue.send(_message(2))
        _wait_until(lambda: poller.stats().deleted == 2)
    finally:
        poller.stop(timeout=5)

    (report,) = poller.recent_batches()
    assert report.message_ids == ("m1", "m2")
    assert report.batching_seconds < 30  # ended by the full batch, not by the window


def test_stop_ends_the_window_and_settles_what_was_received() -> None:
    queue = LongPollingQueue([_message(1)])
    lambda_ = FakeLambda()
    poller = _poller(queue, lambda_, batch_size=5, maximum_batching_window_seconds=60)

    poller.start()
    _wait_until(lambda: len(queue.receives) >= 2)
    poller.stop(timeout=5)

    assert not poller.running
    assert [len(event["Records"]) for event in lambda_.events] == [1]
    assert queue.deleted == ["r1"]


def test_stop_waits_for_the_batches_being_invoked() -> None:
    queue = LongPollingQueue([_message(1)])
    lambda_ = BlockingLambda()
    poller = _poller(queue, lambda_)
    poller.start()
    _wait_until(lambda: lambda_.running == 1)

    stopping = threading.Thread(target=poller.stop, kwargs={"timeout": 5})
    stopping.start()
    time.sleep(0.1)
    assert poller.running  # still invoking
    lambda_.release.set()
    stopping.join(5)

    assert not poller.running
    assert queue.deleted == ["r1"]


def test_a_failing_receive_is_counted_and_receiving_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class FlakyQueue(LongPollingQueue):
        def receive_message(self, **request: Any) -> dict[str, Any]:
            if not self.receives:
                self.receives.append(request)
                raise ConnectionError("endpoint went away")
            return super().receive_message(**request)

    monkeypatch.setattr(sqs_poller, "ERROR_BACKOFF_SECONDS", 0.01)
    queue = FlakyQueue([_message(1)])
    poller = _poller(queue, FakeLambda())

    poller.start()
    try:
        _wait_until(lambda: poller.stats().deleted == 1)
    finally:
        poller.stop(timeout=5)

    assert poller.stats().poll_errors == 1


def test_a_throttled_invoker_backs_off_and_the_batch_is_left_for_a_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sqs_poller, "THROTTLE_BACKOFF_SECONDS", 0.01)
    queue = LongPollingQueue([_message(1), _message(2)])
    lambda_ = FakeLambda(limit=0)
    lambda_.throttle = True
    poller = _poller(queue, lambda_, batch_size=1)

    poller.start()
    try:
        _wait_until(lambda: poller.stats().throttles == 2)
    finally:
        poller.stop(timeout=5)

    assert poller.stats().pollers == 0
    assert queue.deleted == []
    assert all(report.throttled for report in poller.recent_batches())
