"""In the endpoint process: the resources of a stack the local cloud runs itself, listed
by the endpoint as AWS lists them.

The deployer keeps some resources from the endpoint's CloudFormation (local_cloud/stack/
deploy.py): the REST and HTTP APIs the local cloud serves (served_apis.py), the SQS event
source mappings its pollers run, and those the endpoint's CloudFormation skips and the
deployer creates through the endpoint's APIs (api_created.py). On AWS each is a resource of
the stack, and tools find them so: `aws cloudformation describe-stack-resource`, `aws
apigateway get-rest-apis`. Once the stack is created, the deployer tells the endpoint:

    POST /_local_cloud/stack-resources
        {"account_id": "123456789012", "region": "us-east-1", "stack_id": "arn:...",
         "resources": [{"logical_id": "ServerlessRestApi", "type": "AWS::ApiGateway::RestApi",
                        "physical_id": "a1b2c3d4e5", "name": "orders", "description": "",
                        "root_resource_id": "f6g7h8i9j0"}, ...]}
    -> 200 {"registered": 1}; 400 naming what is wrong (a stack that does not exist
       too, as CloudFormation's ValidationError is a 400): a 404 is an endpoint without
       this route (a LocalStack), which the deployer reports as such

and from then on, in moto's own answers (so in its wire format):

- DescribeStackResource, DescribeStackResources and ListStackResources of that stack list
  them, each with its type and the physical ID CloudFormation gives it (what Ref gives);
- an AWS::ApiGateway::RestApi is a REST API of moto's API Gateway (GetRestApis, GetRestApi:
  ID, name, description, its root resource's ID), an AWS::ApiGatewayV2::Api an HTTP API of
  its API Gateway v2 (GetApis, GetApi: ID, name, description, ApiEndpoint, protocol HTTP).
  The records hold no resources, methods, routes or stages: the local cloud serves those
  from the template (local_cloud/http_api), not from these records;
- an AWS::Lambda::EventSourceMapping, posted with its settings (below), is in Lambda's
  ListEventSourceMappings (filters FunctionName: a name, an ARN or a partial ARN, and
  EventSourceArn; pages of MaxItems, at most 100 as on Lambda, NextMarker/Marker) and
  GetEventSourceMapping, in Lambda's shape: UUID, EventSourceMappingArn, EventSourceArn,
  FunctionArn, BatchSize, MaximumBatchingWindowInSeconds, State Enabled/Disabled,
  StateTransitionReason USER_INITIATED, LastModified (when it was posted),
  FunctionResponseTypes, and FilterCriteria and ScalingConfig where set. moto's own
  mappings (none, unless a caller created one itself) are listed after them; an unknown
  UUID is moto's answer, Lambda's 404 ResourceNotFoundException. Update and delete stay
  moto's: the pollers run the template's mappings, and a change is a redeploy;
- DeleteStack forgets them and deletes the API records, as CloudFormation deletes a
  stack's resources. Posting again for the same stack replaces what was posted.

A mapping's record carries its settings as the pollers run them:

    {"logical_id": "WorkerQueueEvent", "type": "AWS::Lambda::EventSourceMapping",
     "physical_id": "<its UUID>",
     "mapping": {"arn": "arn:aws:lambda:...:event-source-mapping:<UUID>",
                 "function_arn": "arn:aws:lambda:...:function:worker",
                 "event_source_arn": "arn:aws:sqs:...:work", "batch_size": 10,
                 "maximum_batching_window_seconds": 0, "enabled": true,
                 "function_response_types": ["ReportBatchItemFailures"],
                 "filter_patterns": ["{...}"], "maximum_concurrency": null}}

moto's own listing is mended on the way: a resource its CloudFormation has no model for
is None in its resource map, and DescribeStackResource of a logical ID after one answered
500 (an AttributeError on None). Those are left out of the listings: they were not created.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("local_cloud.endpoint")

STACK_RESOURCES_PATH = "/_local_cloud/stack-resources"
REST_API = "AWS::ApiGateway::RestApi"
HTTP_API = "AWS::ApiGatewayV2::Api"
EVENT_SOURCE_MAPPING = "AWS::Lambda::EventSourceMapping"
LIST_PAGE_LIMIT = 100  # ListEventSourceMappings answers at most 100 per page, MaxItems or not

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class RegistrationError(ValueError):
    """A registration the endpoint refuses; the message says what is wrong."""


@dataclass(frozen=True)
class MappingSettings:
    """An SQS event source mapping the pollers run, as Lambda describes one."""

    arn: str
    function_arn: str
    event_source_arn: str
    batch_size: int
    maximum_batching_window_seconds: int
    enabled: bool
    function_response_types: tuple[str, ...] = ()
    filter_patterns: tuple[str, ...] = ()
    maximum_concurrency: int | None = None


@dataclass(frozen=True)
class StackResource:
    """One resource as moto's CloudFormation answers read it (the attribute names are the
    ones its StackResourceDTO and ListStackResources read)."""

    logical_resource_id: str
    cf_resource_type: str
    physical_resource_id: str
    name: str = ""
    description: str = ""
    root_resource_id: str = ""  # a REST API's
    endpoint: str = ""  # an HTTP API's ApiEndpoint
    mapping: MappingSettings | None = None  # an event source mapping's


@dataclass(frozen=True)
class Registration:
    account_id: str
    region: str
    stack_id: str
    resources: tuple[StackResource, ...]
    registered_at: float = 0.0  # epoch seconds: a mapping's LastModified


def _text(source: Mapping[str, Any], name: str, where: str, *, required: bool = True) -> str:
    value = source.get(name, "")
    if not isinstance(value, str) or (required and not value):
        raise RegistrationError(f"{where}: {name} must be a non-empty string, got {value!r}")
    return value


_MAPPING_FIELDS = {"arn", "function_arn", "event_source_arn", "batch_size",
                   "maximum_batching_window_seconds", "enabled", "function_response_types",
                   "filter_patterns", "maximum_concurrency"}  # fmt: skip


def _integer(source: Mapping[str, Any], name: str, where: str, *, optional: bool = False) -> Any:
    value = source.get(name)
    if optional and value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RegistrationError(f"{where}: {name} must be a non-negative integer, got {value!r}")
    return value


def _strings(source: Mapping[str, Any], name: str, where: str) -> tuple[str, ...]:
    value = source.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RegistrationError(f"{where}: {name} must be a list of strings, got {value!r}")
    return tuple(value)


def _mapping(item: Mapping[str, Any], kind: str, where: str) -> MappingSettings | None:
    """An event source mapping's settings: required for one, refused for anything else."""
    settings = item.get("mapping")
    if kind != EVENT_SOURCE_MAPPING:
        if settings is not None:
            raise RegistrationError(f"{where}: mapping is for an {EVENT_SOURCE_MAPPING} only")
        return None
    if not isinstance(settings, Mapping):
        raise RegistrationError(f"{where}: mapping must be an object, got {settings!r}")
    where = f"{where} mapping"
    extra = sorted(set(settings) - _MAPPING_FIELDS)
    if extra:
        raise RegistrationError(f"{where}: unknown field(s): {', '.join(extra)}")
    enabled = settings.get("enabled")
    if not isinstance(enabled, bool):
        raise RegistrationError(f"{where}: enabled must be true or false, got {enabled!r}")
    return MappingSettings(
        arn=_text(settings, "arn", where),
        function_arn=_text(settings, "function_arn", where),
        event_source_arn=_text(settings, "event_source_arn", where),
        batch_size=_integer(settings, "batch_size", where),
        maximum_batching_window_seconds=_integer(
            settings, "maximum_batching_window_seconds", where
        ),
        enabled=enabled,
        function_response_types=_strings(settings, "function_response_types", where),
        filter_patterns=_strings(settings, "filter_patterns", where),
        maximum_concurrency=_integer(settings, "maximum_concurrency", where, optional=True),
    )


