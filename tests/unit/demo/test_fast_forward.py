"""The demo fast-forwards a failed delivery's visibility timeout only when it is safe to.

Safe: the mapping reported that failure last for the message (it was not received again),
the failed invocation's timeout and batching window have passed since the demo saw it,
and each receipt handle is moved once. `--real-time` moves nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import pytest

from demo.scenario import FAST_FORWARD_MARGIN_SECONDS, Demo
from local_cloud.cloud import LocalCloud
from local_cloud.event_sources.batch_response import BatchMessage, Settlement

TIMEOUT = {"BillingFunction": 4, "WelcomeEmailFunction": 4}
WINDOW = 1
HOLD = 4 + WINDOW + FAST_FORWARD_MARGIN_SECONDS


class ReceiptHandleIsInvalid(Exception):
    pass


@dataclass
class FakeSqs:
    moved: list[tuple[str, str, int]] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    exceptions: Any = field(
        default_factory=lambda: SimpleNamespace(ReceiptHandleIsInvalid=ReceiptHandleIsInvalid)
    )

    def change_message_visibility(
        self, *, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int
    ) -> None:
        if ReceiptHandle in self.gone:
            raise ReceiptHandleIsInvalid(ReceiptHandle)
        self.moved.append((QueueUrl, ReceiptHandle, VisibilityTimeout))


@dataclass
class FakeMapping:
    function_name: str
    reports: list[Any] = field(default_factory=list)

    @property
    def spec(self) -> Any:
        return SimpleNamespace(
            function_name=self.function_name, maximum_batching_window_seconds=WINDOW
        )

    def recent_batches(self) -> tuple[Any, ...]:
        return tuple(self.reports)


def report(delete: Sequence[tuple[str, str]] = (), retain: Sequence[tuple[str, str]] = ()) -> Any:
    settlement = Settlement(
        delete=tuple(BatchMessage(m, h) for m, h in delete),
        retain=tuple(BatchMessage(m, h) for m, h in retain),
        whole_batch_failed=not delete,
        reason="test",
    )
    ids = tuple(m for m, _ in [*delete, *retain])
    return SimpleNamespace(message_ids=ids, settlement=settlement)


@pytest.fixture
def world() -> Any:
    billing = FakeMapping("billing-fn")
    welcome = FakeMapping("welcome-fn")
    names = {"BillingFunction": "billing-fn", "WelcomeEmailFunction": "welcome-fn"}
    stack = SimpleNamespace(
        function=lambda logical_id: SimpleNamespace(
            function_name=names[logical_id], timeout_seconds=TIMEOUT[logical_id]
        )
    )
    demo = Demo.__new__(Demo)
    # Only the stack's functions and the mappings' recent batches are read.
    demo.cloud = cast(LocalCloud, SimpleNamespace(stack=stack, pollers=[billing, welcome]))
    demo.sqs = FakeSqs()
    demo.outputs = {"BillingQueueUrl": "billing-q", "WelcomeEmailQueueUrl": "welcome-q"}
    demo.real_time = False
    demo.retained_seen = {}
    demo.fast_forwarded = set()
    now = [100.0]
    demo.clock = lambda: now[0]
    return SimpleNamespace(demo=demo, billing=billing, welcome=welcome, now=now)


def test_a_failure_is_moved_once_after_its_timeout_and_window(world: Any) -> None:
    world.billing.reports.append(report(delete=[("m1", "h1")], retain=[("m2", "h2")]))
    world.welcome.reports.append(report(retain=[("w1", "hw1")]))

    assert world.demo.fast_forward_redeliveries() == 0  # just seen
    world.now[0] += HOLD - 0.1
    assert world.demo.fast_forward_redeliveries() == 0  # the invocation may still matter
    world.now[0] += 0.1
    assert world.demo.fast_forward_redeliveries() == 2
    assert sorted(world.demo.sqs.moved) == [("billing-q", "h2", 0), ("welcome-q", "hw1", 0)]
    world.now[0] += 60
    assert world.demo.fast_forward_redeliveries() == 0  # each receipt handle once
    assert len(world.demo.sqs.moved) == 2


def test_a_message_received_again_since_its_failure_is_left_alone(world: Any) -> None:
    world.billing.reports.append(report(retain=[("m1", "h1")]))
    world.billing.reports.append(report(retain=[("m1", "h1-again")]))  # redelivered, failed

    world.demo.fast_forward_redeliveries()
    world.now[0] += HOLD
    assert world.demo.fast_forward_redeliveries() == 1
    assert world.demo.sqs.moved == [("billing-q", "h1-again", 0)]


def test_a_deleted_message_is_not_counted(world: Any) -> None:
    world.billing.reports.append(report(retain=[("m1", "h1")]))
    world.demo.sqs.gone.add("h1")

    world.demo.fast_forward_redeliveries()
    world.now[0] += HOLD
    assert world.demo.fast_forward_redeliveries() == 0


def test_real_time_moves_nothing(world: Any) -> None:
    world.demo.real_time = True
    world.billing.reports.append(report(retain=[("m1", "h1")]))

    world.demo.fast_forward_redeliveries()
    world.now[0] += 1000
    assert world.demo.fast_forward_redeliveries() == 0
    assert world.demo.sqs.moved == []
