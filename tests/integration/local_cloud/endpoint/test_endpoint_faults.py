"""Fault injection on a real endpoint process, seen through real boto3 clients over
loopback: errors in each protocol's shape, `phase: after` (done, yet reported failed),
latency, dropped connections, counts, seeded probability, and faults given at start."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from local_cloud.endpoint import (
    Endpoint,
    EndpointError,
    EndpointFaults,
    EndpointFaultsError,
    start_endpoint,
)

SENDER = "welcome@example.com"
NO_RETRIES = Config(retries={"total_max_attempts": 1})


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Endpoint]:
    with start_endpoint(port=None, reuse_from_env=False, fault_seed=11) as started:
        ddb, sqs, ses = (client(started, name) for name in ("dynamodb", "sqs", "ses"))
        for table in ("charges", "accounts"):
            ddb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        sqs.create_queue(QueueName="jobs")
        ses.verify_email_identity(EmailAddress=SENDER)
        yield started


@pytest.fixture(autouse=True)
def faults(endpoint: Endpoint) -> Iterator[EndpointFaults]:
    endpoint.faults.clear()
    _delete_sent_emails(endpoint)
    yield endpoint.faults
    endpoint.faults.clear()


def client(endpoint: Endpoint, service: str, config: Config = NO_RETRIES) -> Any:
    session = boto3.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    return session.client(service, endpoint_url=endpoint.url, config=config)


def put(ddb: Any, table: str, item_id: str) -> Any:
    return ddb.put_item(TableName=table, Item={"id": {"S": item_id}})


def stored(ddb: Any, table: str, item_id: str) -> bool:
    return "Item" in ddb.get_item(TableName=table, Key={"id": {"S": item_id}})


def send_email(ses: Any, to: str) -> Any:
    return ses.send_email(
        Source=SENDER,
        Destination={"ToAddresses": [to]},
        Message={"Subject": {"Data": "Welcome"}, "Body": {"Text": {"Data": "Hello"}}},
    )


def sent_to(endpoint: Endpoint) -> list[str]:
    with urllib.request.urlopen(f"{endpoint.url}/_aws/ses", timeout=10) as response:  # noqa: S310
        messages = json.loads(response.read())["messages"]
    return [to for message in messages for to in message["Destination"]["ToAddresses"]]


def _delete_sent_emails(endpoint: Endpoint) -> None:
    request = urllib.request.Request(f"{endpoint.url}/_aws/ses", method="DELETE")  # noqa: S310
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310


THROTTLE_CHARGES = {
    "service": "dynamodb",
    "operation": "PutItem",
    "resource": "charges",
    "error": "ProvisionedThroughputExceededException",
    "status": 400,
}
DAILY_QUOTA = {
    "service": "ses",
    "operation": "SendEmail",
    "error": "Throttling",
    "message": "Daily message quota exceeded",
}


def test_put_item_is_throttled_for_one_table_but_not_another(
    endpoint: Endpoint, faults: EndpointFaults
) -> None:
    ddb = client(endpoint, "dynamodb")
    faults.add(**THROTTLE_CHARGES, count=5)

    with pytest.raises(ClientError) as raised:
        put(ddb, "charges", "txn_throttled")
    assert raised.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert isinstance(raised.value, ddb.exceptions.ProvisionedThroughputExceededException)
    assert not stored(ddb, "charges", "txn_throttled")

    put(ddb, "accounts", "acc_untouched")
    assert stored(ddb, "accounts", "acc_untouched")
    [pending] = faults.pending()
    assert pending["remaining"] == 4


def test_sqs_send_message_gets_its_error_and_nothing_is_enqueued(
    endpoint: Endpoint, faults: EndpointFaults
) -> None:
    sqs = client(endpoint, "sqs")
    queue_url = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
    faults.add(service="sqs", operation="SendMessage", resource="jobs", error="QueueDoesNotExist")

    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as raised:
        sqs.send_message(QueueUrl=queue_url, MessageBody='{"account_id": "acc_1"}')
    assert raised.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)


def test_ses_send_email_hits_the_daily_quota_and_sends_nothing(
    endpoint: Endpoint, faults: EndpointFaults
) -> None:
    ses = client(endpoint, "ses")
    faults.add(**DAILY_QUOTA)

    with pytest.raises(ClientError) as raised:
        send_email(ses, "ada@example.com")
    error = raised.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("Throttling", "Daily message quota exceeded")
    assert sent_to(endpoint) == []

    send_email(ses, "grace@example.com")  # count 1: the quota "resets"
    assert sent_to(endpoint) == ["grace@example.com"]


def test_phase_after_the_item_is_written_yet_the_client_got_the_error(
    endpoint: Endpoint, faults: EndpointFaults
) -> None:
    ddb = client(endpoint, "dynamodb")
    faults.add(**THROTTLE_CHARGES, phase="after")

    with pytest.raises(ClientError, match="ProvisionedThroughputExceededException"):
        put(ddb, "charges", "txn_written_anyway")
    assert stored(ddb, "charges", "txn_written_anyway")
    [fired] = faults.fired()
    assert fired["executed_status"] == 200


def test_phase_after_the_email_is_sent_yet_the_client_got_the_error(
    endpoint: Endpoint, faults: EndpointFaults
) -> None:
    ses = client(endpoint, "ses")
    faults.add(**DAILY_QUOTA, phase="after")

    with pytest.raises(ClientError, match="Daily message quota exceeded"):
        send_email(ses, "ada@example.com")
    assert sent_to(endpoint) == ["ada@example.com"]


def test_latency_delays_the_call_which_then_succeeds(
    endpoint: Endpoint, faults: EndpointFaults
) -> None:
    ddb = client(endpoint, "dynamodb")
    faults.add(service="dynamodb", operation="PutItem", latency_ms=600)

    started = time.monotonic()
    put(ddb, "accounts", "acc_slow")
    assert time.monotonic() - started >= 0.6
    assert stored(ddb, "accounts", "acc_slow")

    started = time.monotonic()
    put(ddb, "accounts", "acc_fast")  # count 1: the next call is not delayed
    assert time.monotonic() - started < 0.6


def test_latency_after_is_a_timeout_after_the_email_was_accepted(
    endpoint: Endpoint, faults: EndpointFaults
) -> None:
    impatient = Config(retries={"total_max_attempts": 1}, read_timeout=0.5)
    ses = client(endpoint, "ses", impatient)
    faults.add(service="ses", operation="SendEmail", latency_ms=1500, phase="after")

    with pytest.raises(ReadTimeoutError):
        send_email(ses, "ada@example.com")
    assert sent_to(endpoint) == ["ada@example.com"]


@pytest.mark.parametrize(("phase", "written"), [("before", False), ("after", True)])
def test_a_drop_closes_the_connection_without_an_answer(
    endpoint: Endpoint, faults: EndpointFaults, phase: str, written: bool
) -> None:
    ddb = client(endpoint, "dynamodb")
    faults.add(service="dynamodb", operation="PutItem", kind="drop", phase=phase)

    with pytest.raises(ConnectionClosedError):
        put(ddb, "charges", f"txn_dropped_{phase}")
    assert stored(ddb, "charges", f"txn_dropped_{phase}") is written


def test_the_count_exhausts_then_calls_succeed(endpoint: Endpoint, faults: EndpointFaults) -> None:
    ddb = client(endpoint, "dynamodb")
    faults.add(**THROTTLE_CHARGES, count=2)

    outcomes = []
    for attempt in range(4):
        try:
            put(ddb, "charges", f"txn_count_{attempt}")
            outcomes.append("ok")
        except ddb.exceptions.ProvisionedThroughputExceededException:
            outcomes.append("throttled")
    assert outcomes == ["throttled", "throttled", "ok", "ok"]
    listing = faults.list()
    assert listing["pending"] == []
    assert listing["fired_total"] == 2


def test_sdk_retries_use_up_the_count(endpoint: Endpoint, faults: EndpointFaults) -> None:
    """boto3's standard mode retries throttling: count 2 is one call that took 3 attempts."""
    retrying = Config(retries={"mode": "standard", "total_max_attempts": 3})
    ddb = client(endpoint, "dynamodb", retrying)
    faults.add(**THROTTLE_CHARGES, count=2)

    response = put(ddb, "charges", "txn_retried")
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert faults.list()["fired_total"] == 2


