"""Templates load, parameters are checked as CreateStack checks them, SAM translates offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_cloud.stack.errors import TemplateError
from local_cloud.stack.template import (
    effective_parameters,
    load_template,
    parse_parameter_overrides,
    translate,
    typed_parameters,
)

ORDERS_TEMPLATE = Path(__file__).resolve().parents[3] / "templates/orders_fifo/template.yaml"

PARAMETERS = {
    "Parameters": {
        "Stage": {"Type": "String", "AllowedValues": ["dev", "prod"], "Default": "dev"},
        "Email": {"Type": "String", "AllowedPattern": "^[^@]+@[^@]+$"},
        "Subnets": {"Type": "CommaDelimitedList", "Default": ["a", "b"]},
        "Size": {"Type": "Number", "Default": 3},
    }
}


def test_overrides_in_short_and_sam_long_form() -> None:
    assert parse_parameter_overrides(["A=1", "B=x=y", "ParameterKey=C,ParameterValue=z"]) == {
        "A": "1",
        "B": "x=y",
        "C": "z",
    }


@pytest.mark.parametrize("bad", ["novalue", "=x"])
def test_a_malformed_override_is_named(bad: str) -> None:
    with pytest.raises(TemplateError, match=repr(bad)):
        parse_parameter_overrides([bad])


def test_defaults_are_applied_and_overrides_win() -> None:
    values = effective_parameters(PARAMETERS, {"Email": "a@b", "Stage": "prod"})
    assert values == {"Stage": "prod", "Email": "a@b", "Subnets": "a,b", "Size": "3"}
    assert typed_parameters(PARAMETERS, values)["Subnets"] == ["a", "b"]


def test_unknown_missing_and_disallowed_values_are_refused() -> None:
    with pytest.raises(TemplateError, match="Bogus"):
        effective_parameters(PARAMETERS, {"Email": "a@b", "Bogus": "1"})
    with pytest.raises(TemplateError, match="Email"):
        effective_parameters(PARAMETERS, {})
    with pytest.raises(TemplateError, match="AllowedValues"):
        effective_parameters(PARAMETERS, {"Email": "a@b", "Stage": "qa"})
    with pytest.raises(TemplateError, match="AllowedPattern"):
        effective_parameters(PARAMETERS, {"Email": "not-an-address"})


def test_a_missing_or_broken_template_is_reported(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="does not exist"):
        load_template(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("Resources: [unclosed\n")
    with pytest.raises(TemplateError, match="not valid YAML"):
        load_template(broken)
    empty = tmp_path / "empty.yaml"
    empty.write_text("Description: nothing\n")
    with pytest.raises(TemplateError, match="no Resources"):
        load_template(empty)


def test_sam_translation_runs_offline_and_keeps_the_mappings_visible() -> None:
    # Sockets are disabled in unit tests: this translation needed no network at all.
    sam = load_template(ORDERS_TEMPLATE)
    # as after packaging: the deployer points CodeUri at the uploaded zip first
    sam["Resources"]["OrdersFunction"]["Properties"]["CodeUri"] = {"Bucket": "b", "Key": "k"}
    translated = translate(sam, effective_parameters(sam, {}), "us-east-1")
    types = {name: resource["Type"] for name, resource in translated["Resources"].items()}
    assert types["OrdersFunction"] == "AWS::Lambda::Function"
    assert types["OrdersFunctionOrders"] == "AWS::Lambda::EventSourceMapping"
    assert types["AuditFunctionAudit"] == "AWS::Lambda::EventSourceMapping"
    assert types["OrdersFunctionRole"] == "AWS::IAM::Role"
    assert "Transform" not in translated
    assert translated["Resources"]["OrdersFunction"]["Properties"]["Code"] == {
        "S3Bucket": "b",
        "S3Key": "k",
    }
    assert sam["Resources"]["OrdersFunction"]["Type"] == "AWS::Serverless::Function"  # untouched


def test_an_invalid_sam_resource_is_a_template_error() -> None:
    sam = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {"Fn": {"Type": "AWS::Serverless::Function", "Properties": {"Events": 3}}},
    }
    with pytest.raises(TemplateError, match="SAM translation failed"):
        translate(sam, {}, "us-east-1")


def test_other_transforms_are_refused() -> None:
    sam = {"Transform": ["AWS::LanguageExtensions"], "Resources": {}}
    with pytest.raises(TemplateError, match="AWS::LanguageExtensions"):
        translate(sam, {}, "us-east-1")
