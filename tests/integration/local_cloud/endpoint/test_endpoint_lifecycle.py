"""The endpoint process never outlives the process that started it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

STARTER = """
import os
from local_cloud.endpoint import start_endpoint
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


def test_the_endpoint_exits_when_its_parent_is_killed() -> None:
    starter = subprocess.run(  # noqa: S603
        [sys.executable, "-c", STARTER], capture_output=True, text=True, check=False
    )
    assert starter.returncode == -9
    endpoint_pid = int(starter.stdout.strip())
    deadline = time.monotonic() + 15
    while alive(endpoint_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(endpoint_pid), f"endpoint {endpoint_pid} outlived its parent"
