"""Deploy a SAM template onto the local endpoint and describe what runs: a DeployedStack.

Steps: load and check parameters; build each function and layer on this host; zip and
upload them to S3 on the endpoint; translate SAM to CloudFormation offline; hand moto's
CloudFormation everything except the SQS event source mappings (moto would run those in
Docker; our pollers run them instead); create the stack; put the alarms moto skips;
report every other resource it did not create; resolve each function and mapping.

Redeploying a stack that already exists on the endpoint deletes it and creates it again:
moto's UpdateStack replaces some resources and updates others in place, so a fresh stack
is the only result that matches the template exactly. Data in its tables and queues is
lost on redeploy, as it would be in a new AWS account.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

import local_cloud.stack.api_created as api_created
from local_cloud.aws_session import aws_session
from local_cloud.event_sources import mapping_rules
from local_cloud.lambda_runtime.worker import runtime_note
from local_cloud.model import (
    NOT_CREATED,
    DeployedStack,
    FunctionSpec,
    HttpApiSpec,
    ResourceNote,
    RestApiSpec,
    SqsEventSourceSpec,
)
from local_cloud.phases import Stopwatch
from local_cloud.stack.build import Builder, DependencyCache, user_cache_dir
from local_cloud.stack.errors import BuildError, DeploymentError, TemplateError
from local_cloud.stack.include import expand_includes
from local_cloud.stack.intrinsics import IntrinsicError, IntrinsicResolver, pseudo_parameters
from local_cloud.stack.lifecycle import (
    create_stack,
    describe_resources,
    roll_back,
)
from local_cloud.stack.local_resources import (
    created_record,
    register,
    served_records,
    with_mapping_settings,
)
from local_cloud.stack.local_values import (
    capacity_provider_values,
    event_source_mapping_values,
)
from local_cloud.stack.package import S3ArtifactStore, zip_tree
from local_cloud.stack.resources import DeployedResource, StackResources, queue_name
from local_cloud.stack.served_apis import (
    ServedLookup,
    for_endpoint,
    rest_api_specs,
    served_resources,
    served_values,
)
from local_cloud.stack.specs import (
    EVENT_SOURCE_MAPPING,
    http_api_specs,
    not_created,
    sqs_event_source_spec,
)
from local_cloud.stack.template import (
    effective_parameters,
    load_template,
    translate,
    typed_parameters,
    without_resources,
)

logger = logging.getLogger(__name__)

ARTIFACTS_BUCKET = "local-cloud-artifacts"
_FUNCTION_DEFAULTS = {"Timeout": 3, "MemorySize": 128}
_QUEUE_DEFAULT_VISIBILITY_TIMEOUT = 30


@dataclass(frozen=True)
class DeployOptions:
    template_path: Path
    stack_name: str
    endpoint_url: str
    region: str = "us-east-1"
    parameter_overrides: Mapping[str, str] = field(default_factory=dict)
    state_dir: Path = Path(".local-cloud")  # this checkout's builds, zips, translations
    # The dependency cache, shared by checkouts; None: build.user_cache_dir()
    cache_dir: Path | None = None
    constraints: Path | None = None  # pip -c file; default: the nearest constraints.txt
    # Resources left out of what the endpoint creates (`up --skip-resource`), reported so
    skip_resources: tuple[str, ...] = ()
    endpoint_log: Path | None = None  # named in errors the endpoint caused


@dataclass(frozen=True)
class Deployment:
    """A deployed stack plus what the deployer did to get there, for reports and tests."""

    stack: DeployedStack
    runtime_dir: Path  # Lambda's /var/runtime for the workers (boto3 only)
    handled_locally: tuple[ResourceNote, ...]  # resources moto does not run, and how they are
    warnings: tuple[str, ...]
    queue_urls: Mapping[str, str]  # logical ID -> URL of every queue of the stack
    dependency_installs: int  # requirement sets installed by pip (0 with a warm cache)
    # per phase: build, zip, upload, translate, create, resolve (LocalCloud adds its own)
    seconds: Mapping[str, float]
    # HTTP APIs moto does not create; LocalCloud serves them (they stay in unsupported_resources
    # until something does)
    http_apis: tuple[HttpApiSpec, ...] = ()
    rest_apis: tuple[RestApiSpec, ...] = ()  # likewise for REST APIs (served_apis.py)
    builds_reused: int = 0  # function and layer builds found current, not rebuilt


class _Clients:
    def __init__(self, endpoint_url: str, region: str) -> None:
        self._session = aws_session(region)
        self._endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(service, endpoint_url=self._endpoint_url)
        return self._clients[service]


@dataclass
class PreparedStack:
    """What the offline half of a deployment made (prepare_stack): the template, checked
    parameters, the builds and their zips. No endpoint was needed to make it."""

    sam: dict[str, Any]  # the template; deploy_prepared points its code at S3
    parameter_values: dict[str, str]
    state_dir: Path
    build: _Artifacts
    archives: dict[str, Path]  # logical ID -> the zip of its build
    runtime_dir: Path
    dependency_installs: int
    builds_reused: int  # builds found current, not rebuilt (build.py)
    warnings: list[str]
    seconds: dict[str, float]


def deploy_stack(options: DeployOptions) -> Deployment:
    """Build, package and deploy options' template: prepare_stack, then deploy_prepared."""
    return deploy_prepared(prepare_stack(options), options)


