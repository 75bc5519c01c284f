"""Injected crashes and hangs in the runtime: the bootstrap's counting of outgoing calls
(a real http.client over a fake socket), and real worker processes acting the faults out
for LambdaService, which settles each claim (no network: claims come from a stand-in)."""

from __future__ import annotations

import http.client
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_cloud.endpoint_faults import LambdaAction
from local_cloud.event_sources import SqsEventSourcePoller
from local_cloud.lambda_runtime import InvocationResult, LambdaService, bootstrap
from local_cloud.lambda_runtime.bootstrap import (
    HANG_GRACE_SECONDS,
    OutgoingCallFault,
    install_call_counting,
    run_invocation,
)
from local_cloud.lambda_runtime.faults import ClaimedFault
from local_cloud.lambda_runtime.worker import signal_description
from local_cloud.model import FunctionSpec, SqsEventSourceSpec
from tests.unit.local_cloud.event_sources.test_sqs_poller import (
    QUEUE_ARN,
    FakeLambda,
    FakeQueue,
    _message,
)

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
CHARGE = "/v1/payment_intents"


class FakeSocket:
    """Enough of a socket for http.client: what is sent is kept, the answer is canned."""

    def __init__(self, answer: bytes = ANSWER) -> None:
        self.sent = b""
        self._answer = answer

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BytesIO:
        return io.BytesIO(self._answer)

    def close(self) -> None:
        pass


def call(path: str, *, host: str = "provider.test", port: int = 12111) -> int:
    """One outgoing call through http.client, as urllib3 (botocore, requests) makes it."""
    connection = http.client.HTTPConnection(host, port)
    connection.sock = FakeSocket()
    connection.request("POST", path, body=b"{}")
    response = connection.getresponse()
    response.read()
    return response.status


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> None:
    """http.client wrapped as in a worker; unwrapped again after the test."""
    connection = http.client.HTTPConnection
    monkeypatch.setattr(connection, "putrequest", connection.__dict__["putrequest"])
    monkeypatch.setattr(connection, "getresponse", connection.__dict__["getresponse"])
    monkeypatch.setattr(connection, "_local_cloud_counting", False, raising=False)
    monkeypatch.setattr(bootstrap, "_current_fault", None)
    install_call_counting()


class Acts:
    """What a fault did: frames reported, kills and sleeps, in order."""

    def __init__(self) -> None:
        self.log: list[Any] = []

    def fault(self, spec: dict[str, Any], *, deadline_ms: int | None = None) -> OutgoingCallFault:
        return OutgoingCallFault(
            spec,
            request_id="req-1",
            deadline_ms=deadline_ms or int(time.time() * 1000) + 3000,
            report=lambda frame: self.log.append(frame),
            kill=lambda: self.log.append("kill"),
            sleep=lambda seconds: self.log.append(("sleep", seconds)),
        )


def arm(monkeypatch: pytest.MonkeyPatch, fault: OutgoingCallFault) -> None:
    monkeypatch.setattr(bootstrap, "_current_fault", fault)


# ---------------------------------------------------------------- counting in the worker


