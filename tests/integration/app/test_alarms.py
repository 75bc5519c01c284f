"""The template's alarms act on the running stack (issue #8): found, evaluated, notifying.

The alarm topic gets an SQS queue subscribed, as an operator's pager integration would
be, and the tests watch what arrives. Alarms are found by the metric they watch, not by
name, so the same tests run where CloudFormation named them (LocalStack).

On the local cloud the endpoint samples the queues and evaluates alarms every 10 s and
the functions' metrics are sent every 2 s: each wait allows minutes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.app.conftest import StackUnderTest, eventually

ALARM_WAIT = 180.0


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def charge(transaction_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "account_id": "acc_alarms",
        "amount": 1200,
        "currency": "usd",
        "payment_method": "pm_card_visa",
    } | overrides


@pytest.fixture(scope="module")
def alarm_inbox(stack: StackUnderTest) -> Iterator[str]:
    """An SQS queue subscribed to the stack's alarm topic."""
    sqs, sns = stack.client("sqs"), stack.client("sns")
    url = sqs.create_queue(QueueName=unique("alarm-inbox"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    subscription = sns.subscribe(
        TopicArn=stack.outputs["AlarmTopicArn"], Protocol="sqs", Endpoint=arn
    )["SubscriptionArn"]
    yield url
    sns.unsubscribe(SubscriptionArn=subscription)
    sqs.delete_queue(QueueUrl=url)


class Inbox:
    """Every alarm notification received so far (the SNS envelope's Message, decoded)."""

    def __init__(self, stack: StackUnderTest, url: str) -> None:
        self._sqs = stack.client("sqs")
        self._url = url
        self.notifications: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        for message in self._sqs.receive_message(
            QueueUrl=self._url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            self.notifications.append(json.loads(json.loads(message["Body"])["Message"]))
            self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])
        return self.notifications

    def forget(self) -> None:
        """Drop what came before the test's own action (an earlier state change)."""
        self.poll()
        self.notifications.clear()


def alarm_on(stack: StackUnderTest, namespace: str, metric: str, dimension: str) -> dict[str, Any]:
    """The stack's alarm on this metric with this dimension value."""
    found = [
        alarm
        for page in stack.client("cloudwatch").get_paginator("describe_alarms").paginate()
        for alarm in page["MetricAlarms"]
        if alarm.get("Namespace") == namespace
        and alarm.get("MetricName") == metric
        and [d["Value"] for d in alarm.get("Dimensions", [])] == [dimension]
    ]
    assert len(found) == 1, f"one alarm on {namespace}/{metric} {dimension}, found {found}"
    return found[0]


def queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def errors_since(stack: StackUnderTest, function_name: str, start: datetime) -> dict[str, float]:
    """The function's Errors metric from `start` on: its Sum and SampleCount (invocations
    measured). The stack is shared: earlier modules' invocations (a killed worker's
    Runtime.ExitError among them) are before `start`."""
    now = datetime.now(UTC)
    datapoints = stack.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": function_name}],
        StartTime=start,
        EndTime=now + timedelta(minutes=1),
        Period=3600,
        Statistics=["Sum", "SampleCount"],
    )["Datapoints"]
    return {
        "Sum": sum(d["Sum"] for d in datapoints),
        "SampleCount": sum(d["SampleCount"] for d in datapoints),
    }


def not_in_alarm(stack: StackUnderTest, namespace: str, metric: str, dimension: str) -> None:
    """Wait until the alarm is out of ALARM. The stack is shared: an earlier module may have
    left its metric breaching (a dead letter, a function error) within the alarm's last
    period; its notification then went out before this module's inbox subscribed."""
    alarm = alarm_on(stack, namespace, metric, dimension)
    eventually(
        lambda: alarm_on(stack, namespace, metric, dimension)["StateValue"] != "ALARM",
        timeout=ALARM_WAIT,
        what=f"{alarm['AlarmName']} out of ALARM before the test",
    )


