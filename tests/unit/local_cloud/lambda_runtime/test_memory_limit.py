"""MemorySize held to real worker processes (no network: the handlers touch no AWS), and
the accounting it rests on (local_cloud/lambda_runtime/memory.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_cloud.lambda_runtime import LambdaService
from local_cloud.lambda_runtime.memory import (
    SAMPLE_SECONDS,
    MemoryLimit,
    RssProbe,
    megabytes,
    parse_statm_rss_bytes,
    parse_status_peak_bytes,
    peak_bytes,
    rss_bytes,
)
from local_cloud.lambda_runtime.worker import BOOTSTRAP_PATH, MemoryExceeded, MemoryWatch
from local_cloud.model import FunctionSpec

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/statm").exists(), reason="memory is measured through /proc (Linux)"
)

MB = 1024 * 1024

HANDLER = """
import os, time
held = []
def handler(event, context):
    if "allocate_mb" in event:
        block = bytearray(event["allocate_mb"] * 1024 * 1024)  # zero-filled: every page touched
        if event.get("keep"):
            held.append(block)
        del block
    if "sleep" in event:
        time.sleep(event["sleep"])
    return {"pid": os.getpid()}
"""

BIG_INIT = """
held = bytearray(300 * 1024 * 1024)
def handler(event, context):
    return {}
