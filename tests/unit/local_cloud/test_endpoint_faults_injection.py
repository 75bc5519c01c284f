"""Faults on the wire, in process: the endpoint's middleware in front of a stand-in for
moto, driven by real boto3 clients, so each test sees the exception an SDK user sees."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from werkzeug.test import Client, TestResponse

from local_cloud.endpoint_faults import (
    FAULTS_PATH,
    AwsCall,
    ConnectionDropped,
    EndpointFault,
    EndpointFaultPlan,
    WithFaults,
    error_answer,
)
from tests.unit.local_cloud.in_process import FakeMoto, client_through

QUEUE_URL = "http://127.0.0.1:4566/123456789012/jobs"


class Endpoint:
    """The middleware over FakeMoto, with a recorded sleep and a timeline of events."""

    def __init__(self, *faults: dict[str, Any]) -> None:
        self.timeline: list[str] = []
        self.moto = FakeMoto(on_call=lambda operation: self.timeline.append(f"moto {operation}"))
        self.plan = EndpointFaultPlan(seed=1)
        self.app = WithFaults(self.moto, self.plan, sleep=self._sleep)
        for fault in faults:
            self.plan.add(EndpointFault.from_json(fault))

    def _sleep(self, seconds: float) -> None:
        self.timeline.append(f"sleep {seconds}")

    def client(self, service: str) -> Any:
        return client_through(self.app, service)


def put_item(ddb: Any, table: str = "charges") -> Any:
    return ddb.put_item(TableName=table, Item={"transaction_id": {"S": "txn_1"}})


def send_email(ses: Any) -> Any:
    return ses.send_email(
        Source="welcome@example.com",
        Destination={"ToAddresses": ["ada@example.com"]},
        Message={"Subject": {"Data": "Welcome"}, "Body": {"Text": {"Data": "Hello"}}},
    )


THROTTLE_CHARGES = {
    "service": "dynamodb",
    "operation": "PutItem",
    "resource": "charges",
    "error": "ProvisionedThroughputExceededException",
    "message": "Rate of requests exceeds the allowed throughput.",
}
DAILY_QUOTA = {
    "service": "ses",
    "operation": "SendEmail",
    "error": "Throttling",
    "message": "Daily message quota exceeded",
}


# ---------------------------------------------------------------- the error, as the SDK reads it


def test_dynamodb_raises_its_modeled_exception_and_moto_never_sees_the_call() -> None:
    endpoint = Endpoint(THROTTLE_CHARGES)
    ddb = endpoint.client("dynamodb")

    with pytest.raises(ddb.exceptions.ProvisionedThroughputExceededException) as raised:
        put_item(ddb)
    assert raised.value.response["Error"] == {
        "Code": "ProvisionedThroughputExceededException",
        "Message": "Rate of requests exceeds the allowed throughput.",
    }
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert endpoint.moto.operations == []

    put_item(ddb, "accounts")  # another table: untouched
    assert endpoint.moto.operations == ["PutItem"]


def test_sqs_raises_the_exception_named_by_type_with_the_code_from_the_query_header() -> None:
    endpoint = Endpoint(
        {"service": "sqs", "operation": "SendMessage", "error": "QueueDoesNotExist"}
    )
    sqs = endpoint.client("sqs")

    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as raised:
        sqs.send_message(QueueUrl=QUEUE_URL, MessageBody="{}")
    error = raised.value.response["Error"]
    assert error["Code"] == "AWS.SimpleQueueService.NonExistentQueue"  # as on AWS
    assert error["QueryErrorCode"] == "QueueDoesNotExist"
    assert error["Type"] == "Sender"
    assert endpoint.moto.operations == []


def test_an_sqs_code_without_a_legacy_name_is_reported_as_given() -> None:
    endpoint = Endpoint({"service": "sqs", "error": "RequestThrottled", "status": 403})
    sqs = endpoint.client("sqs")

    with pytest.raises(sqs.exceptions.RequestThrottled) as raised:
        sqs.send_message(QueueUrl=QUEUE_URL, MessageBody="{}")
    assert raised.value.response["Error"]["Code"] == "RequestThrottled"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_ses_raises_throttling_daily_message_quota_exceeded_from_an_xml_error() -> None:
    endpoint = Endpoint(DAILY_QUOTA)
    ses = endpoint.client("ses")

    with pytest.raises(ClientError) as raised:
        send_email(ses)
    assert raised.value.response["Error"] == {
        "Type": "Sender",
        "Code": "Throttling",
        "Message": "Daily message quota exceeded",
    }
    assert endpoint.moto.operations == []
    ses.verify_email_identity(EmailAddress="welcome@example.com")  # another operation
    assert endpoint.moto.operations == ["VerifyEmailIdentity"]


def test_a_5xx_is_a_receiver_fault() -> None:
    endpoint = Endpoint({**DAILY_QUOTA, "error": "ServiceUnavailable", "status": 503})
    with pytest.raises(ClientError) as raised:
        send_email(endpoint.client("ses"))
    assert raised.value.response["Error"]["Type"] == "Receiver"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503


@pytest.mark.parametrize(
    ("fault", "call", "status", "headers", "body"),
    [
        (
            THROTTLE_CHARGES,
            AwsCall("dynamodb", "PutItem", "json", content_type="application/x-amz-json-1.0"),
            400,
            {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "r-1"},
            b'{"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"'
            b', "message": "Rate of requests exceeds the allowed throughput."}',
        ),
        (
            {"service": "sqs", "error": "AWS.SimpleQueueService.NonExistentQueue", "message": "m"},
            AwsCall("sqs", "SendMessage", "json", content_type="application/x-amz-json-1.0"),
            400,
            {
                "Content-Type": "application/x-amz-json-1.0",
                "x-amzn-RequestId": "r-1",
                "x-amzn-query-error": "AWS.SimpleQueueService.NonExistentQueue;Sender",
            },
            b'{"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "m"}',
        ),
        (
            DAILY_QUOTA,
            AwsCall("ses", "SendEmail", "query"),
            400,
            {"Content-Type": "text/xml", "x-amzn-RequestId": "r-1"},
            b'<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error>'
            b"<Type>Sender</Type><Code>Throttling</Code>"
            b"<Message>Daily message quota exceeded</Message></Error>"
            b"<RequestId>r-1</RequestId></ErrorResponse>",
        ),
    ],
    ids=["dynamodb-json-1.0", "sqs-json-query-compatible", "ses-query-xml"],
)
def test_the_error_has_the_wire_shape_of_the_services_protocol(
    fault: dict[str, Any], call: AwsCall, status: int, headers: dict[str, str], body: bytes
) -> None:
    answer = error_answer(EndpointFault.from_json(fault), call, "r-1")
    assert (answer.status, dict(answer.headers), answer.body) == (status, headers, body)


def test_a_message_is_escaped_in_xml() -> None:
    fault = EndpointFault.from_json({**DAILY_QUOTA, "message": "a < b & c"})
    answer = error_answer(fault, AwsCall("ses", "SendEmail", "query"), "r-1")
    assert b"<Message>a &lt; b &amp; c</Message>" in answer.body


# ---------------------------------------------------------------- phases, latency, drop


def test_phase_after_runs_the_call_on_moto_then_loses_the_answer() -> None:
    endpoint = Endpoint({**DAILY_QUOTA, "phase": "after"})

    with pytest.raises(ClientError, match="Daily message quota exceeded"):
        send_email(endpoint.client("ses"))
    assert endpoint.moto.operations == ["SendEmail"]
    [fired] = endpoint.plan.listing()["fired"]
    assert fired["executed_status"] == 200
    assert fired["phase"] == "after"


def test_latency_before_delays_the_call_which_then_succeeds() -> None:
    endpoint = Endpoint({"service": "dynamodb", "operation": "PutItem", "latency_ms": 250})

    put_item(endpoint.client("dynamodb"))
    assert endpoint.timeline == ["sleep 0.25", "moto PutItem"]


def test_latency_after_delays_the_answer_of_a_call_already_executed() -> None:
    endpoint = Endpoint({"service": "dynamodb", "latency_ms": 250, "phase": "after"})

    put_item(endpoint.client("dynamodb"))
    assert endpoint.timeline == ["moto PutItem", "sleep 0.25"]


def test_latency_before_an_error() -> None:
    endpoint = Endpoint({**THROTTLE_CHARGES, "latency_ms": 100})

    with pytest.raises(ClientError):
        put_item(endpoint.client("dynamodb"))
    assert endpoint.timeline == ["sleep 0.1"]


@pytest.mark.parametrize(("phase", "reached_moto"), [("before", []), ("after", ["PutItem"])])
def test_a_drop_closes_the_connection_without_an_answer(
    phase: str, reached_moto: list[str]
) -> None:
    endpoint = Endpoint({"service": "dynamodb", "kind": "drop", "phase": phase})

    with pytest.raises(ConnectionDropped):  # in process there is no socket to close
        put_item(endpoint.client("dynamodb"))
    assert endpoint.moto.operations == reached_moto


def test_without_a_matching_fault_the_call_reaches_moto_byte_for_byte() -> None:
    endpoint = Endpoint({**THROTTLE_CHARGES, "resource": "ledger"})
    put_item(endpoint.client("dynamodb"))

    [(operation, body)] = endpoint.moto.calls
    assert operation == "PutItem"
    assert json.loads(body) == {"TableName": "charges", "Item": {"transaction_id": {"S": "txn_1"}}}


def test_count_includes_the_sdks_own_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 retries throttling errors: a fault with count 2 costs one call two attempts."""
    from botocore.config import Config
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)
    endpoint = Endpoint({**THROTTLE_CHARGES, "count": 2})
    config = Config(retries={"mode": "standard", "total_max_attempts": 3})
    ddb = client_through(endpoint.app, "dynamodb", config)

    response = put_item(ddb)
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert endpoint.plan.listing()["fired_total"] == 2
    assert endpoint.moto.operations == ["PutItem"]


