"""`python -m local_cloud dlq` and `redrive DLQ`, run in-process against moto's `mock_aws`.

The commands find the stack three ways (local_cloud/operations/commands.py, `_target`):

- `--aws`: CloudFormation DescribeStacks with boto3's default endpoints, which `mock_aws`
  answers in-process;
- AWS_ENDPOINT_URL (a LocalStack): the same calls, sent by boto3 to that URL. Here
  AWS_IGNORE_CONFIGURED_ENDPOINT_URLS makes boto3 ignore the URL, so moto answers, while
  the command still sees the variable and takes that route;
- a running `up` (its state file): the Outputs from the state, SQS at the state's endpoint.
  Here `aws_session` is replaced by one that drops the endpoint URL (recorded) and
  `is_answering` by a stub: unit tests open no sockets.

Each test runs in its own empty directory, so no local-cloud.toml and no state of a real
`make local` is found. In-process moto raises NotImplementedError for
StartMessageMoveTask (moto's server answers an error response instead), so a redrive
either passes --loop or has moto refuse the call with `InvalidAction`, as an endpoint
without the move-task API does, which makes the command fall back to its loop.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import time_machine
from moto import mock_aws
from moto.sqs.exceptions import SQSException
from moto.sqs.responses import SQSResponse

from local_cloud import cli
from local_cloud import endpoint as endpoint_module
from local_cloud.model import DeployedStack
from local_cloud.operations.dlq import UNKNOWN_REASON

REGION = "us-east-1"
STACK = "orders"
ACCOUNT = "123456789012"
BILLING = "orders-billing"
BILLING_DLQ = "orders-billing-dlq"
WELCOME = "orders-welcome-email"
WELCOME_DLQ = "orders-welcome-email-dlq"
MAX_RECEIVES = 2


def _queue_pair(logical: str, name: str, dlq_name: str) -> dict[str, Any]:
    dlq = f"{logical}DeadLetterQueue"
    return {
        dlq: {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": dlq_name}},
        f"{logical}Queue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": name,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
                    "maxReceiveCount": MAX_RECEIVES,
                },
            },
        },
    }


TEMPLATE = {
    "Resources": {
        **_queue_pair("Billing", BILLING, BILLING_DLQ),
        **_queue_pair("WelcomeEmail", WELCOME, WELCOME_DLQ),
    },
    "Outputs": {
        "BillingQueueUrl": {"Value": {"Ref": "BillingQueue"}},
        "BillingDeadLetterQueueUrl": {"Value": {"Ref": "BillingDeadLetterQueue"}},
        "WelcomeEmailQueueUrl": {"Value": {"Ref": "WelcomeEmailQueue"}},
        "WelcomeEmailDeadLetterQueueUrl": {"Value": {"Ref": "WelcomeEmailDeadLetterQueue"}},
        "ChargesTableName": {"Value": "orders-ChargesTable-1"},  # not a queue: ignored
    },
}


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # no local-cloud.toml, no .local-cloud/state of a real `up`
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_REGION", REGION)
    with mock_aws():
        yield


@pytest.fixture
def sqs() -> Any:
    return boto3.client("sqs", region_name=REGION)


@pytest.fixture
def stack() -> dict[str, str]:
    """A CloudFormation stack with two queues, each dead-lettering to its own DLQ."""
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(TEMPLATE))
    described = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}


def run(*argv: str) -> int:
    return cli.main(list(argv))


def text(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def dead_letter_by_retries(sqs: Any, source_url: str, body: str) -> str:
    """A message the consumer failed MAX_RECEIVES times: SQS moves it to the DLQ."""
    message_id: str = sqs.send_message(QueueUrl=source_url, MessageBody=body)["MessageId"]
    for _ in range(MAX_RECEIVES):
        received = sqs.receive_message(QueueUrl=source_url, VisibilityTimeout=0)["Messages"]
        assert [m["MessageId"] for m in received] == [message_id]
    # The next receive finds it over maxReceiveCount and moves it to the DLQ.
    assert "Messages" not in sqs.receive_message(QueueUrl=source_url, VisibilityTimeout=0)
    return message_id


def poison(sqs: Any, dlq_url: str, body: str) -> str:
    """A message the consumer dead-lettered itself at once, with its reason (issue #8)."""
    sent = sqs.send_message(
        QueueUrl=dlq_url,
        MessageBody=body,
        MessageAttributes={
            "ErrorType": text("ConflictingCharge"),
            "ErrorMessage": text("payment_method differs from the settled charge"),
            "ErrorFunction": text("BillingFunction"),
        },
    )
    message_id: str = sent["MessageId"]
    return message_id


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message of a queue (consumed), with its attributes."""
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", []):
        found += batch
    return found


def depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def refuse_move_tasks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """moto answers StartMessageMoveTask like an endpoint without the API (AWS's code)."""
    calls: list[str] = []

    def start_message_move_task(self: SQSResponse) -> None:
        calls.append(self._get_param("SourceArn"))
        raise SQSException("InvalidAction", "StartMessageMoveTask is not supported here")

    monkeypatch.setattr(
        SQSResponse, "start_message_move_task", start_message_move_task, raising=False
    )
    return calls


# ---------------------------------------------------------------- arguments


def test_the_parser_reads_both_commands_arguments() -> None:
    parser = cli.build_parser()
    dlq = parser.parse_args(["dlq", "--stack", STACK, "--aws", "--limit", "5"])
    assert (dlq.stack, dlq.aws, dlq.limit) == (STACK, True, 5)
    assert parser.parse_args(["dlq"]).limit == 1000
    assert parser.parse_args(["dlq"]).aws is False

    move = parser.parse_args(["redrive", "BillingDeadLetterQueue", "--rate", "10", "--loop"])
    assert (move.dlq, move.rate, move.loop, move.aws) == ("BillingDeadLetterQueue", 10, True, False)
    plain = parser.parse_args(["redrive", "BillingDeadLetterQueueUrl"])
    assert (plain.rate, plain.loop) == (None, False)


def test_redrive_without_a_dlq_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        run("redrive", "--aws")
    assert exit_.value.code == 2
    assert "dlq" in capsys.readouterr().err


def test_a_rate_that_is_not_a_number_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        run("redrive", "BillingDeadLetterQueue", "--rate", "fast")
    assert exit_.value.code == 2
    assert "--rate" in capsys.readouterr().err


# ---------------------------------------------------------------- dlq


def test_dlq_lists_each_message_with_age_receives_source_reason_and_body(
    sqs: Any, stack: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=True):
        retried = dead_letter_by_retries(sqs, stack["BillingQueueUrl"], '{"transaction_id": "t-1"}')
    with time_machine.travel(start + timedelta(hours=1), tick=True):
        poisoned = poison(sqs, stack["BillingDeadLetterQueueUrl"], '{"transaction_id": "t-2"}')
    # 30 s past the minute: the sub-second time the calls take cannot change the minute.
    with time_machine.travel(start + timedelta(hours=3, minutes=20, seconds=30), tick=True):
        assert run("dlq", "--aws", "--stack", STACK) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()

    header = f"BillingDeadLetterQueue (BillingDeadLetterQueueUrl): 2 messages, source {BILLING}"
    assert header in lines
    assert "WelcomeEmailDeadLetterQueue (WelcomeEmailDeadLetterQueueUrl): 0 messages, " in out
    # Oldest first; the receive count is the one before this look.
    first = lines.index(f"  {retried}  age 3h 20m  receives {MAX_RECEIVES}  source {BILLING}")
    assert lines[first + 1] == f"    reason: {UNKNOWN_REASON}"
    assert lines[first + 2] == '    body: {"transaction_id": "t-1"}'
    second = lines.index(f"  {poisoned}  age 2h 20m  receives 0  source {BILLING}")
    assert second > first
    assert lines[second + 1:second + 4] == [
        "    reason: ConflictingCharge: payment_method differs from the settled charge",
        "    ErrorFunction: BillingFunction",
        '    body: {"transaction_id": "t-2"}',
    ]  # fmt: skip


def test_dlq_consumes_nothing_each_look_adds_one_receive(
    sqs: Any, stack: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    message_id = poison(sqs, stack["BillingDeadLetterQueueUrl"], "{}")

    for look in range(2):
        assert run("dlq", "--aws", "--stack", STACK) == 0
        line = rf"^  {message_id}  age \d+s  receives {look}  source {BILLING}$"
        assert re.search(line, capsys.readouterr().out, re.MULTILINE)

    # Still there and visible at once (not hidden for the peek's visibility timeout).
    left = drain(sqs, stack["BillingDeadLetterQueueUrl"])
    assert [m["MessageId"] for m in left] == [message_id]
    assert left[0]["Attributes"]["ApproximateReceiveCount"] == "3"
    assert left[0]["MessageAttributes"]["ErrorType"]["StringValue"] == "ConflictingCharge"
    assert depth(sqs, stack["BillingQueueUrl"]) == 0  # nor moved anywhere


def test_dlq_on_empty_dlqs_says_so(
    stack: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("dlq", "--aws", "--stack", STACK) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"BillingDeadLetterQueue (BillingDeadLetterQueueUrl): 0 messages, source {BILLING}",
        f"WelcomeEmailDeadLetterQueue (WelcomeEmailDeadLetterQueueUrl): 0 messages, "
        f"source {WELCOME}",
    ]
    assert captured.err == ""


def test_dlq_stops_at_the_limit_and_says_so(
    sqs: Any, stack: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(3):
        poison(sqs, stack["BillingDeadLetterQueueUrl"], f'{{"n": {n}}}')

    assert run("dlq", "--aws", "--stack", STACK, "--limit", "2") == 0
    out = capsys.readouterr().out
    assert (
        "BillingDeadLetterQueue (BillingDeadLetterQueueUrl): 2 messages "
        f"(listing stopped at --limit), source {BILLING}"
    ) in out
    assert out.count("    body: ") == 2
    assert depth(sqs, stack["BillingDeadLetterQueueUrl"]) == 3


def test_dlq_shortens_a_long_body(
    sqs: Any, stack: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    body = json.dumps({"note": "x" * 300})
    poison(sqs, stack["WelcomeEmailDeadLetterQueueUrl"], body)

    assert run("dlq", "--aws", "--stack", STACK) == 0
    assert f"    body: {body[:160]}...\n" in capsys.readouterr().out


def test_dlq_of_a_stack_without_dlqs_says_it_has_none(
    sqs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqs.create_queue(QueueName="plain")["QueueUrl"]
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="plain-stack",
        TemplateBody=json.dumps(
            {
                "Resources": {"Plain": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {"PlainUrl": {"Value": url}},
            }
        ),
    )
    assert run("dlq", "--aws", "--stack", "plain-stack") == 0
    assert capsys.readouterr().out == "stack plain-stack at AWS has no dead-letter queue\n"


def test_dlq_without_dlqs_names_the_stack_of_the_settings_file(
    sqs: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The stack comes from local-cloud.toml when --stack is not given."""
    (tmp_path / "local-cloud.toml").write_text('stack = "configured-stack"\n')
    url = sqs.create_queue(QueueName="plain")["QueueUrl"]
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="configured-stack",
        TemplateBody=json.dumps(
            {
                "Resources": {"Plain": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {"PlainUrl": {"Value": url}},
            }
        ),
    )
    assert run("dlq", "--aws") == 0  # found: the Outputs are the configured stack's
    assert capsys.readouterr().out == "stack configured-stack at AWS has no dead-letter queue\n"


def test_dlq_reads_the_outputs_at_aws_endpoint_url_when_no_up_runs(
    sqs: Any, stack: dict[str, str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")  # moto answers
    message_id = poison(sqs, stack["WelcomeEmailDeadLetterQueueUrl"], '{"user_id": "u-1"}')

    assert run("dlq", "--stack", STACK) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^  {message_id}  age \d+s  receives 0  source {WELCOME}$", out, re.M)
    assert "WelcomeEmailDeadLetterQueue (WelcomeEmailDeadLetterQueueUrl): 1 message, " in out


def test_dlq_uses_the_running_ups_outputs_and_endpoint(
    sqs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """With `up` running, no CloudFormation call: the state file has the Outputs."""
    endpoint = "http://127.0.0.1:4566"
    dlq = sqs.create_queue(QueueName="up-billing-dlq")["QueueUrl"]
    policy = {"deadLetterTargetArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:up-billing-dlq"}
    source = sqs.create_queue(
        QueueName="up-billing",
        Attributes={"RedrivePolicy": json.dumps({**policy, "maxReceiveCount": MAX_RECEIVES})},
    )["QueueUrl"]
    deployed = DeployedStack(
        stack_name="up-stack",
        endpoint_url=endpoint,
        region=REGION,
        outputs={"BillingQueueUrl": source, "BillingDeadLetterQueueUrl": dlq},
        functions=(),
        sqs_event_sources=(),
    )
    state = tmp_path / ".local-cloud" / "state" / "up-stack.json"
    state.parent.mkdir(parents=True)
    state.write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "endpoint_url": endpoint,
                "runtime_dir": str(tmp_path),
                "queue_urls": {},
                "stack": asdict(deployed),
            },
            default=str,
        )
    )
    asked: list[tuple[str, str | None]] = []

    class InProcessSession:
        def __init__(self, region: str) -> None:
            self._session = boto3.Session(region_name=region)

        def client(self, service: str, endpoint_url: str | None = None, **kwargs: Any) -> Any:
            asked.append((service, endpoint_url))
            return self._session.client(service, **kwargs)

    monkeypatch.setattr("local_cloud.operations.commands.aws_session", InProcessSession)
    monkeypatch.setattr(endpoint_module, "is_answering", lambda url: url == endpoint)
    message_id = poison(sqs, dlq, "{}")

    assert run("dlq", "--stack", "up-stack") == 0
    out = capsys.readouterr().out
    assert asked == [("sqs", endpoint)]  # no CloudFormation: the stack is not even there
    assert "BillingDeadLetterQueue (BillingDeadLetterQueueUrl): 1 message, source up-billing" in out
    assert re.search(rf"^  {message_id}  age \d+s  receives 0  source up-billing$", out, re.M)


# ---------------------------------------------------------------- redrive


def test_redrive_by_logical_id_falls_back_to_the_loop_and_moves_everything_back(
    sqs: Any, stack: dict[str, str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    started = refuse_move_tasks(monkeypatch)
    dlq_url = stack["BillingDeadLetterQueueUrl"]
    bodies = ['{"transaction_id": "t-1"}', '{"transaction_id": "t-2"}']
    old_ids = [
        dead_letter_by_retries(sqs, stack["BillingQueueUrl"], bodies[0]),
        poison(sqs, dlq_url, bodies[1]),
    ]

    assert run("redrive", "--aws", "--stack", STACK, "BillingDeadLetterQueue") == 0
    captured = capsys.readouterr()
    assert started == [f"arn:aws:sqs:{REGION}:{ACCOUNT}:{BILLING_DLQ}"]  # tried first

    lines = captured.out.splitlines()
    assert lines[0] == (
        f"BillingDeadLetterQueue: 2 messages moved to {BILLING} by send-then-delete (COMPLETED)"
    )
    pairs = dict(line.strip().split(" -> new MessageId ") for line in lines[1:])
    assert sorted(pairs) == sorted(old_ids)
    assert captured.err == ""

    assert depth(sqs, dlq_url) == 0
    back = {m["MessageId"]: m for m in drain(sqs, stack["BillingQueueUrl"])}
    assert sorted(back) == sorted(pairs.values())  # the printed new IDs are the ones there
    assert not set(back) & set(old_ids)
    # Each new message is its old one: same body, same message attributes.
    assert {new: m["Body"] for new, m in back.items()} == {
        pairs[old]: body for old, body in zip(old_ids, bodies, strict=True)
    }
    poisoned = back[pairs[old_ids[1]]]
    assert poisoned["MessageAttributes"]["ErrorType"]["StringValue"] == "ConflictingCharge"
    assert all(m["Attributes"]["ApproximateReceiveCount"] == "1" for m in back.values())
    assert depth(sqs, stack["WelcomeEmailDeadLetterQueueUrl"]) == 0


def test_redrive_by_output_key_with_loop(
    sqs: Any, stack: dict[str, str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    started = refuse_move_tasks(monkeypatch)
    dlq_url = stack["WelcomeEmailDeadLetterQueueUrl"]
    old_id = poison(sqs, dlq_url, '{"user_id": "u-1"}')
    billing_old = poison(sqs, stack["BillingDeadLetterQueueUrl"], "{}")

    code = run("redrive", "--aws", "--stack", STACK, "WelcomeEmailDeadLetterQueueUrl", "--loop")
    out = capsys.readouterr().out
    assert code == 0
    assert started == []  # --loop: no move task asked for
    lines = out.splitlines()
    assert lines[0] == (
        f"WelcomeEmailDeadLetterQueue: 1 message moved to {WELCOME} by send-then-delete (COMPLETED)"
    )
    assert len(lines) == 2
    old, new = lines[1].strip().split(" -> new MessageId ")
    assert old == old_id
    assert [m["MessageId"] for m in drain(sqs, stack["WelcomeEmailQueueUrl"])] == [new]
    assert depth(sqs, dlq_url) == 0
    # The other DLQ is untouched.
    assert [m["MessageId"] for m in drain(sqs, stack["BillingDeadLetterQueueUrl"])] == [billing_old]


def test_redrive_of_an_empty_dlq_moves_nothing(
    stack: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("redrive", "--aws", "--stack", STACK, "BillingDeadLetterQueue", "--loop") == 0
    assert capsys.readouterr().out == (
        f"BillingDeadLetterQueue: 0 messages moved to {BILLING} by send-then-delete (COMPLETED)\n"
    )


def test_redrive_of_an_unknown_dlq_names_the_stacks_dlqs(
    sqs: Any, stack: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    message_id = poison(sqs, stack["BillingDeadLetterQueueUrl"], "{}")

    # A source queue is no DLQ.
    assert run("redrive", "--aws", "--stack", STACK, "BillingQueue", "--loop") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "error: no dead-letter queue 'BillingQueue'; the stack's: BillingDeadLetterQueue "
        "(BillingDeadLetterQueueUrl), WelcomeEmailDeadLetterQueue "
        "(WelcomeEmailDeadLetterQueueUrl)\n"
    )
    assert [m["MessageId"] for m in drain(sqs, stack["BillingDeadLetterQueueUrl"])] == [message_id]


# ---------------------------------------------------------------- no stack


@pytest.mark.parametrize("command", [["dlq"], ["redrive", "BillingDeadLetterQueue"]])
def test_a_stack_that_does_not_exist_is_a_clear_error(
    command: list[str], stack: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(*command, "--aws", "--stack", "no-such-stack") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: cannot read stack no-such-stack's Outputs at AWS: ")
    assert "does not exist" in captured.err
    assert len(captured.err.splitlines()) == 1  # one line, no traceback


@pytest.mark.parametrize("command", [["dlq"], ["redrive", "BillingDeadLetterQueue"]])
def test_no_running_up_and_no_endpoint_says_how_to_reach_the_stack(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(*command, "--stack", STACK) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: no local cloud is running for stack {STACK}: ")
    for way in ("make local", "AWS_ENDPOINT_URL", "--aws"):
        assert way in err


def test_a_missing_stack_at_aws_endpoint_url_names_the_endpoint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert run("dlq", "--stack", "no-such-stack") == 2
    assert capsys.readouterr().err.startswith(
        "error: cannot read stack no-such-stack's Outputs at http://localhost:4566: "
    )


@pytest.mark.parametrize("command", [["dlq"], ["redrive", "BillingDeadLetterQueue", "--loop"]])
def test_a_queue_the_outputs_name_but_that_is_gone_is_a_clear_error(
    command: list[str], sqs: Any, stack: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """An SQS error while reading the DLQs (here: an Output names a deleted queue; on AWS
    as likely AccessDenied or throttling) is a one-line error with exit status 2, as for
    `redrive`. `dlq` lets the ClientError escape main() as a traceback instead."""
    sqs.delete_queue(QueueUrl=stack["WelcomeEmailQueueUrl"])

    code = run(*command, "--aws", "--stack", STACK)  # dlq: raises QueueDoesNotExist here
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "does not exist" in err
    assert len(err.splitlines()) == 1