def throttled_pattern(endpoint: Endpoint, calls: int = 24) -> list[bool]:
    ddb = client(endpoint, "dynamodb")
    endpoint.faults.add(**THROTTLE_CHARGES, probability=0.5, count=calls)
    pattern = []
    for number in range(calls):
        try:
            put(ddb, "charges", f"txn_p_{number}")
            pattern.append(False)
        except ddb.exceptions.ProvisionedThroughputExceededException:
            pattern.append(True)
    return pattern


def test_probability_with_a_seed_replays_the_same_failures(endpoint: Endpoint) -> None:
    first = throttled_pattern(endpoint)
    assert 0 < sum(first) < len(first)  # some calls failed, some did not

    endpoint.faults.clear()  # ids start again: the same fault draws the same numbers
    assert throttled_pattern(endpoint) == first

    with start_endpoint(port=None, reuse_from_env=False, fault_seed=11) as same_seed:
        _create_charges_table(same_seed)
        assert throttled_pattern(same_seed) == first
    with start_endpoint(port=None, reuse_from_env=False, fault_seed=12) as other_seed:
        _create_charges_table(other_seed)
        assert throttled_pattern(other_seed) != first


def _create_charges_table(endpoint: Endpoint) -> None:
    client(endpoint, "dynamodb").create_table(
        TableName="charges",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_an_invalid_fault_is_refused_with_a_400_naming_the_field(
    endpoint: Endpoint, faults: EndpointFaults
) -> None:
    with pytest.raises(EndpointFaultsError, match=r"HTTP 400: .*probability: must be greater"):
        faults.add(**THROTTLE_CHARGES, probability=0)
    with pytest.raises(EndpointFaultsError, match=r"operation: 'SendMail' is not an operation"):
        faults.add_all([DAILY_QUOTA, {**DAILY_QUOTA, "operation": "SendMail"}])
    assert faults.pending() == []


def test_faults_given_at_start_are_pending_from_the_first_request(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    path.write_text(json.dumps([DAILY_QUOTA, {**THROTTLE_CHARGES, "count": 3}]))

    with start_endpoint(port=None, reuse_from_env=False, faults_file=path, fault_seed=5) as started:
        listing = started.faults.list()
        assert listing["seed"] == 5
        assert [(f["id"], f["service"], f["remaining"]) for f in listing["pending"]] == [
            (1, "ses", 1),
            (2, "dynamodb", 3),
        ]
        ses = client(started, "ses")
        ses.verify_email_identity(EmailAddress=SENDER)
        with pytest.raises(ClientError, match="Daily message quota exceeded"):
            send_email(ses, "ada@example.com")


def test_an_invalid_faults_file_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    path.write_text(json.dumps([{**DAILY_QUOTA, "latency_ms": -5}]))

    with pytest.raises(EndpointError, match=r"\[0\]\.latency_ms: must be from 1 to 120000"):
        start_endpoint(port=None, reuse_from_env=False, faults_file=path)