def test_a_crash_acts_once_the_nth_call_got_its_answer(
    counting: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    acts = Acts()
    arm(monkeypatch, acts.fault({"id": 3, "action": "crash", "after_calls": 2}))

    assert call("/one") == 200
    assert acts.log == []  # one answer in: nothing yet
    call(CHARGE)
    call("/three")  # had the kill not ended the process: never a second act

    assert acts.log == [
        {
            "type": "fault",
            "request_id": "req-1",
            "id": 3,
            "action": "crash",
            "after_calls": 2,
            "calls": 2,
            "call": f"POST http://provider.test:12111{CHARGE} -> 200",
        },
        "kill",
    ]


def test_only_calls_whose_url_contains_call_matching_count(
    counting: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    acts = Acts()
    spec = {"id": 1, "action": "crash", "after_calls": 1, "call_matching": CHARGE}
    arm(monkeypatch, acts.fault(spec))

    call("/v1/customers")
    call("/", host="dynamodb.test", port=4566)
    assert acts.log == []
    call(CHARGE)

    assert acts.log[0]["calls"] == 1
    assert acts.log[-1] == "kill"


def test_call_matching_can_name_a_host_and_port(
    counting: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    acts = Acts()
    spec = {"id": 1, "action": "crash", "after_calls": 1, "call_matching": "127.0.0.1:4566"}
    arm(monkeypatch, acts.fault(spec))

    call(CHARGE)
    call("/", host="127.0.0.1", port=4566)

    assert acts.log[0]["call"] == "POST http://127.0.0.1:4566/ -> 200"


def test_after_the_invocation_ended_no_call_makes_it_act(
    counting: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    acts = Acts()
    fault = acts.fault({"id": 1, "action": "crash", "after_calls": 1})
    arm(monkeypatch, fault)

    fault.end()
    call(CHARGE)

    assert acts.log == []


def test_without_an_armed_fault_calls_pass_uncounted(counting: None) -> None:
    assert call(CHARGE) == 200
    assert bootstrap._current_fault is None


def test_after_calls_zero_acts_before_the_handler() -> None:
    acts = Acts()
    fault = acts.fault({"id": 1, "action": "crash", "after_calls": 0})

    fault.before_handler()

    assert acts.log[0]["calls"] == 0
    assert acts.log[0]["call"] is None
    assert acts.log[1] == "kill"


def test_a_hang_sleeps_past_the_deadline_then_ends_itself() -> None:
    acts = Acts()
    deadline_ms = int(time.time() * 1000) + 2000
    fault = acts.fault({"id": 1, "action": "hang", "after_calls": 0}, deadline_ms=deadline_ms)

    fault.before_handler()

    frame, (what, seconds), last = acts.log
    assert frame["action"] == "hang"
    assert what == "sleep"
    assert 1.5 + HANG_GRACE_SECONDS < seconds <= 2 + HANG_GRACE_SECONDS
    assert last == "kill"  # only if nobody killed it at the deadline


def test_run_invocation_arms_the_fault_for_the_handler_only(
    counting: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    kills: list[str] = []
    monkeypatch.setattr(bootstrap, "kill_self", lambda: kills.append("kill"))
    frames: list[dict[str, Any]] = []

    def handler(event: Any, context: Any) -> dict[str, Any]:
        call("/first")
        call(CHARGE)
        return {"after": len(kills)}

    request = {
        "request_id": "req-7",
        "event": {},
        "deadline_ms": int(time.time() * 1000) + 3000,
        "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
        "fault": {"id": 4, "action": "crash", "after_calls": 2, "call_matching": None},
    }
    response = run_invocation(handler, request, frames.append)

    assert kills == ["kill"]
    assert response["payload"] == '{"after": 1}'  # a real kill never lets it get here
    assert [(f["request_id"], f["calls"]) for f in frames] == [("req-7", 2)]
    assert bootstrap._current_fault is None
    call(CHARGE)  # the next invocation carries no fault: nothing counts
    assert kills == ["kill"]


def test_without_a_fault_http_client_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    connection = http.client.HTTPConnection
    monkeypatch.setattr(connection, "getresponse", connection.__dict__["getresponse"])
    before = connection.__dict__["getresponse"]
    request = {
        "request_id": "req-1",
        "event": {},
        "deadline_ms": int(time.time() * 1000) + 3000,
        "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
    }

    run_invocation(lambda event, context: None, request)

    assert connection.__dict__["getresponse"] is before


def test_lambda_words_a_kill_as_go_does() -> None:
    assert signal_description(9) == "killed"
    assert signal_description(11) == "segmentation fault"
    assert signal_description(6) == "aborted"


# ---------------------------------------------------------------- real workers, LambdaService

HANDLER = """
import os, time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid()}
"""


class Claims:
    """Stands in for FaultClaims: answers each claim with the next of `faults` (None: no
    fault for that invocation), records the settlements."""

    def __init__(self, *faults: ClaimedFault | None) -> None:
        self._faults = list(faults)
        self.asked: list[tuple[str, frozenset[LambdaAction]]] = []
        self.settled: list[tuple[int, bool, dict[str, Any]]] = []

    def claim(self, function: FunctionSpec, actions: Any) -> ClaimedFault | None:
        self.asked.append((function.logical_id, frozenset(actions)))
        return self._faults.pop(0) if self._faults else None

    def settle(self, fault: ClaimedFault, *, fired: bool, **report: Any) -> None:
        self.settled.append((fault.fault_id, fired, report))


def claimed(action: str, after_calls: int = 0, fault_id: int = 1) -> ClaimedFault:
    return ClaimedFault(
        claim=f"c-{fault_id}",
        fault_id=fault_id,
        function="Fn",
        action=LambdaAction(action),
        after_calls=after_calls,
    )


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Any]:
    code = tmp_path / "task"
    code.mkdir()
    (code / "app.py").write_text(HANDLER)
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    services: list[LambdaService] = []

    def make(claims: Claims, timeout: int = 2) -> tuple[LambdaService, FunctionSpec]:
        spec = FunctionSpec(
            logical_id="Fn",
            function_name="stack-Fn-1",
            handler="app.handler",
            runtime="python3.13",
            code_dir=code,
            timeout_seconds=timeout,
        )
        built = LambdaService(
            [spec],
            endpoint_url="http://127.0.0.1:1",
            region="us-east-1",
            runtime_dir=runtime,
            faults=claims,  # type: ignore[arg-type]
        )
        services.append(built)
        return built, spec

    yield make
    for built in services:
        built.close()


def test_a_crash_is_runtime_exit_error_signal_killed_and_the_next_invocation_is_cold(
    service: Any,
) -> None:
    claims = Claims(None, claimed("crash"))
    lambda_service, _spec = service(claims)
    warm = lambda_service.invoke("Fn", {})

    crashed = lambda_service.invoke("Fn", {})

    assert not crashed.cold_start
    assert crashed.error is not None
    assert crashed.error["errorType"] == "Runtime.ExitError"
    assert crashed.error["errorMessage"] == (
        f"RequestId: {crashed.request_id} Error: Runtime exited with error: signal: killed"
    )
    assert "[local cloud] injected fault 1: crash before the handler ran" in crashed.logs
    assert crashed.injected_fault is not None
    assert crashed.injected_fault["request_id"] == crashed.request_id
    after = lambda_service.invoke("Fn", {})
    assert after.cold_start
    assert after.payload["pid"] != warm.payload["pid"]
    assert claims.asked[0] == ("Fn", frozenset({LambdaAction.CRASH, LambdaAction.HANG}))
    assert claims.settled == [
        (
            1,
            True,
            {
                "request_id": crashed.request_id,
                "error_type": "Runtime.ExitError",
                "after_calls": 0,
                "calls": 0,
                "call": None,
            },
        )
    ]


def test_a_hang_is_killed_at_the_timeout_sandbox_timedout(service: Any) -> None:
    claims = Claims(claimed("hang"))
    lambda_service, _spec = service(claims, timeout=1)

    hung = lambda_service.invoke("Fn", {})

    assert hung.error is not None
    assert hung.error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in hung.error["errorMessage"]
    assert claims.settled[0][:2] == (1, True)
    assert claims.settled[0][2]["error_type"] == "Sandbox.Timedout"
    assert lambda_service.invoke("Fn", {}).cold_start


def test_a_fault_that_never_acted_is_settled_as_not_fired(service: Any) -> None:
    claims = Claims(claimed("crash", after_calls=3))  # the handler makes no call
    lambda_service, _spec = service(claims)

    result = lambda_service.invoke("Fn", {})

    assert result.error is None
    assert result.injected_fault is None
    assert claims.settled == [(1, False, {})]


# ---------------------------------------------------------------- the SQS mapping's fault


def test_release_visibility_makes_the_batch_visible_before_it_is_invoked() -> None:
    queue = FakeQueue([_message(1), _message(2), _message(3)])
    claims = Claims(claimed("release_visibility", fault_id=5), None)
    invoked_with_released: list[list[str]] = []

    class RecordingLambda(FakeLambda):
        def invoke(self, function_name_or_logical_id: str, event: Any) -> InvocationResult:
            invoked_with_released.append(list(queue.released))
            return super().invoke(function_name_or_logical_id, event)

    lambda_ = RecordingLambda({"batchItemFailures": []})
    spec = SqsEventSourceSpec(
        logical_id="Mapping",
        function_name="fn",
        queue_arn=QUEUE_ARN,
        queue_url="http://queue",
        batch_size=2,
    )
    poller = SqsEventSourcePoller(
        spec,
        lambda_,
        endpoint_url="http://unused",
        region="us-east-1",
        client_factory=lambda: queue,
        faults=claims,  # type: ignore[arg-type]
    )

    first = poller.process_next_batch()
    second = poller.process_next_batch()

    assert first is not None
    assert second is not None
    assert invoked_with_released[0] == ["r1", "r2"]  # released before the invocation
    assert first.released_by_fault == ("m1", "m2")
    assert second.released_by_fault == ()
    assert queue.released == ["r1", "r2"]
    assert claims.asked == [
        ("Fn", frozenset({LambdaAction.RELEASE_VISIBILITY})),
        ("Fn", frozenset({LambdaAction.RELEASE_VISIBILITY})),
    ]
    assert claims.settled == [(5, True, {"mapping": "Mapping", "message_ids": ["m1", "m2"]})]
