"""The second template (tests/templates/orders_fifo) deployed and run by the local cloud."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local_cloud.cloud import LocalCloud, Settings
from local_cloud.endpoint import Endpoint, start_endpoint
from local_cloud.stack import DeploymentError, DeployOptions, deploy_stack

REPO = Path(__file__).resolve().parents[4]
ORDERS = REPO / "tests/templates/orders_fifo"
STACK = "orders-it"


def client(service: str, endpoint_url: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint_url, region_name="us-east-1")


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    settings = Settings(
        template=ORDERS / "template.yaml", stack=STACK, state_dir=REPO / ".local-cloud"
    )
    with LocalCloud(settings, endpoint_port=None) as running:
        yield running


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with start_endpoint(port=None, reuse_from_env=False) as started:
        yield started


def test_outputs_are_those_cloudformation_reports(cloud: LocalCloud) -> None:
    described = client("cloudformation", cloud.stack.endpoint_url).describe_stacks(StackName=STACK)[
        "Stacks"
    ][0]
    outputs = {item["OutputKey"]: item["OutputValue"] for item in described["Outputs"]}
    assert outputs == cloud.stack.outputs
    assert outputs["OrderIdPrefix"] == "ord-"
    assert outputs["OrdersQueueUrl"].endswith(f"/{STACK}-orders.fifo")


def test_nothing_is_unsupported_and_the_alarm_exists(cloud: LocalCloud) -> None:
    assert cloud.stack.unsupported_resources == ()
    alarms = client("cloudwatch", cloud.stack.endpoint_url).describe_alarms(
        AlarmNames=[f"{STACK}-OrdersDeadLetterAlarm"]
    )["MetricAlarms"]
    assert len(alarms) == 1
    assert alarms[0]["AlarmActions"] == [cloud.stack.outputs["NotificationsTopicArn"]]
    assert alarms[0]["Dimensions"] == [{"Name": "QueueName", "Value": f"{STACK}-orders-dlq.fifo"}]
    assert alarms[0]["AlarmDescription"] == f"Orders in {STACK}-orders-dlq.fifo need a look"


def test_functions_are_resolved_from_the_template(cloud: LocalCloud) -> None:
    orders = cloud.stack.function("OrdersFunction")
    assert orders.function_name == cloud.stack.outputs["OrdersFunctionName"]
    assert orders.environment == {
        "ORDERS_TABLE_NAME": cloud.stack.outputs["OrdersTableName"],
        "ORDER_PREFIX": "ord-",
        "POWERTOOLS_SERVICE_NAME": "orders",
        "AWS_ENDPOINT_URL": cloud.stack.endpoint_url,
    }
    assert (orders.timeout_seconds, orders.memory_mb, orders.reserved_concurrency) == (10, 128, 2)
    assert orders.layer_dirs == ()
    # Powertools from the function's own requirements.txt, installed into its build
    assert (orders.code_dir / "app.py").is_file()
    assert (orders.code_dir / "aws_lambda_powertools").is_dir()
    audit = cloud.stack.function("AuditFunction")
    assert (audit.code_dir / "index.py").is_file()  # InlineCode
    assert audit.handler == "index.handler"
    assert (
        audit.environment["TOPIC_NAME"]
        == cloud.stack.outputs["NotificationsTopicArn"].rsplit(":", 1)[-1]
    )


def test_mappings_are_resolved_with_their_settings(cloud: LocalCloud) -> None:
    by_id = {source.logical_id: source for source in cloud.stack.sqs_event_sources}
    orders, audit = by_id["OrdersFunctionOrders"], by_id["AuditFunctionAudit"]
    assert orders.is_fifo
    assert (orders.batch_size, orders.maximum_batching_window_seconds) == (10, 0)
    assert orders.report_batch_item_failures is True
    assert orders.function_name == cloud.stack.outputs["OrdersFunctionName"]
    assert not audit.is_fifo
    assert (audit.batch_size, audit.maximum_batching_window_seconds) == (20, 1)
    assert audit.report_batch_item_failures is False


def test_messages_sent_to_the_queues_are_processed_by_the_functions(cloud: LocalCloud) -> None:
    url = cloud.stack.endpoint_url
    sqs = client("sqs", url)
    for order_id in ("3001", "3002", "3003"):
        sqs.send_message(
            QueueUrl=cloud.stack.outputs["OrdersQueueUrl"],
            MessageBody=json.dumps({"order_id": order_id}),
            MessageGroupId="customer-1",
        )
    sqs.send_message(
        QueueUrl=cloud.stack.outputs["AuditQueueUrl"], MessageBody=json.dumps({"order_id": "3001"})
    )
    table = cloud.stack.outputs["OrdersTableName"]
    wanted = {"ord-3001", "ord-3002", "ord-3003", "audit-3001"}
    deadline = time.monotonic() + 60
    stored: set[str] = set()
    while time.monotonic() < deadline and not wanted <= stored:
        items = client("dynamodb", url).scan(TableName=table)["Items"]
        stored = {item["order_id"]["S"] for item in items}
        time.sleep(0.5)
    assert wanted <= stored


def test_invoke_runs_inline_code_with_an_sqs_event(cloud: LocalCloud) -> None:
    event = json.loads((ORDERS / "events/orders_sqs.json").read_text())
    result = cloud.lambda_service.invoke("AuditFunction", event)
    assert result.error is None
    assert result.payload["audited"] == 2


def test_redeploying_replaces_the_stack(endpoint: Endpoint, tmp_path: Path) -> None:
    options = DeployOptions(
        template_path=ORDERS / "template.yaml",
        stack_name="orders-redeploy",
        endpoint_url=endpoint.url,
        state_dir=REPO / ".local-cloud",
    )
    first = deploy_stack(options)
    second = deploy_stack(options)
    assert second.dependency_installs == 0  # warm cache: nothing installed again
    assert first.stack.outputs["OrdersTableName"] != second.stack.outputs["OrdersTableName"]
    tables = client("dynamodb", endpoint.url).list_tables()["TableNames"]
    assert first.stack.outputs["OrdersTableName"] not in tables
    assert second.stack.outputs["OrdersTableName"] in tables


BAD_MAPPING = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 30
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: index.handler
      Timeout: 60
      InlineCode: "def handler(event, context):\\n    return None\\n"
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
"""


def test_a_timeout_above_the_visibility_timeout_fails_the_deployment(
    endpoint: Endpoint, tmp_path: Path
) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(BAD_MAPPING)
    with pytest.raises(DeploymentError) as raised:
        deploy_stack(
            DeployOptions(
                template_path=template,
                stack_name="bad-mapping",
                endpoint_url=endpoint.url,
                state_dir=REPO / ".local-cloud",
            )
        )
    assert "Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds" in str(
        raised.value
    )
    stacks = client("cloudformation", endpoint.url).describe_stacks()["Stacks"]
    assert [s["StackName"] for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"] == []
