"""LocalCloud.start(): the endpoint starts while the stack is built; whichever fails, its
own error is the one raised, and what was started is stopped (cloud.py, _start)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from local_cloud import cloud as cloud_module
from local_cloud.cloud import LocalCloud, Settings
from local_cloud.endpoint import EndpointError
from local_cloud.stack.errors import BuildError

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: index.handler
      InlineCode: "def handler(event, context):\\n    return None\\n"
"""


def settings(tmp_path: Path) -> Settings:
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE)
    return Settings(template=template, state_dir=tmp_path / "state")


class FakeEndpoint:
    url = "http://127.0.0.1:1"
    lambda_fault_flag = None

    def __init__(self) -> None:
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True


def test_a_failed_endpoint_start_ends_the_build_with_its_own_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_start(**_: Any) -> None:
        raise EndpointError("http://127.0.0.1:4566 is already in use by another process")

    checks: list[str] = []

    def prepare(options: Any, template: Any, check: Any) -> None:
        deadline = time.monotonic() + 120  # generous: a busy machine
        while time.monotonic() < deadline:
            check()  # what the build does before each function and layer
            checks.append("passed")
            time.sleep(0.01)
        raise AssertionError("check() never raised the endpoint's error")

    monkeypatch.setattr(cloud_module, "start_endpoint", failing_start)
    monkeypatch.setattr(cloud_module, "prepare_stack", prepare)
    cloud = LocalCloud(settings(tmp_path), endpoint_port=None)
    with pytest.raises(EndpointError, match="already in use"):
        cloud.start()
    assert cloud.endpoint is None
    assert cloud.deployment is None


def test_a_failed_build_stops_the_endpoint_started_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = FakeEndpoint()
    building = threading.Event()

    def slow_start(**_: Any) -> FakeEndpoint:
        assert building.wait(120), "the build did not start while the endpoint was starting"
        time.sleep(0.2)  # still starting when the build fails
        return endpoint

    def failing_prepare(options: Any, template: Any, check: Any) -> None:
        building.set()
        raise BuildError("Fn: code directory functions/missing does not exist")

    monkeypatch.setattr(cloud_module, "start_endpoint", slow_start)
    monkeypatch.setattr(cloud_module, "prepare_stack", failing_prepare)
    cloud = LocalCloud(settings(tmp_path), endpoint_port=None)
    with pytest.raises(BuildError, match="does not exist"):
        cloud.start()
    assert endpoint.stopped  # waited for, then stopped: no endpoint process left behind
    assert cloud.endpoint is None


def test_the_services_preloaded_follow_the_settings(tmp_path: Path) -> None:
    bare = LocalCloud(settings(tmp_path))._services_to_preload()
    assert bare == ["sts", "s3", "cloudformation", "monitoring", "iam", "lambda", "sqs"]
    seeded = Settings(ssm_parameters={"/p": "v"}, ses_verified_identities=("a@example.com",))
    assert LocalCloud(seeded)._services_to_preload()[:4] == ["sts", "s3", "ssm", "ses"]
