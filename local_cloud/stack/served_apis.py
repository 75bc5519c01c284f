"""The APIs the local cloud serves itself, taken out of what the endpoint creates.

moto's CloudFormation cannot create them: an AWS::ApiGateway::RestApi defined by an
OpenAPI `Body` (what SAM generates for `AWS::Serverless::Api` and `Events: Api`) fails
with `KeyError: 'Name'`, its Deployment with "The REST API doesn't contain any methods";
AWS::ApiGatewayV2::Api (HTTP APIs) it skips, leaving `${HttpApi}` unresolved. So these
resources (the API, its stages and deployments) are removed from the template the
endpoint gets, and every reference to them (Ref, Fn::GetAtt, `${Api}` in Fn::Sub) is
replaced by the value CloudFormation would give:

| resource | Ref | Fn::GetAtt |
| --- | --- | --- |
| AWS::ApiGateway::RestApi | the API ID | RestApiId, RootResourceId |
| AWS::ApiGateway::Deployment | the deployment ID | DeploymentId |
| AWS::ApiGateway::Stage | the stage name | |
| AWS::ApiGatewayV2::Api | the API ID | ApiId, ApiEndpoint |
| AWS::ApiGatewayV2::Stage | the stage name | |

(ApiEndpoint is https://{id}.execute-api.{region}.amazonaws.com.)

The API ID is `local_cloud.http_api.events.api_id(logical ID)`, the one the served API
puts in its events' requestContext.apiId. A URL an Output builds from it is AWS's URL;
the same path on the local server is `local_cloud.http_api.urls.local_url`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from local_cloud.http_api.events import api_id
from local_cloud.model import HttpRouteSpec, RestApiSpec, RestStageSpec
from local_cloud.stack.errors import DeploymentError
from local_cloud.stack.intrinsics import IntrinsicError, ResourceLookup
from local_cloud.stack.template import without_resources

REST_API = "AWS::ApiGateway::RestApi"
REST_DEPLOYMENT = "AWS::ApiGateway::Deployment"
REST_STAGE = "AWS::ApiGateway::Stage"
HTTP_API = "AWS::ApiGatewayV2::Api"
HTTP_API_STAGE = "AWS::ApiGatewayV2::Stage"

_ANY_METHOD = "x-amazon-apigateway-any-method"
_OPENAPI_METHODS = {"get", "put", "post", "delete", "options", "head", "patch"}
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


@dataclass(frozen=True)
class ServedValue:
    """What Ref and Fn::GetAtt of one served resource give."""

    resource_type: str
    ref: str
    attributes: Mapping[str, str] = field(default_factory=dict)

    def get_att(self, logical_id: str, attribute: str) -> str:
        if attribute not in self.attributes:
            known = ", ".join(sorted(self.attributes)) or "none"
            raise DeploymentError(
                f"Fn::GetAtt {logical_id}.{attribute}: {self.resource_type} served by the "
                f"local cloud has no such attribute (it gives: {known})"
            )
        return self.attributes[attribute]


def _api_of(properties: Mapping[str, Any], key: str) -> str | None:
    target = properties.get(key)
    if isinstance(target, Mapping) and isinstance(target.get("Ref"), str):
        return str(target["Ref"])
    return None


def served_resources(template: Mapping[str, Any]) -> dict[str, str]:
    """Logical ID -> type of every resource the local cloud serves instead of the
    endpoint: APIs defined by an OpenAPI `Body`, and the stages and deployments that `Ref`
    them. (A REST API built from AWS::ApiGateway::Resource and ::Method resources is left
    to the endpoint.)"""
    resources = template.get("Resources") or {}
    apis = {
        logical_id: resource["Type"]
        for logical_id, resource in resources.items()
        if resource.get("Type") in (REST_API, HTTP_API)
        and isinstance((resource.get("Properties") or {}).get("Body"), Mapping)
    }
    served = dict(apis)
    for logical_id, resource in resources.items():
        kind = resource.get("Type")
        properties = resource.get("Properties") or {}
        api_key = "ApiId" if kind == HTTP_API_STAGE else "RestApiId"
        if kind in (REST_DEPLOYMENT, REST_STAGE, HTTP_API_STAGE) and (
            _api_of(properties, api_key) in apis
        ):
            served[logical_id] = kind
    return served


def served_values(
    template: Mapping[str, Any],
    served: Mapping[str, str],
    region: str,
    resolve: Callable[[Any], Any],
) -> dict[str, ServedValue]:
    """The values CloudFormation gives for each served resource (the table above).
    `resolve` evaluates a stage name (parameters and pseudo parameters only)."""
    resources = template["Resources"]
    values: dict[str, ServedValue] = {}
    for logical_id, kind in served.items():
        properties = resources[logical_id].get("Properties") or {}
        identifier = api_id(logical_id)
        if kind == REST_API:
            values[logical_id] = ServedValue(
                kind,
                identifier,
                {"RestApiId": identifier, "RootResourceId": api_id(f"{logical_id}/")},
            )
        elif kind == REST_DEPLOYMENT:
            deployment = identifier[:6]  # API Gateway's deployment IDs are 6 characters
            values[logical_id] = ServedValue(kind, deployment, {"DeploymentId": deployment})
        elif kind == HTTP_API:
            endpoint = f"https://{identifier}.execute-api.{region}.amazonaws.com"
            values[logical_id] = ServedValue(
                kind, identifier, {"ApiId": identifier, "ApiEndpoint": endpoint}
            )
        else:  # a stage: Ref gives its name
            values[logical_id] = ServedValue(kind, stage_name(logical_id, properties, resolve))
    return values


def stage_name(logical_id: str, properties: Mapping[str, Any], resolve: Callable) -> str:
    """A Stage's StageName, resolved: a non-empty string."""
    try:
        name = resolve(properties.get("StageName"))
    except IntrinsicError as error:
        raise DeploymentError(f"{logical_id}: StageName: {error}") from error
    if not isinstance(name, str) or not name:
        raise DeploymentError(f"{logical_id}: StageName {name!r} is not a stage name")
    return name


