"""An SQS mapping scales on the real local cloud (scaling.py): a slow function, a deep queue.

Each message makes the function sleep 2 s (BatchSize 1), so every batch the mapping may
run is running while 60 messages wait: the mapping must add batches beyond its first 5,
up to its ceiling and never past it, and give them back once the queue is empty. Every
wait is on a condition, with deadlines of minutes: a loaded machine starts workers slowly.
"""

from __future__ import annotations

from typing import Any

from local_cloud.event_sources import SqsEventSourcePoller
from local_cloud.lambda_runtime import LambdaService
from local_cloud.model import FunctionSpec, SqsEventSourceSpec
from tests.integration.local_cloud.semantics.conftest import Cloud, Queue

REGION = "us-east-1"
MESSAGES = 60
DEADLINE = 300.0


def _scaling_mapping(
    cloud: Cloud, **options: Any
) -> tuple[SqsEventSourcePoller, Queue, FunctionSpec, LambdaService]:
    """A queue of MESSAGES sleepy messages, a function and a scaling mapping (not started)."""
    queue = cloud.queue(visibility_timeout=30)
    function = cloud.function(timeout=10)
    service = cloud.service(function)
    max_concurrent_batches = options.pop("max_concurrent_batches", None)
    spec = SqsEventSourceSpec(
        logical_id="ScalingMapping",
        function_name=function.function_name,
        queue_arn=queue.arn,
        queue_url=queue.url,
        batch_size=1,
        **options,
    )
    poller = SqsEventSourcePoller(
        spec,
        service,
        endpoint_url=cloud.endpoint_url,
        region=REGION,
        max_concurrent_batches=max_concurrent_batches,
    )
    cloud.pollers.append(poller)  # stopped when the test ends
    cloud.send(queue, *({"sleep": 2} for _ in range(MESSAGES)))
    return poller, queue, function, service


def test_a_deep_queue_scales_the_mapping_beyond_five_batches_and_back(cloud: Cloud) -> None:
    # 8: this machine's default cap with 2 CPUs (4 per CPU), set so that any machine has it
    poller, queue, function, service = _scaling_mapping(cloud, max_concurrent_batches=8)
    ceiling = min(8, service.concurrency_limit(function.function_name))  # the function's: 10
    assert poller.concurrency == 5

    poller.start()
    cloud.wait_until(lambda: poller.stats().peak_concurrency > 5, timeout=DEADLINE)
    cloud.wait_until(
        lambda: poller.stats().deleted >= MESSAGES and cloud.counts(queue) == (0, 0),
        timeout=DEADLINE,
    )

    stats = poller.stats()
    assert 5 < stats.peak_concurrency <= ceiling
    assert 5 < service.stats()[function.logical_id].max_concurrent <= ceiling

    # The queue is idle: back to five batches, and the workers beyond them are reclaimed
    # (just after the step, on the receiver's thread: so both are waited for).
    def back_to_five() -> bool:
        workers = service.stats()[function.logical_id]
        return poller.stats().concurrency == 5 and workers.warm_workers + workers.busy_workers <= 5

    cloud.wait_until(back_to_five, timeout=DEADLINE)


def test_maximum_concurrency_below_the_cap_is_never_exceeded(cloud: Cloud) -> None:
    poller, queue, function, service = _scaling_mapping(
        cloud, maximum_concurrency=6, max_concurrent_batches=10
    )

    poller.start()
    cloud.wait_until(lambda: poller.stats().concurrency == 6, timeout=DEADLINE)
    cloud.wait_until(lambda: cloud.counts(queue) == (0, 0), timeout=DEADLINE)

    assert poller.stats().peak_concurrency == 6
    assert service.stats()[function.logical_id].max_concurrent <= 6
