"""The resources the local cloud runs itself are discoverable through the endpoint as on
AWS (issue #12, item 2): CloudFormation lists the served APIs, their stages and
deployments, the SQS event source mappings and the resources created beside it, each with
its type and physical ID; API Gateway lists the served REST and HTTP APIs. Every answer
is read with boto3, so it is in the wire format an SDK parses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_cloud.aws_session import aws_session
from local_cloud.cloud import LocalCloud, Settings
from local_cloud.http_api.events import api_id

REPO = Path(__file__).resolve().parents[4]
STACK = "stack-resources-it"

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: index.handler
      InlineCode: |
        def handler(event, context):
            return {"statusCode": 200, "body": "hello"}
      Events:
        Hello:
          Type: Api
          Properties: {Path: /hello, Method: get}
        Ping:
          Type: HttpApi
          Properties: {ApiId: !Ref PingApi, Path: /ping, Method: get}
        Work:
          Type: SQS
          Properties: {Queue: !GetAtt WorkQueue.Arn, BatchSize: 5}
  PingApi:
    Type: AWS::Serverless::HttpApi
    Properties:
      Description: pings
  WorkQueue:
    Type: AWS::SQS::Queue
  WorkQueuePolicy:
    Type: AWS::SQS::QueuePolicy
    Properties:
      Queues: [!Ref WorkQueue]
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: sns.amazonaws.com}
            Action: sqs:SendMessage
            Resource: !GetAtt WorkQueue.Arn
Outputs:
  PingEndpoint:
    Value: !GetAtt PingApi.ApiEndpoint
  WorkMapping:
    Value: !Ref HelloFunctionWork
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    template = tmp_path_factory.mktemp("stack-resources") / "template.yaml"
    template.write_text(TEMPLATE)
    settings = Settings(template=template, stack=STACK, state_dir=REPO / ".local-cloud")
    running = LocalCloud(
        settings,
        endpoint_port=None,
        payment_provider_port=None,
        start_pollers=False,
        serve_http_apis=False,
    )
    with running:
        yield running


def client(cloud: LocalCloud, service: str) -> Any:
    assert cloud.endpoint is not None
    return aws_session("us-east-1").client(service, endpoint_url=cloud.endpoint.url)


def test_describe_stack_resource_answers_for_a_served_api(cloud: LocalCloud) -> None:
    detail = client(cloud, "cloudformation").describe_stack_resource(
        StackName=STACK, LogicalResourceId="ServerlessRestApi"
    )["StackResourceDetail"]
    assert (detail["ResourceType"], detail["PhysicalResourceId"]) == (
        "AWS::ApiGateway::RestApi",
        api_id("ServerlessRestApi"),
    )
    assert detail["StackName"] == STACK


def test_every_resource_of_the_stack_is_listed_with_its_type(cloud: LocalCloud) -> None:
    cloudformation = client(cloud, "cloudformation")
    described = cloudformation.describe_stack_resources(StackName=STACK)["StackResources"]
    summaries = cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    run_locally = {
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGateway::Stage",
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGatewayV2::Api",
        "AWS::ApiGatewayV2::Stage",
        "AWS::Lambda::EventSourceMapping",
        "AWS::SQS::QueuePolicy",
    }
    for listing in (described, summaries):
        logical_ids = [item["LogicalResourceId"] for item in listing]
        assert len(logical_ids) == len(set(logical_ids)), logical_ids  # each listed once
        by_id = {item["LogicalResourceId"]: item for item in listing}
        types = {item["ResourceType"] for item in listing}
        assert {*run_locally, "AWS::SQS::Queue", "AWS::Lambda::Function"} <= types
        ours = [item for item in listing if item["ResourceType"] in run_locally]
        assert [item for item in ours if not item.get("PhysicalResourceId")] == []
        assert by_id["PingApi"]["PhysicalResourceId"] == api_id("PingApi")
        assert by_id["HelloFunctionWork"]["ResourceType"] == ("AWS::Lambda::EventSourceMapping")
        assert by_id["ServerlessRestApiProdStage"]["PhysicalResourceId"] == "Prod"
    mapping = {item["LogicalResourceId"]: item for item in described}["HelloFunctionWork"]
    assert len(mapping["PhysicalResourceId"].split("-")) == 5  # a UUID, as on AWS
    # the ID the template's references resolve to (local_values.py) is the one listed
    outputs = {
        item["OutputKey"]: item["OutputValue"]
        for item in client(cloud, "cloudformation").describe_stacks(StackName=STACK)["Stacks"][0][
            "Outputs"
        ]
    }
    assert outputs["WorkMapping"] == mapping["PhysicalResourceId"]


def test_the_served_rest_api_is_in_get_rest_apis(cloud: LocalCloud) -> None:
    apigateway = client(cloud, "apigateway")
    identifier = api_id("ServerlessRestApi")
    listed = {item["id"]: item for item in apigateway.get_rest_apis()["items"]}
    assert listed[identifier]["name"] == STACK  # SAM's title for it: the stack name
    api = apigateway.get_rest_api(restApiId=identifier)
    assert api["rootResourceId"] == api_id("ServerlessRestApi/")
    assert api["endpointConfiguration"]["types"] == ["EDGE"]


def test_the_served_http_api_is_in_get_apis(cloud: LocalCloud) -> None:
    apigatewayv2 = client(cloud, "apigatewayv2")
    identifier = api_id("PingApi")
    listed = {item["ApiId"]: item for item in apigatewayv2.get_apis()["Items"]}
    assert listed[identifier]["Name"] == STACK
    api = apigatewayv2.get_api(ApiId=identifier)
    assert (api["ProtocolType"], api["Description"]) == ("HTTP", "pings")
    assert api["ApiEndpoint"] == cloud.stack.outputs["PingEndpoint"]


def test_the_sqs_mapping_is_in_list_event_source_mappings(cloud: LocalCloud) -> None:
    """moto never holds the mapping (the pollers run it); Lambda's API lists it anyway."""
    lambda_, sqs = client(cloud, "lambda"), client(cloud, "sqs")
    function = cloud.stack.function("HelloFunction")
    [queue_url] = sqs.list_queues()["QueueUrls"]  # the template's only queue
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    [listed] = lambda_.list_event_source_mappings(FunctionName=function.function_name)[
        "EventSourceMappings"
    ]
    assert listed["UUID"] == cloud.stack.outputs["WorkMapping"]
    assert (listed["FunctionArn"], listed["EventSourceArn"], listed["BatchSize"]) == (
        function.function_arn,
        queue_arn,
        5,
    )
    assert (listed["State"], listed["FunctionResponseTypes"]) == ("Enabled", [])
    by_source = lambda_.list_event_source_mappings(EventSourceArn=queue_arn)
    assert by_source["EventSourceMappings"] == [listed]
    described = lambda_.get_event_source_mapping(UUID=listed["UUID"])
    del described["ResponseMetadata"]
    assert described == listed
