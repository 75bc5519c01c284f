"""What the deployer tells the endpoint about the resources the local cloud runs itself:
each with the physical ID CloudFormation gives it, the APIs with their names."""

from __future__ import annotations

import io
import json
import urllib.error
from pathlib import Path
from typing import Any

import pytest

from local_cloud.http_api.events import api_id
from local_cloud.model import FunctionSpec, SqsEventSourceSpec
from local_cloud.stack import local_resources
from local_cloud.stack.errors import DeploymentError
from local_cloud.stack.intrinsics import IntrinsicResolver, pseudo_parameters
from local_cloud.stack.local_resources import (
    created_record,
    register,
    served_records,
    with_mapping_settings,
)
from local_cloud.stack.local_values import event_source_mapping_values
from local_cloud.stack.served_apis import served_resources, served_values
from local_cloud.stack.template import translate
from local_cloud.stack_resources import parse_registration

INLINE = "def handler(event, context):\n    return {'statusCode': 200}\n"
SAM = {
    "Transform": "AWS::Serverless-2016-10-31",
    "Resources": {
        "HelloFunction": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Runtime": "python3.13",
                "Handler": "index.handler",
                "InlineCode": INLINE,
                "Events": {
                    "Hello": {"Type": "Api", "Properties": {"Path": "/hello", "Method": "get"}},
                    "Ping": {
                        "Type": "HttpApi",
                        "Properties": {
                            "ApiId": {"Ref": "PingApi"},
                            "Path": "/ping",
                            "Method": "get",
                        },
                    },
                },
            },
        },
        "PingApi": {
            "Type": "AWS::Serverless::HttpApi",
            "Properties": {"Description": "ping it"},
        },
    },
}


def records(warnings: list[str] | None = None) -> dict[str, dict[str, str]]:
    template = translate(json.loads(json.dumps(SAM)), {}, "us-east-1")
    resolve = IntrinsicResolver(
        template=template,
        parameters={},
        pseudo=pseudo_parameters("us-east-1", "123456789012", "orders-stack"),
    ).resolve
    served = served_values(template, served_resources(template), "us-east-1", resolve)
    made = served_records(
        template["Resources"], served, list(template["Resources"]), resolve, warnings or []
    )
    return {record["logical_id"]: record for record in made}


def test_each_served_resource_has_cloudformations_physical_id_and_the_apis_their_names() -> None:
    made = records()
    rest, http = made["ServerlessRestApi"], made["PingApi"]
    assert rest == {
        "logical_id": "ServerlessRestApi",
        "type": "AWS::ApiGateway::RestApi",
        "physical_id": api_id("ServerlessRestApi"),
        "name": "orders-stack",  # SAM's Body title: the stack name, as AWS names it
        "description": "",
        "root_resource_id": api_id("ServerlessRestApi/"),
    }
    assert http == {
        "logical_id": "PingApi",
        "type": "AWS::ApiGatewayV2::Api",
        "physical_id": api_id("PingApi"),
        "name": "orders-stack",
        "description": "ping it",
        "endpoint": f"https://{api_id('PingApi')}.execute-api.us-east-1.amazonaws.com",
    }
    stages = {r["physical_id"] for r in made.values() if r["type"].endswith("::Stage")}
    assert stages == {"Prod", "$default"}
    [deployment] = [r for r in made.values() if r["type"] == "AWS::ApiGateway::Deployment"]
    assert len(deployment["physical_id"]) == 6
    assert "HelloFunction" not in made  # the endpoint creates that one


def test_only_the_resources_present_are_listed() -> None:
    template = translate(json.loads(json.dumps(SAM)), {}, "us-east-1")
    resolve = IntrinsicResolver(
        template=template, parameters={}, pseudo=pseudo_parameters("us-east-1", "1", "s")
    ).resolve
    served = served_values(template, served_resources(template), "us-east-1", resolve)
    made = served_records(template["Resources"], served, ["PingApi"], resolve, [])
    assert [record["logical_id"] for record in made] == ["PingApi"]


def test_a_name_that_cannot_be_resolved_is_a_warning_and_the_logical_id() -> None:
    template = translate(json.loads(json.dumps(SAM)), {}, "us-east-1")
    template["Resources"]["PingApi"]["Properties"]["Name"] = {"Ref": "Undeclared"}
    resolve = IntrinsicResolver(
        template=template, parameters={}, pseudo=pseudo_parameters("us-east-1", "1", "s")
    ).resolve
    served = served_values(template, served_resources(template), "us-east-1", resolve)
    warnings: list[str] = []
    [made] = served_records(template["Resources"], served, ["PingApi"], resolve, warnings)
    assert made["name"] == "PingApi"
    assert len(warnings) == 1
    assert warnings[0].startswith("PingApi: its name as the endpoint lists it: ")


