"""SQS message move tasks on a real endpoint process, through boto3 (JSON protocol):
start, list, cancel, the rate, new message IDs in the destination, and AWS's errors."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local_cloud.endpoint import Endpoint, start_endpoint

NO_RETRIES = Config(retries={"total_max_attempts": 1})


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Endpoint]:
    with start_endpoint(port=None, reuse_from_env=False) as started:
        yield started


@pytest.fixture(scope="module")
def sqs(endpoint: Endpoint) -> Any:
    session = boto3.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    return session.client("sqs", endpoint_url=endpoint.url, config=NO_RETRIES)


def arn(sqs: Any, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def pipe(sqs: Any) -> tuple[str, str]:
    """(source queue URL, DLQ URL): a fresh source queue that dead-letters to a fresh DLQ."""
    name = f"q-{uuid.uuid4().hex[:8]}"
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    policy = {"deadLetterTargetArn": arn(sqs, dlq), "maxReceiveCount": 5}
    source = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": json.dumps(policy)})[
        "QueueUrl"
    ]
    return source, dlq


def fill(sqs: Any, url: str, count: int) -> list[str]:
    ids = []
    for index in range(count):
        sent = sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"n": index}),
            MessageAttributes={"ErrorType": {"DataType": "String", "StringValue": "Boom"}},
        )
        ids.append(sent["MessageId"])
    return ids


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return messages
        messages += batch


def last_task(sqs: Any, dlq_arn: str, status: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        results = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
        if results and results[0]["Status"] == status:
            return dict(results[0])
        if time.monotonic() > deadline:
            pytest.fail(f"the task never reached {status}: {results}")
        time.sleep(0.05)


def error_of(call: Any, **request: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**request)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def test_a_task_moves_every_message_back_to_the_source_with_new_ids(sqs: Any) -> None:
    source, dlq = pipe(sqs)
    old_ids = fill(sqs, dlq, 5)
    before = time.time() * 1000

    handle = sqs.start_message_move_task(SourceArn=arn(sqs, dlq))["TaskHandle"]

    task = last_task(sqs, arn(sqs, dlq), "COMPLETED")
    assert task["ApproximateNumberOfMessagesMoved"] == 5
    assert task["ApproximateNumberOfMessagesToMove"] == 5
    assert task["SourceArn"] == arn(sqs, dlq)
    assert "DestinationArn" not in task  # not given: each message's source queue
    assert "TaskHandle" not in task  # AWS lists the handle of running tasks only
    assert handle
    moved = drain(sqs, source)
    assert sorted(json.loads(m["Body"])["n"] for m in moved) == [0, 1, 2, 3, 4]
    assert not {m["MessageId"] for m in moved} & set(old_ids)
    # a fresh retention period starts: SentTimestamp is the move, not the first send
    assert all(int(m["Attributes"]["SentTimestamp"]) >= before - 1 for m in moved)
    assert all(m["Attributes"]["ApproximateReceiveCount"] == "1" for m in moved)
    assert {m["MessageAttributes"]["ErrorType"]["StringValue"] for m in moved} == {"Boom"}
    assert drain(sqs, dlq) == []


def test_a_destination_can_be_given(sqs: Any) -> None:
    _, dlq = pipe(sqs)
    other = sqs.create_queue(QueueName=f"other-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    fill(sqs, dlq, 2)

    sqs.start_message_move_task(SourceArn=arn(sqs, dlq), DestinationArn=arn(sqs, other))

    task = last_task(sqs, arn(sqs, dlq), "COMPLETED")
    assert task["DestinationArn"] == arn(sqs, other)
    assert len(drain(sqs, other)) == 2


def test_the_rate_paces_the_move(sqs: Any) -> None:
    _, dlq = pipe(sqs)
    fill(sqs, dlq, 6)
    started = time.monotonic()

    sqs.start_message_move_task(SourceArn=arn(sqs, dlq), MaxNumberOfMessagesPerSecond=4)

    task = last_task(sqs, arn(sqs, dlq), "COMPLETED")
    # message n leaves n/4 s in: the 6th at 1.25 s; unpaced, 6 moves take milliseconds
    assert time.monotonic() - started >= 1.2
    assert task["MaxNumberOfMessagesPerSecond"] == 4
    assert task["ApproximateNumberOfMessagesMoved"] == 6


def test_a_running_task_is_listed_with_its_handle_and_can_be_cancelled(sqs: Any) -> None:
    source, dlq = pipe(sqs)
    fill(sqs, dlq, 10)
    handle = sqs.start_message_move_task(SourceArn=arn(sqs, dlq), MaxNumberOfMessagesPerSecond=1)[
        "TaskHandle"
    ]

    running = last_task(sqs, arn(sqs, dlq), "RUNNING")
    assert running["TaskHandle"] == handle
    code, message = error_of(sqs.start_message_move_task, SourceArn=arn(sqs, dlq))
    assert (code, message) == (
        "InvalidParameterValue",
        "There is already a task running. Only one active task is allowed for a source queue "
        "arn at a given time.",
    )
    moved = sqs.cancel_message_move_task(TaskHandle=handle)["ApproximateNumberOfMessagesMoved"]

    cancelled = last_task(sqs, arn(sqs, dlq), "CANCELLED")
    assert moved < 10
    assert cancelled["ApproximateNumberOfMessagesMoved"] == moved
    assert len(drain(sqs, source)) == moved
    code, _ = error_of(sqs.cancel_message_move_task, TaskHandle=handle)
    assert code == "AWS.SimpleQueueService.UnsupportedOperation"  # only active tasks
    # a new task may start once none is active, and lists first
    sqs.start_message_move_task(SourceArn=arn(sqs, dlq))
    listed = sqs.list_message_move_tasks(SourceArn=arn(sqs, dlq), MaxResults=10)["Results"]
    assert len(listed) == 2
    assert listed[1]["Status"] == "CANCELLED"


def test_the_source_must_be_a_dead_letter_queue(sqs: Any) -> None:
    source, _ = pipe(sqs)
    code, message = error_of(sqs.start_message_move_task, SourceArn=arn(sqs, source))
    assert (code, message) == (
        "InvalidParameterValue",
        "Source queue must be configured as a Dead Letter Queue.",
    )
    code, _ = error_of(sqs.list_message_move_tasks, SourceArn=arn(sqs, source))
    assert code == "InvalidParameterValue"


def test_queues_that_do_not_exist_and_bad_parameters_are_refused(sqs: Any) -> None:
    _, dlq = pipe(sqs)
    missing = arn(sqs, dlq) + "-missing"
    assert error_of(sqs.start_message_move_task, SourceArn=missing)[0] == (
        "ResourceNotFoundException"
    )
    assert error_of(sqs.start_message_move_task, SourceArn=arn(sqs, dlq), DestinationArn=missing)[
        0
    ] == ("ResourceNotFoundException")
    assert error_of(
        sqs.start_message_move_task, SourceArn=arn(sqs, dlq), DestinationArn=arn(sqs, dlq)
    )[0] == ("InvalidParameterValue")
    assert error_of(sqs.start_message_move_task, SourceArn="not-an-arn")[0] == (
        "InvalidParameterValue"
    )
    for rate in (0, 501):
        code, _ = error_of(
            sqs.start_message_move_task, SourceArn=arn(sqs, dlq), MaxNumberOfMessagesPerSecond=rate
        )
        assert code == "InvalidParameterValue"
    assert error_of(sqs.cancel_message_move_task, TaskHandle="bm90LWEtaGFuZGxl")[0] == (
        "ResourceNotFoundException"
    )


def test_a_dead_letter_queue_of_several_queues_needs_a_destination(sqs: Any) -> None:
    first, dlq = pipe(sqs)
    policy = {"deadLetterTargetArn": arn(sqs, dlq), "maxReceiveCount": 5}
    sqs.create_queue(
        QueueName=f"second-{uuid.uuid4().hex[:8]}",
        Attributes={"RedrivePolicy": json.dumps(policy)},
    )
    code, message = error_of(sqs.start_message_move_task, SourceArn=arn(sqs, dlq))
    assert code == "InvalidParameterValue"
    assert "give DestinationArn" in message
    sqs.start_message_move_task(SourceArn=arn(sqs, dlq), DestinationArn=arn(sqs, first))


def test_other_sqs_calls_still_reach_moto(sqs: Any) -> None:
    _, dlq = pipe(sqs)
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]
