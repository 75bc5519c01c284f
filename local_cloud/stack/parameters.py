"""Template parameters checked as CloudFormation checks them at CreateStack, before anything
is created: the Type, then AllowedValues, AllowedPattern, MinLength/MaxLength and
MinValue/MaxValue, on the value given or, without one, the Default. Every Default is checked
too, as CloudFormation checks the template itself. Messages are CloudFormation's wording
where it is known (e.g. "Parameter 'BatchSize' must be a number not greater than 10000");
a ConstraintDescription replaces the message of any constraint it describes, as on AWS.

What is not checked: that a value of an AWS-specific type (AWS::EC2::VPC::Id, ...) exists
in the account, or that an SSM parameter type names a parameter; such values are strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from local_cloud.stack.errors import ParameterError

_SIMPLE_TYPES = ("String", "Number", "CommaDelimitedList", "List<Number>")
# A number as CloudFormation takes one: an integer or a decimal, optionally signed or with an
# exponent. Checked with a pattern first: Decimal alone would take "NaN", "Infinity", " 1".
_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


def parameter_values(declared: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    """Each declared parameter's value (the override, else the Default, as a string), once
    every rule holds; else a ParameterError whose message names the parameter and the rule."""
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise ParameterError(
            f"Parameters: [{', '.join(unknown)}] do not exist in the template "
            f"(its parameters: {known})"
        )
    values: dict[str, str] = {}
    missing = []
    for name, definition in declared.items():
        if not isinstance(definition, Mapping) or "Type" not in definition:
            raise ParameterError(
                "Template format error: Every Parameters object must contain a Type member "
                f"({name} has none)"
            )
        if not _known_type(str(definition["Type"])):
            raise ParameterError(
                f"Template format error: Unrecognized parameter type: {definition['Type']}"
            )
        if "Default" in definition:
            default = cloudformation_text(definition["Default"])
            problem = value_problem(name, definition, default)
            if problem is not None:
                raise ParameterError(f"{problem} (the template's Default, {default!r})")
        if name in overrides:
            value = overrides[name]
        elif "Default" in definition:
            value = cloudformation_text(definition["Default"])
        else:
            missing.append(name)
            continue
        problem = value_problem(name, definition, value)
        if problem is not None:
            raise ParameterError(problem)
        values[name] = value
    if missing:
        raise ParameterError(f"Parameters: [{', '.join(missing)}] must have values")
    return values


def value_problem(name: str, definition: Mapping[str, Any], value: str) -> str | None:
    """CloudFormation's message for the first rule value breaks, or None if it breaks none."""
    kind = str(definition.get("Type", "String"))
    is_list = kind == "CommaDelimitedList" or kind.startswith("List<")
    items = value.split(",") if is_list else [value]
    numeric = kind in ("Number", "List<Number>")
    if numeric and not all(_NUMBER.fullmatch(item) for item in items):
        return f"Parameter '{name}' must be " + ("a list of numbers" if is_list else "a number")
    problem = _constraint_problem(name, definition, items, numeric=numeric, is_list=is_list)
    description = definition.get("ConstraintDescription")
    if problem is not None and description is not None:
        one_line = " ".join(str(description).split())
        return f"Parameter '{name}' failed to satisfy constraint: {one_line}"
    return problem


def _constraint_problem(
    name: str, definition: Mapping[str, Any], items: list[str], *, numeric: bool, is_list: bool
) -> str | None:
    allowed = definition.get("AllowedValues")
    if allowed is not None:
        options = {cloudformation_text(option) for option in allowed}
        if any(item not in options for item in items):
            return f"Parameter '{name}' must be one of AllowedValues"
    pattern = definition.get("AllowedPattern")
    if pattern is not None and not numeric:
        try:
            compiled = re.compile(str(pattern))
        except re.error as error:
            raise ParameterError(
                f"Parameter '{name}' has an AllowedPattern that is not a regex: {error}"
            ) from None
        if any(compiled.fullmatch(item) is None for item in items):
            return (
                f"Parameter '{name}' failed to satisfy constraint: "
                f"Malformed input-Parameter {name} must match pattern {pattern}"
            )
    if not numeric and not is_list:
        minimum, maximum = definition.get("MinLength"), definition.get("MaxLength")
        if minimum is not None and len(items[0]) < int(minimum):
            return f"Parameter '{name}' must contain at least {minimum} characters"
        if maximum is not None and len(items[0]) > int(maximum):
            return f"Parameter '{name}' must contain at most {maximum} characters"
    if numeric:
        minimum, maximum = definition.get("MinValue"), definition.get("MaxValue")
        for item in items:
            if minimum is not None and Decimal(item) < _decimal(minimum):
                return f"Parameter '{name}' must be a number not less than {minimum}"
            if maximum is not None and Decimal(item) > _decimal(maximum):
                return f"Parameter '{name}' must be a number not greater than {maximum}"
    return None


def cloudformation_text(value: Any) -> str:
    """A template scalar as the string CloudFormation passes: YAML's true is "true", a list
    Default of a list type is its items joined by commas, a missing value is empty."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(map(cloudformation_text, value))
    return str(value)


def _known_type(kind: str) -> bool:
    return kind in _SIMPLE_TYPES or kind.startswith(("AWS::", "List<AWS::"))


def _decimal(bound: Any) -> Decimal:
    try:
        return Decimal(str(bound))
    except InvalidOperation:
        raise ParameterError(f"MinValue/MaxValue {bound!r} is not a number") from None
