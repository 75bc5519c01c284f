"""The Lambda service with real worker processes (no network: the handlers touch no AWS)."""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_cloud.lambda_runtime import (
    FunctionNotFound,
    LambdaService,
    RequestTooLarge,
    Throttled,
    UnsupportedRuntime,
)
from local_cloud.lambda_runtime.worker import LOCAL_PYTHON_RUNTIME, runtime_note
from local_cloud.model import FunctionSpec

HANDLER = """
import os, sys, threading, time
print("initialising")
def handler(event, context):
    print("handling", event.get("n"))
    if "sleep" in event:
        time.sleep(event["sleep"])
    if "exit" in event:
        os._exit(event["exit"])
    if "raise" in event:
        raise LookupError(event["raise"])
    return {"pid": os.getpid()}
"""


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    code = tmp_path / "task"
    code.mkdir()
    (code / "app.py").write_text(HANDLER)
    return code


@pytest.fixture
def make_service(tmp_path: Path, code_dir: Path) -> Iterator[Any]:
    services: list[LambdaService] = []

    def make(
        *, log_sink: Any = None, metrics: Any = None, **spec_options: Any
    ) -> tuple[LambdaService, FunctionSpec]:
        options: dict[str, Any] = {"timeout_seconds": 1, "runtime": "python3.13"}
        options.update(spec_options)
        spec = FunctionSpec(
            logical_id="Fn",
            function_name="stack-Fn-1",
            handler="app.handler",
            code_dir=code_dir,
            **options,
        )
        service = LambdaService(
            [spec],
            endpoint_url="http://127.0.0.1:9",
            region="us-east-1",
            runtime_dir=tmp_path / "runtime",
            log_sink=log_sink,
            metrics=metrics,
        )
        services.append(service)
        return service, spec

    yield make
    for service in services:
        service.close()


