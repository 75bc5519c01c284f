"""`python -m local_cloud up | send | invoke` end to end, as separate processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local_cloud.endpoint import is_answering

REPO = Path(__file__).resolve().parents[4]
ORDERS = REPO / "tests/templates/orders_fifo"
SQS_EVENT = ORDERS / "events/orders_sqs.json"


def write_config(tmp_path: Path, stack: str) -> Path:
    config = tmp_path / f"{stack}.toml"
    config.write_text(
        f'template = "{ORDERS / "template.yaml"}"\n'
        f'stack = "{stack}"\n'
        f'state_dir = "{REPO / ".local-cloud"}"\n'
    )
    return config


def local_cloud(*args: str | Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "local_cloud", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        check=False,
    )


def children_of(pid: int) -> list[int]:
    result = subprocess.run(  # noqa: S603
        ["pgrep", "-P", str(pid)],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return [int(line) for line in result.stdout.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def running_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    config = write_config(tmp_path_factory.mktemp("cli"), "orders-cli")
    state_file = REPO / ".local-cloud/state/orders-cli.json"
    state_file.unlink(missing_ok=True)
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "local_cloud", "up", "--config", str(config), "--no-view",
         "--endpoint-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not state_file.is_file():
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "up did not become ready"
            time.sleep(0.2)
        state = json.loads(state_file.read_text())
        yield {"config": config, "process": process, "state": state, "state_file": state_file}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)


def test_send_an_sqs_event_file_and_the_poller_processes_it(running_up: dict[str, Any]) -> None:
    sent = local_cloud(
        "send", "OrdersQueue", "--event", SQS_EVENT, "--config", running_up["config"]
    )
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.count("sent message") == 2
    endpoint = running_up["state"]["endpoint_url"]
    table = running_up["state"]["stack"]["outputs"]["OrdersTableName"]
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    deadline = time.monotonic() + 60
    stored: set[str] = set()
    while time.monotonic() < deadline and not {"ord-2001", "ord-2002"} <= stored:
        stored = {item["order_id"]["S"] for item in dynamodb.scan(TableName=table)["Items"]}
        time.sleep(0.5)
    assert {"ord-2001", "ord-2002"} <= stored


def test_send_a_body_by_output_key(running_up: dict[str, Any]) -> None:
    sent = local_cloud(
        "send", "AuditQueueUrl", "--body", '{"order_id": "77"}', "--config", running_up["config"]
    )
    assert sent.returncode == 0, sent.stderr
    assert "sent message 1/1" in sent.stdout


def test_invoke_against_the_running_stack(running_up: dict[str, Any]) -> None:
    invoked = local_cloud(
        "invoke", "AuditFunction", "--event", SQS_EVENT, "--config", running_up["config"]
    )
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout)["audited"] == 2
    assert "REPORT RequestId" in invoked.stderr  # the function's logs
    assert "temporary endpoint" not in invoked.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["send", "NoSuchQueue", "--body", "{}"], "no queue 'NoSuchQueue'"),
        (["send", "OrdersQueue", "--event", "missing.json"], "missing.json does not exist"),
        (["invoke", "NoSuchFunction", "--event", SQS_EVENT], "no function 'NoSuchFunction'"),
    ],
)
def test_mistakes_are_named(running_up: dict[str, Any], args: list[Any], message: str) -> None:
    result = local_cloud(*args, "--config", running_up["config"])
    assert result.returncode == 2
    assert message in result.stderr


def test_ctrl_c_stops_everything_up_started(running_up: dict[str, Any]) -> None:
    process: subprocess.Popen[str] = running_up["process"]
    started = children_of(process.pid)
    assert started, "up should run moto and workers as its child processes"
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    assert process.stdout is not None
    output = process.stdout.read()
    assert "Ready in" in output
    assert "Stopped" in output
    time.sleep(0.5)
    assert [pid for pid in started if alive(pid)] == []
    assert not running_up["state_file"].exists()
    assert not is_answering(running_up["state"]["endpoint_url"])


def test_invoke_with_no_up_running_deploys_temporarily(tmp_path: Path) -> None:
    config = write_config(tmp_path, "orders-cli-oneshot")
    invoked = local_cloud("invoke", "AuditFunction", "--event", SQS_EVENT, "--config", config)
    assert invoked.returncode == 0, invoked.stderr
    assert "temporary endpoint" in invoked.stderr
    assert json.loads(invoked.stdout)["audited"] == 2


def test_send_with_no_up_running_says_how_to_start_one(tmp_path: Path) -> None:
    config = write_config(tmp_path, "orders-cli-idle")
    result = local_cloud("send", "OrdersQueue", "--body", "{}", "--config", config)
    assert result.returncode == 2
    assert "no local cloud is running for stack orders-cli-idle" in result.stderr


def test_a_bad_event_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    config = write_config(tmp_path, "orders-cli-idle")
    result = local_cloud("invoke", "AuditFunction", "--event", bad, "--config", config)
    assert result.returncode == 2
    assert "bad.json is not valid JSON" in result.stderr
