"""MemorySize on a real SQS mapping: a batch whose invocation goes over it fails as on
Lambda (Runtime.OutOfMemory, the worker killed), SQS redelivers it to a fresh worker and,
after maxReceiveCount receives, moves it to the dead-letter queue. One well under it is
handled and deleted."""

from __future__ import annotations

import re

from tests.integration.local_cloud.semantics.conftest import Cloud, error_of, invoked, received


def max_memory_used(logs: str) -> int:
    found = re.search(r"^REPORT .*\tMax Memory Used: (\d+) MB", logs, re.MULTILINE)
    assert found is not None, logs
    return int(found.group(1))


def test_a_batch_well_under_its_memory_size_is_handled_and_deleted(cloud: Cloud) -> None:
    queue = cloud.queue()
    function = cloud.function("hungry", timeout=10, memory=128)
    poller = cloud.mapping(queue, function, cloud.service(function))
    cloud.send(queue, {"allocate_mb": 30})

    report = received(poller.process_next_batch())

    assert invoked(report).error is None
    assert invoked(report).payload == {"allocated_mb": 30}
    assert 30 < max_memory_used(invoked(report).logs) < 128
    assert cloud.counts(queue) == (0, 0)


def test_a_batch_over_its_memory_size_runs_out_of_memory_is_redelivered_then_dead_lettered(
    cloud: Cloud,
) -> None:
    dead_letter = cloud.queue()
    # maxReceiveCount 2 and a 5 s visibility timeout (no less than the function's timeout,
    # as a mapping requires) keep the test short; the timeout is not what ends the
    # invocations, their memory is, long before it.
    queue = cloud.queue(visibility_timeout=5, dead_letter=dead_letter, max_receive_count=2)
    function = cloud.function("hungry", timeout=5, memory=128)
    service = cloud.service(function)
    poller = cloud.mapping(queue, function, service, concurrency=1)
    (message_id,) = cloud.send(queue, {"allocate_mb": 400})

    first = received(poller.process_next_batch())

    assert error_of(invoked(first))["errorType"] == "Runtime.OutOfMemory"
    assert error_of(invoked(first))["errorMessage"].endswith(
        "Error: Runtime exited with error: signal: killed"
    )
    assert "\tStatus: error\tError Type: Runtime.OutOfMemory" in invoked(first).logs
    assert first.settlement.whole_batch_failed
    assert cloud.counts(queue) == (0, 1)

    poller.start()
    cloud.wait_until(lambda: cloud.counts(dead_letter)[0] == 1)
    poller.stop()

    # Receive 1 and 2 were invoked, each on a fresh worker; the 3rd receive moved it.
    stats = service.stats()[function.logical_id]
    assert (stats.invocations, stats.errors, stats.crashes, stats.cold_starts) == (2, 2, 2, 2)
    (dead,) = cloud.receive_all(dead_letter, expect=1)
    assert dead["MessageId"] == message_id
    assert cloud.counts(queue) == (0, 0)
