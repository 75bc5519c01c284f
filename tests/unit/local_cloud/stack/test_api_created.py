"""Resources moto's CloudFormation skips, created with the call CloudFormation makes:
subscriptions (with their attributes, so raw delivery and filter policies act), secrets
(given or generated), alarms starting in INSUFFICIENT_DATA, queue policies. On moto in
process: no sockets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_cloud.stack import api_created
from local_cloud.stack.errors import DeploymentError

REGION = "us-east-1"


@pytest.fixture
def clients() -> Iterator[Any]:
    with mock_aws():
        made: dict[str, Any] = {}

        def client(service: str) -> Any:
            if service not in made:
                made[service] = boto3.client(service, region_name=REGION)
            return made[service]

        yield client


def fan_out(clients: Any) -> tuple[str, str]:
    topic = clients("sns").create_topic(Name="orders")["TopicArn"]
    url = clients("sqs").create_queue(QueueName="big-orders")["QueueUrl"]
    return topic, url


def received(clients: Any, url: str) -> list[str]:
    messages = clients("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [m["Body"] for m in messages.get("Messages", [])]


def test_a_subscription_delivers_raw_and_filtered_as_its_properties_say(clients: Any) -> None:
    topic, url = fan_out(clients)
    queue_arn = f"arn:aws:sqs:{REGION}:123456789012:big-orders"
    created = api_created.create(
        "BigOrders",
        "AWS::SNS::Subscription",
        {
            "TopicArn": topic,
            "Protocol": "sqs",
            "Endpoint": queue_arn,
            "RawMessageDelivery": True,
            "FilterPolicy": {"size": ["big"]},
        },
        clients,
        "stack",
    )
    assert created.physical_id is not None
    assert created.physical_id.startswith(f"{topic}:")
    assert str(created.note).startswith(
        "BigOrders (AWS::SNS::Subscription): created with Subscribe"
    )

    sns = clients("sns")
    sns.publish(
        TopicArn=topic,
        Message='{"order": 1}',
        MessageAttributes={"size": {"DataType": "String", "StringValue": "big"}},
    )
    sns.publish(
        TopicArn=topic,
        Message='{"order": 2}',
        MessageAttributes={"size": {"DataType": "String", "StringValue": "small"}},
    )
    assert received(clients, url) == ['{"order": 1}']  # raw (no SNS envelope), filtered


def test_subscription_attributes_are_strings_as_subscribe_takes_them() -> None:
    assert api_created.subscription_attributes(
        {
            "RawMessageDelivery": "true",
            "FilterPolicy": {"a": ["b"]},
            "FilterPolicyScope": "MessageBody",
            "RedrivePolicy": {"deadLetterTargetArn": "arn"},
            "Protocol": "sqs",
        }
    ) == {
        "RawMessageDelivery": "true",
        "FilterPolicy": '{"a": ["b"]}',
        "FilterPolicyScope": "MessageBody",
        "RedrivePolicy": '{"deadLetterTargetArn": "arn"}',
    }
    assert api_created.subscription_attributes({"RawMessageDelivery": False}) == {
        "RawMessageDelivery": "false"
    }


def test_a_generated_secret_fills_its_template(clients: Any) -> None:
    created = api_created.create(
        "DbSecret",
        "AWS::SecretsManager::Secret",
        {
            "GenerateSecretString": {
                "SecretStringTemplate": '{"username": "app"}',
                "GenerateStringKey": "password",
                "PasswordLength": 24,
                "ExcludePunctuation": "true",
            }
        },
        clients,
        "stack",
    )
    assert created.physical_id is not None
    value = clients("secretsmanager").get_secret_value(SecretId=created.physical_id)
    document = json.loads(value["SecretString"])
    assert document["username"] == "app"
    assert len(document["password"]) == 24
    assert document["password"].isalnum()
    assert value["Name"].startswith("DbSecret-")  # named as CloudFormation names it


def test_a_given_secret_keeps_its_name_and_value(clients: Any) -> None:
    created = api_created.create(
        "ApiKey",
        "AWS::SecretsManager::Secret",
        {"Name": "prod/api-key", "SecretString": "s3cr3t"},
        clients,
        "stack",
    )
    value = clients("secretsmanager").get_secret_value(SecretId="prod/api-key")
    assert (value["SecretString"], value["ARN"]) == ("s3cr3t", created.physical_id)


def test_a_template_without_its_key_is_refused() -> None:
    with pytest.raises(DeploymentError, match="SecretStringTemplate and GenerateStringKey"):
        api_created.generated_secret(
            {"SecretStringTemplate": "{}"}, lambda **_: {"RandomPassword": "x"}
        )


def test_an_alarm_starts_in_insufficient_data(clients: Any) -> None:
    created = api_created.create(
        "Errors",
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Period": 60,
            "EvaluationPeriods": 1,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Statistic": "Sum",
        },
        clients,
        "stack",
    )
    [alarm] = clients("cloudwatch").describe_alarms()["MetricAlarms"]
    assert alarm["AlarmName"] == created.physical_id
    assert alarm["StateValue"] == "INSUFFICIENT_DATA"


def test_a_refusal_names_the_resource(clients: Any) -> None:
    with pytest.raises(DeploymentError, match=r"^Sub \(AWS::SNS::Subscription\): the endpoint"):
        api_created.create(
            "Sub",
            "AWS::SNS::Subscription",
            {
                "TopicArn": f"arn:aws:sns:{REGION}:123456789012:nope",
                "Protocol": "sqs",
                "Endpoint": f"arn:aws:sqs:{REGION}:123456789012:q",
            },
            clients,
            "stack",
        )
    with pytest.raises(DeploymentError, match=r"required property TopicArn is missing"):
        api_created.create("Sub", "AWS::SNS::Subscription", {"Protocol": "sqs"}, clients, "s")


def test_what_it_creates() -> None:
    for resource_type in (
        "AWS::SNS::Subscription",
        "AWS::SecretsManager::Secret",
        "AWS::CloudWatch::Alarm",
        "AWS::SQS::QueuePolicy",
    ):
        assert api_created.creates(resource_type)
    assert not api_created.creates("AWS::ApiGatewayV2::Api")