def parse_registration(body: Any) -> Registration:
    """The POSTed JSON, checked: every field named in the error when it is wrong."""
    if not isinstance(body, Mapping):
        raise RegistrationError(f"the body must be a JSON object, got {type(body).__name__}")
    unknown = sorted(set(body) - {"account_id", "region", "stack_id", "resources"})
    if unknown:
        raise RegistrationError(f"unknown field(s): {', '.join(unknown)}")
    listed = body.get("resources")
    if not isinstance(listed, list):
        raise RegistrationError(f"resources must be a list, got {listed!r}")
    fields = {"logical_id", "type", "physical_id", "name", "description", "root_resource_id",
              "endpoint", "mapping"}  # fmt: skip
    resources: list[StackResource] = []
    seen: set[str] = set()
    for index, item in enumerate(listed):
        where = f"resources[{index}]"
        if not isinstance(item, Mapping):
            raise RegistrationError(f"{where} must be an object, got {item!r}")
        extra = sorted(set(item) - fields)
        if extra:
            raise RegistrationError(f"{where}: unknown field(s): {', '.join(extra)}")
        logical_id = _text(item, "logical_id", where)
        where = f"{where} ({logical_id})"
        if logical_id in seen:
            raise RegistrationError(f"{where}: listed twice")
        seen.add(logical_id)
        kind = _text(item, "type", where)
        if not kind.startswith("AWS::") or kind.count("::") != 2:
            raise RegistrationError(f"{where}: type {kind!r} is not a resource type")
        resource = StackResource(
            logical_resource_id=logical_id,
            cf_resource_type=kind,
            physical_resource_id=_text(item, "physical_id", where),
            name=_text(item, "name", where, required=kind in (REST_API, HTTP_API)),
            description=_text(item, "description", where, required=False),
            root_resource_id=_text(item, "root_resource_id", where, required=kind == REST_API),
            endpoint=_text(item, "endpoint", where, required=kind == HTTP_API),
            mapping=_mapping(item, kind, where),
        )
        resources.append(resource)
    return Registration(
        account_id=_text(body, "account_id", "the body"),
        region=_text(body, "region", "the body"),
        stack_id=_text(body, "stack_id", "the body"),
        resources=tuple(resources),
    )


