"""A running mapping scales (scaling.py): a fake queue and a fake Lambda service, no sockets.

The scaling interval is 0.05 s here, so each test lasts a fraction of a second; every
wait is on a condition with a deadline far beyond what it needs on a loaded machine.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from local_cloud.event_sources import SqsEventSourcePoller, sqs_poller
from local_cloud.event_sources.scaling import ScalingRule
from local_cloud.lambda_runtime import InvocationResult, Throttled
from local_cloud.model import FunctionSpec, SqsEventSourceSpec

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:jobs"
FAST = ScalingRule(interval_seconds=0.05)
DEADLINE = 60.0


def _message(number: int) -> dict[str, Any]:
    return {
        "MessageId": f"m{number}",
        "ReceiptHandle": f"r{number}",
        "Body": "{}",
        "MD5OfBody": "x",
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"},
    }


class Queue:
    """Messages to hand out (endless: a new one at every receive), and what was asked."""

    def __init__(self, count: int = 0, *, endless: bool = False) -> None:
        self._lock = threading.Lock()
        self._numbers = itertools.count()
        self.messages = [_message(next(self._numbers)) for _ in range(count)]
        self.endless = endless
        self.attribute_requests = 0

    def receive_message(self, **request: Any) -> dict[str, Any]:
        with self._lock:
            if self.endless:
                self.messages.append(_message(next(self._numbers)))
            taken = self.messages[: request["MaxNumberOfMessages"]]
            del self.messages[: len(taken)]
        if not taken:
            time.sleep(request["WaitTimeSeconds"] / 20)  # a short long poll
        return {"Messages": taken} if taken else {}

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        return {"Successful": [], "Failed": []}

    def get_queue_attributes(self, **request: Any) -> dict[str, Any]:
        if request["AttributeNames"] == ["VisibilityTimeout"]:
            return {"Attributes": {"VisibilityTimeout": "30"}}
        with self._lock:
            self.attribute_requests += 1
            waiting = len(self.messages) + (100 if self.endless else 0)
        return {"Attributes": {"ApproximateNumberOfMessages": str(waiting)}}


class Lambda:
    """Holds each invocation until `release` is set (if `hold`); fails or throttles on demand."""

    def __init__(self, limit: int = 10, *, hold: bool = False) -> None:
        self.limit = limit
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.fail = False
        self.throttle = False
        self.running = 0
        self.most_running = 0
        self.reclaims: list[int] = []
        self._lock = threading.Lock()

    def invoke(self, function_name_or_logical_id: str, event: Any) -> InvocationResult:
        if self.throttle:
            raise Throttled(function_name_or_logical_id, self.limit, False)
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            self.release.wait(DEADLINE)
        finally:
            with self._lock:
                self.running -= 1
        error = {"errorType": "RuntimeError", "errorMessage": "boom"} if self.fail else None
        return InvocationResult(
            payload=error,
            error=error,
            logs="",
            duration_ms=1.0,
            cold_start=False,
            raw_payload=json.dumps(error),
        )

    def function(self, name_or_logical_id: str) -> FunctionSpec:
        return FunctionSpec("Fn", "fn", "app.handler", "python3.13", Path("."), timeout_seconds=3)

    def concurrency_limit(self, name_or_logical_id: str) -> int:
        return self.limit

    def reclaim_idle_workers(self, name_or_logical_id: str, *, keep: int) -> int:
        self.reclaims.append(keep)
        return 0


def _poller(queue: Queue, lambda_: Lambda, **options: Any) -> SqsEventSourcePoller:
    concurrency = options.pop("concurrency", None)
    cap = options.pop("max_concurrent_batches", 8)
    spec = SqsEventSourceSpec(
        logical_id="Mapping",
        function_name="fn",
        queue_arn=QUEUE_ARN,
        queue_url="http://queue",
        batch_size=1,
        **options,
    )
    return SqsEventSourcePoller(
        spec,
        lambda_,
        endpoint_url="http://unused",
        region="us-east-1",
        concurrency=concurrency,
        max_concurrent_batches=cap,
        scaling_rule=FAST,
        client_factory=lambda: queue,
    )


def _wait_until(condition: Callable[[], bool], timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.01)


@pytest.fixture
def stopping() -> Any:
    started: list[tuple[SqsEventSourcePoller, Lambda]] = []

    def register(poller: SqsEventSourcePoller, lambda_: Lambda) -> SqsEventSourcePoller:
        started.append((poller, lambda_))
        return poller

    yield register
    for poller, lambda_ in started:
        lambda_.release.set()
        poller.stop(timeout=10)


def test_it_scales_up_to_the_local_cap_while_messages_wait_then_back_to_five(
    stopping: Any,
) -> None:
    queue = Queue(40)
    lambda_ = Lambda(hold=True)
    poller = stopping(_poller(queue, lambda_, max_concurrent_batches=8), lambda_)
    assert poller.concurrency == 5

    poller.start()
    _wait_until(lambda: lambda_.running == 8)
    stats = poller.stats()
    assert (stats.concurrency, stats.peak_concurrency, stats.pollers) == (8, 8, 8)
    assert queue.attribute_requests >= 3  # one per step up, asked only when every batch ran
    lambda_.release.set()
    _wait_until(lambda: not queue.messages and poller.stats().concurrency == 5)
    _wait_until(lambda: poller.stats().pollers == 5)  # spare invokers retire
    _wait_until(lambda: lambda_.reclaims[-1:] == [5])  # idle workers beyond five reclaimed

    assert lambda_.most_running == 8
    assert poller.stats().peak_concurrency == 8
    assert lambda_.reclaims == sorted(lambda_.reclaims, reverse=True)


@pytest.mark.parametrize(
    ("options", "function_limit", "top"),
    [({"maximum_concurrency": 6}, 10, 6), ({}, 7, 7), ({"max_concurrent_batches": 6}, 10, 6)],
)
def test_it_never_runs_more_batches_than_a_limit_allows(
    stopping: Any, options: dict[str, Any], function_limit: int, top: int
) -> None:
    queue = Queue(40)
    lambda_ = Lambda(limit=function_limit, hold=True)
    poller = stopping(_poller(queue, lambda_, **options), lambda_)

    poller.start()
    _wait_until(lambda: lambda_.running == top)
    attributes_asked = queue.attribute_requests
    _wait_until(lambda: queue.attribute_requests >= attributes_asked + 5)  # five more steps

    assert poller.stats().concurrency == top
    assert lambda_.most_running == top
    assert len(queue.messages) == 40 - top  # nothing received that nobody could run


def test_function_errors_make_it_back_off_to_one_batch_and_it_recovers_when_they_stop(
    stopping: Any,
) -> None:
    queue = Queue(endless=True)
    lambda_ = Lambda()
    lambda_.fail = True
    poller = stopping(_poller(queue, lambda_), lambda_)

    poller.start()
    _wait_until(lambda: poller.stats().concurrency == 1)
    assert poller.stats().invocation_errors > 0
    lambda_.fail = False
    _wait_until(lambda: poller.stats().concurrency == 5)


def test_throttles_make_it_back_off(stopping: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqs_poller, "THROTTLE_BACKOFF_SECONDS", 0.01)
    queue = Queue(endless=True)
    lambda_ = Lambda()
    lambda_.throttle = True
    poller = stopping(_poller(queue, lambda_), lambda_)

    poller.start()
    _wait_until(lambda: poller.stats().concurrency == 1)

    assert poller.stats().throttles > 0


def test_a_pinned_concurrency_does_not_scale(stopping: Any) -> None:
    queue = Queue(40)
    lambda_ = Lambda(hold=True)
    poller = stopping(_poller(queue, lambda_, concurrency=3), lambda_)

    poller.start()
    _wait_until(lambda: lambda_.running == 3)
    time.sleep(0.3)  # six scaling intervals, for a step that must not happen

    assert poller.stats().concurrency == 3
    assert lambda_.running == 3
    assert queue.attribute_requests == 0
