"""SNS-to-SQS fan-out and secrets, which moto's CloudFormation skips, deployed and working
on the local cloud (issue #12, item 4): the subscription delivers raw messages that match
its filter policy to the queue, the queue's consumer runs on them, and reads the generated
secret its environment names."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local_cloud.cloud import LocalCloud, Settings

REPO = Path(__file__).resolve().parents[4]
STACK = "fan-out-it"

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Orders:
    Type: AWS::SNS::Topic
  BigOrders:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 30
  BigOrdersSubscription:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Orders
      Protocol: sqs
      Endpoint: !GetAtt BigOrders.Arn
      RawMessageDelivery: true
      FilterPolicy:
        size: [big]
  BigOrdersPolicy:
    Type: AWS::SQS::QueuePolicy
    Properties:
      Queues: [!Ref BigOrders]
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: sns.amazonaws.com}
            Action: sqs:SendMessage
            Resource: !GetAtt BigOrders.Arn
            Condition: {ArnEquals: {aws:SourceArn: !Ref Orders}}
  ApiCredentials:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString:
        SecretStringTemplate: '{"username": "orders"}'
        GenerateStringKey: password
        PasswordLength: 20
  Seen:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: index.handler
      Timeout: 10
      Environment:
        Variables:
          SECRET_ARN: !Ref ApiCredentials
          TABLE: !Ref Seen
      Policies:
        - DynamoDBCrudPolicy: {TableName: !Ref Seen}
        - AWSSecretsManagerGetSecretValuePolicy: {SecretArn: !Ref ApiCredentials}
      InlineCode: |
        import json, os, boto3
        def handler(event, context):
            secret = json.loads(boto3.client("secretsmanager").get_secret_value(
                SecretId=os.environ["SECRET_ARN"])["SecretString"])
            table = boto3.resource("dynamodb").Table(os.environ["TABLE"])
            for record in event["Records"]:
                table.put_item(Item={"id": record["messageId"], "body": record["body"],
                                     "user": secret["username"]})
      Events:
        Big:
          Type: SQS
          Properties:
            Queue: !GetAtt BigOrders.Arn
Outputs:
  TopicArn:
    Value: !Ref Orders
  TableName:
    Value: !Ref Seen
  SecretArn:
    Value: !Ref ApiCredentials
  SubscriptionArn:
    Value: !Ref BigOrdersSubscription
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    template = tmp_path_factory.mktemp("fan-out") / "template.yaml"
    template.write_text(TEMPLATE)
    settings = Settings(template=template, stack=STACK, state_dir=REPO / ".local-cloud")
    with LocalCloud(settings, endpoint_port=None) as running:
        yield running


def client(cloud: LocalCloud, service: str) -> Any:
    return boto3.client(service, endpoint_url=cloud.stack.endpoint_url, region_name="us-east-1")


def test_what_moto_skips_is_created_and_said_so(cloud: LocalCloud) -> None:
    assert cloud.stack.unsupported_resources == ()
    assert cloud.deployment is not None
    handled = "\n".join(map(str, cloud.deployment.handled_locally))
    for line in (
        "BigOrdersSubscription (AWS::SNS::Subscription): created with Subscribe",
        "BigOrdersPolicy (AWS::SQS::QueuePolicy): set with SetQueueAttributes",
        "ApiCredentials (AWS::SecretsManager::Secret): created with CreateSecret",
    ):
        assert line in handled


def test_outputs_that_refer_to_them_resolve_as_cloudformation_would(cloud: LocalCloud) -> None:
    # moto drops these Outputs (their resources are not its); the deployer resolves them.
    secret = client(cloud, "secretsmanager").describe_secret(
        SecretId=cloud.stack.outputs["SecretArn"]
    )
    assert secret["ARN"] == cloud.stack.outputs["SecretArn"]
    assert secret["Name"].startswith("ApiCredentials-")
    assert cloud.stack.outputs["SubscriptionArn"].startswith(cloud.stack.outputs["TopicArn"] + ":")


def test_a_published_message_reaches_the_consumer_raw_and_filtered(cloud: LocalCloud) -> None:
    sns = client(cloud, "sns")
    topic = cloud.stack.outputs["TopicArn"]
    for size, order in (("small", 1), ("big", 2)):
        sns.publish(
            TopicArn=topic,
            Message=json.dumps({"order": order}),
            MessageAttributes={"size": {"DataType": "String", "StringValue": size}},
        )
    # SNS delivers to SQS within Publish, so once the queue holds nothing, visible or in
    # flight, every delivered message has been consumed.
    sqs = client(cloud, "sqs")
    queue_url = cloud.deployment.queue_urls["BigOrders"] if cloud.deployment else ""
    items: dict[str, Any] = {"Items": []}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        if set(attributes.values()) == {"0"}:
            items = client(cloud, "dynamodb").scan(TableName=cloud.stack.outputs["TableName"])
            if items["Items"]:
                break
        time.sleep(0.5)
    assert [item["body"]["S"] for item in items["Items"]] == ['{"order": 2}']  # raw, only "big"
    assert items["Items"][0]["user"]["S"] == "orders"  # the secret its environment names
