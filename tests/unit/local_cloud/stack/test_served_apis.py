"""The APIs the local cloud serves, read from SAM's translation: what is taken out of the
endpoint's template, what references to them resolve to, and the REST API specs."""

from __future__ import annotations

import re
from typing import Any

import pytest

from local_cloud.http_api.events import api_id
from local_cloud.http_api.urls import local_url, served_resource_types
from local_cloud.model import HttpRouteSpec, RestApiSpec, RestStageSpec
from local_cloud.stack.errors import DeploymentError
from local_cloud.stack.intrinsics import IntrinsicError, IntrinsicResolver, pseudo_parameters
from local_cloud.stack.served_apis import (
    ServedLookup,
    for_endpoint,
    rest_api_specs,
    served_resources,
    served_values,
)
from local_cloud.stack.template import translate

INLINE = "def handler(event, context):\n    return {'statusCode': 200}\n"


def function(events: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "Runtime": "python3.13",
            "Handler": "index.handler",
            "InlineCode": INLINE,
            "Events": events,
        },
    }


HELLO = {  # sam init's hello world, inline
    "Transform": "AWS::Serverless-2016-10-31",
    "Resources": {
        "HelloWorldFunction": function(
            {"HelloWorld": {"Type": "Api", "Properties": {"Path": "/hello", "Method": "get"}}}
        )
    },
    "Outputs": {
        "HelloWorldApi": {
            "Value": {
                "Fn::Sub": "https://${ServerlessRestApi}.execute-api.${AWS::Region}"
                ".amazonaws.com/Prod/hello/"
            }
        },
        "ApiId": {"Value": {"Ref": "ServerlessRestApi"}},
    },
}


def integration(function_id: str) -> dict[str, Any]:
    return {
        "type": "aws_proxy",
        "httpMethod": "POST",
        "uri": {
            "Fn::Sub": "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
            f"${{{function_id}.Arn}}/invocations"
        },
    }


