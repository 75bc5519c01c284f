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
from local_cloud.lambda_runtime.faults import INVOCATION_ACTIONS, ClaimedFault
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
    assert claims.asked[0] == ("Fn", INVOCATION_ACTIONS)
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


# ---------------------------------------------------------------- a pause


class Listing:
    """Stands in for the endpoint's fault listing: each read answers the next of `reads`
    (the last one again once they run out), and counts the reads."""

    def __init__(self, *reads: list[dict[str, Any]]) -> None:
        self._reads = list(reads)
        self.read = 0

    def __call__(self) -> list[dict[str, Any]]:
        answer = self._reads[min(self.read, len(self._reads) - 1)]
        self.read += 1
        return answer


class FakeClock:
    """Monotonic time that moves only when the pause sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if len(self.slept) >= 10_000:  # 500 s of polling: a pause with no end, not a hang
            raise AssertionError("the pause never ended")
        self.slept.append(seconds)
        self.now += seconds


PAUSE = {
    "id": 6,
    "action": "pause",
    "after_calls": 1,
    "call_matching": CHARGE,
    "until_fault": 2,
    "until_count": 2,
    "max_pause_ms": 30_000,
}


def put(status: int | None, fault_id: int = 2, phase: str = "before") -> dict[str, Any]:
    """A firing as the endpoint lists it; `status` None: not answered by moto yet."""
    firing: dict[str, Any] = {"id": fault_id, "phase": phase, "operation": "PutItem"}
    if status is not None:
        firing["executed_status"] = status
    return firing


def pausing(
    listing: Listing, clock: FakeClock, spec: dict[str, Any] = PAUSE
) -> tuple[OutgoingCallFault, list[Any]]:
    log: list[Any] = []
    fault = OutgoingCallFault(
        spec,
        request_id="req-1",
        deadline_ms=int(time.time() * 1000) + 40_000,
        report=log.append,
        kill=lambda: log.append("kill"),
        sleep=clock.sleep,
        clock=clock,
        firings=listing,
    )
    return fault, log


def test_a_pause_holds_the_call_until_the_fault_fired_often_enough_then_goes_on(
    counting: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing = Listing([], [put(None)], [put(None), put(None)])
    clock = FakeClock()
    fault, log = pausing(listing, clock)
    arm(monkeypatch, fault)

    assert call(CHARGE) == 200  # returns only once the pause is over

    acted, resumed = log
    assert acted["action"] == "pause"
    assert acted["call"] == "POST http://provider.test:12111/v1/payment_intents -> 200"
    assert "resumed" not in acted  # sent before it pauses
    assert (resumed["resumed"], resumed["paused_ms"]) == ("condition", 100)
    assert listing.read == 3
    assert clock.slept == [bootstrap.PAUSE_POLL_SECONDS] * 2
    call(CHARGE)  # acts once
    assert len(log) == 2


def test_a_pause_counts_only_firings_of_its_fault(counting: None) -> None:
    other = put(200, fault_id=3)
    lambda_firing = {"id": 2, "service": "lambda", "action": "pause"}
    listing = Listing([other, lambda_firing, put(200)], [other, put(200), put(200)])
    fault, log = pausing(listing, FakeClock())

    fault.response_arrived("POST", f"http://provider.test{CHARGE}", 200)

    assert log[-1]["resumed"] == "condition"
    assert listing.read == 2


def test_a_phase_after_firing_counts_once_moto_answered_it(counting: None) -> None:
    # Listed when the request arrives; until moto executed it, the write has not happened.
    arrived = put(None, phase="after")
    answered = [put(200, phase="after"), put(400, phase="after")]
    listing = Listing([put(200, phase="after"), arrived], answered)
    fault, log = pausing(listing, FakeClock())

    fault.response_arrived("POST", f"http://provider.test{CHARGE}", 200)

    assert log[-1]["resumed"] == "condition"
    assert listing.read == 2


def test_a_pause_ends_at_its_limit_and_says_so(counting: None) -> None:
    clock = FakeClock()
    listing = Listing([put(None)])
    fault, log = pausing(listing, clock, {**PAUSE, "max_pause_ms": 1000})

    fault.response_arrived("POST", f"http://provider.test{CHARGE}", 200)

    assert log[-1]["resumed"] == "limit"
    assert 1000 <= log[-1]["paused_ms"] < 1100
    assert "kill" not in log


def test_an_unreadable_listing_is_asked_again(counting: None) -> None:
    answers: list[Any] = [OSError("connection refused"), ValueError("not JSON"), [put(1), put(1)]]

    def firings() -> list[dict[str, Any]]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return list(answer)

    clock = FakeClock()
    log: list[Any] = []
    fault = OutgoingCallFault(
        PAUSE,
        request_id="req-1",
        deadline_ms=0,
        report=log.append,
        sleep=clock.sleep,
        clock=clock,
        firings=firings,
    )

    fault.response_arrived("POST", f"http://provider.test{CHARGE}", 200)

    assert log[-1]["resumed"] == "condition"
    assert answers == []


def test_other_threads_calls_go_on_while_one_pauses(counting: None) -> None:
    """The pause waits outside the fault's lock: a record running on another thread meanwhile
    gets its answers (and the invocation cannot end before the paused call returns)."""
    import threading

    other_answered = threading.Event()
    reads = 0

    def firings() -> list[dict[str, Any]]:
        nonlocal reads
        reads += 1
        # The condition is met only once the other thread's call got its answer through the
        # counting hook; bounded, so a lock held across the pause fails the test, not hangs it.
        other_answered.wait(timeout=60)
        return [put(1), put(1)] if other_answered.is_set() else []

    log: list[Any] = []
    fault = OutgoingCallFault(
        {**PAUSE, "max_pause_ms": 1},
        request_id="req-1",
        deadline_ms=0,
        report=log.append,
        firings=firings,
    )
    paused = threading.Thread(
        target=fault.response_arrived,
        args=("POST", f"http://provider.test{CHARGE}", 200),
        daemon=True,
    )
    paused.start()
    deadline = time.monotonic() + 60
    while not log and time.monotonic() < deadline:  # until it acted and is pausing
        time.sleep(0.01)
    assert log, "the fault never acted"

    fault.response_arrived("POST", "http://provider.test/other", 200)  # takes the lock
    other_answered.set()
    paused.join(timeout=60)

    assert not paused.is_alive()
    assert log[-1]["resumed"] == "condition"


def test_a_paused_invocation_returns_its_result_and_settles_how_the_pause_ended(
    service: Any,
) -> None:
    # No endpoint to read: every read fails, so it ends at its 1 ms limit (no socket).
    pause = ClaimedFault(
        claim="c-1",
        fault_id=1,
        function="Fn",
        action=LambdaAction.PAUSE,
        until_fault=4,
        until_count=1,
        max_pause_ms=1,
    )
    claims = Claims(pause)
    lambda_service, _spec = service(claims)

    result = lambda_service.invoke("Fn", {})

    assert result.error is None
    assert "pid" in result.payload  # the handler ran on after the pause
    assert "[local cloud] injected fault 1: pause over after" in result.logs
    [(fault_id, fired, report)] = claims.settled
    assert (fault_id, fired) == (1, True)
    assert report["resumed"] == "limit"
    assert report["paused_ms"] >= 1
    assert report["calls"] == 0
