"""The endpoint's doors, in process: the app the endpoint process serves
(endpoint_server.endpoint_app) refuses browser requests from elsewhere and oversized or
incomplete bodies before moto or our extensions run; SDK calls pass unchanged."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.test import Client, EnvironBuilder, run_wsgi_app

from local_cloud.endpoint_faults import FAULTS_PATH, EndpointFault, EndpointFaultPlan
from local_cloud.endpoint_server import SES_MESSAGES_PATH, endpoint_app
from local_cloud.http_guard import HOOK_BODY_LIMIT
from tests.unit.local_cloud.in_process import FakeMoto, client_through

EVIL = {"Origin": "http://evil.example"}
SEND_FORM = (
    "Action=SendMessage&QueueUrl=http%3A%2F%2F127.0.0.1%3A4566%2F123456789012%2Fjobs"
    "&MessageBody=from-a-web-page&Version=2012-11-05"
)
A_FAULT = {"service": "sqs", "operation": "SendMessage", "error": "Throttling"}


def app(plan: EndpointFaultPlan | None = None) -> tuple[Any, FakeMoto, EndpointFaultPlan]:
    moto = FakeMoto()
    plan = plan or EndpointFaultPlan(seed=1)
    return endpoint_app(moto, plan), moto, plan


def test_a_web_page_cannot_add_faults() -> None:
    endpoint, _moto, plan = app()
    response = Client(endpoint).post(FAULTS_PATH, json=A_FAULT, headers=EVIL)
    assert response.status_code == 403
    answer = response.json
    assert answer is not None, "the refusal is a JSON document"
    assert "http://evil.example" in answer["message"]
    assert plan.listing()["pending"] == []


def test_a_web_page_cannot_clear_the_sent_emails_or_reset_moto() -> None:
    endpoint, moto, _plan = app()
    client = Client(endpoint)
    assert client.delete(SES_MESSAGES_PATH, headers=EVIL).status_code == 403
    assert client.post("/moto-api/reset", headers=EVIL).status_code == 403
    assert moto.calls == []


def test_a_web_page_cannot_call_aws_apis_either() -> None:
    """A form POST (no preflight) to SQS's query API, and a CORS preflight."""
    endpoint, moto, _plan = app()
    client = Client(endpoint)
    form = client.post(
        "/",
        data=SEND_FORM,
        content_type="application/x-www-form-urlencoded",
        headers={**EVIL, "Host": "127.0.0.1:4566"},
    )
    preflight = client.options("/", headers={**EVIL, "Access-Control-Request-Method": "POST"})
    assert (form.status_code, preflight.status_code) == (403, 403)
    assert moto.calls == []


def test_a_rebound_host_name_is_refused_even_without_origin() -> None:
    endpoint, moto, plan = app()
    client = Client(endpoint)
    rebound = {"Host": "attacker.example:4566"}
    assert client.post(FAULTS_PATH, json=A_FAULT, headers=rebound).status_code == 403
    assert client.get(SES_MESSAGES_PATH, headers=rebound).status_code == 403
    assert client.get("/", headers=rebound).status_code == 403
    assert (plan.listing()["pending"], moto.calls) == ([], [])


def test_sdk_calls_pass_through_the_guard() -> None:
    endpoint, moto, _plan = app()
    sqs = client_through(endpoint, "sqs")
    sqs.send_message(QueueUrl="http://127.0.0.1:4566/123456789012/jobs", MessageBody="hi")
    assert moto.operations == ["SendMessage"]


def test_a_page_on_localhost_may_use_the_extensions() -> None:
    endpoint, _moto, plan = app()
    response = Client(endpoint).post(
        FAULTS_PATH, json=A_FAULT, headers={"Origin": "http://localhost:8080"}
    )
    assert response.status_code == 201
    assert len(plan.listing()["pending"]) == 1


def test_an_extension_body_over_1_mib_is_a_413_without_reading_it() -> None:
    endpoint, _moto, plan = app()
    built = EnvironBuilder(
        path=FAULTS_PATH, method="POST", headers=[("Content-Type", "application/json")]
    ).get_environ()
    built["CONTENT_LENGTH"] = str(100 * 1024 * 1024)
    built["wsgi.input"] = Unreadable()
    body, status, _headers = run_wsgi_app(endpoint, built)
    assert status.startswith("413")
    assert "1048576 bytes" in json.loads(b"".join(body))["message"]
    assert plan.listing()["pending"] == []


def test_an_extension_body_of_1_mib_is_read() -> None:
    endpoint, _moto, _plan = app()
    padding = " " * (HOOK_BODY_LIMIT - len(json.dumps(A_FAULT)))
    data = json.dumps(A_FAULT) + padding
    assert len(data) == HOOK_BODY_LIMIT
    response = Client(endpoint).post(FAULTS_PATH, data=data, content_type="application/json")
    assert response.status_code == 201


def test_aws_routes_keep_no_limit_of_ours() -> None:
    endpoint, moto, _plan = app()
    body = b"Action=PutObject&" + b"x" * (2 * HOOK_BODY_LIMIT)
    response = Client(endpoint).post(
        "/", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert moto.calls[0][1] == body


def test_a_cut_off_body_never_reaches_moto_even_with_a_fault_pending() -> None:
    """WithFaults reads the body to match faults; without the guard it took a short body
    for the whole one and moto executed the truncated call."""
    plan = EndpointFaultPlan(seed=1)
    plan.add(EndpointFault.from_json({**A_FAULT, "operation": "DeleteQueue"}))
    endpoint, moto, _plan = app(plan)
    built = EnvironBuilder(
        path="/", method="POST", headers=[("Content-Type", "application/x-www-form-urlencoded")]
    ).get_environ()
    built["CONTENT_LENGTH"] = str(len(SEND_FORM) + 50)  # the rest never came
    built["wsgi.input"] = io.BytesIO(SEND_FORM.encode())
    body, status, _headers = run_wsgi_app(endpoint, built)
    assert status.startswith("400")
    assert "of its" in json.loads(b"".join(body))["message"]
    assert moto.calls == []


def test_moto_itself_refuses_an_sqs_message_over_1_mib_as_sqs_does() -> None:
    """SQS takes bodies of up to 1 MiB (botocore's SendMessage documentation); moto
    enforces it with SQS's error, through the guard."""
    sqs = client_through(
        endpoint_app(DomainDispatcherApplication(create_backend_app), EndpointFaultPlan()),
        "sqs",
    )
    url = sqs.create_queue(QueueName="doors-size")["QueueUrl"]
    try:
        sqs.send_message(QueueUrl=url, MessageBody="x" * 1_048_576)
        with pytest.raises(ClientError) as raised:
            sqs.send_message(QueueUrl=url, MessageBody="x" * 1_048_577)
    finally:
        sqs.delete_queue(QueueUrl=url)  # moto's backends are the process's
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "shorter than 1048576 bytes" in raised.value.response["Error"]["Message"]


class Unreadable(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise AssertionError("the body was read")