def prepare_stack(
    options: DeployOptions,
    template: dict[str, Any] | None = None,
    check: Callable[[], None] | None = None,
) -> PreparedStack:
    """The offline half: load the template (or take `template`, already loaded from
    options.template_path; it is modified), check the parameters, build every function
    and layer, zip each build. options.endpoint_url is not used: this runs while the
    endpoint is still starting (LocalCloud). check() is called before each build; what
    it raises ends the preparation."""
    seconds: dict[str, float] = {}
    watch = Stopwatch(seconds)
    watch.start()
    template_dir = options.template_path.resolve().parent
    state_dir = options.state_dir.resolve()
    sam = template if template is not None else load_template(options.template_path)
    # What `sam deploy` packages and CloudFormation includes before the SAM transform
    sam = expand_includes(sam, template_dir)
    parameter_values = effective_parameters(sam, options.parameter_overrides)

    constraints = options.constraints or _nearest_constraints(template_dir)
    cache_dir = options.cache_dir if options.cache_dir is not None else user_cache_dir()
    cache = DependencyCache(cache_dir.resolve() / "dependencies", constraints=constraints)
    builder = Builder(state_dir / "build" / "stacks" / options.stack_name, cache)
    warnings: list[str] = []
    build = _build_artifacts(sam, template_dir, builder, warnings, check or (lambda: None))
    runtime_dir = builder.runtime()
    watch.stop("build")

    watch.start()
    archives = {
        location: zip_tree(directory, state_dir / "build" / "zips", builder.keys.get(directory))
        for location, (directory, _) in build.uploads.items()
    }
    watch.stop("zip")
    return PreparedStack(
        sam=sam,
        parameter_values=parameter_values,
        state_dir=state_dir,
        build=build,
        archives=archives,
        runtime_dir=runtime_dir,
        dependency_installs=len(cache.installs),
        builds_reused=len(builder.reused),
        warnings=warnings,
        seconds=seconds,
    )