class StackResources:
    """What was registered, by stack ID; the API records it made in moto's backends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_stack: dict[str, Registration] = {}

    def register(self, registration: Registration) -> None:
        """Record the stack's resources (the stack must exist: LookupError if not), and
        make an API record for each API, replacing what an earlier one made."""
        stack = _stack(registration)
        if stack is None:
            raise LookupError(
                f"no stack {registration.stack_id} in account {registration.account_id}, "
                f"region {registration.region}"
            )
        with self._lock:
            previous = self._by_stack.get(registration.stack_id)
            if previous is not None:
                _delete_api_records(previous)
            _create_api_records(registration)
            self._by_stack[registration.stack_id] = dataclasses.replace(
                registration, registered_at=time.time()
            )

    def of(self, stack_id: str) -> tuple[StackResource, ...]:
        with self._lock:
            registration = self._by_stack.get(stack_id)
        return registration.resources if registration is not None else ()

    def event_source_mappings(self, account_id: str, region: str) -> list[dict[str, Any]]:
        """Lambda's description of each mapping registered in the account and region, in
        the order posted."""
        with self._lock:
            registrations = list(self._by_stack.values())
        return [
            mapping_configuration(resource, registration.registered_at)
            for registration in registrations
            if (registration.account_id, registration.region) == (account_id, region)
            for resource in registration.resources
            if resource.mapping is not None
        ]

    def forget(self, stack_id: str) -> None:
        with self._lock:
            registration = self._by_stack.pop(stack_id, None)
            if registration is not None:
                _delete_api_records(registration)


def _stack(registration: Registration) -> Any:
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends[registration.account_id][registration.region]
    return backend.stacks.get(registration.stack_id)


def _create_api_records(registration: Registration) -> None:
    from moto.apigateway.models import RestAPI, apigateway_backends
    from moto.apigatewayv2.models import Api, apigatewayv2_backends

    account, region = registration.account_id, registration.region
    for resource in registration.resources:
        if resource.cf_resource_type == REST_API:
            # Abstract to mypy only: the CloudFormation hooks it lacks are never called
            # on a record no template created.
            rest = RestAPI(  # type: ignore[abstract]
                resource.physical_resource_id,
                account,
                region,
                resource.name,
                resource.description,
            )
            # The root resource under the ID Fn::GetAtt RootResourceId gave the template.
            root = rest.resources.pop(rest.root_resource_id)
            root.id = resource.root_resource_id
            rest.resources[root.id] = root
            rest.root_resource_id = root.id
            apigateway_backends[account][region].apis[rest.id] = rest
        elif resource.cf_resource_type == HTTP_API:
            backend = apigatewayv2_backends[account][region]
            http = Api(
                region=region,
                name=resource.name,
                api_key_selection_expression="",
                cors_configuration=None,
                description=resource.description,
                disable_execute_api_endpoint="",
                disable_schema_validation="",
                protocol_type="HTTP",
                route_selection_expression="",
                tags={},
                version="",
                backend=backend,
            )
            # moto draws a random ID; the API's is the one the template's references got.
            http.api_id = resource.physical_resource_id
            http.api_endpoint = resource.endpoint
            http.arn = f"{http.arn.rsplit('/', 1)[0]}/{http.api_id}"
            backend.apis[http.api_id] = http


def _delete_api_records(registration: Registration) -> None:
    from moto.apigateway.models import apigateway_backends
    from moto.apigatewayv2.models import apigatewayv2_backends

    account, region = registration.account_id, registration.region
    for resource in registration.resources:
        if resource.cf_resource_type == REST_API:
            apigateway_backends[account][region].apis.pop(resource.physical_resource_id, None)
        elif resource.cf_resource_type == HTTP_API:
            apigatewayv2_backends[account][region].apis.pop(resource.physical_resource_id, None)


def mapping_configuration(resource: StackResource, last_modified: float) -> dict[str, Any]:
    """Lambda's EventSourceMappingConfiguration of a registered mapping."""
    settings = resource.mapping
    assert settings is not None
    configuration: dict[str, Any] = {
        "UUID": resource.physical_resource_id,
        "EventSourceMappingArn": settings.arn,
        "EventSourceArn": settings.event_source_arn,
        "FunctionArn": settings.function_arn,
        "BatchSize": settings.batch_size,
        "MaximumBatchingWindowInSeconds": settings.maximum_batching_window_seconds,
        "State": "Enabled" if settings.enabled else "Disabled",
        "StateTransitionReason": "USER_INITIATED",
        "LastModified": last_modified,
        "FunctionResponseTypes": list(settings.function_response_types),
    }
    if settings.filter_patterns:
        configuration["FilterCriteria"] = {
            "Filters": [{"Pattern": pattern} for pattern in settings.filter_patterns]
        }
    if settings.maximum_concurrency is not None:
        configuration["ScalingConfig"] = {"MaximumConcurrency": settings.maximum_concurrency}
    return configuration


