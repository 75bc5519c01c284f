"""Parameters are checked as CloudFormation checks them at CreateStack, with its wording."""

from __future__ import annotations

from typing import Any

import pytest

from local_cloud.stack.errors import ParameterError, StackError
from local_cloud.stack.parameters import cloudformation_text, parameter_values


def refused(declared: dict[str, Any], **overrides: str) -> str:
    with pytest.raises(ParameterError) as raised:
        parameter_values(declared, overrides)
    return str(raised.value)


BATCH = {"BatchSize": {"Type": "Number", "Default": 10, "MinValue": 1, "MaxValue": 10000}}


def test_a_parameter_error_is_a_stack_error_the_cli_prints_on_one_line() -> None:
    assert issubclass(ParameterError, StackError)
    message = refused(
        {"X": {"Type": "String", "MinLength": 3, "ConstraintDescription": "three\n  or more"}},
        X="ab",
    )
    assert message == "Parameter 'X' failed to satisfy constraint: three or more"


def test_values_are_overrides_else_defaults_as_cloudformation_passes_them() -> None:
    declared = {
        "Size": {"Type": "Number", "Default": 3},
        "Flag": {"Type": "String", "Default": True},
        "Names": {"Type": "CommaDelimitedList", "Default": ["a", "b"]},
        "Empty": {"Type": "String", "Default": ""},
        "Vpc": {"Type": "AWS::EC2::VPC::Id"},
        "Subnets": {"Type": "List<AWS::EC2::Subnet::Id>", "Default": "subnet-1,subnet-2"},
        "Ami": {"Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>", "Default": "/ami"},
    }
    assert parameter_values(declared, {"Size": "4", "Vpc": "vpc-1"}) == {
        "Size": "4",
        "Flag": "true",
        "Names": "a,b",
        "Empty": "",
        "Vpc": "vpc-1",
        "Subnets": "subnet-1,subnet-2",
        "Ami": "/ami",
    }
    assert cloudformation_text(None) == ""


def test_an_override_the_template_does_not_declare_is_refused() -> None:
    assert refused(BATCH, Bogus="1") == (
        "Parameters: [Bogus] do not exist in the template (its parameters: BatchSize)"
    )


def test_every_parameter_without_a_default_or_value_is_named() -> None:
    declared = {"A": {"Type": "String"}, "B": {"Type": "Number"}, "C": {"Type": "String"}}
    assert refused(declared, C="x") == "Parameters: [A, B] must have values"


def test_a_declaration_needs_a_known_type() -> None:
    assert refused({"X": {"Default": "1"}}) == (
        "Template format error: Every Parameters object must contain a Type member (X has none)"
    )
    assert refused({"X": {"Type": "Integer", "Default": "1"}}) == (
        "Template format error: Unrecognized parameter type: Integer"
    )


@pytest.mark.parametrize("value", ["20", "-3", "2.5", "1e3", ".5", "7."])
def test_numbers_are_integers_or_decimals(value: str) -> None:
    assert parameter_values({"N": {"Type": "Number"}}, {"N": value}) == {"N": value}


@pytest.mark.parametrize("value", ["abc", "", " 5", "NaN", "Infinity", "1,2", "0x10"])
def test_a_number_parameter_takes_only_a_number(value: str) -> None:
    assert refused({"N": {"Type": "Number"}}, N=value) == "Parameter 'N' must be a number"


def test_a_number_list_takes_only_numbers() -> None:
    declared = {"Ports": {"Type": "List<Number>"}}
    assert parameter_values(declared, {"Ports": "80,443"}) == {"Ports": "80,443"}
    assert refused(declared, Ports="80,https") == "Parameter 'Ports' must be a list of numbers"


def test_max_value() -> None:
    assert refused(BATCH, BatchSize="20000") == (
        "Parameter 'BatchSize' must be a number not greater than 10000"
    )
    assert parameter_values(BATCH, {"BatchSize": "10000"}) == {"BatchSize": "10000"}


def test_min_value() -> None:
    assert (
        refused(BATCH, BatchSize="0.5") == "Parameter 'BatchSize' must be a number not less than 1"
    )
    assert parameter_values(BATCH, {"BatchSize": "1"}) == {"BatchSize": "1"}


