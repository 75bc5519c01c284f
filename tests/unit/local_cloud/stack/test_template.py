"""Templates load, parameters are checked as CreateStack checks them, SAM translates offline
(and a translation is made again only when one of its inputs changed)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from local_cloud.settings import parse_parameter_overrides
from local_cloud.stack import template as template_module
from local_cloud.stack.errors import TemplateError
from local_cloud.stack.template import (
    effective_parameters,
    load_template,
    parse_template,
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
    with pytest.raises(TemplateError, match="must match pattern"):
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


POLICY = """
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: 2012-10-17
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
      Tags:
        - {Key: Created, Value: 2001-12-14t21:59:43.10-05:00}
        - {Key: Spaced, Value: 2001-12-14 21:59:43.10 -5}
        - {Key: Tagged, Value: !!timestamp 2002-12-14}
        - {Key: Quoted, Value: "2012-10-17"}
"""


def test_dates_and_timestamps_stay_the_text_as_written(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(POLICY)
    loaded = load_template(template)
    properties = loaded["Resources"]["Role"]["Properties"]
    assert properties["AssumeRolePolicyDocument"]["Version"] == "2012-10-17"
    assert [tag["Value"] for tag in properties["Tags"]] == [
        "2001-12-14t21:59:43.10-05:00",
        "2001-12-14 21:59:43.10 -5",
        "2002-12-14",
        "2012-10-17",
    ]
    json.dumps(loaded)  # what CreateStack is sent: this raised TypeError for a date


def test_other_scalars_and_short_form_intrinsics_load_as_before() -> None:
    loaded = parse_template(
        "A: !Ref Stage\n"
        "B: !GetAtt Queue.Arn\n"
        "C: !Sub '${AWS::StackName}-x'\n"
        "D: !If [IsProd, !Ref AWS::NoValue, [1, 1.5, true, null, '007']]\n"
        "E: {Condition: IsProd}\n"
    )
    assert loaded == {
        "A": {"Ref": "Stage"},
        "B": {"Fn::GetAtt": ["Queue", "Arn"]},
        "C": {"Fn::Sub": "${AWS::StackName}-x"},
        "D": {"Fn::If": ["IsProd", {"Ref": "AWS::NoValue"}, [1, 1.5, True, None, "007"]]},
        "E": {"Condition": "IsProd"},
    }


REPOSITORY = Path(__file__).resolve().parents[4]


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML here has no libyaml")
@pytest.mark.parametrize(
    "path",
    [
        REPOSITORY / "template.yaml",
        *sorted((REPOSITORY / "tests/templates").glob("**/template*.yaml")),
    ],
    ids=lambda path: str(path.relative_to(REPOSITORY)),
)
def test_the_fast_loader_reads_a_template_as_the_python_loader_does(path: Path) -> None:
    text = path.read_text()
    assert template_module.FastTemplateLoader.__mro__[1] is yaml.CSafeLoader
    fast = yaml.load(text, Loader=template_module.FastTemplateLoader)  # noqa: S506  # nosec B506
    assert fast == yaml.load(text, Loader=template_module.TemplateLoader)  # noqa: S506  # nosec B506


def test_a_yaml_error_quotes_the_line_it_points_at() -> None:
    with pytest.raises(yaml.YAMLError) as raised:
        parse_template("Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n   Properties: {}\n")
    # the pure-Python loader's message (libyaml's names the line but does not quote it)
    assert "line 4, column 4:\n       Properties: {}\n       ^" in str(raised.value)


def test_yaml_safe_load_keeps_reading_dates_for_everyone_else() -> None:
    parse_template("Version: 2012-10-17")
    assert yaml.safe_load("Version: 2012-10-17") == {"Version": datetime.date(2012, 10, 17)}


def _orders_packaged() -> dict[str, Any]:
    sam = load_template(ORDERS_TEMPLATE)
    sam["Resources"]["OrdersFunction"]["Properties"]["CodeUri"] = {"Bucket": "b", "Key": "k"}
    return sam


class _CountingTranslator:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = template_module._translate

        def counting(*args: Any) -> dict[str, Any]:
            self.calls += 1
            return real(*args)

        monkeypatch.setattr(template_module, "_translate", counting)


def test_a_cached_translation_is_read_back_not_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sam = _orders_packaged()
    parameters = effective_parameters(sam, {})
    uncached = translate(sam, parameters, "us-east-1")
    translator = _CountingTranslator(monkeypatch)
    first = translate(sam, parameters, "us-east-1", cache_dir=tmp_path)
    again = translate(_orders_packaged(), parameters, "us-east-1", cache_dir=tmp_path)
    assert translator.calls == 1
    assert first == again == uncached
    assert [path.suffix for path in tmp_path.iterdir()] == [".json"]  # no staging left


@pytest.mark.parametrize("change", ["template", "parameter", "region", "translator"])
def test_a_changed_input_is_translated_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    sam = _orders_packaged()
    parameters = effective_parameters(sam, {})
    region = "us-east-1"
    translator = _CountingTranslator(monkeypatch)
    before = translate(sam, parameters, region, cache_dir=tmp_path)
    if change == "template":
        sam["Resources"]["OrdersFunction"]["Properties"]["CodeUri"]["Key"] = "k2"
    elif change == "parameter":
        parameters = {**parameters, next(iter(parameters)): "another"}
    elif change == "region":
        region = "eu-west-1"
    else:
        real_version = template_module.metadata.version
        monkeypatch.setattr(
            template_module.metadata,
            "version",
            lambda name: "0.0.1" if name == "aws-sam-translator" else real_version(name),
        )
    after = translate(sam, parameters, region, cache_dir=tmp_path)
    assert translator.calls == 2
    if change == "template":
        code = after["Resources"]["OrdersFunction"]["Properties"]["Code"]
        assert code == {"S3Bucket": "b", "S3Key": "k2"}
        assert before != after
