"""Turn resolved template properties into the specs the runtime and pollers consume.
(The rules Lambda enforces on an SQS mapping are in event_sources/mapping_rules.py.)"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from local_cloud.errors import InvalidEventSourceMapping, InvalidServiceIntegration
from local_cloud.event_sources.filtering import (
    InvalidFilterCriteria,
    filter_patterns,
)
from local_cloud.http_api.service_integration import (
    SUBTYPES,
    IntegrationError,
    integration_spec,
)
from local_cloud.model import HttpApiSpec, HttpRouteSpec, SqsEventSourceSpec
from local_cloud.stack.errors import DeploymentError
from local_cloud.stack.served_apis import stage_name

# Resource types whose absence from DescribeStackResources is expected: the local cloud
# handles them itself (pollers run the mappings; alarms are put with PutMetricAlarm; queue
# policies are set with SetQueueAttributes, stored but, like every access policy on the
# endpoint, not enforced).
EVENT_SOURCE_MAPPING = "AWS::Lambda::EventSourceMapping"
ALARM = "AWS::CloudWatch::Alarm"
QUEUE_POLICY = "AWS::SQS::QueuePolicy"
HTTP_API = "AWS::ApiGatewayV2::Api"
HTTP_API_STAGE = "AWS::ApiGatewayV2::Stage"
_ANY_METHOD = "x-amazon-apigateway-any-method"
_OPENAPI_METHODS = {"get", "put", "post", "delete", "options", "head", "patch"}


def sqs_event_source_spec(
    logical_id: str, properties: Mapping[str, Any], *, function_name: str, queue_url: str
) -> SqsEventSourceSpec:
    """The spec of one mapping from its resolved properties (AWS's defaults filled in)."""
    scaling = properties.get("ScalingConfig") or {}
    maximum_concurrency = scaling.get("MaximumConcurrency")
    try:
        patterns = filter_patterns(properties.get("FilterCriteria"))
    except InvalidFilterCriteria as error:
        raise InvalidEventSourceMapping(
            f"{logical_id} (AWS::Lambda::EventSourceMapping): InvalidParameterValueException: "
            f"{error}"
        ) from None
    return SqsEventSourceSpec(
        logical_id=logical_id,
        function_name=function_name,
        queue_arn=str(properties["EventSourceArn"]),
        queue_url=queue_url,
        batch_size=int(properties.get("BatchSize", 10)),
        maximum_batching_window_seconds=int(properties.get("MaximumBatchingWindowInSeconds", 0)),
        report_batch_item_failures="ReportBatchItemFailures"
        in (properties.get("FunctionResponseTypes") or []),
        maximum_concurrency=int(maximum_concurrency) if maximum_concurrency is not None else None,
        enabled=_as_bool(properties.get("Enabled", True)),
        filter_patterns=patterns,
    )


def not_created(
    expected: Mapping[str, str], created: Iterable[str], handled_types: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """(logical ID, type) of every expected resource the endpoint did not create, except the
    types the local cloud handles itself. `expected` maps logical ID to type."""
    present = set(created)
    handled = set(handled_types)
    return sorted(
        (logical_id, resource_type)
        for logical_id, resource_type in expected.items()
        if logical_id not in present and resource_type not in handled
    )


def http_api_specs(
    resources: Mapping[str, Any],
    expected: Mapping[str, str],
    function_for_uri: Callable[[Any], str | None],
    resolve: Callable[[Any], Any] = lambda value: value,
) -> tuple[list[HttpApiSpec], list[str]]:
    """(the HTTP APIs the local cloud can serve, warnings). Only APIs defined by an OpenAPI
    `Body` (what SAM generates) are read. A route is served if it is a Lambda proxy to a
    function of this stack (`function_for_uri` maps an integration uri, unresolved, to the
    function's logical ID, or None) or an AWS service integration the local cloud serves
    (http_api/service_integration.py; its requestParameters evaluated with `resolve`); any
    other route is named in a warning. An integration API Gateway would refuse to create
    is an InvalidServiceIntegration."""
    apis: list[HttpApiSpec] = []
    warnings: list[str] = []
    for logical_id, resource_type in expected.items():
        properties = resources[logical_id].get("Properties") or {}
        if resource_type != HTTP_API or not isinstance(properties.get("Body"), Mapping):
            continue
        routes = []
        for path, operations in (properties["Body"].get("paths") or {}).items():
            for method, operation in (operations or {}).items():
                if method not in _OPENAPI_METHODS and method != _ANY_METHOD:
                    continue  # "parameters", extensions
                integration = (operation or {}).get("x-amazon-apigateway-integration") or {}
                route = f"{method.upper()} {path}"
                proxy = str(integration.get("type", "")).lower() == "aws_proxy"
                service = None
                function = None
                subtype = integration.get("integrationSubtype")
                if proxy and subtype is not None and subtype not in SUBTYPES:
                    warnings.append(
                        f"{logical_id}: route {route} integrates {subtype}, which the local "
                        f"cloud does not serve (it serves {', '.join(sorted(SUBTYPES))}); not "
                        "served locally"
                    )
                    continue
                if proxy and subtype is not None:
                    try:
                        service = integration_spec(
                            route,
                            subtype,
                            resolve(integration.get("requestParameters")),
                            resolve(integration.get("credentials", "")),
                        )
                    except IntegrationError as error:
                        raise InvalidServiceIntegration(f"{logical_id}: {error}") from None
                elif proxy:
                    function = function_for_uri(integration.get("uri"))
                if function is None and service is None:
                    warnings.append(
                        f"{logical_id}: route {route} does not proxy to a function of this "
                        "stack; not served locally"
                    )
                    continue
                routes.append(
                    HttpRouteSpec(
                        method="ANY" if method == _ANY_METHOD else method.upper(),
                        path="$default" if path in ("$default", "/$default") else str(path),
                        function_logical_id=function or "",
                        payload_format_version=str(integration.get("payloadFormatVersion", "2.0")),
                        integration=service,
                    )
                )
        stages = tuple(
            stage_id
            for stage_id, stage_type in expected.items()
            if stage_type == HTTP_API_STAGE
            and (resources[stage_id].get("Properties") or {}).get("ApiId") == {"Ref": logical_id}
        )
        names = tuple(_http_api_stage_name(stage_id, resources, resolve) for stage_id in stages)
        if routes:
            apis.append(HttpApiSpec(logical_id, tuple(routes), stages, names or ("$default",)))
    return apis, warnings


def _http_api_stage_name(
    stage_id: str, resources: Mapping[str, Any], resolve: Callable[[Any], Any]
) -> str:
    """An AWS::ApiGatewayV2::Stage's name. StageName is a required property of it (unlike
    AWS::ApiGateway::Stage's): CloudFormation refuses the resource without one."""
    properties = resources[stage_id].get("Properties") or {}
    if properties.get("StageName") is None:
        raise DeploymentError(f"{stage_id}: StageName is required")
    return stage_name(stage_id, properties, resolve)


def alarm_request(
    logical_id: str, properties: Mapping[str, Any], stack_name: str
) -> dict[str, Any]:
    """PutMetricAlarm's arguments for an AWS::CloudWatch::Alarm's resolved properties."""
    request = {key: value for key, value in properties.items() if key != "Tags"}
    request.setdefault("AlarmName", f"{stack_name}-{logical_id}")
    for key in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
        if key in request:
            request[key] = int(request[key])
    if "Threshold" in request:
        request["Threshold"] = float(request["Threshold"])
    if "ActionsEnabled" in request:
        request["ActionsEnabled"] = _as_bool(request["ActionsEnabled"])
    if properties.get("Tags"):
        request["Tags"] = list(properties["Tags"])
    return request


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)
