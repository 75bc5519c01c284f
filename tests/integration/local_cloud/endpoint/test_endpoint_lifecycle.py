"""The endpoint process never outlives the process that started it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

STARTER = """
import os
import sys
from local_cloud.endpoint import start_endpoint, use_warm_starts
use_warm_starts(sys.argv[1] == "warm")  # spawned: the default
endpoint = start_endpoint(port=None, reuse_from_env=False)
print(endpoint.process.pid, flush=True)
os.kill(os.getpid(), 9)  # no chance to stop it: a crash, a CI timeout
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(params=["spawned", "warm"])
def starts(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test for both ways of starting an endpoint (local_cloud/endpoint_warm.py)."""
    from local_cloud import endpoint_warm

    monkeypatch.setattr(endpoint_warm, "_chosen", request.param == "warm")
    return str(request.param)


def test_the_endpoint_exits_when_its_parent_is_killed(starts: str) -> None:
    """Warm, the endpoint's parent is the fork server, which exits with the starter."""
    starter = subprocess.run(  # noqa: S603
        [sys.executable, "-c", STARTER, starts], capture_output=True, text=True, check=False
    )
    assert starter.returncode == -9
    endpoint_pid = int(starter.stdout.strip())
    deadline = time.monotonic() + 15
    while alive(endpoint_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(endpoint_pid), f"endpoint {endpoint_pid} outlived its parent"


def test_a_local_cloud_on_a_free_port_never_deploys_onto_aws_endpoint_url(
    monkeypatch: pytest.MonkeyPatch, starts: str
) -> None:
    from pathlib import Path

    from local_cloud.cloud import LocalCloud, Settings
    from local_cloud.endpoint import start_endpoint

    repo = Path(__file__).resolve().parents[4]
    with start_endpoint(port=None, reuse_from_env=False) as someone_elses:
        monkeypatch.setenv("AWS_ENDPOINT_URL", someone_elses.url)
        settings = Settings(
            template=repo / "tests" / "templates" / "orders_fifo" / "template.yaml",
            stack="free-port",
            state_dir=repo / ".local-cloud",
        )
        with LocalCloud(
            settings, endpoint_port=None, payment_provider_port=None, start_pollers=False
        ) as cloud:
            assert cloud.endpoint is not None
            assert cloud.endpoint.url != someone_elses.url
            assert cloud.endpoint.process is not None
