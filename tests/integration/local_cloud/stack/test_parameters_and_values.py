"""Template values and parameters as CloudFormation reads them (issue #12): an out-of-range
override stops `up` with CloudFormation's one-line message before anything is created, and
an unquoted `Version: 2012-10-17` (a date to YAML) deploys as the string it is."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pytest

from local_cloud.endpoint import Endpoint, EndpointFaults, start_endpoint
from local_cloud.stack import DeploymentError, DeployOptions, deploy_stack
from local_cloud.stack.errors import ParameterError, TemplateError
from local_cloud.stack.lifecycle import failure_reasons

REPO = Path(__file__).resolve().parents[4]

# orders_fifo's inline AuditFunction, cut down: a queue, a consumer whose batch size is a
# parameter, and policies whose Version is unquoted (YAML reads 2012-10-17 as a date).
TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  BatchSize:
    Type: Number
    Default: 10
    MinValue: 1
    MaxValue: 10000
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 30
  WorkerRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: 2012-10-17
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
      Policies:
        - PolicyName: consume
          PolicyDocument:
            Version: 2012-10-17
            Statement:
              - Effect: Allow
                Action: [sqs:ReceiveMessage, sqs:DeleteMessage, sqs:GetQueueAttributes]
                Resource: !GetAtt Jobs.Arn
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: index.handler
      Timeout: 5
      Role: !GetAtt WorkerRole.Arn
      InlineCode: "def handler(event, context):\\n    return None\\n"
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: !Ref BatchSize
Outputs:
  WorkerRoleName:
    Value: !Ref WorkerRole
"""
OUT_OF_RANGE = "Parameter 'BatchSize' must be a number not greater than 10000"


def client(service: str, endpoint_url: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint_url, region_name="us-east-1")


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with start_endpoint(port=None, reuse_from_env=False) as started:
        yield started


@pytest.fixture
def template(tmp_path: Path) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    return path


def options(template: Path, endpoint: Endpoint, **overrides: str) -> DeployOptions:
    return DeployOptions(
        template_path=template,
        stack_name="values-it",
        endpoint_url=endpoint.url,
        parameter_overrides=overrides,
        state_dir=REPO / ".local-cloud",
    )


def test_an_out_of_range_override_creates_nothing(endpoint: Endpoint, template: Path) -> None:
    with pytest.raises(ParameterError) as raised:
        deploy_stack(options(template, endpoint, BatchSize="20000"))
    assert str(raised.value) == OUT_OF_RANGE
    assert client("cloudformation", endpoint.url).describe_stacks()["Stacks"] == []
    assert client("s3", endpoint.url).list_buckets()["Buckets"] == []  # not even the artifacts
    assert client("sqs", endpoint.url).list_queues().get("QueueUrls", []) == []


def test_up_prints_the_one_line_and_exits_2(tmp_path: Path, template: Path) -> None:
    config = tmp_path / "values.toml"
    config.write_text(
        f'template = "{template}"\nstack = "values-cli"\nstate_dir = "{REPO / ".local-cloud"}"\n'
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "local_cloud", "up", "--config", str(config), "--no-view",
         "--endpoint-port", "0", "--parameter-overrides", "BatchSize=20000"],
        capture_output=True, text=True, timeout=180, cwd=REPO, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"error: {OUT_OF_RANGE}\n" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_an_unquoted_policy_version_deploys_as_the_string(
    endpoint: Endpoint, template: Path
) -> None:
    deployment = deploy_stack(options(template, endpoint))
    (source,) = deployment.stack.sqs_event_sources
    assert source.batch_size == 10  # the Default, checked and used
    iam = client("iam", endpoint.url)
    role = iam.get_role(RoleName=deployment.stack.outputs["WorkerRoleName"])["Role"]
    assert role["AssumeRolePolicyDocument"]["Version"] == "2012-10-17"
    document = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="consume")[
        "PolicyDocument"
    ]
    assert "2012-10-17" in unquote(str(document)), document


def test_a_failed_deploy_rolls_back_quietly_and_reports_the_first_cause(
    endpoint: Endpoint, template: Path
) -> None:
    # Passes the parameter checks, then fails at the mapping, as Lambda refuses it; the
    # rollback's DeleteStack then answers an EC2-style DependencyViolation after deleting.
    template.write_text(TEMPLATE.replace("Timeout: 5", "Timeout: 60"))
    faults = EndpointFaults(endpoint.url)
    faults.add(
        service="cloudformation",
        operation="DeleteStack",
        error="DependencyViolation",
        message="The vpc has dependencies and cannot be deleted.",
        phase="after",
    )
    with pytest.raises(DeploymentError) as raised:
        deploy_stack(options(template, endpoint))
    message = str(raised.value)
    assert "Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds" in (
        message
    )
    assert "DependencyViolation" not in message
    assert faults.list()["fired_total"] == 1  # the rollback did meet the error
    assert client("cloudformation", endpoint.url).describe_stacks()["Stacks"] == []


def test_a_memory_size_lambda_refuses_stops_the_deploy_before_the_stack_exists(
    endpoint: Endpoint, template: Path
) -> None:
    # moto's Lambda takes any MemorySize; Lambda refuses one outside 128-10240 MB.
    template.write_text(TEMPLATE.replace("Timeout: 5", "Timeout: 5\n      MemorySize: 64"))
    with pytest.raises(TemplateError, match="Value '64' at 'memorySize' failed to satisfy"):
        deploy_stack(options(template, endpoint))
    assert client("cloudformation", endpoint.url).describe_stacks()["Stacks"] == []


class _Events:
    """DescribeStackEvents of a stack whose rollback failed too: newest first, as AWS lists."""

    def describe_stack_events(self, StackName: str) -> dict[str, Any]:
        def event(logical_id: str, status: str, reason: str = "") -> dict[str, str]:
            return {
                "StackName": "s",
                "LogicalResourceId": logical_id,
                "ResourceStatus": status,
                "ResourceStatusReason": reason,
            }

        return {
            "StackEvents": [
                event("s", "ROLLBACK_FAILED", "The following resource(s) failed to delete"),
                event("Network", "DELETE_FAILED", "DependencyViolation: has dependencies"),
                event("Queue", "CREATE_COMPLETE"),
                event("Bucket", "CREATE_FAILED", "Bucket name already exists"),
                event("Network", "CREATE_COMPLETE"),
            ]
        }


def test_the_first_failed_resource_is_the_reason_given() -> None:
    reasons = failure_reasons(lambda service: _Events(), "s")
    assert reasons == "Bucket: Bucket name already exists (and 1 later failure(s))"