def deploy_prepared(
    prepared: PreparedStack,
    options: DeployOptions,
    before_create: Callable[[], None] | None = None,
) -> Deployment:
    """The half on the endpoint: upload the zips, translate, create the stack, resolve
    what runs. prepared comes from prepare_stack(options), used once. before_create() is
    called once the zips are uploaded, before the stack is created (LocalCloud waits there
    for the endpoint's seeding, which runs meanwhile); what it raises ends the deploy."""
    seconds = dict(prepared.seconds)
    watch = Stopwatch(seconds)
    sam, build, warnings = prepared.sam, prepared.build, prepared.warnings
    parameter_values = prepared.parameter_values
    watch.start()
    clients = _Clients(options.endpoint_url, options.region)
    account_id = str(clients("sts").get_caller_identity()["Account"])
    store = S3ArtifactStore(clients("s3"), f"{ARTIFACTS_BUCKET}-{account_id}-{options.region}")
    store.ensure_bucket()
    code_dirs: dict[str, Path] = {}  # S3 key -> the build it holds
    for location, (directory, set_location) in build.uploads.items():
        bucket, key = store.upload(prepared.archives[location])
        set_location(bucket, key)
        code_dirs[key] = directory
        logger.debug("packaged %s as s3://%s/%s", location, bucket, key)
    watch.stop("upload")

    if before_create is not None:
        watch.start()
        before_create()
        watch.stop("waited before create")
    watch.start()
    cloudformation = translate(
        sam,
        parameter_values,
        options.region,
        cache_dir=prepared.state_dir / "build" / "translations",
    )
    watch.stop("translate")

    watch.start()
    check_skipped(cloudformation, options.skip_resources)
    # A mapping skipped with --skip-resource is left out with the rest: nothing polls it.
    for_moto, mappings = _without_event_source_mappings(
        without_resources(cloudformation, options.skip_resources)
    )
    # The APIs the local cloud serves are not the endpoint's to create (served_apis.py):
    # references to them get the values CloudFormation would give.
    before_create_resolve = IntrinsicResolver(
        template=cloudformation,
        parameters=typed_parameters(cloudformation, parameter_values),
        pseudo=pseudo_parameters(options.region, account_id, options.stack_name),
    ).resolve
    check_memory_sizes(cloudformation, before_create_resolve)
    served = served_values(
        cloudformation, served_resources(cloudformation), options.region, before_create_resolve
    )
    # Not the endpoint's, but referred to (local_values.py): moto fails on such a reference
    served.update(
        capacity_provider_values(
            cloudformation, options.stack_name, options.region, account_id, before_create_resolve
        )
    )
    served.update(
        event_source_mapping_values(cloudformation, options.stack_name, options.region, account_id)
    )
    for_moto = for_endpoint(for_moto, served)
    stack_id = create_stack(
        clients, options.stack_name, for_moto, parameter_values, options.endpoint_log
    )
    watch.stop("create")

    watch.start()
    described = describe_resources(clients, options.stack_name)
    resolver = IntrinsicResolver(
        template=cloudformation,
        parameters=typed_parameters(cloudformation, parameter_values),
        pseudo=pseudo_parameters(options.region, account_id, options.stack_name, stack_id),
        resources=ServedLookup(
            served, StackResources(described, options.region, account_id, clients)
        ),
    )
    expected = {
        logical_id: resource["Type"]
        for logical_id, resource in cloudformation["Resources"].items()
        if _condition_holds(resolver, resource)
    }
    handled_locally = [
        ResourceNote(logical_id, resource_type, "run by the local cloud's SQS poller")
        for logical_id, resource_type in expected.items()
        if resource_type == EVENT_SOURCE_MAPPING and logical_id in mappings
    ]
    missing = not_created(expected, described, handled_types=[EVENT_SOURCE_MAPPING])
    unsupported: list[ResourceNote] = [
        ResourceNote(logical_id, resource_type, SKIPPED)
        for logical_id, resource_type in expected.items()
        if resource_type == EVENT_SOURCE_MAPPING and logical_id not in mappings
    ]
    run_locally = [  # the endpoint lists them as the stack's (local_resources.py)
        *served_records(
            cloudformation["Resources"],
            served,
            [name for name in expected if name not in options.skip_resources],
            resolver.resolve,
            warnings,
        ),
    ]
    for logical_id, resource_type in missing:
        if logical_id in options.skip_resources:
            unsupported.append(ResourceNote(logical_id, resource_type, SKIPPED))
            continue
        if not api_created.creates(resource_type):
            unsupported.append(ResourceNote(logical_id, resource_type, NOT_CREATED))
            continue
        created = api_created.create(
            logical_id,
            resource_type,
            resolver.resolve(cloudformation["Resources"][logical_id].get("Properties", {})),
            clients,
            options.stack_name,
        )
        handled_locally.append(created.note)
        run_locally.append(
            created_record(options.stack_name, logical_id, resource_type, created.physical_id)
        )
        # Refs to it resolve from now on (the resolver reads this mapping).
        described[logical_id] = DeployedResource(logical_id, resource_type, created.physical_id)

    functions = _function_specs(
        cloudformation, expected, described, resolver, code_dirs, build, clients, warnings,
        options.endpoint_url,
    )  # fmt: skip
    try:
        sources = _sqs_event_sources(mappings, expected, resolver, functions, clients, warnings)
    except DeploymentError:
        # The mapping is part of the stack: AWS rolls the whole stack back.
        roll_back(clients, options.stack_name)
        raise
    http_apis, http_warnings = http_api_specs(
        cloudformation["Resources"],
        expected,
        _function_for_uri(resolver, functions),
        resolver.resolve,
    )
    warnings.extend(http_warnings)
    rest_apis, rest_warnings = rest_api_specs(
        cloudformation["Resources"],
        expected,
        _function_for_uri(resolver, functions),
        resolver.resolve,
    )
    warnings.extend(rest_warnings)
    run_locally = with_mapping_settings(run_locally, sources, functions.values(), served)
    not_listed = register(options.endpoint_url, account_id, options.region, stack_id, run_locally)
    if not_listed is not None:
        warnings.append(not_listed)
    outputs = _outputs(clients, options.stack_name)
    outputs.update(_outputs_moto_dropped(cloudformation, outputs, resolver, warnings))
    watch.stop("resolve")

    stack = DeployedStack(
        stack_name=options.stack_name,
        endpoint_url=options.endpoint_url,
        region=options.region,
        outputs=outputs,
        functions=tuple(functions.values()),
        sqs_event_sources=tuple(sources),
        unsupported_resources=tuple(unsupported),
    )
    return Deployment(
        stack=stack,
        runtime_dir=prepared.runtime_dir,
        handled_locally=tuple(handled_locally),
        warnings=tuple(warnings),
        queue_urls={
            resource.logical_id: resource.physical_id
            for resource in described.values()
            if resource.resource_type == "AWS::SQS::Queue" and resource.physical_id
        },
        dependency_installs=prepared.dependency_installs,
        seconds=seconds,
        builds_reused=prepared.builds_reused,
        http_apis=tuple(http_apis),
        rest_apis=tuple(rest_apis),
    )


