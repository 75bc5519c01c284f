"""Values CloudFormation gives for what the endpoint does not get (an event source mapping,
a capacity provider), put in place of every reference before the endpoint sees one."""

from __future__ import annotations

import re
from typing import Any

import pytest

from local_cloud.stack.errors import DeploymentError
from local_cloud.stack.intrinsics import IntrinsicError
from local_cloud.stack.local_values import capacity_provider_values, event_source_mapping_values
from local_cloud.stack.served_apis import for_endpoint

TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Mapping": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {}},
        "Provider": {
            "Type": "AWS::Lambda::CapacityProvider",
            "Properties": {"CapacityProviderName": {"Fn::Sub": "${AWS::StackName}-cp"}},
        },
        "Unnamed": {"Type": "AWS::Lambda::CapacityProvider", "Properties": {}},
        "Fn": {
            "Type": "AWS::Lambda::Function",
            "Properties": {"CapacityProviderConfig": {"Arn": {"Fn::GetAtt": ["Provider", "Arn"]}}},
        },
    },
    "Outputs": {
        "MappingId": {"Value": {"Ref": "Mapping"}},
        "MappingArn": {"Value": {"Fn::GetAtt": "Mapping.EventSourceMappingArn"}},
        "ProviderArn": {"Value": {"Fn::Sub": "${Provider.Arn}"}},
    },
}


def resolve(value: Any) -> Any:
    return "stack-cp" if value == {"Fn::Sub": "${AWS::StackName}-cp"} else value


def values() -> dict[str, Any]:
    return {
        **event_source_mapping_values(TEMPLATE, "stack", "eu-west-1", "111122223333"),
        **capacity_provider_values(TEMPLATE, "stack", "eu-west-1", "111122223333", resolve),
    }


def test_references_get_cloudformations_values() -> None:
    endpoint = for_endpoint(TEMPLATE, values())
    assert set(endpoint["Resources"]) == {"Fn"}
    mapping_id = endpoint["Outputs"]["MappingId"]["Value"]
    assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", mapping_id)
    assert endpoint["Outputs"]["MappingArn"]["Value"] == (
        f"arn:aws:lambda:eu-west-1:111122223333:event-source-mapping:{mapping_id}"
    )
    provider_arn = "arn:aws:lambda:eu-west-1:111122223333:capacity-provider:stack-cp"
    assert endpoint["Outputs"]["ProviderArn"]["Value"] == {"Fn::Sub": provider_arn}
    assert endpoint["Resources"]["Fn"]["Properties"]["CapacityProviderConfig"] == {
        "Arn": provider_arn
    }
    assert values()["Unnamed"].ref == "stack-Unnamed"
    assert values()["Mapping"].ref == mapping_id  # the same ID for the same stack and mapping


def test_an_attribute_cloudformation_does_not_give_is_named() -> None:
    with pytest.raises(DeploymentError, match=r"Provider\.Name: .*\(it gives: Arn\)"):
        values()["Provider"].get_att("Provider", "Name")


def test_an_unresolvable_name_is_named() -> None:
    def failing(value: Any) -> Any:
        raise IntrinsicError("Ref Missing: no such parameter")

    with pytest.raises(DeploymentError, match="Provider: CapacityProviderName: Ref Missing"):
        capacity_provider_values(TEMPLATE, "stack", "eu-west-1", "1", failing)
