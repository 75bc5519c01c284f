"""The values CloudFormation gives for resources the endpoint does not get, so that
references to them resolve (moto's CloudFormation fails the whole stack on a reference to
a resource it does not have: "'NoneType' object has no attribute 'has_cfn_attr'", or
KeyError in its Outputs). As for the served APIs (served_apis.py), every Ref and
Fn::GetAtt of them in what the endpoint gets is replaced by its value:

| resource | Ref | Fn::GetAtt |
| --- | --- | --- |
| AWS::Lambda::EventSourceMapping (run by pollers) | its ID, a UUID | Id, EventSourceMappingArn |
| AWS::Lambda::CapacityProvider (not created) | its name | Arn |

A mapping's ID is stable for a stack and logical ID; the endpoint's Lambda API does not
know it (the local cloud's pollers run the mapping, not the endpoint). A capacity provider
(what SAM makes of AWS::Serverless::CapacityProvider: Lambda Managed Instances) stays in
the stack's unsupported resources, "not created": the functions that name one run in the
local cloud's workers as any other function does, without its EC2 instances, its VPC or
its several requests at once per execution environment. Its ARN is
`arn:aws:lambda:{region}:{account}:capacity-provider:{name}`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from local_cloud.stack.errors import DeploymentError
from local_cloud.stack.intrinsics import IntrinsicError
from local_cloud.stack.served_apis import ServedValue

CAPACITY_PROVIDER = "AWS::Lambda::CapacityProvider"
EVENT_SOURCE_MAPPING = "AWS::Lambda::EventSourceMapping"


def event_source_mapping_values(
    template: Mapping[str, Any], stack_name: str, region: str, account_id: str
) -> dict[str, ServedValue]:
    """Logical ID -> the values CloudFormation gives, for each event source mapping."""
    values: dict[str, ServedValue] = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != EVENT_SOURCE_MAPPING:
            continue
        identifier = str(uuid.uuid5(uuid.NAMESPACE_URL, f"local-cloud:{stack_name}/{logical_id}"))
        arn = f"arn:aws:lambda:{region}:{account_id}:event-source-mapping:{identifier}"
        values[logical_id] = ServedValue(
            EVENT_SOURCE_MAPPING, identifier, {"Id": identifier, "EventSourceMappingArn": arn}
        )
    return values


def capacity_provider_values(
    template: Mapping[str, Any],
    stack_name: str,
    region: str,
    account_id: str,
    resolve: Callable[[Any], Any],
) -> dict[str, ServedValue]:
    """Logical ID -> the values CloudFormation gives, for each capacity provider. Without
    a CapacityProviderName, the name is `{stack}-{logical ID}`, as CloudFormation names
    what a template does not."""
    values: dict[str, ServedValue] = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != CAPACITY_PROVIDER:
            continue
        properties = resource.get("Properties") or {}
        try:
            name = resolve(properties.get("CapacityProviderName")) or f"{stack_name}-{logical_id}"
        except IntrinsicError as error:
            raise DeploymentError(f"{logical_id}: CapacityProviderName: {error}") from error
        arn = f"arn:aws:lambda:{region}:{account_id}:capacity-provider:{name}"
        values[logical_id] = ServedValue(CAPACITY_PROVIDER, str(name), {"Arn": arn})
    return values
