"""Turn resolved template properties into the specs the runtime and pollers consume,
and enforce the rules AWS enforces when it creates an SQS event source mapping."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from local_cloud.event_sources.filtering import (
    InvalidFilterCriteria,
    compile_filters,
    filter_patterns,
)
from local_cloud.model import HttpApiSpec, HttpRouteSpec, SqsEventSourceSpec
from local_cloud.stack.errors import DeploymentError

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

_MAX_BATCH_SIZE_STANDARD = 10_000
_MAX_BATCH_SIZE_FIFO = 10
_MAX_BATCHING_WINDOW_SECONDS = 300


def sqs_event_source_spec(
    logical_id: str, properties: Mapping[str, Any], *, function_name: str, queue_url: str
) -> SqsEventSourceSpec:
    """The spec of one mapping from its resolved properties (AWS's defaults filled in)."""
    scaling = properties.get("ScalingConfig") or {}
    maximum_concurrency = scaling.get("MaximumConcurrency")
    try:
        patterns = filter_patterns(properties.get("FilterCriteria"))
    except InvalidFilterCriteria as error:
        raise DeploymentError(
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


def check_sqs_event_source(
    spec: SqsEventSourceSpec, *, function_timeout_seconds: int, visibility_timeout_seconds: int
) -> None:
    """Raise DeploymentError with Lambda's own message where CreateEventSourceMapping fails."""
    problems = []
    if function_timeout_seconds > visibility_timeout_seconds:
        problems.append(
            f"Queue visibility timeout: {visibility_timeout_seconds} seconds is less than "
            f"Function timeout: {function_timeout_seconds} seconds"
        )
    window = spec.maximum_batching_window_seconds
    if spec.is_fifo and window > 0:
        problems.append("Batching window is not supported for FIFO queues")
    if not 0 <= window <= _MAX_BATCHING_WINDOW_SECONDS:
        problems.append(
            f"MaximumBatchingWindowInSeconds {window} is outside 0-{_MAX_BATCHING_WINDOW_SECONDS}"
        )
    limit = _MAX_BATCH_SIZE_FIFO if spec.is_fifo else _MAX_BATCH_SIZE_STANDARD
    if not 1 <= spec.batch_size <= limit:
        problems.append(f"BatchSize {spec.batch_size} is outside 1-{limit} for this queue")
    if spec.batch_size > 10 and window < 1 and not spec.is_fifo:
        problems.append(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size "
            "is greater than 10"
        )
    concurrency = spec.maximum_concurrency
    if concurrency is not None and not 2 <= concurrency <= 1000:
        problems.append(f"ScalingConfig.MaximumConcurrency {concurrency} is outside 2-1000")
    try:
        compile_filters(spec.filter_patterns)
    except InvalidFilterCriteria as error:
        problems.append(str(error))
    if problems:
        raise DeploymentError(
            f"{spec.logical_id} (AWS::Lambda::EventSourceMapping): InvalidParameterValueException: "
            + "; ".join(problems)
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
) -> tuple[list[HttpApiSpec], list[str]]:
    """(the HTTP APIs the local cloud can serve, warnings). Only APIs defined by an OpenAPI
    `Body` (what SAM generates) are read; routes whose integration is not a Lambda proxy to
    a function of this stack are named in a warning. `function_for_uri` maps an integration
    uri (unresolved) to the logical ID of its function, or None."""
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
                function = (
                    function_for_uri(integration.get("uri"))
                    if integration.get("type") == "aws_proxy"
                    else None
                )
                if function is None:
                    warnings.append(
                        f"{logical_id}: route {route} does not proxy to a function of this "
                        "stack; not served locally"
                    )
                    continue
                routes.append(
                    HttpRouteSpec(
                        method="ANY" if method == _ANY_METHOD else method.upper(),
                        path="$default" if path in ("$default", "/$default") else str(path),
                        function_logical_id=function,
                        payload_format_version=str(integration.get("payloadFormatVersion", "2.0")),
                    )
                )
        stages = tuple(
            stage_id
            for stage_id, stage_type in expected.items()
            if stage_type == HTTP_API_STAGE
            and (resources[stage_id].get("Properties") or {}).get("ApiId") == {"Ref": logical_id}
        )
        if routes:
            apis.append(HttpApiSpec(logical_id, tuple(routes), stages))
    return apis, warnings


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
