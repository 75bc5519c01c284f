"""The endpoint process's additions to moto: the sent-email listing and the speed-up."""

from __future__ import annotations

import io
import json
import logging
import time
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.sqs.models import SQSBackend

from local_cloud import endpoint_server


def call(app: Any, method: str, path: str, query: str = "") -> tuple[str, Any]:
    status: list[str] = []
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "wsgi.input": io.BytesIO(b""),
    }
    body = b"".join(app(environ, lambda s, _headers: status.append(s)))
    return status[0], json.loads(body) if body.strip() else None


@mock_aws
def test_sent_emails_are_listed_in_localstacks_shape() -> None:
    ses = boto3.client("ses", region_name="eu-west-1")
    ses.verify_email_identity(EmailAddress="from@example.com")
    ses.send_email(
        Source="from@example.com",
        Destination={"ToAddresses": ["to@example.com"]},
        Message={"Subject": {"Data": "Hi"}, "Body": {"Text": {"Data": "Hello"}}},
    )
    app = endpoint_server.WithSentEmails(lambda *_: [b"moto"])

    status, listing = call(app, "GET", "/_aws/ses")
    assert status.startswith("200")
    [message] = listing["messages"]
    assert message["Source"] == "from@example.com"
    assert message["Destination"] == {"ToAddresses": ["to@example.com"]}
    assert (message["Subject"], message["Body"]["text_part"], message["Region"]) == (
        "Hi",
        "Hello",
        "eu-west-1",
    )
    assert call(app, "GET", "/_aws/ses", "email=other@example.com")[1] == {"messages": []}

    assert call(app, "DELETE", "/_aws/ses")[0].startswith("204")
    assert call(app, "GET", "/_aws/ses")[1] == {"messages": []}


def test_other_paths_go_to_moto() -> None:
    app = endpoint_server.WithSentEmails(lambda environ, start: [b"from moto"])
    assert b"".join(app({"PATH_INFO": "/"}, lambda *_: None)) == b"from moto"


@pytest.mark.parametrize(("age_seconds", "kept"), [(10, True), (120, False)])
@mock_aws
def test_the_faster_retention_check_keeps_moto_s_rule(age_seconds: int, kept: bool) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "60"})
    from moto.sqs.models import Message, sqs_backends

    backend = sqs_backends["123456789012"]["us-east-1"]
    sent = Message("m-1", "{}")
    # moto's Message starts with sent_timestamp = None, so mypy takes None for its type; moto
    # sets the milliseconds when the message is sent, as here.
    sent.sent_timestamp = (time.time() - age_seconds) * 1000  # type: ignore[assignment]

    original = SQSBackend.is_message_valid_based_on_retention_period(backend, "q", sent)
    faster = endpoint_server._retention_check_without_queue_attributes(backend, "q", sent)
    assert original is kept
    assert faster is kept


def test_the_speed_up_keeps_moto_s_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import backends
    from moto.core import responses as core_responses
    from moto.core import utils
    from moto.dynamodb.responses import DynamoHandler
    from moto.sqs import models as sqs_models
    from moto.sqs.responses import SQSResponse

    modules = list(backends.list_of_moto_modules())
    monkeypatch.setattr(
        core_responses, "method_names_from_class", core_responses.method_names_from_class
    )
    # monkeypatch puts moto's own functions back after the test
    monkeypatch.setattr(backends, "list_of_moto_modules", backends.list_of_moto_modules)
    monkeypatch.setattr(sqs_models, "unix_time", sqs_models.unix_time)
    monkeypatch.setattr(sqs_models, "unix_time_millis", sqs_models.unix_time_millis)
    monkeypatch.setattr(
        SQSBackend,
        "is_message_valid_based_on_retention_period",
        SQSBackend.is_message_valid_based_on_retention_period,
    )
    installed = []
    monkeypatch.setattr(endpoint_server, "speed_up_dynamodb", lambda: installed.append(True))

    endpoint_server.speed_up_moto()

    assert installed == [True]  # its answers: tests/unit/local_cloud/test_endpoint_dynamodb.py

    assert list(backends.list_of_moto_modules()) == modules
    assert "sqs" in modules
    assert abs(sqs_models.unix_time() - utils.unix_time()) < 1.0
    assert abs(sqs_models.unix_time_millis() - utils.unix_time_millis()) < 1000.0
    fixed = utils.utcfromtimestamp(1_700_000_000)
    assert sqs_models.unix_time(fixed) == utils.unix_time(fixed) == 1_700_000_000
    assert core_responses.method_names_from_class is not utils.method_names_from_class
    for clazz in (SQSResponse, DynamoHandler):
        names = core_responses.method_names_from_class(clazz)
        assert names == utils.method_names_from_class(clazz)
        assert "receive_message" in names or "update_item" in names
        names.append("not_a_method")  # a caller's change is its own
        assert core_responses.method_names_from_class(clazz) == utils.method_names_from_class(clazz)


def test_the_endpoint_logs_no_access_line_per_request(caplog: pytest.LogCaptureFixture) -> None:
    """werkzeug's access line per request went to a stderr the local cloud discards."""
    from local_cloud.endpoint_server import EndpointRequestHandler

    handler = EndpointRequestHandler.__new__(EndpointRequestHandler)
    handler.requestline = "POST / HTTP/1.1"
    handler.command, handler.path, handler.request_version = "POST", "/", "HTTP/1.1"
    handler.client_address = ("127.0.0.1", 50000)
    with caplog.at_level(logging.DEBUG):
        handler.log_request(200, 42)
    assert caplog.records == []
