"""The acceptance suite: public SAM applications, vendored unchanged under apps/, deployed on
the local cloud and driven as their users would drive them (issue #12, item 9).

Each app's SOURCE.md names its repository, path, commit and licence. The tests talk to the
local cloud over loopback, so they may open sockets. `make acceptance` runs them all;
`make test` runs the ones marked `acceptance_fast`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from local_cloud.cloud import LocalCloud, Settings
from local_cloud.observe import queue_depth

REPO = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "apps"
# Generous: the suite must hold on a 2-core machine shared with other suites (load 20).
DEADLINE_SECONDS = 120.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/acceptance/" in str(item.path):
            item.add_marker(pytest.mark.enable_socket)
            item.add_marker(pytest.mark.acceptance)


@dataclass
class RunningApp:
    """A vendored app deployed on the local cloud, with every line its functions logged."""

    cloud: LocalCloud
    _lines: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sink(self, function: str, line: str) -> None:
        with self._lock:
            self._lines.append((function, line))

    def lines(self, function: str) -> list[str]:
        with self._lock:
            return [line for name, line in self._lines if name == function]

    def client(self, service: str) -> Any:
        return boto3.client(
            service, endpoint_url=self.cloud.stack.endpoint_url, region_name="us-east-1"
        )

    def mapping(self, function: str, queue_arn: str) -> Any:
        """The running SQS poller of `function` (logical ID) on the queue `queue_arn`."""
        logical = self.cloud.stack.function(function)
        for poller in self.cloud.pollers:
            spec = poller.spec
            if spec.function_name == logical.function_name and spec.queue_arn == queue_arn:
                return poller
        raise AssertionError(f"no SQS mapping from {queue_arn} to {function}")

    def physical_id(self, logical_id: str) -> str:
        """What the stack created for `logical_id`, as DescribeStackResources reports it."""
        resources = self.client("cloudformation").describe_stack_resources(
            StackName=self.cloud.settings.stack
        )["StackResources"]
        found = [item for item in resources if item.get("LogicalResourceId") == logical_id]
        assert len(found) == 1, f"no resource {logical_id} in the stack"
        return str(found[0]["PhysicalResourceId"])

    def queue_url(self, logical_id: str) -> str:
        """The URL of the queue the stack created for `logical_id` (its physical ID)."""
        return self.physical_id(logical_id)

    def queue_arn(self, logical_id: str) -> str:
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url(logical_id), AttributeNames=["QueueArn"]
        )["Attributes"]
        return str(attributes["QueueArn"])

    def depth(self, logical_id: str) -> tuple[int, int]:
        """(visible, in flight) messages on the queue."""
        return queue_depth(self.client("sqs"), self.queue_url(logical_id))


def eventually(check: Callable[[], Any], what: str, timeout: float = DEADLINE_SECONDS) -> Any:
    """Poll until check() returns something truthy; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.25)


@contextmanager
def deployed(
    app: str, stack: str, parameter_overrides: dict[str, str] | None = None
) -> Iterator[RunningApp]:
    """Deploy apps/<app>/template.yaml (or .yml, as the app names it) unchanged as `stack`,
    with the parameter values an operator would give `sam deploy`; stop everything after."""
    found = [APPS / app / name for name in ("template.yaml", "template.yml")]
    templates = [path for path in found if path.is_file()]
    assert len(templates) == 1, f"expected one vendored template of {app}, found {templates}"
    settings = Settings(
        template=templates[0],
        stack=stack,
        state_dir=REPO / ".local-cloud",
        parameter_overrides=parameter_overrides or {},
    )
    holder: list[RunningApp] = []

    def sink(function: str, line: str) -> None:
        if holder:
            holder[0].sink(function, line)

    cloud = LocalCloud(settings, endpoint_port=None, log_sink=sink)
    holder.append(RunningApp(cloud))
    with cloud:
        yield holder[0]