def test_a_created_resource_keeps_its_id_and_a_policy_gets_cloudformations_form() -> None:
    assert created_record("orders", "Alarm", "AWS::CloudWatch::Alarm", "orders-Alarm") == {
        "logical_id": "Alarm",
        "type": "AWS::CloudWatch::Alarm",
        "physical_id": "orders-Alarm",
    }
    policy = created_record("orders", "QueuePolicy", "AWS::SQS::QueuePolicy", None)
    assert policy["physical_id"].startswith("orders-QueuePolicy-")
    assert len(policy["physical_id"].rsplit("-", 1)[1]) == 13


def _refusing(code: int, body: bytes) -> Any:
    def urlopen(request: Any, timeout: float) -> Any:
        raise urllib.error.HTTPError(request.full_url, code, "refused", {}, io.BytesIO(body))  # type: ignore[arg-type]

    return urlopen


def test_an_endpoint_without_the_route_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    answer = json.dumps({"message": "not found"}).encode()  # LocalStack's kind of 404
    monkeypatch.setattr(local_resources.urllib.request, "urlopen", _refusing(404, answer))
    warning = register("http://127.0.0.1:4566", "1", "us-east-1", "stack/x", [])
    assert warning is not None
    assert "is not a local cloud endpoint" in warning


def test_a_refusal_is_a_deployment_error_with_the_endpoints_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answer = json.dumps({"message": "no stack stack/x"}).encode()
    monkeypatch.setattr(local_resources.urllib.request, "urlopen", _refusing(400, answer))
    with pytest.raises(DeploymentError, match="HTTP 400: no stack stack/x"):
        register("http://127.0.0.1:4566", "1", "us-east-1", "stack/x", [])


def test_a_mapping_is_posted_with_the_settings_its_poller_runs() -> None:
    """Lambda's ListEventSourceMappings is answered from these (stack_resources.py)."""
    template = {"Resources": {"WorkMapping": {"Type": "AWS::Lambda::EventSourceMapping"}}}
    values = event_source_mapping_values(template, "orders", "us-east-1", "123456789012")
    uuid = values["WorkMapping"].ref
    queue_arn = "arn:aws:sqs:us-east-1:123456789012:work"
    function_arn = "arn:aws:lambda:us-east-1:123456789012:function:orders-Worker-X1"
    source = SqsEventSourceSpec(
        logical_id="WorkMapping", function_name="orders-Worker-X1", queue_arn=queue_arn,
        queue_url="http://127.0.0.1:4566/123456789012/work", batch_size=7,
        maximum_batching_window_seconds=3, report_batch_item_failures=True,
        maximum_concurrency=5, enabled=False, filter_patterns=('{"body": {"a": [1]}}',),
    )  # fmt: skip
    function = FunctionSpec(
        logical_id="Worker", function_name="orders-Worker-X1", handler="app.handler",
        runtime="python3.13", code_dir=Path("."), function_arn=function_arn,
    )  # fmt: skip
    stage = {"logical_id": "Stage", "type": "AWS::ApiGateway::Stage", "physical_id": "Prod"}
    mapping = {"logical_id": "WorkMapping", "type": "AWS::Lambda::EventSourceMapping",
               "physical_id": uuid}  # fmt: skip
    completed = with_mapping_settings([stage, mapping], [source], [function], values)
    assert completed[0] == stage
    assert completed[1] == {
        **mapping,
        "mapping": {
            "arn": f"arn:aws:lambda:us-east-1:123456789012:event-source-mapping:{uuid}",
            "function_arn": function_arn,
            "event_source_arn": queue_arn,
            "batch_size": 7,
            "maximum_batching_window_seconds": 3,
            "enabled": False,
            "function_response_types": ["ReportBatchItemFailures"],
            "filter_patterns": ['{"body": {"a": [1]}}'],
            "maximum_concurrency": 5,
        },
    }
    body = {"account_id": "123456789012", "region": "us-east-1", "stack_id": "s",
            "resources": completed}  # fmt: skip
    parsed = parse_registration(json.loads(json.dumps(body)))  # as the endpoint reads it
    settings = parsed.resources[1].mapping
    assert settings is not None
    assert (settings.batch_size, settings.enabled, settings.maximum_concurrency) == (7, False, 5)