"""


def report_of(logs: str) -> str:
    [report] = [line for line in logs.splitlines() if line.startswith("REPORT ")]
    return report


def max_memory_used(logs: str) -> int:
    found = re.search(r"\tMax Memory Used: (\d+) MB", report_of(logs))
    assert found is not None, report_of(logs)
    return int(found.group(1))


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator[Any]:
    code = tmp_path / "task"
    code.mkdir()
    (code / "app.py").write_text(HANDLER)
    (code / "big_init.py").write_text(BIG_INIT)
    services: list[LambdaService] = []

    def make(
        *, memory_mb: int = 128, sample_seconds: float = SAMPLE_SECONDS, **options: Any
    ) -> LambdaService:
        spec_options: dict[str, Any] = {"timeout_seconds": 30, "handler": "app.handler"}
        spec_options.update(options)
        spec = FunctionSpec(
            logical_id="Fn",
            function_name="stack-Fn-1",
            runtime="python3.13",
            code_dir=code,
            memory_mb=memory_mb,
            **spec_options,
        )
        service = LambdaService(
            [spec],
            endpoint_url="http://127.0.0.1:9",
            region="us-east-1",
            runtime_dir=tmp_path / "runtime",
            memory_sample_seconds=sample_seconds,
        )
        services.append(service)
        return service

    yield make
    for service in services:
        service.close()


# ------------------------------------------------------------------ the accounting


def test_statm_gives_the_resident_pages_in_bytes() -> None:
    assert parse_statm_rss_bytes("10000 2500 600 1 0 3000 0\n", page_size=4096) == 2500 * 4096


def test_status_gives_the_high_water_mark_in_bytes() -> None:
    status = "Name:\tpython\nVmPeak:\t  999 kB\nVmHWM:\t   40960 kB\nVmRSS:\t 30000 kB\n"
    assert parse_status_peak_bytes(status) == 40960 * 1024


@pytest.mark.parametrize("text", ["", "12\n", "10 x 3"])
def test_a_statm_line_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="statm"):
        parse_statm_rss_bytes(text)


def test_a_status_without_its_peak_is_refused() -> None:
    with pytest.raises(ValueError, match="VmHWM"):
        parse_status_peak_bytes("Name:\tpython\nVmRSS:\t 30000 kB\n")


def test_megabytes_round_up_as_report_does() -> None:
    assert megabytes(128 * MB) == 128
    assert megabytes(128 * MB + 1) == 129
    assert megabytes(1) == 1


def test_the_limit_is_over_the_memory_size_not_at_it() -> None:
    limit = MemoryLimit(128)
    assert not limit.exceeded_by(128 * MB)
    assert limit.exceeded_by(128 * MB + 1)
    assert not limit.exceeded_by(None)  # nothing measured: nothing to hold against it


@pytest.mark.parametrize(
    ("memory_mb", "sample_seconds", "named"),
    [(0, 0.02, "MemorySize"), (-5, 0.02, "MemorySize"), (128, 0.0, "sample_seconds")],
)
def test_a_limit_that_cannot_hold_is_refused(
    memory_mb: int, sample_seconds: float, named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        MemoryLimit(memory_mb, sample_seconds)


def test_this_process_is_measured_and_a_watch_over_its_limit_says_so() -> None:
    pid = os.getpid()
    now, peak = rss_bytes(pid), peak_bytes(pid)
    assert now is not None
    assert peak is not None
    assert 0 < now <= peak
    probe = RssProbe.open(pid)
    assert probe is not None
    try:
        watch = MemoryWatch(probe, MemoryLimit(1))
        with pytest.raises(MemoryExceeded):
            watch.check()
        assert watch.highest >= now
        assert watch.peak() >= watch.highest
    finally:
        probe.close()
    assert probe.rss_bytes() is None  # closed: nothing more is read


def test_the_worker_reports_its_own_peak_not_the_one_of_the_process_that_started_it() -> None:
    # getrusage's ru_maxrss would carry the peak of this (parent) process over the exec.
    held = bytearray(150 * MB)
    probe = (
        f"import sys; sys.path.insert(0, {str(BOOTSTRAP_PATH.parent)!r}); "
        "import bootstrap; print(bootstrap.peak_memory_mb())"
    )
    answer = subprocess.run(  # noqa: S603 - our interpreter, our bootstrap
        [sys.executable, "-I", "-S", "-c", probe],
        capture_output=True,
        text=True,
        check=True,
    )
    assert len(held) == 150 * MB
    assert int(answer.stdout) < 100


# ------------------------------------------------------------------ held to real workers


def test_an_invocation_well_under_its_memory_size_succeeds_and_reports_the_workers_peak(
    make_service: Any,
) -> None:
    held = bytearray(150 * MB)  # this process is bigger than the worker will ever be
    service = make_service(memory_mb=128)

    first = service.invoke("Fn", {"allocate_mb": 20})
    second = service.invoke("Fn", {})

    assert first.error is None
    assert second.error is None
    assert first.payload["pid"] == second.payload["pid"]  # the worker stayed warm
    assert 20 < max_memory_used(first.logs) < 100
    assert "Status" not in report_of(first.logs)
    assert len(held) == 150 * MB


def test_a_worker_over_its_memory_size_is_killed_out_of_memory_and_the_next_start_is_cold(
    make_service: Any,
) -> None:
    service = make_service(memory_mb=128)
    pid = service.invoke("Fn", {}).payload["pid"]

    over = service.invoke("Fn", {"allocate_mb": 300, "keep": True, "sleep": 60})

    assert over.error is not None
    assert over.error["errorType"] == "Runtime.OutOfMemory"
    assert over.error["errorMessage"] == (
        f"RequestId: {over.request_id} Error: Runtime exited with error: signal: killed"
    )
    assert over.payload == over.error
    lines = over.logs.splitlines()
    assert lines[-4:-2] == [over.error["errorMessage"], "Runtime.OutOfMemory"]
    assert report_of(over.logs).endswith("\tStatus: error\tError Type: Runtime.OutOfMemory")
    assert "Memory Size: 128 MB" in report_of(over.logs)
    assert max_memory_used(over.logs) > 128
    # Killed by the sampling long before its 30 s timeout (it sleeps 60 s holding 300 MB).
    assert over.duration_ms < 20_000
    with pytest.raises(FileNotFoundError):
        Path(f"/proc/{pid}/statm").read_text()
    after = service.invoke("Fn", {})
    assert after.error is None
    assert after.cold_start
    assert service.stats()["Fn"].crashes == 1
    assert service.stats()["Fn"].errors == 1


def test_a_peak_between_two_samples_is_out_of_memory_too(make_service: Any) -> None:
    # No sample is taken within the invocation: only the peak read at its end can see it.
    service = make_service(memory_mb=128, sample_seconds=600)

    spiked = service.invoke("Fn", {"allocate_mb": 250})

    assert spiked.error is not None
    assert spiked.error["errorType"] == "Runtime.OutOfMemory"
    assert max_memory_used(spiked.logs) > 250
    assert service.invoke("Fn", {}).cold_start


def test_an_init_over_its_memory_size_is_out_of_memory(make_service: Any) -> None:
    service = make_service(memory_mb=128, handler="big_init.handler")

    failed = service.invoke("Fn", {})

    assert failed.error is not None
    assert failed.error["errorType"] == "Runtime.OutOfMemory"
    assert "INIT_REPORT" in failed.logs
    assert "Status: error\tError Type: Runtime.OutOfMemory" in failed.logs


def test_the_same_allocation_fits_a_bigger_memory_size(make_service: Any) -> None:
    service = make_service(memory_mb=512)

    result = service.invoke("Fn", {"allocate_mb": 300})

    assert result.error is None
    assert 300 < max_memory_used(result.logs) <= 512
