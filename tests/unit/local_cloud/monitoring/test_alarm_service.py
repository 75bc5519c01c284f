"""The endpoint's CloudWatch loop on moto's backends: queue metrics in, alarms acting.

In process (mock_aws): the same backends the endpoint process serves. Each test calls
`MonitoringLoop.tick(now)` itself, so nothing waits on a timer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_cloud.monitoring.alarm_service import MonitoringLoop

REGION = "us-east-1"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        yield {
            service: boto3.client(service, region_name=REGION)
            for service in ("sqs", "sns", "cloudwatch")
        }


def dlq_depth_alarm(cloudwatch: Any, queue_name: str, topic_arn: str) -> None:
    """As template.yaml's BillingDeadLetterQueueDepthAlarm."""
    cloudwatch.put_metric_alarm(
        AlarmName="dlq-depth",
        AlarmDescription="Charges were dead-lettered",
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": queue_name}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[topic_arn],
        OKActions=[topic_arn],
    )


def topic_with_inbox(aws: dict[str, Any]) -> tuple[str, str]:
    """An SNS topic with an SQS queue subscribed (raw delivery off: the SNS envelope)."""
    topic_arn = aws["sns"].create_topic(Name="alarms")["TopicArn"]
    inbox_url = aws["sqs"].create_queue(QueueName="alarm-inbox")["QueueUrl"]
    inbox_arn = aws["sqs"].get_queue_attributes(QueueUrl=inbox_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    aws["sns"].subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=inbox_arn)
    return topic_arn, inbox_url


def notifications(sqs: Any, inbox_url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=inbox_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(json.loads(m["Body"])["Message"]) for m in messages]


def state(cloudwatch: Any, name: str) -> str:
    [alarm] = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return str(alarm["StateValue"])


def test_a_dead_lettered_message_moves_the_depth_alarm_to_alarm_and_notifies_the_topic(
    aws: dict[str, Any],
) -> None:
    dlq_url = aws["sqs"].create_queue(QueueName="billing-dlq")["QueueUrl"]
    topic_arn, inbox_url = topic_with_inbox(aws)
    dlq_depth_alarm(aws["cloudwatch"], "billing-dlq", topic_arn)
    loop = MonitoringLoop()
    now = datetime.now(UTC)

    assert loop.tick(now) == []  # an empty DLQ: the alarm stays OK, nothing is sent
    aws["sqs"].send_message(QueueUrl=dlq_url, MessageBody='{"transaction_id": "txn_1"}')
    changes = loop.tick(now + timedelta(seconds=10))

    assert changes == [("dlq-depth", "OK", "ALARM")]
    assert state(aws["cloudwatch"], "dlq-depth") == "ALARM"
    [message] = notifications(aws["sqs"], inbox_url)
    assert message["AlarmName"] == "dlq-depth"
    assert (message["OldStateValue"], message["NewStateValue"]) == ("OK", "ALARM")
    assert message["Trigger"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert message["Trigger"]["Dimensions"] == [{"value": "billing-dlq", "name": "QueueName"}]
    assert message["Region"] == "US East (N. Virginia)"
    assert "greater than the threshold (0)" in message["NewStateReason"]


def test_the_alarm_returns_to_ok_a_period_after_the_dlq_is_emptied(aws: dict[str, Any]) -> None:
    dlq_url = aws["sqs"].create_queue(QueueName="billing-dlq")["QueueUrl"]
    topic_arn, inbox_url = topic_with_inbox(aws)
    dlq_depth_alarm(aws["cloudwatch"], "billing-dlq", topic_arn)
    loop = MonitoringLoop()
    now = datetime.now(UTC)
    aws["sqs"].send_message(QueueUrl=dlq_url, MessageBody="{}")
    loop.tick(now)
    loop.tick(now + timedelta(seconds=1))  # the sample is now inside the range
    aws["sqs"].purge_queue(QueueUrl=dlq_url)

    still = loop.tick(now + timedelta(seconds=30))  # the period still holds a 1
    later = loop.tick(now + timedelta(seconds=62))  # only zeros in the last 60 s

    assert still == []
    assert later == [("dlq-depth", "ALARM", "OK")]
    assert [n["NewStateValue"] for n in notifications(aws["sqs"], inbox_url)] == ["ALARM", "OK"]


def test_a_datum_of_another_queue_does_not_move_the_alarm(aws: dict[str, Any]) -> None:
    aws["sqs"].create_queue(QueueName="billing-dlq")
    other = aws["sqs"].create_queue(QueueName="billing-dlq-other")["QueueUrl"]
    topic_arn, _ = topic_with_inbox(aws)
    dlq_depth_alarm(aws["cloudwatch"], "billing-dlq", topic_arn)
    aws["sqs"].send_message(QueueUrl=other, MessageBody="{}")
    loop = MonitoringLoop()
    now = datetime.now(UTC)

    loop.tick(now)

    assert loop.tick(now + timedelta(seconds=10)) == []
    assert state(aws["cloudwatch"], "dlq-depth") == "OK"


def test_disabled_actions_change_the_state_but_send_nothing(aws: dict[str, Any]) -> None:
    dlq_url = aws["sqs"].create_queue(QueueName="billing-dlq")["QueueUrl"]
    topic_arn, inbox_url = topic_with_inbox(aws)
    dlq_depth_alarm(aws["cloudwatch"], "billing-dlq", topic_arn)
    aws["cloudwatch"].disable_alarm_actions(AlarmNames=["dlq-depth"])
    aws["sqs"].send_message(QueueUrl=dlq_url, MessageBody="{}")
    loop = MonitoringLoop()
    now = datetime.now(UTC)

    loop.tick(now)
    loop.tick(now + timedelta(seconds=10))

    assert state(aws["cloudwatch"], "dlq-depth") == "ALARM"
    assert notifications(aws["sqs"], inbox_url) == []


def test_an_errors_alarm_stays_ok_while_every_invocation_succeeds(aws: dict[str, Any]) -> None:
    topic_arn, inbox_url = topic_with_inbox(aws)
    aws["cloudwatch"].put_metric_alarm(
        AlarmName="errors",
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": "billing"}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[topic_arn],
    )
    now = datetime.now(UTC)
    datum = {"MetricName": "Errors", "Dimensions": [{"Name": "FunctionName", "Value": "billing"}]}
    aws["cloudwatch"].put_metric_data(
        Namespace="AWS/Lambda", MetricData=[datum | {"Value": 0.0, "Timestamp": now}] * 3
    )
    loop = MonitoringLoop()

    assert loop.tick(now + timedelta(seconds=5)) == []
    aws["cloudwatch"].put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[datum | {"Value": 1.0, "Timestamp": now + timedelta(seconds=6)}],
    )
    assert loop.tick(now + timedelta(seconds=10)) == [("errors", "OK", "ALARM")]
    assert [n["Trigger"]["Statistic"] for n in notifications(aws["sqs"], inbox_url)] == ["SUM"]
