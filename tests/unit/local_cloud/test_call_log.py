"""The call log, in process: which AWS calls each function's key makes, as the endpoint
serves them (local_cloud/call_log.py), through real boto3 clients and no sockets."""

from __future__ import annotations

import functools
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.test import Client

from local_cloud.call_log import (
    CALLS_PATH,
    CallLog,
    RecordedCall,
    WithCallLog,
    function_access_key,
    function_of_access_key,
)
from local_cloud.endpoint_faults import EndpointFault, EndpointFaultPlan
from local_cloud.endpoint_server import endpoint_app
from tests.unit.local_cloud.in_process import (
    ENDPOINT_URL,
    NO_RETRIES,
    FakeMoto,
    _send,
    client_through,
)

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/delivery-guarantees-billing"


def as_function(app: Any, service: str, logical_id: str, region: str = "us-east-1") -> Any:
    """A boto3 client signing as a function's worker does: its own key ID, dummy secret."""
    session = boto3.Session(
        aws_access_key_id=function_access_key(logical_id),
        aws_secret_access_key="testing",
        aws_session_token="testing",
        region_name=region,
    )
    client = session.client(service, endpoint_url=ENDPOINT_URL, config=NO_RETRIES)
    client.meta.events.register("before-send", functools.partial(_send, app))
    return client


def listing(app: Any) -> dict[str, Any]:
    response = Client(app).get(CALLS_PATH)
    assert response.status_code == 200
    assert response.content_type == "application/json"
    result: dict[str, Any] | None = response.json
    assert result is not None, "the listing is a JSON document"
    return result


def calls(app: Any) -> list[tuple[str, str, str | None, list[str], int]]:
    return [
        (c["function"], c["service"], c["operation"], c["resources"], c["count"])
        for c in listing(app)["calls"]
    ]


def test_the_key_names_the_function_and_nothing_else_is_one() -> None:
    assert function_access_key("BillingFunction") == "local-cloud-BillingFunction"
    assert function_of_access_key("local-cloud-BillingFunction") == "BillingFunction"
    for other in ("testing", "AKIAIOSFODNN7EXAMPLE", "local-cloud-", "local-cloud-a-b"):
        assert function_of_access_key(other) is None
    for invalid in ("Billing/Function", "Billing Function", "", "Billing-Function"):
        with pytest.raises(ValueError, match="not a logical ID"):
            function_access_key(invalid)


def test_each_functions_calls_are_counted_by_operation_and_resource() -> None:
    moto = FakeMoto()
    app = WithCallLog(moto)
    billing = as_function(app, "sqs", "BillingFunction")
    signup = as_function(app, "dynamodb", "SignupFunction")

    billing.receive_message(QueueUrl=QUEUE_URL)
    billing.receive_message(QueueUrl=QUEUE_URL)
    billing.delete_message_batch(QueueUrl=QUEUE_URL, Entries=[{"Id": "1", "ReceiptHandle": "r-1"}])
    signup.put_item(TableName="accounts", Item={"email": {"S": "a@example.com"}})

    assert calls(app) == [
        ("BillingFunction", "sqs", "DeleteMessageBatch", ["delivery-guarantees-billing"], 1),
        ("BillingFunction", "sqs", "ReceiveMessage", ["delivery-guarantees-billing"], 2),
        ("SignupFunction", "dynamodb", "PutItem", ["accounts"], 1),
    ]
    assert {c["region"] for c in listing(app)["calls"]} == {"us-east-1"}
    # moto still got every call, body whole
    assert moto.operations == ["ReceiveMessage", "ReceiveMessage", "DeleteMessageBatch", "PutItem"]
    assert b'"TableName": "accounts"' in moto.calls[-1][1]


def test_calls_signed_with_any_other_key_are_not_recorded() -> None:
    moto = FakeMoto()
    app = WithCallLog(moto)
    client_through(app, "sqs").send_message(QueueUrl=QUEUE_URL, MessageBody="{}")  # key "test"
    Client(app).post("/", data="Action=SendMessage&QueueUrl=x&MessageBody=y")  # unsigned

    assert listing(app) == {"calls": [], "distinct": 0, "dropped": 0}
    assert moto.operations == ["SendMessage", "SendMessage"]