def test_a_dead_lettered_charge_fires_the_dlq_alarm_and_notifies_the_topic(
    stack: StackUnderTest, alarm_inbox: str
) -> None:
    dlq = queue_name(stack.outputs["BillingDeadLetterQueueUrl"])
    name = alarm_on(stack, "AWS/SQS", "ApproximateNumberOfMessagesVisible", dlq)["AlarmName"]
    inbox = Inbox(stack, alarm_inbox)
    not_in_alarm(stack, "AWS/SQS", "ApproximateNumberOfMessagesVisible", dlq)
    inbox.forget()

    # Invalid (amount 0): dead-lettered at its first failure, with its reason.
    stack.send("BillingQueueUrl", charge(unique("txn_alarm_poison"), amount=0))

    eventually(
        lambda: (
            alarm_on(stack, "AWS/SQS", "ApproximateNumberOfMessagesVisible", dlq)["StateValue"]
            == "ALARM"
        ),
        timeout=ALARM_WAIT,
        what=f"{name} in ALARM",
    )
    [notification] = eventually(
        lambda: [
            n for n in inbox.poll() if n["AlarmName"] == name and n["NewStateValue"] == "ALARM"
        ],
        timeout=ALARM_WAIT,
        what=f"an ALARM notification of {name} on the alarm topic",
    )
    assert notification["Trigger"]["Namespace"] == "AWS/SQS"
    assert notification["Trigger"]["Dimensions"] == [{"value": dlq, "name": "QueueName"}]
    assert notification["AlarmActions"] == [stack.outputs["AlarmTopicArn"]]


def test_failed_records_do_not_move_the_function_errors_alarm(stack: StackUnderTest) -> None:
    """A poison record, then a record whose provider call fails, each alone in its batch:
    the first is dead-lettered, the second fails and waits for its redelivery (about 3
    minutes away); neither invocation is a function error."""
    function = stack.outputs["BillingFunctionName"]
    provider = stack.provider()
    not_in_alarm(stack, "AWS/Lambda", "Errors", function)
    start = datetime.now(UTC).replace(microsecond=0)

    stack.send("BillingQueueUrl", charge(unique("txn_alarm_mismatch"), currency="usx"))
    eventually(
        lambda: stack.queue_depth("BillingQueueUrl") == (0, 0),
        timeout=ALARM_WAIT,
        what="the poison charge handled",
    )
    provider.inject_fault("error", status=500, count=2)  # the call and the SDK's retry
    stack.send("BillingQueueUrl", charge(unique("txn_alarm_retried")))
    eventually(
        lambda: not provider.pending_faults() and stack.queue_depth("BillingQueueUrl") == (0, 1),
        timeout=ALARM_WAIT,
        what="the charge failed once and waits in flight for its redelivery",
    )

    errors = eventually(
        lambda: (e := errors_since(stack, function, start))["SampleCount"] >= 2 and e,
        timeout=60,
        what="Errors datapoints of both invocations",
    )
    assert errors["Sum"] == 0  # measured, and none was a function error
    assert alarm_on(stack, "AWS/Lambda", "Errors", function)["StateValue"] != "ALARM"


def test_a_function_error_fires_the_errors_alarm(stack: StackUnderTest, alarm_inbox: str) -> None:
    function = stack.outputs["WelcomeEmailFunctionName"]
    name = alarm_on(stack, "AWS/Lambda", "Errors", function)["AlarmName"]
    inbox = Inbox(stack, alarm_inbox)
    not_in_alarm(stack, "AWS/Lambda", "Errors", function)
    inbox.forget()

    # Not an SQS event: the handler raises, an unhandled function error.
    error = stack.invoke_expecting_error("WelcomeEmailFunctionName", {"not": "an SQS event"})
    assert error["errorType"]

    eventually(
        lambda: [
            n for n in inbox.poll() if n["AlarmName"] == name and n["NewStateValue"] == "ALARM"
        ],
        timeout=ALARM_WAIT,
        what=f"an ALARM notification of {name}",
    )
    assert alarm_on(stack, "AWS/Lambda", "Errors", function)["StateValue"] == "ALARM"