def test_min_and_max_value_hold_for_each_number_of_a_list() -> None:
    declared = {"Ports": {"Type": "List<Number>", "MinValue": 1, "MaxValue": 65535}}
    assert refused(declared, Ports="80,70000") == (
        "Parameter 'Ports' must be a number not greater than 65535"
    )


def test_min_length() -> None:
    declared = {"Name": {"Type": "String", "MinLength": 3}}
    assert refused(declared, Name="ab") == "Parameter 'Name' must contain at least 3 characters"
    assert parameter_values(declared, {"Name": "abc"}) == {"Name": "abc"}


def test_max_length() -> None:
    declared = {"Name": {"Type": "String", "MaxLength": "3"}}
    assert refused(declared, Name="abcd") == "Parameter 'Name' must contain at most 3 characters"
    assert parameter_values(declared, {"Name": "abc"}) == {"Name": "abc"}


def test_lengths_hold_for_aws_specific_types_taken_as_strings() -> None:
    declared = {"Vpc": {"Type": "AWS::EC2::VPC::Id", "MaxLength": 5}}
    assert refused(declared, Vpc="vpc-123") == "Parameter 'Vpc' must contain at most 5 characters"


def test_allowed_values() -> None:
    declared = {"Stage": {"Type": "String", "AllowedValues": ["dev", "prod"]}}
    assert refused(declared, Stage="qa") == "Parameter 'Stage' must be one of AllowedValues"
    assert parameter_values(declared, {"Stage": "prod"}) == {"Stage": "prod"}


def test_allowed_values_of_a_number_and_of_each_list_item() -> None:
    days = {"Days": {"Type": "Number", "AllowedValues": [1, 3, 30]}}
    assert parameter_values(days, {"Days": "30"}) == {"Days": "30"}
    assert refused(days, Days="31") == "Parameter 'Days' must be one of AllowedValues"
    zones = {"Zones": {"Type": "CommaDelimitedList", "AllowedValues": ["a", "b"]}}
    assert parameter_values(zones, {"Zones": "b,a"}) == {"Zones": "b,a"}
    assert refused(zones, Zones="a,c") == "Parameter 'Zones' must be one of AllowedValues"


def test_allowed_pattern_matches_the_whole_value() -> None:
    declared = {"Prefix": {"Type": "String", "AllowedPattern": "[a-z]+"}}
    assert refused(declared, Prefix="abc1") == (
        "Parameter 'Prefix' failed to satisfy constraint: "
        "Malformed input-Parameter Prefix must match pattern [a-z]+"
    )
    assert parameter_values(declared, {"Prefix": "abc"}) == {"Prefix": "abc"}


def test_allowed_pattern_holds_for_each_item_of_a_comma_delimited_list() -> None:
    declared = {"Arns": {"Type": "CommaDelimitedList", "AllowedPattern": "arn:.*"}}
    assert parameter_values(declared, {"Arns": "arn:a,arn:b"}) == {"Arns": "arn:a,arn:b"}
    assert "must match pattern arn:.*" in refused(declared, Arns="arn:a,b")


def test_a_constraint_description_replaces_the_message_of_any_constraint() -> None:
    def described(**constraint: Any) -> dict[str, Any]:
        kind = "Number" if "MinValue" in constraint else "String"
        return {"P": {"Type": kind, "ConstraintDescription": "must be right", **constraint}}

    expected = "Parameter 'P' failed to satisfy constraint: must be right"
    assert refused(described(AllowedPattern="x"), P="y") == expected
    assert refused(described(AllowedValues=["x"]), P="y") == expected
    assert refused(described(MaxLength=1), P="yy") == expected
    assert refused(described(MinValue=5), P="4") == expected
    # not the type: a number's type error keeps its own message
    assert refused(described(MinValue=5), P="four") == "Parameter 'P' must be a number"


def test_the_default_is_checked_even_when_overridden() -> None:
    declared = {"Name": {"Type": "String", "Default": "aws-ab-", "MinLength": 12}}
    message = "Parameter 'Name' must contain at least 12 characters (the template's Default, "
    assert refused(declared) == message + "'aws-ab-')"
    assert refused(declared, Name="aws-ab-acme-prod") == message + "'aws-ab-')"


def test_an_allowed_pattern_that_is_no_regex_is_named() -> None:
    assert "not a regex" in refused({"P": {"Type": "String", "AllowedPattern": "("}}, P="x")