def for_endpoint(template: Mapping[str, Any], values: Mapping[str, ServedValue]) -> dict[str, Any]:
    """The template without the served resources, every reference to them replaced by
    its value (in the other resources and in Outputs), DependsOn on them dropped."""
    result = without_resources(template, values)
    resources = result["Resources"]
    result["Resources"] = {
        logical_id: _substitute(resource, values) for logical_id, resource in resources.items()
    }
    if "Outputs" in result:
        result["Outputs"] = _substitute(result["Outputs"], values)
    return result


def _substitute(value: Any, values: Mapping[str, ServedValue]) -> Any:
    if isinstance(value, list):
        return [_substitute(item, values) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Ref" and argument in values:
            return values[argument].ref
        if key == "Fn::GetAtt":
            target = argument.split(".", 1) if isinstance(argument, str) else argument
            if isinstance(target, list) and len(target) == 2 and target[0] in values:
                return values[target[0]].get_att(target[0], str(target[1]))
        if key == "Fn::Sub":
            return {"Fn::Sub": _substitute_sub(argument, values)}
    return {key: _substitute(item, values) for key, item in value.items()}


def _substitute_sub(argument: Any, values: Mapping[str, ServedValue]) -> Any:
    if isinstance(argument, str):
        text, variables = argument, {}
    elif isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str):
        text, variables = argument[0], _substitute(argument[1], values)
    else:
        return argument  # malformed: left for the endpoint to reject with its message

    def replace(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name in variables:
            return match.group(0)
        logical_id, _, attribute = name.partition(".")
        if logical_id not in values:
            return match.group(0)
        if attribute:
            return values[logical_id].get_att(logical_id, attribute)
        return values[logical_id].ref

    replaced = _SUB_VARIABLE.sub(replace, text)
    return replaced if isinstance(argument, str) else [replaced, variables]


@dataclass
class ServedLookup:
    """A ResourceLookup answering for the served resources, and asking `deployed` (the
    endpoint's resources) for every other one."""

    values: Mapping[str, ServedValue]
    deployed: ResourceLookup

    def ref(self, logical_id: str) -> str:
        if logical_id in self.values:
            return self.values[logical_id].ref
        return self.deployed.ref(logical_id)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if logical_id in self.values:
            try:
                return self.values[logical_id].get_att(logical_id, attribute)
            except DeploymentError as error:
                raise IntrinsicError(str(error)) from None
        return self.deployed.get_att(logical_id, attribute)


def rest_api_specs(
    resources: Mapping[str, Any],
    expected: Mapping[str, str],
    function_for_uri: Callable[[Any], str | None],
    resolve: Callable[[Any], Any],
) -> tuple[list[RestApiSpec], list[str]]:
    """(the REST APIs the local cloud can serve, warnings). Routes are read from the API's
    OpenAPI `Body` (Swagger 2.0 or OpenAPI 3); a route whose integration is not a Lambda
    proxy (`aws_proxy`) to a function of this stack, or that names an authorizer the local
    cloud does not run, is named in a warning. The stages are the AWS::ApiGateway::Stage
    resources of the API and the stage a Deployment's StageName creates."""
    apis: list[RestApiSpec] = []
    warnings: list[str] = []
    for logical_id, resource_type in expected.items():
        properties = resources[logical_id].get("Properties") or {}
        if resource_type != REST_API or not isinstance(properties.get("Body"), Mapping):
            continue
        body = properties["Body"]
        routes = []
        for path, operations in (body.get("paths") or {}).items():
            for method, operation in (operations or {}).items():
                if method not in _OPENAPI_METHODS and method != _ANY_METHOD:
                    continue  # "parameters", extensions
                route = f"{'ANY' if method == _ANY_METHOD else method.upper()} {path}"
                integration = (operation or {}).get("x-amazon-apigateway-integration") or {}
                kind = str(integration.get("type", "")).lower()
                function = function_for_uri(integration.get("uri")) if kind == "aws_proxy" else None
                if function is None:
                    warnings.append(
                        f"{logical_id}: route {route} is not a Lambda proxy integration to a "
                        "function of this stack; not served locally"
                    )
                    continue
                if (operation or {}).get("security"):
                    warnings.append(
                        f"{logical_id}: route {route} names an authorizer or API key; the "
                        "local cloud serves it without authorizing requests"
                    )
                routes.append(
                    HttpRouteSpec(
                        method="ANY" if method == _ANY_METHOD else method.upper(),
                        path=str(path),
                        function_logical_id=function,
                        payload_format_version="1.0",
                    )
                )
        stages: dict[str, RestStageSpec] = {}
        deployments = []
        for other_id, other_type in expected.items():
            other = resources[other_id].get("Properties") or {}
            if other_type not in (REST_STAGE, REST_DEPLOYMENT):
                continue
            if _api_of(other, "RestApiId") != logical_id:
                continue
            if other_type == REST_DEPLOYMENT:
                deployments.append(other_id)
                if not other.get("StageName"):
                    continue
            name = stage_name(other_id, other, resolve)
            variables = resolve(other.get("Variables")) or {} if other_type == REST_STAGE else {}
            if name not in stages or other_type == REST_STAGE:  # a Stage's variables win
                stages[name] = RestStageSpec(
                    name,
                    other_id,
                    tuple((str(key), str(value)) for key, value in variables.items()),
                )
        if not stages:
            warnings.append(f"{logical_id}: no stage deploys this REST API; not served locally")
            continue
        if routes:
            apis.append(
                RestApiSpec(
                    logical_id,
                    tuple(routes),
                    tuple(stages.values()),
                    binary_media_types=_binary_media_types(properties, resolve),
                    deployment_logical_ids=tuple(deployments),
                )
            )
    return apis, warnings


def _binary_media_types(properties: Mapping[str, Any], resolve: Callable) -> tuple[str, ...]:
    """The Body's x-amazon-apigateway-binary-media-types and the BinaryMediaTypes property.
    A template writes "/" as "~1" (a JSON pointer escape) there: "image~1png"."""
    listed = [
        *(properties["Body"].get("x-amazon-apigateway-binary-media-types") or []),
        *(resolve(properties.get("BinaryMediaTypes")) or []),
    ]
    return tuple(dict.fromkeys(str(media_type).replace("~1", "/") for media_type in listed))