EXPLICIT = {
    "Transform": "AWS::Serverless-2016-10-31",
    "Parameters": {"StageParam": {"Type": "String", "Default": "live"}},
    "Resources": {
        "ItemsApi": {
            "Type": "AWS::Serverless::Api",
            "Properties": {
                "StageName": {"Ref": "StageParam"},
                "Variables": {"greeting": "hello"},
                "BinaryMediaTypes": ["image~1png"],
                "DefinitionBody": {
                    "swagger": "2.0",
                    "info": {"title": "items", "version": "1"},
                    "paths": {
                        "/items/{id}": {
                            "get": {"x-amazon-apigateway-integration": integration("ItemsFunction")}
                        },
                        "/files/{proxy+}": {
                            "x-amazon-apigateway-any-method": {
                                "x-amazon-apigateway-integration": integration("ItemsFunction")
                            }
                        },
                        "/mock": {"get": {"x-amazon-apigateway-integration": {"type": "mock"}}},
                    },
                },
            },
        },
        "ItemsFunction": function({}),
        "HttpApi": {"Type": "AWS::Serverless::HttpApi"},
        "HttpFunction": function(
            {
                "Any": {
                    "Type": "HttpApi",
                    "Properties": {"ApiId": {"Ref": "HttpApi"}, "Path": "/x", "Method": "get"},
                }
            }
        ),
        "Tagged": {
            "Type": "AWS::SSM::Parameter",
            "DependsOn": ["ItemsApi", "HttpApi"],
            "Properties": {
                "Type": "String",
                "Value": {
                    "Fn::Sub": "${ItemsApi}/${!ItemsApi}/${Other}/${ItemsApi.RootResourceId}"
                },
                "Name": {"Fn::Sub": ["${ItemsApi}-${Shadow}", {"Shadow": {"Ref": "HttpApi"}}]},
                # a Sub's own variable of the same name wins over the resource
                "Description": {"Fn::Sub": ["${HttpApi}", {"HttpApi": "given"}]},
            },
        },
    },
    "Outputs": {
        "ItemsUrl": {
            "Value": {
                "Fn::Sub": "https://${ItemsApi}.execute-api.${AWS::Region}.amazonaws.com/${StageParam}"
            }
        },
        "HttpUrl": {
            "Value": {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.amazonaws.com/"}
        },
        "HttpEndpoint": {"Value": {"Fn::GetAtt": ["HttpApi", "ApiEndpoint"]}},
    },
}


def translated(sam: dict[str, Any]) -> dict[str, Any]:
    import copy

    sam = copy.deepcopy(sam)
    defaults = {name: str(p["Default"]) for name, p in (sam.get("Parameters") or {}).items()}
    return translate(sam, defaults, "us-east-1")


def resolver(template: dict[str, Any]) -> IntrinsicResolver:
    defaults = {name: str(p["Default"]) for name, p in (template.get("Parameters") or {}).items()}
    return IntrinsicResolver(
        template=template,
        parameters=defaults,
        pseudo=pseudo_parameters("us-east-1", "123456789012", "stack"),
    )


def by_sub_reference(uri: Any) -> str | None:
    match = re.search(r"\$\{(\w+)\.Arn\}", str(uri.get("Fn::Sub")) if isinstance(uri, dict) else "")
    return match.group(1) if match else None


def stage_and_deployment(template: dict[str, Any], api: str) -> tuple[str, str]:
    resources = template["Resources"]
    stage = next(k for k, r in resources.items() if r["Type"] == "AWS::ApiGateway::Stage")
    deployment = next(k for k, r in resources.items() if r["Type"] == "AWS::ApiGateway::Deployment")
    assert resources[stage]["Properties"]["RestApiId"] == {"Ref": api}
    return stage, deployment


def test_the_implicit_api_is_served_and_its_references_get_cloudformations_values() -> None:
    template = translated(HELLO)
    stage, deployment = stage_and_deployment(template, "ServerlessRestApi")
    served = served_resources(template)
    assert served == {
        "ServerlessRestApi": "AWS::ApiGateway::RestApi",
        stage: "AWS::ApiGateway::Stage",
        deployment: "AWS::ApiGateway::Deployment",
    }
    values = served_values(template, served, "us-east-1", resolver(template).resolve)
    for_moto = for_endpoint(template, values)
    assert not set(served) & set(for_moto["Resources"])
    identifier = api_id("ServerlessRestApi")
    assert for_moto["Outputs"]["HelloWorldApi"]["Value"] == {
        "Fn::Sub": f"https://{identifier}.execute-api.${{AWS::Region}}.amazonaws.com/Prod/hello/"
    }
    assert for_moto["Outputs"]["ApiId"]["Value"] == identifier
    permission = next(
        r for r in for_moto["Resources"].values() if r["Type"] == "AWS::Lambda::Permission"
    )
    assert permission["Properties"]["SourceArn"]["Fn::Sub"][1]["__ApiId__"] == identifier
    assert "ServerlessRestApi" not in str(for_moto)  # no reference left for the endpoint
    assert values[stage].ref == "Prod"
    assert len(values[deployment].ref) == 6
    # the template given is not changed
    assert "ServerlessRestApi" in template["Resources"]


def test_the_implicit_api_spec_has_its_route_and_both_stages() -> None:
    template = translated(HELLO)
    stage, deployment = stage_and_deployment(template, "ServerlessRestApi")
    expected = {k: r["Type"] for k, r in template["Resources"].items()}
    apis, warnings = rest_api_specs(
        template["Resources"], expected, by_sub_reference, resolver(template).resolve
    )
    assert warnings == []
    # SAM's Deployment carries StageName "Stage", a stage AWS creates too
    assert apis == [
        RestApiSpec(
            "ServerlessRestApi",
            (HttpRouteSpec("GET", "/hello", "HelloWorldFunction", "1.0"),),
            (RestStageSpec("Stage", deployment), RestStageSpec("Prod", stage)),
            deployment_logical_ids=(deployment,),
        )
    ]
    assert served_resource_types([], apis) == served_resources(template)


def test_an_explicit_api_with_a_definition_body() -> None:
    template = translated(EXPLICIT)
    stage, _deployment = stage_and_deployment(template, "ItemsApi")
    expected = {k: r["Type"] for k, r in template["Resources"].items()}
    apis, warnings = rest_api_specs(
        template["Resources"], expected, by_sub_reference, resolver(template).resolve
    )
    (api,) = apis
    assert api.logical_id == "ItemsApi"
    assert set(api.routes) == {
        HttpRouteSpec("GET", "/items/{id}", "ItemsFunction", "1.0"),
        HttpRouteSpec("ANY", "/files/{proxy+}", "ItemsFunction", "1.0"),
    }
    live = next(s for s in api.stages if s.name == "live")
    assert live == RestStageSpec("live", stage, (("greeting", "hello"),))
    assert api.binary_media_types == ("image/png",)
    assert warnings == [
        "ItemsApi: route GET /mock is not a Lambda proxy integration to a function of this "
        "stack; not served locally"
    ]


def test_references_in_subs_outputs_and_depends_on_are_replaced() -> None:
    template = translated(EXPLICIT)
    served = served_resources(template)
    assert served["HttpApi"] == "AWS::ApiGatewayV2::Api"
    assert "AWS::ApiGatewayV2::Stage" in served.values()
    values = served_values(template, served, "us-east-1", resolver(template).resolve)
    for_moto = for_endpoint(template, values)
    items, http = api_id("ItemsApi"), api_id("HttpApi")
    parameter = for_moto["Resources"]["Tagged"]
    assert "DependsOn" not in parameter
    assert parameter["Properties"]["Value"] == {
        "Fn::Sub": f"{items}/${{!ItemsApi}}/${{Other}}/{api_id('ItemsApi/')}"
    }
    assert parameter["Properties"]["Name"] == {
        "Fn::Sub": [f"{items}-${{Shadow}}", {"Shadow": http}]
    }
    assert parameter["Properties"]["Description"] == {
        "Fn::Sub": ["${HttpApi}", {"HttpApi": "given"}]
    }
    outputs = for_moto["Outputs"]
    assert outputs["HttpUrl"]["Value"] == {
        "Fn::Sub": f"https://{http}.execute-api.${{AWS::Region}}.amazonaws.com/"
    }
    assert outputs["HttpEndpoint"]["Value"] == f"https://{http}.execute-api.us-east-1.amazonaws.com"
    assert values["ItemsApi"].ref == items
    # the deployer's resolver sees the same values
    lookup = ServedLookup(values, deployed=_NothingDeployed())
    full = IntrinsicResolver(
        template=template,
        parameters={"StageParam": "live"},
        pseudo=pseudo_parameters("us-east-1", "123456789012", "stack"),
        resources=lookup,
    )
    url = full.resolve(template["Outputs"]["ItemsUrl"]["Value"])
    assert url == f"https://{items}.execute-api.us-east-1.amazonaws.com/live"
    assert local_url(url, "http://127.0.0.1:3000") == "http://127.0.0.1:3000/live"
    with pytest.raises(IntrinsicError, match="resource was not created"):
        full.resolve({"Ref": "ItemsFunction"})


def test_an_attribute_a_served_api_does_not_have_is_named() -> None:
    template = translated(HELLO)
    template["Outputs"]["Bad"] = {"Value": {"Fn::GetAtt": ["ServerlessRestApi", "Arn"]}}
    values = served_values(
        template, served_resources(template), "us-east-1", resolver(template).resolve
    )
    with pytest.raises(DeploymentError, match=r"ServerlessRestApi\.Arn.*RestApiId, RootResourceId"):
        for_endpoint(template, values)


def test_a_rest_api_without_a_body_is_left_to_the_endpoint() -> None:
    template = {
        "Resources": {
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "plain"}},
            "Stage": {
                "Type": "AWS::ApiGateway::Stage",
                "Properties": {"RestApiId": {"Ref": "Api"}, "StageName": "v1"},
            },
        }
    }
    assert served_resources(template) == {}


def test_local_url_replaces_only_an_execute_api_origin() -> None:
    aws = "https://abcdef1234.execute-api.eu-west-1.amazonaws.com/Prod/hello/?q=1"
    assert local_url(aws, "http://127.0.0.1:3000/") == "http://127.0.0.1:3000/Prod/hello/?q=1"
    with pytest.raises(ValueError, match="not an API Gateway URL"):
        local_url("https://example.com/Prod/hello", "http://127.0.0.1:3000")


class _NothingDeployed:
    def ref(self, logical_id: str) -> str:
        raise IntrinsicError(f"Ref {logical_id}: resource was not created")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        raise IntrinsicError(f"Fn::GetAtt {logical_id}.{attribute}: resource was not created")
