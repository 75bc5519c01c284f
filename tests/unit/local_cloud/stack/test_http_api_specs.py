"""Routes read from the translated template's OpenAPI body, as the deployer reads them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from local_cloud.errors import InvalidServiceIntegration
from local_cloud.model import HttpApiSpec, HttpRouteSpec, ServiceIntegrationSpec
from local_cloud.stack.errors import DeploymentError
from local_cloud.stack.include import expand_includes
from local_cloud.stack.specs import http_api_specs
from local_cloud.stack.template import effective_parameters, load_template, translate

REPO = Path(__file__).resolve().parents[4]


def translated(sam: dict[str, Any]) -> dict[str, Any]:
    # SAM translation wants S3 code locations; the deployer uploads first, here we pretend.
    for resource in sam["Resources"].values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if key in properties:
                properties[key] = "s3://bucket/key.zip"
    declared = sam.get("Parameters") or {}
    overrides = (
        {"SenderEmailAddress": "welcome@example.com"} if "SenderEmailAddress" in declared else {}
    )
    parameters = effective_parameters(sam, overrides)
    return translate(sam, parameters, "us-east-1")


def by_sub_reference(uri: Any) -> str | None:
    """The deployer resolves the uri against the stack; the function's logical ID is enough
    here: "...functions/${SignupFunction.Arn}/invocations"."""
    match = re.search(r"\$\{(\w+)\.Arn\}", str(uri.get("Fn::Sub")) if isinstance(uri, dict) else "")
    return match.group(1) if match else None


def specs(template: dict[str, Any]) -> tuple[list[HttpApiSpec], list[str]]:
    resources = template["Resources"]
    expected = {logical_id: r["Type"] for logical_id, r in resources.items()}
    return http_api_specs(resources, expected, by_sub_reference)


def test_the_signup_route_of_template_yaml() -> None:
    apis, warnings = specs(translated(load_template(REPO / "template.yaml")))
    assert apis == [
        HttpApiSpec(
            "SignupHttpApi",
            (HttpRouteSpec("POST", "/accounts", "SignupFunction", "2.0"),),
            ("SignupHttpApiApiGatewayDefaultStage",),
        )
    ]
    assert warnings == []


def test_any_method_default_route_and_payload_1_0() -> None:
    sam = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Api": {"Type": "AWS::Serverless::HttpApi"},
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": ".",
                    "Handler": "app.handler",
                    "Runtime": "python3.13",
                    "Events": {
                        "Everything": {"Type": "HttpApi", "Properties": {"ApiId": {"Ref": "Api"}}},
                        "Items": {
                            "Type": "HttpApi",
                            "Properties": {
                                "ApiId": {"Ref": "Api"},
                                "Method": "ANY",
                                "Path": "/items/{id}",
                                "PayloadFormatVersion": "1.0",
                            },
                        },
                    },
                },
            },
        },
    }
    (api,), warnings = specs(translated(sam))
    assert set(api.routes) == {
        HttpRouteSpec("ANY", "$default", "Fn", "2.0"),
        HttpRouteSpec("ANY", "/items/{id}", "Fn", "1.0"),
    }
    assert {route.route_key for route in api.routes} == {"$default", "ANY /items/{id}"}
    assert warnings == []


def test_a_route_to_something_else_is_named_not_served() -> None:
    body = {
        "paths": {
            "/x": {
                "get": {"x-amazon-apigateway-integration": {"type": "http_proxy", "uri": "u"}},
                "parameters": [],
            }
        }
    }
    resources = {"Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"Body": body}}}
    apis, warnings = http_api_specs(resources, {"Api": "AWS::ApiGatewayV2::Api"}, lambda _: "F")
    assert apis == []
    assert warnings == ["Api: route GET /x does not proxy to a function of this stack; not served"
                        " locally"]  # fmt: skip


FIFO_APP = REPO / "tests/acceptance/apps/apigw_http_api_fifo_sqs_lambda_sns_sam"


def fifo_app_resolve(value: Any) -> Any:
    """The deployer's resolver, reduced to what the app's API refers to."""
    known = {
        "Ref:MySQSQueue": "http://127.0.0.1:5000/123456789012/ServerlessLandSQS.fifo",
        "Ref:StageName": "prod",
        "Fn::GetAtt:MyAPiRole": "arn:aws:iam::123456789012:role/MyAPiRole",
    }
    if isinstance(value, dict) and len(value) == 1:
        ((key, argument),) = value.items()
        if key in ("Ref", "Fn::GetAtt"):
            target = argument if isinstance(argument, str) else argument[0]
            return known[f"{key}:{target}"]
        return value
    if isinstance(value, dict):
        return {key: fifo_app_resolve(item) for key, item in value.items()}
    return value


def test_an_sqs_sendmessage_route_included_from_api_yaml() -> None:
    sam = expand_includes(load_template(FIFO_APP / "template.yaml"), FIFO_APP)
    resources = translated(sam)["Resources"]
    expected = {logical_id: r["Type"] for logical_id, r in resources.items()}
    (api,), warnings = http_api_specs(resources, expected, lambda _: None, fifo_app_resolve)
    assert api == HttpApiSpec(
        "MyAPI",
        (
            HttpRouteSpec(
                "POST",
                "/",
                "",
                "1.0",
                ServiceIntegrationSpec(
                    "SQS-SendMessage",
                    (
                        ("MessageBody", "$request.body"),
                        ("MessageGroupId", "$request.body.messagegroup"),
                        ("QueueUrl", "http://127.0.0.1:5000/123456789012/ServerlessLandSQS.fifo"),
                    ),
                    "arn:aws:iam::123456789012:role/MyAPiRole",
                ),
            ),
        ),
        ("MyAPIStage",),
        ("prod",),
    )
    assert warnings == []


def service_route(integration: dict[str, Any]) -> dict[str, Any]:
    body = {"paths": {"/": {"post": {"x-amazon-apigateway-integration": integration}}}}
    return {"Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"Body": body}}}


def test_a_subtype_not_served_is_a_warning_and_a_bad_sqs_integration_an_error() -> None:
    expected = {"Api": "AWS::ApiGatewayV2::Api"}
    put_events = service_route({"type": "aws_proxy", "integrationSubtype": "EventBridge-PutEvents"})
    assert http_api_specs(put_events, expected, lambda _: None) == (
        [],
        [
            "Api: route POST / integrates EventBridge-PutEvents, which the local cloud does "
            "not serve (it serves SQS-SendMessage); not served locally"
        ],
    )
    no_queue = service_route(
        {
            "type": "aws_proxy",
            "integrationSubtype": "SQS-SendMessage",
            "requestParameters": {"MessageBody": "$request.body"},
        }
    )
    with pytest.raises(InvalidServiceIntegration, match=r"Api: route POST /: .* requires QueueUrl"):
        http_api_specs(no_queue, expected, lambda _: None)


def test_an_http_api_stage_without_a_stage_name_is_refused_naming_it() -> None:
    # StageName is a required property of AWS::ApiGatewayV2::Stage: CloudFormation refuses
    # the resource; the local cloud served such an API under a stage named "None".
    body = {
        "openapi": "3.0.1",
        "paths": {
            "/items": {
                "get": {
                    "x-amazon-apigateway-integration": {
                        "type": "aws_proxy",
                        "uri": {"Fn::Sub": "arn:${AWS::Partition}:lambda:${Fn.Arn}/invocations"},
                        "payloadFormatVersion": "2.0",
                    }
                }
            }
        },
    }
    resources: dict[str, Any] = {
        "Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"Body": body}},
        "Stage": {
            "Type": "AWS::ApiGatewayV2::Stage",
            "Properties": {"ApiId": {"Ref": "Api"}, "AutoDeploy": True},
        },
    }
    with pytest.raises(DeploymentError, match=r"^Stage: StageName is required$"):
        specs({"Resources": resources})
    resources["Stage"]["Properties"]["StageName"] = "prod"
    apis, _ = specs({"Resources": resources})
    assert [api.stage_names for api in apis] == [("prod",)]
