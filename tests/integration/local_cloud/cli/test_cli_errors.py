"""What a user can get wrong, command by command: a missing file, a bad template, a busy
port. Each is one line on stderr that names the culprit, exit status 2, no traceback
(cli.main catches local_cloud.errors.LocalCloudError and nothing else)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]
ORDERS = REPO / "tests/templates/orders_fifo"
SQS_EVENT = ORDERS / "events/orders_sqs.json"


def run(*args: str | Path | int, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "local_cloud", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *named: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for text in named:
        assert text in errors[0], result.stderr


@pytest.fixture
def settings(tmp_path: Path) -> Path:
    """A settings file for a stack nobody runs, its state under tmp_path."""
    path = tmp_path / "settings.toml"
    path.write_text(
        f'template = "{ORDERS / "template.yaml"}"\n'
        'stack = "cli-errors"\n'
        f'state_dir = "{tmp_path / ".local-cloud"}"\n'
    )
    return path


@pytest.fixture
def bad_template(tmp_path: Path) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text("Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n   Properties: {}\n")
    return path


@pytest.fixture
def busy_port() -> Iterator[int]:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        yield holder.getsockname()[1]
    finally:
        holder.close()


COMMANDS_WITH_SETTINGS = [
    ["up", "--no-view"],
    ["invoke", "AuditFunction", "--event", SQS_EVENT],
    ["send", "OrdersQueue", "--body", "{}"],
    ["logs", "AuditFunction"],
    ["dlq"],
    ["redrive", "OrdersDeadLetterQueue"],
]


@pytest.mark.parametrize("command", COMMANDS_WITH_SETTINGS, ids=lambda c: c[0])
def test_a_missing_settings_file_is_named(command: list[str], tmp_path: Path) -> None:
    result = run(*command, "--config", tmp_path / "nowhere.toml", cwd=tmp_path)
    assert_one_line_error(result, "nowhere.toml", "does not exist")


@pytest.mark.parametrize(
    "command",
    [["up", "--no-view"], ["invoke", "AuditFunction", "--event", SQS_EVENT]],
    ids=lambda c: c[0],
)
def test_a_missing_template_is_named(command: list[str], settings: Path, tmp_path: Path) -> None:
    result = run(
        *command, "--config", settings, "--template", tmp_path / "missing.yaml", cwd=tmp_path
    )
    assert_one_line_error(result, "missing.yaml")


@pytest.mark.parametrize(
    "command",
    [["up", "--no-view"], ["invoke", "AuditFunction", "--event", SQS_EVENT]],
    ids=lambda c: c[0],
)
def test_a_template_that_is_not_yaml_is_named(
    command: list[str], settings: Path, bad_template: Path, tmp_path: Path
) -> None:
    result = run(*command, "--config", settings, "--template", bad_template, cwd=tmp_path)
    assert_one_line_error(result, str(bad_template))


@pytest.mark.parametrize(
    "command",
    [["invoke", "AuditFunction", "--event"], ["send", "OrdersQueue", "--event"]],
    ids=lambda c: c[0],
)
def test_a_missing_event_file_is_named(command: list[str], settings: Path, tmp_path: Path) -> None:
    result = run(*command, tmp_path / "no-event.json", "--config", settings, cwd=tmp_path)
    assert_one_line_error(result, "no-event.json", "does not exist")


def test_up_on_a_busy_endpoint_port_names_the_port_and_the_flag(
    settings: Path, busy_port: int, tmp_path: Path
) -> None:
    result = run(
        "up", "--no-view", "--config", settings, "--endpoint-port", busy_port, cwd=tmp_path
    )
    assert_one_line_error(result, str(busy_port), "--endpoint-port")


REFUSED = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Jobs:
    Type: AWS::SQS::Queue
  Role:
    Type: AWS::IAM::Role
    Properties:
      Path: /
"""


def test_a_resource_the_endpoint_refuses_is_named_with_what_to_do(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(REFUSED)
    state = tmp_path / ".local-cloud"
    settings = tmp_path / "settings.toml"
    settings.write_text(f'template = "{template}"\nstack = "cli-refused"\nstate_dir = "{state}"\n')
    result = run("up", "--no-view", "--config", settings, "--endpoint-port", "0", cwd=tmp_path)
    assert_one_line_error(
        result,
        "Role (AWS::IAM::Role): the endpoint cannot create it: KeyError: "
        "'AssumeRolePolicyDocument'",
        "`up --skip-resource Role`",
        f"the endpoint's log: {state / 'logs' / 'endpoint.log'}",
    )
    # The endpoint's own account of it is kept.
    assert "KeyError: 'AssumeRolePolicyDocument'" in (state / "logs/endpoint.log").read_text()


def test_a_skipped_resource_is_left_out_and_reported(tmp_path: Path) -> None:
    from local_cloud.cloud import LocalCloud, Settings
    from local_cloud.model import ResourceNote
    from local_cloud.stack.deploy import SKIPPED

    template = tmp_path / "template.yaml"
    template.write_text(REFUSED)
    settings = Settings(template=template, stack="cli-skipped", state_dir=tmp_path / ".lc")
    with LocalCloud(settings, endpoint_port=None, skip_resources=["Role"]) as cloud:
        assert cloud.stack.unsupported_resources == (
            ResourceNote("Role", "AWS::IAM::Role", SKIPPED),
        )
        assert "Jobs" in (cloud.deployment.queue_urls if cloud.deployment else {})


SQS_MAPPING = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Jobs:
    Type: AWS::SQS::Queue
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: index.handler
      InlineCode: |
        def handler(event, context):
            return None
      Events:
        Work:
          Type: SQS
          Properties: {Queue: !GetAtt Jobs.Arn, BatchSize: 5}
"""


def test_a_skipped_event_source_mapping_is_not_polled(tmp_path: Path) -> None:
    from local_cloud.cloud import LocalCloud, Settings
    from local_cloud.model import ResourceNote
    from local_cloud.stack.deploy import SKIPPED

    template = tmp_path / "template.yaml"
    template.write_text(SQS_MAPPING)
    settings = Settings(template=template, stack="cli-skipped-mapping", state_dir=tmp_path / ".lc")
    with LocalCloud(
        settings, endpoint_port=None, payment_provider_port=None, skip_resources=["WorkerWork"]
    ) as cloud:
        mapping = ResourceNote("WorkerWork", "AWS::Lambda::EventSourceMapping", SKIPPED)
        assert mapping in cloud.stack.unsupported_resources
        assert cloud.deployment is not None
        assert all(note.logical_id != "WorkerWork" for note in cloud.deployment.handled_locally)
        assert cloud.pollers == []
    with LocalCloud(settings, endpoint_port=None, payment_provider_port=None) as cloud:
        assert [poller.spec.logical_id for poller in cloud.pollers] == ["WorkerWork"]
