"""Faults in the Lambda runtime, added over HTTP on the endpoint as a test or a person would
(`"service": "lambda"`), acted out by real worker processes and a real SQS mapping.

The driven function's {"calls": n} body makes n SendMessage calls to an outbox queue: the
side effects a crash or a hang interrupts, counted from outside.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from local_cloud.endpoint import start_endpoint
from local_cloud.endpoint_faults import LambdaAction
from local_cloud.event_sources import BatchReport, SqsEventSourcePoller
from local_cloud.lambda_runtime import FaultClaims
from local_cloud.lambda_runtime.faults import INVOCATION_ACTIONS
from local_cloud.model import FunctionSpec
from tests.integration.local_cloud.semantics.conftest import (
    Cloud,
    Queue,
    error_of,
    injected_fault_of,
    invoked,
    received,
)


def outbox_calls(cloud: Cloud, outbox: Queue, expect: int) -> list[dict[str, Any]]:
    """The calls the function made, once `expect` arrived, and nothing more after them."""
    calls = [json.loads(m["Body"]) for m in cloud.receive_all(outbox, expect=expect)]
    extra = cloud.sqs.receive_message(QueueUrl=outbox.url, WaitTimeSeconds=1).get("Messages", [])
    assert extra == [], "more calls were made than expected"
    return sorted(calls, key=lambda call: int(call["call"]))


def next_batch(cloud: Cloud, poller: SqsEventSourcePoller, timeout: float = 60.0) -> BatchReport:
    """Process the next batch that arrives (a redelivery, once its visibility lapsed)."""
    reports: list[BatchReport] = []

    def arrived() -> bool:
        report = poller.process_next_batch()
        if report is not None:
            reports.append(report)
        return report is not None

    cloud.wait_until(arrived, timeout)
    return reports[-1]


def test_a_worker_killed_after_its_second_call_keeps_that_call_and_the_batch_comes_back_cold(
    cloud: Cloud,
) -> None:
    outbox = cloud.queue(visibility_timeout=30)
    # Redelivery is waited on by condition; the function's timeout fits in the visibility.
    queue = cloud.queue(visibility_timeout=5)
    function = cloud.function(timeout=5, environment={"OUTBOX_QUEUE_URL": outbox.url})
    service = cloud.service(function)
    poller = cloud.mapping(queue, function, service)
    [added] = cloud.faults.add_all(
        [
            {
                "service": "lambda",
                "function": function.logical_id,
                "action": "crash",
                "after_calls": 2,
            }
        ]
    )
    [message_id] = cloud.send(queue, {"calls": 3})

    crashed = received(poller.process_next_batch())

    assert error_of(invoked(crashed))["errorType"] == "Runtime.ExitError"
    assert error_of(invoked(crashed))["errorMessage"].endswith(
        "Error: Runtime exited with error: signal: killed"
    )
    assert injected_fault_of(invoked(crashed))["calls"] == 2
    assert "[local cloud] injected fault" in invoked(crashed).logs
    assert crashed.settlement.whole_batch_failed
    # Calls 1 and 2 happened (call 2's answer had arrived), call 3 never did.
    calls = outbox_calls(cloud, outbox, expect=2)
    assert [(c["call"], c["request_id"]) for c in calls] == [
        (1, invoked(crashed).request_id),
        (2, invoked(crashed).request_id),
    ]
    [fired] = cloud.faults.fired()
    assert fired["id"] == added["id"]
    assert (fired["service"], fired["function"], fired["action"]) == (
        "lambda",
        function.logical_id,
        "crash",
    )
    assert fired["request_id"] == invoked(crashed).request_id
    assert fired["call"].startswith(f"POST {cloud.endpoint_url}/")
    assert cloud.faults.pending() == []

    # The batch comes back once its visibility lapses, to a fresh environment; the fault
    # is spent, so this time all three calls are made: calls 1 and 2 twice in all.
    again = next_batch(cloud, poller)
    assert again.message_ids == (message_id,)
    assert invoked(again).error is None
    assert invoked(again).cold_start
    assert invoked(again).payload == {"batchItemFailures": []}
    assert [c["call"] for c in outbox_calls(cloud, outbox, expect=3)] == [1, 2, 3]
    assert cloud.counts(queue) == (0, 0)
    assert service.stats()[function.logical_id].crashes == 1


def test_only_calls_matching_are_counted(cloud: Cloud) -> None:
    outbox = cloud.queue(visibility_timeout=30)
    function = cloud.function(timeout=5, environment={"OUTBOX_QUEUE_URL": outbox.url})
    service = cloud.service(function)
    cloud.faults.add(
        service="lambda",
        function=function.function_name,
        action="crash",
        after_calls=1,
        call_matching="/no-such-path",
    )
    event = {"Records": [_record({"calls": 2})]}

    result = service.invoke(function.function_name, event)

    assert result.error is None  # no call matched: the fault never acted
    assert result.injected_fault is None
    assert len(outbox_calls(cloud, outbox, expect=2)) == 2
    # The claim was given back: the fault still waits for an invocation it can hit.
    [pending] = cloud.faults.pending()
    assert (pending["remaining"], pending["claimed"]) == (1, 0)
    assert cloud.faults.fired() == []


def test_a_hang_after_the_first_call_exceeds_the_timeout(cloud: Cloud) -> None:
    outbox = cloud.queue(visibility_timeout=30)
    queue = cloud.queue()
    function = cloud.function(timeout=2, environment={"OUTBOX_QUEUE_URL": outbox.url})
    service = cloud.service(function)
    poller = cloud.mapping(queue, function, service)
    cloud.faults.add(service="lambda", function=function.logical_id, action="hang", after_calls=1)
    cloud.send(queue, {"calls": 2})

    hung = received(poller.process_next_batch())

    assert error_of(invoked(hung))["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in error_of(invoked(hung))["errorMessage"]
    assert invoked(hung).duration_ms >= 2000
    assert injected_fault_of(invoked(hung))["action"] == "hang"
    assert [c["call"] for c in outbox_calls(cloud, outbox, expect=1)] == [1]
    [fired] = cloud.faults.fired()
    assert (fired["action"], fired["calls"], fired["error_type"]) == ("hang", 1, "Sandbox.Timedout")
    assert service.invoke(function.function_name, {"Records": []}).cold_start


def test_a_hang_before_the_handler_times_out_without_a_call(cloud: Cloud) -> None:
    outbox = cloud.queue(visibility_timeout=30)
    function = cloud.function(timeout=1, environment={"OUTBOX_QUEUE_URL": outbox.url})
    service = cloud.service(function)
    cloud.faults.add(service="lambda", function=function.logical_id, action="hang")

    result = service.invoke(function.logical_id, {"Records": [_record({"calls": 1})]})

    assert error_of(result)["errorType"] == "Sandbox.Timedout"
    assert injected_fault_of(result)["calls"] == 0
    assert cloud.sqs.receive_message(QueueUrl=outbox.url, WaitTimeSeconds=1).get("Messages") is None


def test_release_visibility_delivers_a_twin_to_another_invoker_while_the_first_runs(
    cloud: Cloud,
) -> None:
    side_channel = cloud.queue(visibility_timeout=30)
    queue = cloud.queue(visibility_timeout=30)  # far beyond the run: only the fault releases
    function = cloud.function(timeout=20, environment={"SIDE_CHANNEL_QUEUE_URL": side_channel.url})
    service = cloud.service(function)
    poller = cloud.mapping(queue, function, service, concurrency=2, batch_size=1)
    assert poller.concurrency == 2  # a second invoker to receive the twin
    cloud.faults.add(service="lambda", function=function.logical_id, action="release_visibility")
    [message_id] = cloud.send(queue, {"hold": 8})

    poller.start()
    seen = [json.loads(m["Body"]) for m in cloud.receive_all(side_channel, expect=2, timeout=120)]
    cloud.wait_until(lambda: cloud.counts(queue) == (0, 0), timeout=60)
    poller.stop()

    assert [s["message_ids"] for s in seen] == [[message_id], [message_id]]
    assert sorted(r for s in seen for r in s["receive_counts"]) == [1, 2]
    assert len({s["pid"] for s in seen}) == 2  # two execution environments
    # At the same time: each started before the other ended.
    assert max(s["started"] for s in seen) < min(s["ended"] for s in seen)
    [fired] = cloud.faults.fired()
    assert (fired["action"], fired["message_ids"]) == ("release_visibility", [message_id])
    released = [b for b in poller.recent_batches() if b.released_by_fault]
    assert [b.released_by_fault for b in released] == [(message_id,)]
    assert service.stats()[function.logical_id].max_concurrent == 2


def _record(body: dict[str, Any]) -> dict[str, Any]:
    return {"messageId": "m-direct", "body": json.dumps(body), "attributes": {}}


def test_lambda_faults_in_a_faults_file_are_claimable_from_the_start(tmp_path: Path) -> None:
    faults_file = tmp_path / "faults.json"
    crash = {"service": "lambda", "function": "DrivenFunction", "action": "crash"}
    faults_file.write_text(json.dumps([crash]))
    spec = FunctionSpec("DrivenFunction", "semantics-driven", "app.handler", "python3.13", tmp_path)

    with start_endpoint(port=None, reuse_from_env=False, faults_file=faults_file) as endpoint:
        assert endpoint.lambda_fault_flag is not None
        claims = FaultClaims(endpoint.url, flag=endpoint.lambda_fault_flag)
        assert claims.might_have(INVOCATION_ACTIONS)
        claimed = claims.claim(spec, INVOCATION_ACTIONS)
        assert claimed is not None
        assert claimed.action is LambdaAction.CRASH
        assert not claims.might_have(INVOCATION_ACTIONS)  # its one hit is out
        claims.close()
        flag = endpoint.lambda_fault_flag
    assert not flag.exists()  # removed with the endpoint