# ---------------------------------------------------------------- /_local_cloud/faults


def as_json(response: TestResponse) -> Any:
    return json.loads(response.get_data())


def test_faults_are_added_listed_and_cleared_over_http() -> None:
    http = Client(Endpoint().app)

    added = http.post(FAULTS_PATH, json=THROTTLE_CHARGES)
    assert added.status_code == 201
    assert as_json(added)["added"][0]["id"] == 1
    assert as_json(added)["added"][0]["status"] == 400

    several = http.post(FAULTS_PATH, json=[DAILY_QUOTA, {"service": "sqs", "kind": "drop"}])
    assert [fault["id"] for fault in as_json(several)["added"]] == [2, 3]
    listing = as_json(http.get(FAULTS_PATH))
    assert [fault["id"] for fault in listing["pending"]] == [1, 2, 3]
    assert listing["fired"] == []

    cleared = http.delete(FAULTS_PATH)
    assert cleared.status_code == 200
    assert as_json(http.get(FAULTS_PATH))["pending"] == []


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({**THROTTLE_CHARGES, "probability": 2}, "probability", "at most 1"),
        ([DAILY_QUOTA, {"service": "ses", "kind": "explode"}], "[1].kind", "one of"),
    ],
)
def test_an_invalid_fault_gets_a_400_naming_the_field_and_nothing_is_added(
    body: Any, field: str, says: str
) -> None:
    http = Client(Endpoint().app)

    response = http.post(FAULTS_PATH, json=body)
    assert response.status_code == 400
    assert as_json(response)["field"] == field
    assert as_json(response)["message"].startswith(f"Invalid fault: {field}: ")
    assert says in as_json(response)["message"]
    assert as_json(http.get(FAULTS_PATH))["pending"] == []


def test_a_body_that_is_not_json_gets_a_400_saying_so() -> None:
    response = Client(Endpoint().app).post(FAULTS_PATH, data=b"{service: dynamodb}")
    assert response.status_code == 400
    assert "not valid JSON" in as_json(response)["message"]


def test_other_methods_are_refused_with_the_allowed_ones() -> None:
    response = Client(Endpoint().app).put(FAULTS_PATH, json={})
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST, DELETE"
