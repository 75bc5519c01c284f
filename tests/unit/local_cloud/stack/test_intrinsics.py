"""The resolver evaluates intrinsics the way CloudFormation does, for a fake deployed stack."""

from __future__ import annotations

from typing import Any

import pytest

from local_cloud.stack.intrinsics import IntrinsicError, IntrinsicResolver, pseudo_parameters

TEMPLATE: dict[str, Any] = {
    "Parameters": {"Stage": {"Type": "String"}, "Email": {"Type": "String"}},
    "Conditions": {
        "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
        "HasEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Email"}, ""]}]},
        "ProdWithEmail": {"Fn::And": [{"Condition": "IsProd"}, {"Condition": "HasEmail"}]},
        "ProdOrEmail": {"Fn::Or": [{"Condition": "IsProd"}, {"Condition": "HasEmail"}]},
    },
    "Mappings": {"Sizes": {"dev": {"Memory": 128}}},
    "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}, "Fn": {"Type": "AWS::Lambda::Function"}},
}


class FakeResources:
    def ref(self, logical_id: str) -> str:
        return {"Queue": "https://sqs/123/q", "Fn": "fn-physical"}[logical_id]

    def get_att(self, logical_id: str, attribute: str) -> Any:
        return f"{logical_id}.{attribute}-value"


@pytest.fixture
def resolver() -> IntrinsicResolver:
    return IntrinsicResolver(
        template=TEMPLATE,
        parameters={"Stage": "dev", "Email": "", "Subnets": ["a", "b"]},
        pseudo=pseudo_parameters("eu-west-1", "111122223333", "my-stack"),
        resources=FakeResources(),
    )


def test_ref_of_parameters_pseudo_parameters_and_resources(resolver: IntrinsicResolver) -> None:
    assert resolver.resolve({"Ref": "Stage"}) == "dev"
    assert resolver.resolve({"Ref": "AWS::Region"}) == "eu-west-1"
    assert resolver.resolve({"Ref": "AWS::AccountId"}) == "111122223333"
    assert resolver.resolve({"Ref": "Queue"}) == "https://sqs/123/q"


def test_ref_to_an_unknown_name_is_an_error_naming_it(resolver: IntrinsicResolver) -> None:
    with pytest.raises(IntrinsicError, match="Ref Missing"):
        resolver.resolve({"Ref": "Missing"})


def test_get_att_in_list_and_dotted_forms(resolver: IntrinsicResolver) -> None:
    assert resolver.resolve({"Fn::GetAtt": ["Queue", "Arn"]}) == "Queue.Arn-value"
    assert resolver.resolve({"Fn::GetAtt": "Queue.QueueName"}) == "Queue.QueueName-value"
    with pytest.raises(IntrinsicError, match="Nope"):
        resolver.resolve({"Fn::GetAtt": ["Nope", "Arn"]})


def test_sub_with_refs_attributes_variables_and_literals(resolver: IntrinsicResolver) -> None:
    assert (
        resolver.resolve({"Fn::Sub": "${AWS::StackName}-${Stage}-${Queue.Arn}-${!Literal}"})
        == "my-stack-dev-Queue.Arn-value-${Literal}"
    )
    assert resolver.resolve({"Fn::Sub": ["${Name}-x", {"Name": {"Ref": "Stage"}}]}) == "dev-x"


def test_join_select_split(resolver: IntrinsicResolver) -> None:
    assert resolver.resolve({"Fn::Join": ["-", ["a", {"Ref": "Stage"}]]}) == "a-dev"
    assert resolver.resolve({"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}) == "y"
    assert resolver.resolve({"Fn::Select": ["0", {"Ref": "Subnets"}]}) == "a"
    with pytest.raises(IntrinsicError, match="index 5"):
        resolver.resolve({"Fn::Select": [5, ["a"]]})


def test_conditions_and_if(resolver: IntrinsicResolver) -> None:
    assert resolver.condition("IsProd") is False
    assert resolver.condition("HasEmail") is False
    assert resolver.condition("ProdWithEmail") is False
    assert resolver.condition("ProdOrEmail") is False
    assert resolver.resolve({"Fn::If": ["IsProd", 1024, 128]}) == 128
    with pytest.raises(IntrinsicError, match="condition 'Unknown'"):
        resolver.condition("Unknown")


def test_conditions_follow_parameter_values() -> None:
    prod = IntrinsicResolver(
        template=TEMPLATE,
        parameters={"Stage": "prod", "Email": "ops@example.com"},
        pseudo=pseudo_parameters("us-east-1", "123456789012", "s"),
    )
    assert prod.condition("ProdWithEmail") is True
    assert prod.resolve({"Fn::If": ["IsProd", 1024, 128]}) == 1024


def test_no_value_removes_the_property_and_the_list_item(resolver: IntrinsicResolver) -> None:
    value = {
        "Keep": 1,
        "Drop": {"Fn::If": ["IsProd", "x", {"Ref": "AWS::NoValue"}]},
        "List": ["a", {"Ref": "AWS::NoValue"}],
    }
    assert resolver.resolve(value) == {"Keep": 1, "List": ["a"]}


def test_find_in_map_and_base64(resolver: IntrinsicResolver) -> None:
    assert resolver.resolve({"Fn::FindInMap": ["Sizes", {"Ref": "Stage"}, "Memory"]}) == 128
    assert resolver.resolve({"Fn::Base64": "hi"}) == "aGk="
    with pytest.raises(IntrinsicError, match="Sizes/prod/Memory"):
        resolver.resolve({"Fn::FindInMap": ["Sizes", "prod", "Memory"]})


def test_an_iam_condition_block_is_data_not_a_condition(resolver: IntrinsicResolver) -> None:
    statement = {"Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}}
    assert resolver.resolve(statement) == {
        "Condition": {"StringEquals": {"aws:SourceAccount": "111122223333"}}
    }


def test_an_unsupported_intrinsic_is_named(resolver: IntrinsicResolver) -> None:
    with pytest.raises(IntrinsicError, match="Fn::ImportValue"):
        resolver.resolve({"Fn::ImportValue": "shared-vpc"})
