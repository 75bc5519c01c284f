"""Read a SAM (or plain CloudFormation) template, its parameters, and translate it offline.

The SAM translator runs in-process with the managed-policy map bundled in
aws-sam-translator, so translation needs no IAM call and no network: the same
CloudFormation `sam deploy` would submit, minus what only the AWS-hosted transform adds.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import boto3
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

from local_cloud.stack.errors import TemplateError

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
_LIST_PARAMETER_TYPES = ("CommaDelimitedList", "List<")


def load_template(path: Path) -> dict[str, Any]:
    """Parse a YAML or JSON template, short-form intrinsics (!Ref, !Sub, ...) included."""
    if not path.is_file():
        raise TemplateError(f"template {path} does not exist")
    try:
        template = yaml_parse(path.read_text())
    except Exception as error:  # yaml's errors carry the line and column
        raise TemplateError(f"template {path} is not valid YAML/JSON: {error}") from error
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise TemplateError(f"template {path} has no Resources section")
    return template


def transforms(template: Mapping[str, Any]) -> list[str]:
    declared = template.get("Transform") or []
    return [declared] if isinstance(declared, str) else list(declared)


def is_sam(template: Mapping[str, Any]) -> bool:
    return SAM_TRANSFORM in transforms(template)


def parse_parameter_overrides(items: Iterable[str]) -> dict[str, str]:
    """`Key=Value` pairs, as `sam deploy --parameter-overrides` takes them.

    SAM's long form `ParameterKey=Key,ParameterValue=Value` is accepted too.
    """
    overrides: dict[str, str] = {}
    for item in items:
        if item.startswith("ParameterKey="):
            key_part, separator, value_part = item.partition(",ParameterValue=")
            key, value = key_part.removeprefix("ParameterKey="), value_part
        else:
            key, separator, value = item.partition("=")
        if not separator or not key:
            raise TemplateError(f"parameter override {item!r} is not of the form Key=Value")
        overrides[key] = value
    return overrides


def effective_parameters(
    template: Mapping[str, Any], overrides: Mapping[str, str]
) -> dict[str, str]:
    """Defaults with overrides applied, checked as CloudFormation checks them at CreateStack."""
    declared: Mapping[str, Any] = template.get("Parameters") or {}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise TemplateError(
            f"parameter override(s) {', '.join(unknown)} not declared by the template "
            f"(its parameters: {known})"
        )
    values: dict[str, str] = {}
    missing = []
    for name, definition in declared.items():
        if name in overrides:
            value = overrides[name]
        elif "Default" in definition:
            default = definition["Default"]
            value = ",".join(map(str, default)) if isinstance(default, list) else str(default)
        else:
            missing.append(name)
            continue
        allowed = definition.get("AllowedValues")
        if allowed is not None and value not in [str(option) for option in allowed]:
            raise TemplateError(
                f"parameter {name}={value!r} is not one of its AllowedValues {allowed}"
            )
        pattern = definition.get("AllowedPattern")
        if pattern is not None and re.fullmatch(pattern, value) is None:
            raise TemplateError(
                f"parameter {name}={value!r} does not match AllowedPattern {pattern}"
            )
        values[name] = value
    if missing:
        raise TemplateError(f"parameter(s) {', '.join(missing)} have no Default and no override")
    return values


def typed_parameters(template: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """Parameter values as Ref returns them: list types split on commas."""
    declared: Mapping[str, Any] = template.get("Parameters") or {}
    typed: dict[str, Any] = {}
    for name, value in values.items():
        kind = str(declared.get(name, {}).get("Type", "String"))
        typed[name] = value.split(",") if kind.startswith(_LIST_PARAMETER_TYPES) else value
    return typed


def translate(
    template: Mapping[str, Any], parameters: Mapping[str, str], region: str
) -> dict[str, Any]:
    """The CloudFormation template for a SAM template (a copy; the input is not touched)."""
    other = [name for name in transforms(template) if name != SAM_TRANSFORM]
    if other:
        raise TemplateError(f"transform(s) {', '.join(other)} are not supported locally")
    if not is_sam(template):
        return copy.deepcopy(dict(template))
    translator = Translator(
        managed_policy_map=None,  # the bundled map covers AWS managed policies, offline
        sam_parser=Parser(),
        boto_session=boto3.Session(region_name=region),
    )
    try:
        translated: dict[str, Any] = translator.translate(
            copy.deepcopy(dict(template)), parameter_values=dict(parameters)
        )
    except InvalidDocumentException as error:
        causes = "; ".join(cause.message for cause in error.causes)
        raise TemplateError(f"SAM translation failed: {causes}") from error
    return translated
