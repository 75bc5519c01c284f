"""Routes read from the translated template's OpenAPI body, as the deployer reads them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from local_cloud.model import HttpApiSpec, HttpRouteSpec
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
    overrides = {"SenderEmailAddress": "welcome@example.com"} if declared else {}
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