# The forms Lambda accepts for FunctionName (its pattern in botocore's service model): a
# name, a name with a qualifier, a partial ARN (123456789012:function:name) or an ARN.
_FUNCTION_NAME = re.compile(
    r"(?:arn:(?:aws[a-zA-Z-]*)?:lambda:)?(?:(?P<region>[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?(?:function:)?(?P<name>[a-zA-Z0-9_.-]+)"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?"
)


def _function_parts(name_or_arn: str) -> dict[str, str | None] | None:
    match = _FUNCTION_NAME.fullmatch(name_or_arn)
    return match.groupdict() if match else None


def function_matches(function_name: str, function_arn: str) -> bool:
    """Whether a mapping on `function_arn` is one ListEventSourceMappings' FunctionName
    filter selects: the same function (and qualifier), in the region and account the
    filter names, if it names them."""
    wanted, actual = _function_parts(function_name), _function_parts(function_arn)
    if wanted is None or actual is None:
        return False
    return (wanted["name"], wanted["qualifier"]) == (actual["name"], actual["qualifier"]) and all(
        wanted[part] in (None, actual[part]) for part in ("region", "account")
    )


def _lambda_error(status: int, code: str, message: str) -> tuple[int, dict[str, Any], str]:
    """An error in Lambda's REST-JSON form (botocore reads the code from the header)."""
    body = json.dumps({"Type": "User", "Message": message})
    return status, {"x-amzn-errortype": code, "status": status}, body


def list_event_source_mappings_answer(
    registered: list[dict[str, Any]], own: list[dict[str, Any]], query: Mapping[str, list[str]]
) -> tuple[int, dict[str, Any], str]:
    """ListEventSourceMappings: the registered mappings, then moto's own, filtered by
    FunctionName and EventSourceArn, one page of at most MaxItems (and 100)."""

    def first(name: str) -> str | None:
        values = query.get(name)
        return values[0] if values else None

    mappings = [*registered, *own]
    source_arn, function_name = first("EventSourceArn"), first("FunctionName")
    if source_arn:
        mappings = [m for m in mappings if m.get("EventSourceArn") == source_arn]
    if function_name:
        mappings = [m for m in mappings if function_matches(function_name, m["FunctionArn"])]
    limit = LIST_PAGE_LIMIT
    max_items = first("MaxItems")
    if max_items is not None:
        if not max_items.isdigit() or not 1 <= int(max_items) <= 10000:
            return _lambda_error(
                400, "InvalidParameterValueException", f"Invalid MaxItems: {max_items}"
            )
        limit = min(int(max_items), LIST_PAGE_LIMIT)
    start = 0
    marker = first("Marker")
    if marker:
        if not marker.isdigit() or int(marker) > len(mappings):
            return _lambda_error(400, "InvalidParameterValueException", f"Invalid Marker: {marker}")
        start = int(marker)
    page: dict[str, Any] = {"EventSourceMappings": mappings[start : start + limit]}
    if start + limit < len(mappings):
        page["NextMarker"] = str(start + limit)
    return 200, {}, json.dumps(page)


