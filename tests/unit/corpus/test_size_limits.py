"""The size limits the corpus relies on: SQS's 1 MiB (as moto enforces it) and the local
HTTP API's 10 MB and Lambda's 6 MB (answered 413 as API Gateway does, never 500).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from werkzeug.test import Client, EnvironBuilder, run_wsgi_app

from local_cloud.http_api import HttpApiApp
from local_cloud.http_api.server import MAX_BODY_BYTES
from local_cloud.lambda_runtime import RequestTooLarge
from tests.corpus.hostile_inputs import (
    CASES,
    HTTP_API_MAX_BODY_BYTES,
    SQS_MAX_BODY_BYTES,
    HostileInput,
    Target,
)
from tests.unit.corpus.conftest import SIGNUP_API, Result

QUEUE_SIZE_CASES = [c for c in CASES if c.category == "size" and c.target is not Target.SIGNUP]


@pytest.fixture
def sqs() -> Iterator[tuple[Any, str]]:
    with mock_aws():
        client = boto3.client("sqs", region_name="us-east-1")
        # No MaximumMessageSize: the template sets none, so queues get the default.
        yield client, client.create_queue(QueueName="corpus")["QueueUrl"]


def test_moto_queues_take_1_mib_by_default_as_sqs_does(sqs: tuple[Any, str]) -> None:
    client, url = sqs
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["MaximumMessageSize"])[
        "Attributes"
    ]
    assert int(attributes["MaximumMessageSize"]) == SQS_MAX_BODY_BYTES == 1_048_576


@pytest.mark.parametrize("case", QUEUE_SIZE_CASES, ids=lambda case: case.id)
def test_sqs_takes_a_body_up_to_1_mib_and_refuses_one_byte_more(
    case: HostileInput, sqs: tuple[Any, str]
) -> None:
    client, url = sqs
    body = case.text()
    assert len(body.encode()) in (
        SQS_MAX_BODY_BYTES - 1,
        SQS_MAX_BODY_BYTES,
        SQS_MAX_BODY_BYTES + 1,
    )

    if case.sqs_accepts:
        client.send_message(QueueUrl=url, MessageBody=body)
    else:
        # The producer hears of it: the message is refused, not truncated or lost.
        with pytest.raises(ClientError) as refused:
            client.send_message(QueueUrl=url, MessageBody=body)
        assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
        assert "shorter than 1048576 bytes" in str(refused.value)


class RecordingLambda:
    def __init__(self, *outcomes: Result | Exception) -> None:
        self.outcomes = list(outcomes)
        self.events: list[dict[str, object]] = []

    def invoke(self, function: str, event: dict[str, object]) -> Result:
        self.events.append(event)
        outcome = self.outcomes.pop(0) if self.outcomes else Result({"statusCode": 204})
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class CountingStream(io.RawIOBase):
    """`size` bytes of "x", made as they are read; counts what was read."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.remaining)
        buffer[:count] = b"x" * count
        self.remaining -= count
        self.read_bytes += count
        return count


class Unreadable(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise AssertionError("the body was read")


def post_stream(
    app: HttpApiApp, stream: io.RawIOBase, headers: dict[str, str], **environ: object
) -> tuple[int, bytes]:
    """POST /accounts with `stream` as wsgi.input (werkzeug's test client wants to seek)."""
    built = EnvironBuilder(
        path="/accounts", method="POST", headers=list(headers.items())
    ).get_environ()
    built.pop("CONTENT_LENGTH", None)
    if "Content-Length" in headers:
        built["CONTENT_LENGTH"] = headers["Content-Length"]
    built |= {"wsgi.input": stream, **environ}
    body, status, _ = run_wsgi_app(app, built)
    return int(status.split()[0]), b"".join(body)


def test_the_http_api_limit_is_10_mib() -> None:
    assert MAX_BODY_BYTES == HTTP_API_MAX_BODY_BYTES == 10 * 1024 * 1024


def test_a_declared_body_over_10_mb_is_a_413_without_reading_it_or_invoking() -> None:
    fake = RecordingLambda()

    status, body = post_stream(
        HttpApiApp([SIGNUP_API], fake),
        Unreadable(),
        {"Content-Type": "application/json", "Content-Length": str(MAX_BODY_BYTES + 1)},
    )

    assert status == 413
    assert json.loads(body) == {"message": "Request Entity Too Large"}
    assert fake.events == []


def test_a_body_of_exactly_10_mb_is_passed_on() -> None:
    fake = RecordingLambda()

    response = Client(HttpApiApp([SIGNUP_API], fake)).post(
        "/accounts", data=b"x" * MAX_BODY_BYTES, headers={"Content-Type": "text/plain"}
    )

    assert response.status_code == 204
    [event] = fake.events
    assert len(str(event["body"])) == MAX_BODY_BYTES


def test_a_chunked_body_over_10_mb_is_a_413_and_read_only_up_to_the_limit() -> None:
    fake = RecordingLambda()
    stream = CountingStream(3 * MAX_BODY_BYTES)

    status, body = post_stream(
        HttpApiApp([SIGNUP_API], fake),
        stream,
        {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        **{"wsgi.input_terminated": True},  # what werkzeug's server sets for chunked bodies
    )

    assert status == 413
    assert json.loads(body) == {"message": "Request Entity Too Large"}
    assert fake.events == []
    assert stream.read_bytes <= MAX_BODY_BYTES + 64 * 1024


def test_an_event_over_lambdas_6_mb_is_a_413_not_a_500() -> None:
    fake = RecordingLambda(RequestTooLarge("SignupFunction: request payload over 6291456 bytes"))

    response = Client(HttpApiApp([SIGNUP_API], fake)).post(
        "/accounts", data=b"x" * 7_000_000, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert response.get_json() == {"message": "Request Too Long"}