def test_ssm_parameter_names_and_the_ses_source_address_are_resources() -> None:
    app = WithCallLog(FakeMoto())
    ssm = as_function(app, "ssm", "BillingFunction")
    ses = as_function(app, "ses", "WelcomeEmailFunction", region="eu-west-1")

    ssm.get_parameter(Name="/delivery-guarantees/payment-provider-secret-key", WithDecryption=True)
    ssm.get_parameters(Names=["/a", "b"])
    ses.send_email(
        Source='"Delivery Guarantees" <welcome@example.com>',
        Destination={"ToAddresses": ["someone@example.org"]},
        Message={"Subject": {"Data": "Hi"}, "Body": {"Text": {"Data": "Hello"}}},
    )

    assert calls(app) == [
        (
            "BillingFunction",
            "ssm",
            "GetParameter",
            ["/delivery-guarantees/payment-provider-secret-key"],
            1,
        ),
        ("BillingFunction", "ssm", "GetParameters", ["/a", "b"], 1),
        ("WelcomeEmailFunction", "ses", "SendEmail", ["welcome@example.com"], 1),
    ]
    assert listing(app)["calls"][-1]["region"] == "eu-west-1"


def test_the_log_is_listed_cleared_and_refuses_other_methods() -> None:
    app = WithCallLog(FakeMoto())
    as_function(app, "sqs", "BillingFunction").receive_message(QueueUrl=QUEUE_URL)
    client = Client(app)

    assert listing(app)["distinct"] == 1
    assert client.post(CALLS_PATH).status_code == 405
    cleared = client.delete(CALLS_PATH)
    assert cleared.status_code == 200
    assert cleared.json == {"calls": [], "distinct": 0, "dropped": 0}
    assert listing(app)["calls"] == []


def test_memory_is_bounded_new_kinds_of_calls_past_the_limit_are_only_counted() -> None:
    log = CallLog(max_distinct=2)
    first = RecordedCall("Fn", "sqs", "us-east-1", "ReceiveMessage", ("q",))
    second = RecordedCall("Fn", "sqs", "us-east-1", "DeleteMessage", ("q",))
    log.record(first)
    log.record(second)
    for _ in range(3):
        log.record(RecordedCall("Fn", "sqs", "us-east-1", "SendMessage", ("q",)))
    log.record(first)

    assert [(c["operation"], c["count"]) for c in log.listing()["calls"]] == [
        ("DeleteMessage", 1),
        ("ReceiveMessage", 2),
    ]
    assert log.listing()["dropped"] == 3


def test_on_the_endpoint_a_faulted_call_is_recorded_and_the_guard_stays_outermost() -> None:
    """The code made the call, so its role must allow it, whatever the answer was."""
    plan = EndpointFaultPlan(seed=1)
    plan.add(EndpointFault(service="sqs", operation="SendMessage", error="Throttling"))
    moto = FakeMoto()
    app = endpoint_app(moto, plan)
    sqs = as_function(app, "sqs", "SignupFunction")

    with pytest.raises(ClientError, match="Throttling"):
        sqs.send_message(QueueUrl=QUEUE_URL, MessageBody="{}")

    assert calls(app) == [
        ("SignupFunction", "sqs", "SendMessage", ["delivery-guarantees-billing"], 1)
    ]
    assert moto.calls == []  # the fault answered
    # another site's page can neither read nor clear the log
    evil = {"Origin": "http://evil.example"}
    assert Client(app).get(CALLS_PATH, headers=evil).status_code == 403
    assert Client(app).delete(CALLS_PATH, headers=evil).status_code == 403
    assert listing(app)["distinct"] == 1


def test_moto_serves_a_functions_key_in_the_default_account_as_before() -> None:
    """moto maps only keys its IAM issued to other accounts: a queue the deployer created
    is the one a function's key sends to and receives from."""
    app = endpoint_app(DomainDispatcherApplication(create_backend_app), EndpointFaultPlan())
    deployer = client_through(app, "sqs")
    url = deployer.create_queue(QueueName="call-log-account")["QueueUrl"]
    try:
        function = as_function(app, "sqs", "BillingFunction")
        function.send_message(QueueUrl=url, MessageBody="from the function")
        [message] = function.receive_message(QueueUrl=url)["Messages"]
        arn = function.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    finally:
        deployer.delete_queue(QueueUrl=url)  # moto's backends are the process's
    assert message["Body"] == "from the function"
    assert arn["Attributes"]["QueueArn"] == "arn:aws:sqs:us-east-1:123456789012:call-log-account"
    assert [c[2] for c in calls(app)] == ["GetQueueAttributes", "ReceiveMessage", "SendMessage"]
