"""A stack's life on the endpoint's CloudFormation: create it (afresh: an old one of the
same name is deleted first), wait for it, report the first cause when it fails, roll it
back, and list what it created. The deployer (deploy.py) decides what goes in it."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from local_cloud.cloudformation_errors import CANNOT_CREATE
from local_cloud.stack.errors import DeploymentError
from local_cloud.stack.resources import DeployedResource

logger = logging.getLogger("local_cloud.stack.deploy")

Clients = Callable[[str], Any]  # boto3 clients on the endpoint, by service name

_CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
_STACK_TIMEOUT_SECONDS = 120.0


def stack_exists(clients: Clients, stack_name: str) -> bool:
    try:
        stacks = clients("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError:
        return False
    return any(stack["StackStatus"] != "DELETE_COMPLETE" for stack in stacks)


def delete_stack(clients: Clients, stack_name: str) -> None:
    try:
        clients("cloudformation").delete_stack(StackName=stack_name)
    except ClientError as error:
        # moto deletes what it can, then answers the last resource's error (an EC2
        # DependencyViolation, say) with the stack already gone: only a stack that is still
        # there is a failure to delete it.
        if stack_exists(clients, stack_name):
            raise DeploymentError(f"DeleteStack {stack_name} failed: {error}") from error
        logger.info("stack %s deleted; DeleteStack answered: %s", stack_name, error)
    deadline = time.monotonic() + _STACK_TIMEOUT_SECONDS
    while stack_exists(clients, stack_name):
        if time.monotonic() > deadline:
            raise DeploymentError(f"stack {stack_name} was not deleted within the timeout")
        time.sleep(0.2)


def roll_back(clients: Clients, stack_name: str) -> None:
    """Delete what a failed deploy created, as AWS rolls back a failed CreateStack. Quietly:
    the caller raises the first cause, which a failure here must not replace."""
    try:
        delete_stack(clients, stack_name)
    except (ClientError, DeploymentError) as error:
        logger.info("rolling back stack %s after the failure: %s", stack_name, error)


def create_stack(
    clients: Clients,
    stack_name: str,
    template: dict[str, Any],
    parameters: Mapping[str, str],
    endpoint_log: Path | None = None,
) -> str:
    cloudformation = clients("cloudformation")
    if stack_exists(clients, stack_name):
        logger.info("stack %s exists on the endpoint: deleting it to create it afresh", stack_name)
        delete_stack(clients, stack_name)
    declared = template.get("Parameters") or {}
    try:
        stack_id = cloudformation.create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(template),
            Parameters=[
                {"ParameterKey": key, "ParameterValue": value}
                for key, value in parameters.items()
                if key in declared
            ],
            Capabilities=_CAPABILITIES,
        )["StackId"]
    # ResponseParserError: an answer that is not CloudFormation's (an HTML 500); not a
    # BotoCoreError.
    except (ClientError, BotoCoreError, ResponseParserError) as error:
        if stack_exists(clients, stack_name):  # moto keeps what it created before the error
            roll_back(clients, stack_name)
        raise DeploymentError(create_stack_failure(stack_name, error, endpoint_log)) from error
    deadline = time.monotonic() + _STACK_TIMEOUT_SECONDS
    while True:
        stack = cloudformation.describe_stacks(StackName=stack_id)["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            return str(stack_id)
        if status.endswith(("FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_IN_PROGRESS")):
            reasons = failure_reasons(clients, stack_id)
            roll_back(clients, stack_id)
            raise DeploymentError(f"stack {stack_name} ended {status}: {reasons}")
        if time.monotonic() > deadline:
            raise DeploymentError(f"stack {stack_name} still {status} after the timeout")
        time.sleep(0.2)


def create_stack_failure(stack_name: str, error: Exception, endpoint_log: Path | None) -> str:
    """What to tell the user when the endpoint refuses CreateStack: its reason, and what to
    do. A resource the endpoint's CloudFormation could not create is named by the endpoint
    (local_cloud/cloudformation_errors.py): change it, skip it locally, or report it."""
    log = f"; the endpoint's log: {endpoint_log}" if endpoint_log is not None else ""
    reason = (
        error.response.get("Error", {}).get("Message", str(error))
        if isinstance(error, ClientError)
        else str(error)
    )
    match = re.match(rf"(\w+) \(([\w:]+)\): {CANNOT_CREATE}", reason)
    if match is not None:
        logical_id = match.group(1)
        return (
            f"{reason}. Change {logical_id} in the template, leave it out locally with "
            f"`up --skip-resource {logical_id}`, or report it as a gap of the local cloud{log}"
        )
    return f"CreateStack {stack_name} failed on the endpoint: {reason}{log}"


def failure_reasons(clients: Clients, stack_id: str) -> str:
    """The first failed resource's reason: the cause. DescribeStackEvents lists the newest
    first, so the failures of the rollback (a DELETE_FAILED DependencyViolation, say) come
    before it and would mask it; they are only counted."""
    events = clients("cloudformation").describe_stack_events(StackName=stack_id)["StackEvents"]
    failures = [
        f"{event.get('LogicalResourceId')}: {event['ResourceStatusReason']}"
        for event in reversed(events)
        if "FAILED" in event.get("ResourceStatus", "")
        and event.get("ResourceStatusReason")
        and event.get("LogicalResourceId") != event.get("StackName")  # the stack's own event
    ]
    if not failures:
        return "no reason given by the endpoint"
    later = f" (and {len(failures) - 1} later failure(s))" if len(failures) > 1 else ""
    return failures[0] + later


def describe_resources(clients: Clients, stack_name: str) -> dict[str, DeployedResource]:
    described = clients("cloudformation").describe_stack_resources(StackName=stack_name)
    # moto lists resources it skipped without a LogicalResourceId: they were not created
    return {
        item["LogicalResourceId"]: DeployedResource(
            item["LogicalResourceId"], item.get("ResourceType", ""), item.get("PhysicalResourceId")
        )
        for item in described["StackResources"]
        if item.get("LogicalResourceId")
    }