REGISTERED = StackResources()  # the endpoint process's, read by the patched Stack


_MOTO_ORIGINALS: dict[str, Any] = {}  # moto's own, kept at the first patch


def list_stack_resources(registry: StackResources = REGISTERED) -> None:
    """Patch moto's CloudFormation: a stack lists the resources registered in `registry`
    for it (and none of its None entries); deleting it forgets them. And its Lambda: the
    registered event source mappings are listed and described. Called again (the unit
    tests start the endpoint in their process), it wraps moto's own methods again, with
    the registry given then: never a wrapper around a wrapper."""
    from moto.awslambda.responses import LambdaResponse
    from moto.cloudformation.models import CloudFormationBackend, Stack

    if not _MOTO_ORIGINALS:
        _MOTO_ORIGINALS["stack_resources"] = Stack.__dict__["stack_resources"]
        _MOTO_ORIGINALS["delete_stack"] = CloudFormationBackend.delete_stack
        _MOTO_ORIGINALS["get_event_source_mapping"] = LambdaResponse.get_event_source_mapping
    original_delete: Any = _MOTO_ORIGINALS["delete_stack"]
    original_get: Any = _MOTO_ORIGINALS["get_event_source_mapping"]

    def stack_resources(self: Any) -> list[Any]:
        created = [resource for resource in self.resource_map.values() if resource is not None]
        names = {getattr(resource, "logical_resource_id", None) for resource in created}
        registered = [r for r in registry.of(self.stack_id) if r.logical_resource_id not in names]
        return [*created, *registered]

    def delete_stack(self: Any, name_or_stack_id: str) -> None:
        if name_or_stack_id in self.stacks:  # by name, moto calls this again with the ID
            registry.forget(name_or_stack_id)
        original_delete(self, name_or_stack_id)

    def list_event_source_mappings(self: Any) -> Any:
        backend = self.backend
        own = backend.list_event_source_mappings(None, None)
        return list_event_source_mappings_answer(
            registry.event_source_mappings(backend.account_id, backend.region_name),
            [esm.get_configuration() for esm in own],
            self.querystring,
        )

    def get_event_source_mapping(self: Any) -> Any:
        uuid = self.path.rstrip("/").split("/")[-1]
        backend = self.backend
        for mapping in registry.event_source_mappings(backend.account_id, backend.region_name):
            if mapping["UUID"] == uuid:
                return 200, {}, json.dumps(mapping)
        return original_get(self)  # moto's own, or its 404 ResourceNotFoundException

    Stack.stack_resources = property(stack_resources)  # type: ignore[assignment,method-assign]
    CloudFormationBackend.delete_stack = delete_stack  # type: ignore[method-assign]
    LambdaResponse.list_event_source_mappings = list_event_source_mappings  # type: ignore[method-assign]
    LambdaResponse.get_event_source_mapping = get_event_source_mapping  # type: ignore[method-assign]


class WithStackResources:
    """WSGI middleware: answers STACK_RESOURCES_PATH, passes everything else on."""

    def __init__(self, app: WsgiApp, registry: StackResources = REGISTERED) -> None:
        self.app = app
        self.registry = registry

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").rstrip("/") != STACK_RESOURCES_PATH:
            return self.app(environ, start_response)
        if environ.get("REQUEST_METHOD") != "POST":
            return _answer(start_response, "405 Method Not Allowed", {"message": "POST only"})
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(length) or b"null")
            registration = parse_registration(body)
            self.registry.register(registration)
        except (ValueError, RegistrationError) as error:  # JSONDecodeError is a ValueError
            return _answer(start_response, "400 Bad Request", {"message": str(error)})
        except LookupError as error:  # no such stack (or region): the caller's mistake
            return _answer(start_response, "400 Bad Request", {"message": str(error.args[0])})
        logger.info(
            "stack %s: %d resource(s) the local cloud runs registered",
            registration.stack_id,
            len(registration.resources),
        )
        return _answer(start_response, "200 OK", {"registered": len(registration.resources)})


def _answer(start_response: StartResponse, status: str, body: Mapping[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]