def _nearest_constraints(directory: Path) -> Path | None:
    """The project's constraints.txt: in the template's directory or the nearest parent."""
    for candidate in (directory, *directory.parents):
        if (candidate / "constraints.txt").is_file():
            return candidate / "constraints.txt"
    return None


@dataclass
class _Artifacts:
    """What the builder made: uploads (logical ID -> build dir and a callback that points the
    template at its S3 location) and inline functions (logical ID -> build dir)."""

    uploads: dict[str, tuple[Path, Any]] = field(default_factory=dict)
    inline: dict[str, Path] = field(default_factory=dict)


# A function without CodeUri (nor one in Globals) is built from the template's directory, as
# `sam build` does (SAM CLI's SamBaseProvider.DEFAULT_CODEURI is ".", relative to the template).
DEFAULT_CODE_URI = "."


def _build_artifacts(
    sam: dict[str, Any],
    template_dir: Path,
    builder: Builder,
    warnings: list[str],
    check: Callable[[], None],
) -> _Artifacts:
    """Build every function and layer whose code is a local path; rewrite the template to
    the S3 location each will have (as `sam package` does)."""
    build = _Artifacts()
    function_globals = (sam.get("Globals") or {}).get("Function") or {}
    for logical_id, resource in sam["Resources"].items():
        check()
        kind = resource.get("Type")
        properties = resource.setdefault("Properties", {})
        if kind == "AWS::Serverless::Function":
            if properties.get("PackageType", function_globals.get("PackageType")) == "Image":
                warnings.append(f"{logical_id}: container-image functions cannot run locally")
                continue
            if "InlineCode" in properties:
                inline = builder.inline_function(logical_id, str(properties["InlineCode"]))
                build.inline[logical_id] = inline
                continue
            code_uri = properties.get("CodeUri", function_globals.get("CodeUri", DEFAULT_CODE_URI))
            source = _local_path(logical_id, "CodeUri", code_uri)
            directory = builder.function(logical_id, template_dir / source)
            build.uploads[logical_id] = (directory, _points_at_s3(properties, "CodeUri"))
        elif kind == "AWS::Lambda::Function" and isinstance(properties.get("Code"), str):
            source = _local_path(logical_id, "Code", properties["Code"])
            directory = builder.function(logical_id, template_dir / source)
            build.uploads[logical_id] = (
                directory,
                _points_at_s3(properties, "Code"),
            )
        elif kind == "AWS::Lambda::Function" and "ZipFile" in (properties.get("Code") or {}):
            inline = builder.inline_function(logical_id, str(properties["Code"]["ZipFile"]))
            build.inline[logical_id] = inline
        elif kind == "AWS::Serverless::LayerVersion":
            source = _local_path(logical_id, "ContentUri", properties.get("ContentUri"))
            directory = builder.layer(logical_id, template_dir / source)
            build.uploads[logical_id] = (
                directory,
                _points_at_s3(properties, "ContentUri"),
            )
        elif kind == "AWS::Lambda::LayerVersion" and isinstance(properties.get("Content"), str):
            source = _local_path(logical_id, "Content", properties["Content"])
            directory = builder.layer(logical_id, template_dir / source)
            build.uploads[logical_id] = (
                directory,
                _points_at_s3(properties, "Content"),
            )
    return build