def _alive(pid: int) -> bool:
    """Running, not merely an unreaped zombie (Linux's /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_the_first_invocation_is_cold_and_the_next_reuses_the_warm_worker(
    make_service: Any,
) -> None:
    service, _ = make_service()

    first = service.invoke("Fn", {})
    second = service.invoke("stack-Fn-1", {})

    assert first.cold_start
    assert first.init_duration_ms is not None
    assert not second.cold_start
    assert second.init_duration_ms is None
    assert first.payload["pid"] == second.payload["pid"]
    assert service.stats()["Fn"].cold_starts == 1
    assert service.stats()["Fn"].warm_workers == 1


def test_the_most_recently_used_worker_is_reused_first(make_service: Any) -> None:
    service, _ = make_service()
    results: list[Any] = []
    started = [
        threading.Thread(target=lambda: results.append(service.invoke("Fn", {"sleep": 0.3})))
        for _ in range(2)
    ]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    slower_to_finish = results[-1].payload["pid"]

    assert service.invoke("Fn", {}).payload["pid"] == slower_to_finish


def test_logs_are_framed_like_lambdas(make_service: Any) -> None:
    lines: list[tuple[str, str]] = []
    service, _ = make_service(log_sink=lambda function, line: lines.append((function, line)))

    cold = service.invoke("Fn", {"n": 1})
    warm = service.invoke("Fn", {"n": 2})

    cold_lines = cold.logs.splitlines()
    # INIT_START names the interpreter that ran, and the template's runtime beside it.
    assert cold_lines[0].startswith(
        f"INIT_START Runtime Version: python:{platform.python_version()}"
    )
    assert "in the template" in cold_lines[0]
    assert "initialising" in cold_lines
    assert f"START RequestId: {cold.request_id} Version: $LATEST" in cold_lines
    assert "handling 1" in cold_lines
    assert cold_lines[-2] == f"END RequestId: {cold.request_id}"
    assert cold_lines[-1].startswith(f"REPORT RequestId: {cold.request_id}\tDuration: ")
    assert "\tInit Duration: " in cold_lines[-1]
    assert "Init Duration" not in warm.logs
    assert "handling 2" in warm.logs
    assert "handling 1" not in warm.logs
    assert {function for function, _ in lines} == {"Fn"}
    assert [line for _, line in lines] == cold_lines + warm.logs.splitlines()


def test_an_exception_is_an_error_and_the_worker_stays_warm(make_service: Any) -> None:
    service, _ = make_service()
    pid = service.invoke("Fn", {}).payload["pid"]

    failed = service.invoke("Fn", {"raise": "no such account"})

    assert failed.error is not None
    assert failed.error["errorType"] == "LookupError"
    assert failed.error["requestId"] == failed.request_id
    assert failed.payload == failed.error  # what Invoke's Payload holds for a function error
    assert "[ERROR] LookupError" in failed.logs
    assert service.invoke("Fn", {}).payload["pid"] == pid


def test_a_timeout_kills_the_worker_and_the_next_invocation_is_cold(make_service: Any) -> None:
    service, _ = make_service(timeout_seconds=1)
    pid = service.invoke("Fn", {}).payload["pid"]

    timed_out = service.invoke("Fn", {"sleep": 10, "n": 3})

    assert timed_out.error is not None
    assert timed_out.error["errorType"] == "Sandbox.Timedout"
    assert timed_out.error["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert "handling 3" in timed_out.logs  # what it printed before it was killed
    assert "Status: timeout" in timed_out.logs
    assert not _alive(pid)
    after = service.invoke("Fn", {})
    assert after.cold_start
    assert service.stats()["Fn"].timeouts == 1


def test_a_crash_is_an_exit_error_and_the_next_invocation_is_cold(make_service: Any) -> None:
    service, _ = make_service()
    service.invoke("Fn", {})

    crashed = service.invoke("Fn", {"exit": 3})

    assert crashed.error is not None
    assert crashed.error["errorType"] == "Runtime.ExitError"
    assert "Runtime exited with error: exit status 3" in crashed.error["errorMessage"]
    assert service.invoke("Fn", {}).cold_start
    assert service.stats()["Fn"].crashes == 1


def test_an_invocation_beyond_the_reserved_concurrency_is_throttled(make_service: Any) -> None:
    service, _ = make_service(reserved_concurrency=1)
    slow = threading.Thread(target=service.invoke, args=("Fn", {"sleep": 0.5}))
    slow.start()
    deadline = time.monotonic() + 5
    while service.stats()["Fn"].busy_workers == 0 and time.monotonic() < deadline:
        time.sleep(0.01)

    with pytest.raises(Throttled) as throttled:
        service.invoke("Fn", {})
    slow.join()

    assert throttled.value.error_code == "TooManyRequestsException"
    stats = service.stats()["Fn"]
    assert (stats.throttles, stats.max_concurrent, stats.concurrency_limit) == (1, 1, 1)
    assert service.invoke("Fn", {}).error is None  # the slot is free again


class RecordedMetrics:
    def __init__(self) -> None:
        self.invocations: list[tuple[str, bool, int]] = []
        self.throttles: list[str] = []

    def invoked(
        self, function_name: str, *, error: bool, duration_ms: float, concurrent: int, logs: str
    ) -> None:
        assert duration_ms >= 0
        assert "REPORT RequestId" in logs
        self.invocations.append((function_name, error, concurrent))

    def throttled(self, function_name: str) -> None:
        self.throttles.append(function_name)


def test_each_invocation_and_throttle_is_reported_to_the_metrics(make_service: Any) -> None:
    metrics = RecordedMetrics()
    service, _ = make_service(reserved_concurrency=1, metrics=metrics)
    slow = threading.Thread(target=service.invoke, args=("Fn", {"sleep": 0.5}))
    slow.start()
    deadline = time.monotonic() + 5
    while service.stats()["Fn"].busy_workers == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(Throttled):
        service.invoke("Fn", {})
    slow.join()

    service.invoke("Fn", {"raise": "boom"})

    assert metrics.throttles == ["stack-Fn-1"]
    assert metrics.invocations == [("stack-Fn-1", False, 1), ("stack-Fn-1", True, 1)]


def test_close_kills_every_worker(make_service: Any) -> None:
    service, _ = make_service()
    pid = service.invoke("Fn", {}).payload["pid"]

    service.close()

    assert not _alive(pid)


def test_an_unknown_function_is_not_found(make_service: Any) -> None:
    service, _ = make_service()

    with pytest.raises(FunctionNotFound, match="known: Fn"):
        service.invoke("Nope", {})


def test_a_request_over_six_megabytes_is_refused(make_service: Any) -> None:
    service, _ = make_service()

    with pytest.raises(RequestTooLarge):
        service.invoke("Fn", {"blob": "x" * (6 * 1024 * 1024)})


def test_a_runtime_other_than_python_is_refused(make_service: Any) -> None:
    service, _ = make_service(runtime="nodejs22.x")

    with pytest.raises(UnsupportedRuntime, match=r"nodejs22\.x"):
        service.invoke("Fn", {})


def test_a_worker_that_died_while_idle_is_replaced_not_reported(make_service: Any) -> None:
    service, _ = make_service()
    pid = service.invoke("Fn", {}).payload["pid"]
    os.kill(pid, 9)
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)

    after = service.invoke("Fn", {})

    assert after.error is None
    assert after.cold_start


def test_a_deploy_notes_a_runtime_this_machine_runs_differently() -> None:
    assert runtime_note(LOCAL_PYTHON_RUNTIME) is None
    other = "python3.9" if LOCAL_PYTHON_RUNTIME != "python3.9" else "python3.12"
    note = runtime_note(other)
    assert note is not None
    assert f"runtime {other} runs on this machine's {LOCAL_PYTHON_RUNTIME}" in note
    assert "deprecated" not in note
    assert runtime_note("nodejs22.x") == "runtime nodejs22.x cannot be run by the local cloud"


@pytest.mark.parametrize("runtime", ["python2.7", "python3.6", "python3.7", "python3.8"])
def test_a_deploy_notes_a_runtime_lambda_no_longer_creates_functions_with(runtime: str) -> None:
    note = runtime_note(runtime)
    assert note is not None
    assert f"runtime {runtime} runs on this machine's {LOCAL_PYTHON_RUNTIME}" in note
    assert (
        f"Lambda has deprecated {runtime} and no longer creates functions with it, so this "
        "template would not deploy on AWS unchanged" in note
    )
