"""The resources of a stack the local cloud runs itself, made known to the endpoint so it
lists them as AWS does (local_cloud/stack_resources.py, POST /_local_cloud/stack-resources).

Three kinds never reach the endpoint's CloudFormation, or reach it and are skipped there:

- the APIs the local cloud serves, their stages and deployments (served_apis.py): the
  physical ID is what Ref gave the template (the API ID, the stage name, the deployment
  ID); an API also has its name (the Name property, else the OpenAPI Body's info.title,
  which SAM sets to the stack name, as API Gateway names an imported API) and
  description, a REST API its root resource's ID, an HTTP API its ApiEndpoint;
- the SQS event source mappings the pollers run: a mapping's physical ID on AWS is its
  UUID; here the UUID the template's references to it resolve to (local_values.py,
  derived from the stack name and the logical ID), so Ref and the listing agree; with its
  settings as the pollers run them, so Lambda's ListEventSourceMappings and
  GetEventSourceMapping describe it (mapping_settings below);
- the resources created beside CloudFormation (api_created.py): the physical ID their
  creation returned; a queue policy's, which has none to return, is CloudFormation's form
  for it, `<stack>-<LogicalId>-<suffix>`.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from local_cloud.model import FunctionSpec, SqsEventSourceSpec
from local_cloud.stack.errors import DeploymentError
from local_cloud.stack.intrinsics import IntrinsicError
from local_cloud.stack.served_apis import HTTP_API, REST_API, ServedValue
from local_cloud.stack_resources import EVENT_SOURCE_MAPPING, STACK_RESOURCES_PATH

Record = dict[str, Any]


def served_records(
    resources: Mapping[str, Any],
    values: Mapping[str, ServedValue],
    present: Iterable[str],
    resolve: Callable[[Any], Any],
    warnings: list[str],
) -> list[Record]:
    """One record per served resource in `present` (its Condition holds, not skipped)."""
    records: list[Record] = []
    for logical_id in present:
        if logical_id not in values:
            continue
        value = values[logical_id]
        record = {"logical_id": logical_id, "type": value.resource_type, "physical_id": value.ref}
        if value.resource_type in (REST_API, HTTP_API):
            properties = resources[logical_id].get("Properties") or {}
            info = (properties.get("Body") or {}).get("info") or {}
            record["name"] = (
                _text(
                    logical_id,
                    "name",
                    (properties.get("Name"), info.get("title")),
                    resolve,
                    warnings,
                )
                or logical_id
            )
            record["description"] = _text(
                logical_id, "description", (properties.get("Description"), info.get("description")),
                resolve, warnings,
            )  # fmt: skip
            if value.resource_type == REST_API:
                record["root_resource_id"] = value.attributes["RootResourceId"]
            else:
                record["endpoint"] = value.attributes["ApiEndpoint"]
        records.append(record)
    return records


def _text(
    logical_id: str,
    what: str,
    candidates: tuple[Any, ...],
    resolve: Callable[[Any], Any],
    warnings: list[str],
) -> str:
    """The first candidate that is set, resolved to a string; "" if none is."""
    for candidate in candidates:
        if candidate is None:
            continue
        try:
            value = resolve(candidate)
        except IntrinsicError as error:
            warnings.append(f"{logical_id}: its {what} as the endpoint lists it: {error}")
            return ""
        return value if isinstance(value, str) else json.dumps(value)
    return ""


def with_mapping_settings(
    records: Iterable[Record],
    sources: Iterable[SqsEventSourceSpec],
    functions: Iterable[FunctionSpec],
    values: Mapping[str, ServedValue],
) -> list[Record]:
    """The records, each event source mapping's with its settings (the `mapping` field
    the endpoint reads, local_cloud/stack_resources.py) from the spec its poller runs."""
    by_logical_id = {source.logical_id: source for source in sources}
    arns = {function.function_name: function.function_arn for function in functions}
    completed: list[Record] = []
    for record in records:
        source = by_logical_id.get(record["logical_id"])
        if record["type"] == EVENT_SOURCE_MAPPING and source is not None:
            record = {
                **record,
                "mapping": {
                    "arn": values[record["logical_id"]].attributes["EventSourceMappingArn"],
                    "function_arn": arns[source.function_name],
                    "event_source_arn": source.queue_arn,
                    "batch_size": source.batch_size,
                    "maximum_batching_window_seconds": source.maximum_batching_window_seconds,
                    "enabled": source.enabled,
                    "function_response_types": (
                        ["ReportBatchItemFailures"] if source.report_batch_item_failures else []
                    ),
                    "filter_patterns": list(source.filter_patterns),
                    "maximum_concurrency": source.maximum_concurrency,
                },
            }
        completed.append(record)
    return completed


def created_record(
    stack_name: str, logical_id: str, resource_type: str, physical_id: str | None
) -> Record:
    if physical_id is None:
        suffix = hashlib.sha256(f"{stack_name}/{logical_id}".encode()).hexdigest()[:13].upper()
        physical_id = f"{stack_name}-{logical_id}-{suffix}"
    return {"logical_id": logical_id, "type": resource_type, "physical_id": physical_id}


def register(
    endpoint_url: str,
    account_id: str,
    region: str,
    stack_id: str,
    records: list[Record],
    timeout: float = 30.0,
) -> str | None:
    """Tell the endpoint; a warning (not an error) if it is not a local cloud endpoint
    (a LocalStack: the route is not found, 404), DeploymentError if it refuses them."""
    body = json.dumps(
        {"account_id": account_id, "region": region, "stack_id": stack_id, "resources": records}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - the endpoint's own URL
        f"{endpoint_url.rstrip('/')}{STACK_RESOURCES_PATH}",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        try:
            message = str(json.loads(detail)["message"])
        except (ValueError, KeyError, TypeError):
            message = None
        if error.code == 404:
            return (
                f"the endpoint at {endpoint_url} is not a local cloud endpoint: the "
                f"resources it does not run ({len(records)}) are not listed in its "
                "DescribeStackResources, nor its served APIs in GetRestApis/GetApis, nor its "
                "mappings in ListEventSourceMappings"
            )
        raise DeploymentError(
            f"the endpoint refused the stack's locally run resources: HTTP {error.code}: "
            f"{message or detail}"
        ) from None
    except (urllib.error.URLError, OSError) as error:
        raise DeploymentError(
            f"could not tell the endpoint at {endpoint_url} the stack's locally run "
            f"resources: {error}"
        ) from error
    return None
