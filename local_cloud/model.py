"""What the deployer hands to the Lambda emulation and the event source pollers.

The deployer (local_cloud.stack) reads a template, deploys it and describes the result
with these types; the runtime (local_cloud.lambda_runtime) and the pollers
(local_cloud.event_sources) consume them. Nothing here talks to AWS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class FunctionSpec:
    """One deployed function, resolved: every intrinsic already evaluated."""

    logical_id: str
    function_name: str  # the physical name, as GetFunction knows it
    handler: str  # "module.attr", e.g. "app.lambda_handler"
    runtime: str  # e.g. "python3.13"
    code_dir: Path  # what /var/task holds
    layer_dirs: tuple[Path, ...] = ()  # each one's contents is what /opt holds (python/ inside)
    timeout_seconds: int = 3
    memory_mb: int = 128
    architecture: str = "x86_64"
    environment: dict[str, str] = field(default_factory=dict)
    reserved_concurrency: int | None = None
    function_arn: str = ""


@dataclass(frozen=True)
class SqsEventSourceSpec:
    """One AWS::Lambda::EventSourceMapping from an SQS queue, resolved."""

    logical_id: str
    function_name: str
    queue_arn: str
    queue_url: str
    batch_size: int = 10
    maximum_batching_window_seconds: int = 0
    report_batch_item_failures: bool = False
    maximum_concurrency: int | None = None
    enabled: bool = True
    # FilterCriteria's Pattern strings, in order; () sends every message (filtering.py)
    filter_patterns: tuple[str, ...] = ()

    @property
    def is_fifo(self) -> bool:
        return self.queue_arn.endswith(".fifo")


@dataclass(frozen=True)
class ServiceIntegrationSpec:
    """An HTTP API route's AWS service integration (`aws_proxy` with an integrationSubtype,
    e.g. SQS-SendMessage): its request parameters, intrinsics resolved, each value a
    static string or a mapping expression evaluated per request ("$request.body.id")."""

    subtype: str
    request_parameters: tuple[tuple[str, str], ...]
    credentials_arn: str = ""  # the role API Gateway assumes; not checked locally


@dataclass(frozen=True)
class HttpRouteSpec:
    """One route of an HTTP API (AWS::ApiGatewayV2::Api), as its OpenAPI body declares it:
    a Lambda proxy to a function, or (function_logical_id "") an AWS service integration."""

    method: str  # "POST", ... or "ANY"
    path: str  # "/accounts", "/items/{id}", "/files/{proxy+}", or "$default"
    function_logical_id: str
    payload_format_version: str = "2.0"
    integration: ServiceIntegrationSpec | None = None

    @property
    def target(self) -> str:
        """What the route invokes, for logs: a function's logical ID or the subtype."""
        return self.integration.subtype if self.integration else self.function_logical_id

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass(frozen=True)
class HttpApiSpec:
    """An HTTP API the local cloud can serve: its routes and the stages that deploy it."""

    logical_id: str
    routes: tuple[HttpRouteSpec, ...]
    stage_logical_ids: tuple[str, ...] = ()
    # The stages' names: `$default` serves at the root, any other name under /{name}
    # (https://{api-id}.execute-api.{region}.amazonaws.com/prod/...).
    stage_names: tuple[str, ...] = ("$default",)


@dataclass(frozen=True)
class RestStageSpec:
    """A stage of a REST API: its name (the first segment of every URL path) and its
    stage variables. `logical_id` is the AWS::ApiGateway::Stage or, for the stage a
    Deployment's StageName creates, the AWS::ApiGateway::Deployment."""

    name: str
    logical_id: str
    variables: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RestApiSpec:
    """A REST API (AWS::ApiGateway::RestApi, API Gateway v1) the local cloud can serve: its
    routes (every one a Lambda proxy integration, payload format 1.0), its stages, and
    the media types its body treats as binary (x-amazon-apigateway-binary-media-types)."""

    logical_id: str
    routes: tuple[HttpRouteSpec, ...]
    stages: tuple[RestStageSpec, ...]
    binary_media_types: tuple[str, ...] = ()
    deployment_logical_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResourceNote:
    """What the local cloud did with one resource of the template (or could not do), kept
    as data and put into words only where it is printed."""

    logical_id: str
    resource_type: str
    how: str  # "created with Subscribe: ...", "served locally at http://...", "not created"

    def __str__(self) -> str:
        return f"{self.logical_id} ({self.resource_type}): {self.how}"


NOT_CREATED = "not created: the endpoint cannot create this type"


@dataclass(frozen=True)
class DeployedStack:
    stack_name: str
    endpoint_url: str
    region: str
    outputs: dict[str, str]
    functions: tuple[FunctionSpec, ...]
    sqs_event_sources: tuple[SqsEventSourceSpec, ...]
    unsupported_resources: tuple[ResourceNote, ...] = ()  # reported, never hidden

    def function(self, name_or_logical_id: str) -> FunctionSpec:
        for spec in self.functions:
            if name_or_logical_id in (spec.logical_id, spec.function_name):
                return spec
        known = ", ".join(f.logical_id for f in self.functions)
        raise KeyError(
            f"no function {name_or_logical_id!r} in stack {self.stack_name}; known: {known}"
        )
