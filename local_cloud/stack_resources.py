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
- DeleteStack forgets them and deletes the API records, as CloudFormation deletes a
  stack's resources. Posting again for the same stack replaces what was posted.

moto's own listing is mended on the way: a resource its CloudFormation has no model for
is None in its resource map, and DescribeStackResource of a logical ID after one answered
500 (an AttributeError on None). Those are left out of the listings: they were not created.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("local_cloud.endpoint")

STACK_RESOURCES_PATH = "/_local_cloud/stack-resources"
REST_API = "AWS::ApiGateway::RestApi"
HTTP_API = "AWS::ApiGatewayV2::Api"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class RegistrationError(ValueError):
    """A registration the endpoint refuses; the message says what is wrong."""


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


@dataclass(frozen=True)
class Registration:
    account_id: str
    region: str
    stack_id: str
    resources: tuple[StackResource, ...]


def _text(source: Mapping[str, Any], name: str, where: str, *, required: bool = True) -> str:
    value = source.get(name, "")
    if not isinstance(value, str) or (required and not value):
        raise RegistrationError(f"{where}: {name} must be a non-empty string, got {value!r}")
    return value


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
              "endpoint"}  # fmt: skip
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
            self._by_stack[registration.stack_id] = registration

    def of(self, stack_id: str) -> tuple[StackResource, ...]:
        with self._lock:
            registration = self._by_stack.get(stack_id)
        return registration.resources if registration is not None else ()

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


REGISTERED = StackResources()  # the endpoint process's, read by the patched Stack


_MOTO_ORIGINALS: dict[str, Any] = {}  # moto's own, kept at the first patch


def list_stack_resources(registry: StackResources = REGISTERED) -> None:
    """Patch moto's CloudFormation: a stack lists the resources registered in `registry`
    for it (and none of its None entries); deleting it forgets them. Called again (the
    unit tests start the endpoint in their process), it wraps moto's own methods again,
    with the registry given then: never a wrapper around a wrapper."""
    from moto.cloudformation.models import CloudFormationBackend, Stack

    if not _MOTO_ORIGINALS:
        _MOTO_ORIGINALS["stack_resources"] = Stack.__dict__["stack_resources"]
        _MOTO_ORIGINALS["delete_stack"] = CloudFormationBackend.delete_stack
    original_delete: Any = _MOTO_ORIGINALS["delete_stack"]

    def stack_resources(self: Any) -> list[Any]:
        created = [resource for resource in self.resource_map.values() if resource is not None]
        names = {getattr(resource, "logical_resource_id", None) for resource in created}
        registered = [r for r in registry.of(self.stack_id) if r.logical_resource_id not in names]
        return [*created, *registered]

    def delete_stack(self: Any, name_or_stack_id: str) -> None:
        if name_or_stack_id in self.stacks:  # by name, moto calls this again with the ID
            registry.forget(name_or_stack_id)
        original_delete(self, name_or_stack_id)

    Stack.stack_resources = property(stack_resources)  # type: ignore[assignment,method-assign]
    CloudFormationBackend.delete_stack = delete_stack  # type: ignore[method-assign]


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
