"""Faults given at start travel from `local-cloud up --faults FILE --fault-seed N` through
LocalCloud and start_endpoint to the endpoint process's arguments; mistakes stop the
start with a message that names them. No process is started here."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from local_cloud import cli, cloud, endpoint, endpoint_warm
from local_cloud.cloud import LocalCloud, Settings
from local_cloud.endpoint import EndpointError, start_endpoint

A_FAULT = {"service": "ses", "operation": "SendEmail", "error": "Throttling"}


class Stop(EndpointError):
    """Raised by a stand-in to end the start once the arguments are seen."""


@pytest.fixture
def faults_file(tmp_path: Path) -> Path:
    path = tmp_path / "faults.json"
    path.write_text(json.dumps([A_FAULT]))
    return path


def test_up_passes_faults_and_seed_to_the_local_cloud(
    up_calls: list[dict[str, Any]], faults_file: Path
) -> None:
    status = cli.main(["up", "--no-view", "--faults", str(faults_file), "--fault-seed", "42"])

    assert status == 2
    assert up_calls[0]["endpoint_faults"] == faults_file
    assert up_calls[0]["endpoint_fault_seed"] == 42


def test_the_local_cloud_passes_them_to_its_endpoint(
    monkeypatch: pytest.MonkeyPatch, faults_file: Path
) -> None:
    seen: dict[str, Any] = {}

    def recording_start_endpoint(**options: Any) -> None:
        seen.update(options)
        raise Stop("stopped by the test")

    monkeypatch.setattr(cloud, "start_endpoint", recording_start_endpoint)
    local_cloud = LocalCloud(
        Settings(), endpoint_port=None, endpoint_faults=faults_file, endpoint_fault_seed=7
    )
    with pytest.raises(Stop):
        local_cloud.start()
    assert (seen["faults_file"], seen["fault_seed"]) == (faults_file, 7)


@pytest.mark.parametrize("starts", ["spawned", "warm"])
def test_the_endpoint_process_gets_them_as_arguments(
    monkeypatch: pytest.MonkeyPatch, faults_file: Path, starts: str
) -> None:
    argv: list[str] = []

    class ExitedProcess:
        returncode = 1

        def __init__(self, args: list[str], **_: Any) -> None:
            argv.extend(args)

        def poll(self) -> int:
            return 1

    class Listener:  # the socket bound for the endpoint process (no sockets in unit tests)
        def getsockname(self) -> tuple[str, int]:
            return ("127.0.0.1", 4599)

        def fileno(self) -> int:
            return 99

        def close(self) -> None:
            pass

        def __enter__(self) -> Listener:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(endpoint, "is_answering", lambda *_a, **_k: False)
    monkeypatch.setattr(endpoint, "bind_loopback", lambda *_a: Listener())
    if starts == "spawned":
        monkeypatch.setattr(endpoint_warm, "_chosen", False)
        monkeypatch.setattr(endpoint.subprocess, "Popen", ExitedProcess)
    else:  # local_cloud/endpoint_warm.py: the same arguments, less --fd and --parent-pid
        monkeypatch.setattr(endpoint_warm, "_chosen", True)
        monkeypatch.setattr(endpoint, "start_warm", lambda args, *_: ExitedProcess(args))
    with pytest.raises(EndpointError, match="exited with code 1"):
        start_endpoint(port=4599, reuse_from_env=False, faults_file=faults_file, fault_seed=9)

    assert argv[argv.index("--faults") + 1] == str(faults_file.resolve())
    assert argv[argv.index("--fault-seed") + 1] == "9"


def test_an_invalid_faults_file_stops_the_start_naming_the_fault_and_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "faults.json"
    path.write_text(json.dumps([A_FAULT, {**A_FAULT, "status": 302}]))
    monkeypatch.setattr(endpoint.subprocess, "Popen", None)  # must not get that far

    with pytest.raises(EndpointError, match=r"faults.json: \[1\]\.status: must be an HTTP"):
        start_endpoint(port=None, reuse_from_env=False, faults_file=path)


def test_faults_at_start_refuse_an_endpoint_this_process_does_not_start(
    monkeypatch: pytest.MonkeyPatch, faults_file: Path
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setattr(endpoint, "is_answering", lambda *_a, **_k: True)

    with pytest.raises(EndpointError, match="AWS_ENDPOINT_URL names an endpoint already running"):
        start_endpoint(faults_file=faults_file)
    with pytest.raises(
        EndpointError, match=re.escape("POST http://127.0.0.1:4566/_local_cloud/faults")
    ):
        start_endpoint(fault_seed=1)
    assert start_endpoint().url == "http://127.0.0.1:4566"  # without faults: reused as before


def test_the_endpoint_server_refuses_an_invalid_faults_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from local_cloud import endpoint_server

    path = tmp_path / "faults.json"
    path.write_text(json.dumps([{**A_FAULT, "colour": "red"}]))
    with pytest.raises(SystemExit) as exited:
        endpoint_server.main(["--faults", str(path)])
    assert exited.value.code == 2
    assert "--faults: " in capsys.readouterr().err