def _local_path(logical_id: str, prop: str, value: Any) -> str:
    if not isinstance(value, str) or value.startswith("s3://"):
        raise BuildError(
            f"{logical_id}.{prop} is {value!r}: the local cloud builds from a local directory "
            "(a path relative to the template)"
        )
    return value


def _points_at_s3(properties: dict[str, Any], prop: str) -> Any:
    """A callback that sets prop to an S3 location: SAM's {Bucket, Key} for CodeUri and
    ContentUri, CloudFormation's {S3Bucket, S3Key} for Code and Content."""
    sam_style = prop.endswith("Uri")

    def set_location(bucket: str, key: str) -> None:
        if sam_style:
            properties[prop] = {"Bucket": bucket, "Key": key}
        else:
            properties[prop] = {"S3Bucket": bucket, "S3Key": key}

    return set_location


SKIPPED = "skipped with --skip-resource: not created"


def _without_event_source_mappings(
    template: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what moto gets, the mappings we keep). moto would run a mapping's function in
    Docker on every SendMessage; references to the removed IDs are dropped too."""
    mappings = {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == EVENT_SOURCE_MAPPING
    }
    return without_resources(template, mappings), mappings


# Lambda's bounds for MemorySize (CreateFunction, "Configure Lambda function memory"):
# 128 MB to 10,240 MB. moto's Lambda accepts any number, so the deploy checks it.
MEMORY_SIZE_MB = (128, 10240)


def check_memory_sizes(template: Mapping[str, Any], resolve: Callable[[Any], Any]) -> None:
    """TemplateError for a function whose MemorySize Lambda would refuse, with Lambda's
    wording, before anything is created (a function without one gets 128 MB)."""
    low, high = MEMORY_SIZE_MB
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        declared = (resource.get("Properties") or {}).get("MemorySize")
        if declared is None:
            continue
        value = resolve(declared)
        try:
            size = int(str(value))
        except ValueError:
            raise TemplateError(
                f"{logical_id}: MemorySize {value!r} is not a whole number of MB"
            ) from None
        if not low <= size <= high:
            bound = (
                f"greater than or equal to {low}" if size < low else f"less than or equal to {high}"
            )
            raise TemplateError(
                f"{logical_id}: 1 validation error detected: Value '{size}' at 'memorySize' "
                f"failed to satisfy constraint: Member must have value {bound}"
            )


def check_skipped(template: Mapping[str, Any], skip: Iterable[str]) -> None:
    """TemplateError for a --skip-resource that names no resource of the template."""
    unknown = sorted(set(skip) - set(template.get("Resources") or {}))
    if unknown:
        known = ", ".join(sorted(template.get("Resources") or {}))
        raise TemplateError(
            f"--skip-resource {', '.join(unknown)}: no such resource in the translated "
            f"template; its resources: {known}"
        )


def _outputs_moto_dropped(
    template: Mapping[str, Any],
    outputs: Mapping[str, str],
    resolver: IntrinsicResolver,
    warnings: list[str],
) -> dict[str, str]:
    """Outputs moto leaves out because they refer to a resource its CloudFormation skipped
    (a secret, a subscription: created afterwards by api_created.py), resolved as
    CloudFormation would; one that still cannot be resolved is a warning, not a guess."""
    found: dict[str, str] = {}
    for key, output in (template.get("Outputs") or {}).items():
        if key in outputs or not _condition_holds(resolver, output):
            continue
        try:
            value = resolver.resolve(output.get("Value"))
        except IntrinsicError as error:
            warnings.append(f"Output {key}: not available locally: {error}")
            continue
        found[key] = value if isinstance(value, str) else json.dumps(value)
    return found


def _condition_holds(resolver: IntrinsicResolver, resource: Mapping[str, Any]) -> bool:
    condition = resource.get("Condition")
    return condition is None or resolver.condition(str(condition))


def _function_specs(
    template: Mapping[str, Any],
    expected: Mapping[str, str],
    described: Mapping[str, DeployedResource],
    resolver: IntrinsicResolver,
    code_dirs: Mapping[str, Path],
    build: _Artifacts,
    clients: _Clients,
    warnings: list[str],
    endpoint_url: str,
) -> dict[str, FunctionSpec]:
    resources = template["Resources"]
    specs: dict[str, FunctionSpec] = {}
    for logical_id, resource_type in expected.items():
        if resource_type != "AWS::Lambda::Function" or logical_id not in described:
            continue
        properties = resources[logical_id].get("Properties", {})
        function_name = described[logical_id].physical_id or ""
        configuration = clients("lambda").get_function_configuration(FunctionName=function_name)
        code_dir = _code_dir(logical_id, properties, code_dirs, build)
        if code_dir is None:
            warnings.append(f"{logical_id}: its code is not built from this template; skipped")
            continue
        layer_dirs = []
        for layer in properties.get("Layers") or []:
            layer_dir = _layer_dir(layer, resources, code_dirs)
            if layer_dir is None:
                warnings.append(
                    f"{logical_id}: layer {layer!r} is not built from this template and is "
                    "not available locally"
                )
            else:
                layer_dirs.append(layer_dir)
        runtime = str(configuration.get("Runtime") or resolver.resolve(properties.get("Runtime")))
        note = runtime_note(runtime)
        if note is not None:
            warnings.append(f"{logical_id}: {note}")
        if properties.get("CapacityProviderConfig"):
            warnings.append(
                f"{logical_id}: CapacityProviderConfig: Lambda Managed Instances are not "
                "emulated; the function runs in local workers, one request at a time each"
            )
        reserved = resolver.resolve(properties.get("ReservedConcurrentExecutions"))
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            function_name=function_name,
            handler=str(configuration.get("Handler") or resolver.resolve(properties["Handler"])),
            runtime=runtime,
            code_dir=code_dir,
            layer_dirs=tuple(layer_dirs),
            timeout_seconds=int(configuration.get("Timeout") or _FUNCTION_DEFAULTS["Timeout"]),
            memory_mb=int(configuration.get("MemorySize") or _FUNCTION_DEFAULTS["MemorySize"]),
            architecture=str((resolver.resolve(properties.get("Architectures")) or ["x86_64"])[0]),
            environment=_environment(logical_id, properties, configuration, resolver)
            | {"AWS_ENDPOINT_URL": endpoint_url},
            reserved_concurrency=int(reserved) if reserved is not None else None,
            function_arn=str(configuration.get("FunctionArn", "")),
        )
    return specs


def _environment(
    logical_id: str,
    properties: Mapping[str, Any],
    configuration: Mapping[str, Any],
    resolver: IntrinsicResolver,
) -> dict[str, str]:
    """Variables as the endpoint holds them; any it left unresolved, resolved by us. (moto
    5.2 resolves Ref/GetAtt/Sub in variables; this keeps another endpoint honest too.)"""
    declared = (properties.get("Environment") or {}).get("Variables") or {}
    held = (configuration.get("Environment") or {}).get("Variables") or {}
    environment: dict[str, str] = {}
    for name, value in declared.items():
        current = held.get(name)
        if isinstance(current, str) and "Fn::" not in current and "'Ref'" not in current:
            environment[name] = current
            continue
        try:
            resolved = resolver.resolve(value)
        except IntrinsicError as error:
            raise DeploymentError(f"{logical_id}: environment variable {name}: {error}") from error
        if resolved is not None:
            environment[name] = resolved if isinstance(resolved, str) else str(resolved)
    return environment


def _code_dir(
    logical_id: str,
    properties: Mapping[str, Any],
    code_dirs: Mapping[str, Path],
    build: _Artifacts,
) -> Path | None:
    code = properties.get("Code") or {}
    if "S3Key" in code:
        return code_dirs.get(str(code["S3Key"]))
    if "ZipFile" in code:
        return build.inline.get(logical_id)
    return None


def _layer_dir(
    layer: Any, resources: Mapping[str, Any], code_dirs: Mapping[str, Path]
) -> Path | None:
    if not (isinstance(layer, dict) and "Ref" in layer):
        return None
    content = (resources.get(layer["Ref"]) or {}).get("Properties", {}).get("Content") or {}
    return code_dirs.get(str(content.get("S3Key")))


def _sqs_event_sources(
    mappings: Mapping[str, Any],
    expected: Mapping[str, str],
    resolver: IntrinsicResolver,
    functions: Mapping[str, FunctionSpec],
    clients: _Clients,
    warnings: list[str],
) -> list[SqsEventSourceSpec]:
    by_name = {spec.function_name: spec for spec in functions.values()}
    by_arn = {spec.function_arn: spec for spec in functions.values()}
    sources = []
    for logical_id, resource in mappings.items():
        if logical_id not in expected:  # its Condition is false
            continue
        properties = resolver.resolve(resource.get("Properties", {}))
        if "ProvisionedPollerConfig" in properties:
            warnings.append(
                f"{logical_id}: ProvisionedPollerConfig: provisioned mode is not emulated; "
                "the local poller runs the mapping as in on-demand mode"
            )
        source_arn = str(properties.get("EventSourceArn", ""))
        if not source_arn.startswith("arn:aws:sqs:"):
            raise DeploymentError(
                f"{logical_id} (AWS::Lambda::EventSourceMapping): source {source_arn!r} is not "
                "an SQS queue; the local cloud runs SQS event sources only"
            )
        target = str(properties.get("FunctionName", ""))
        function = by_name.get(target) or by_arn.get(target) or functions.get(target)
        if function is None:
            raise DeploymentError(
                f"{logical_id}: function {target!r} is not a function of this stack"
            )
        sqs = clients("sqs")
        try:
            queue_url = sqs.get_queue_url(QueueName=queue_name(source_arn))["QueueUrl"]
            attributes = sqs.get_queue_attributes(
                QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"]
            )["Attributes"]
        except ClientError as error:
            raise DeploymentError(f"{logical_id}: queue {source_arn} not found: {error}") from error
        spec = sqs_event_source_spec(
            logical_id, properties, function_name=function.function_name, queue_url=queue_url
        )
        mapping_rules.check(
            spec,
            function_timeout_seconds=function.timeout_seconds,
            visibility_timeout_seconds=int(
                attributes.get("VisibilityTimeout", _QUEUE_DEFAULT_VISIBILITY_TIMEOUT)
            ),
        )
        sources.append(spec)
    return sources


def _function_for_uri(
    resolver: IntrinsicResolver, functions: Mapping[str, FunctionSpec]
) -> Callable[[Any], str | None]:
    """Logical ID of the function an API integration uri (".../functions/<arn>/invocations")
    invokes, or None."""
    by_name = {spec.function_name: logical_id for logical_id, spec in functions.items()}

    def function_for_uri(uri: Any) -> str | None:
        try:
            resolved = str(resolver.resolve(uri))
        except IntrinsicError:
            return None
        match = re.search(r":function:([^/:]+)", resolved)
        return by_name.get(match.group(1)) if match else None

    return function_for_uri


def _outputs(clients: _Clients, stack_name: str) -> dict[str, str]:
    stack = clients("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    return {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}
