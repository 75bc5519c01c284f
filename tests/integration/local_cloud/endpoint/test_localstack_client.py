"""The local cloud's endpoint answers localstack_client, LocalStack's own client library,
unchanged: code written against LocalStack runs against it (the README says so)."""

from __future__ import annotations

from collections.abc import Iterator

import localstack_client.session
import pytest

from local_cloud.endpoint import Endpoint, start_endpoint


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with start_endpoint(port=None, reuse_from_env=False) as started:
        yield started


def test_localstack_client_sessions_reach_the_endpoint(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As a LocalStack user points it: LOCALSTACK_HOST (AWS_ENDPOINT_URL would win over it).
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("LOCALSTACK_HOST", endpoint.url.removeprefix("http://"))
    session = localstack_client.session.Session(region_name="us-east-1")

    sqs = session.client("sqs")
    url = sqs.create_queue(QueueName="from-localstack-client")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    [message] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert message["Body"] == "hello"
    assert session.client("sts").get_caller_identity()["Account"] == "123456789012"
