"""Warm starts (local_cloud/endpoint_warm.py): an endpoint forked from a fork server that
imported moto once behaves as a spawned one, and is one of its forks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from local_cloud import endpoint_warm
from local_cloud.endpoint import start_endpoint
from local_cloud.endpoint_warm import WarmProcess
from local_cloud.errors import EndpointError


@pytest.fixture(autouse=True)
def warm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(endpoint_warm, "_chosen", True)


def stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat from field 3 (state) on: the name in parentheses may hold spaces."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def test_a_warm_endpoint_is_a_fork_of_the_single_threaded_warm_server(tmp_path: Path) -> None:
    log = tmp_path / "endpoint.log"
    with start_endpoint(port=None, reuse_from_env=False, log_path=log) as endpoint:
        assert isinstance(endpoint.process, WarmProcess)
        pid = endpoint.process.pid
        server = int(stat_fields(pid)[1])  # its parent
        assert server != os.getpid()
        command = Path(f"/proc/{server}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        assert "multiprocessing.forkserver" in command
        assert endpoint_warm.PRELOAD_MODULE in command
        status = Path(f"/proc/{server}/status").read_text()
        assert "\nThreads:\t1\n" in status  # fork() in a threaded process is unsafe
        assert os.getsid(pid) == pid  # its own session, as start_new_session=True
        # a spawned endpoint spends ~1.75 s importing before it answers; a fork of the
        # warm server has that done, unless the server's preload failed (multiprocessing
        # ignores a failing preload): the child says which in its log
        assert "warm start: forked from the fork server, moto preloaded" in log.read_text()
        assert endpoint.is_moto
        assert endpoint.process.poll() is None
        assert endpoint.process.returncode is None
    assert endpoint.process.returncode == 0  # SIGTERM: main()'s handler exits with 0
    assert "AWS endpoint (moto) on " + endpoint.url in log.read_text()


def test_a_killed_warm_endpoint_reports_the_signal_as_popen_does() -> None:
    endpoint = start_endpoint(port=None, reuse_from_env=False)
    assert endpoint.process is not None
    endpoint.process.kill()
    assert endpoint.process.wait(timeout=30) == -9
    assert endpoint.process.poll() == -9
    endpoint.stop()  # over already: only the flag file goes
    assert endpoint.lambda_fault_flag is not None
    assert not endpoint.lambda_fault_flag.exists()


def test_a_warm_endpoint_exiting_at_start_up_is_reported_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "endpoint.log"
    with pytest.raises(EndpointError, match=r"exited with code 2 .*its log"):
        start_endpoint(port=None, reuse_from_env=False, preload=["Not A Service"], log_path=log)
    assert "usage: endpoint_server.py" in log.read_text()  # main()'s parser, as spawned
    assert "--preload" in log.read_text()
