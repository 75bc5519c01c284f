"""Evaluate CloudFormation intrinsic functions against a deployed stack.

moto's CloudFormation resolves intrinsics inside the resources it creates, but the local
cloud needs the same values for what moto does not hold: event source mappings (which
moto never sees), alarms it skips, and function settings it drops (layers, reserved
concurrency). One small resolver, fed by a lookup of the deployed resources, gives them.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from local_cloud.errors import TemplateError

NO_VALUE = object()  # what Ref AWS::NoValue evaluates to: the property is removed

_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class IntrinsicError(TemplateError, ValueError):
    """An intrinsic that cannot be evaluated; the message names it and why. A template
    problem: the CLI reports it in one line like any other (local_cloud/errors.py)."""


class ResourceLookup(Protocol):
    """The physical side of a stack: what Ref and Fn::GetAtt of a resource return."""

    def ref(self, logical_id: str) -> str: ...

    def get_att(self, logical_id: str, attribute: str) -> Any: ...


class NoResources:
    """A lookup for before deployment: only parameters and pseudo parameters resolve."""

    def ref(self, logical_id: str) -> str:
        raise IntrinsicError(f"Ref {logical_id}: resource not deployed yet")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        raise IntrinsicError(f"Fn::GetAtt {logical_id}.{attribute}: resource not deployed yet")


def pseudo_parameters(region: str, account_id: str, stack_name: str, stack_id: str = "") -> dict:
    return {
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::StackName": stack_name,
        "AWS::StackId": stack_id
        or f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/local",
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::NotificationARNs": [],
    }


@dataclass
class IntrinsicResolver:
    """Resolves values of one template: `resolve(value)` returns it with every intrinsic evaluated.

    `parameters` holds the effective parameter values (defaults plus overrides), already
    typed as CloudFormation does (CommaDelimitedList as a list, everything else a string).
    """

    template: Mapping[str, Any]
    parameters: Mapping[str, Any]
    pseudo: Mapping[str, Any]
    resources: ResourceLookup = field(default_factory=NoResources)
    _conditions: dict[str, bool] = field(default_factory=dict, init=False, repr=False)

    def resolve(self, value: Any) -> Any:
        result = self._resolve(value)
        return None if result is NO_VALUE else result

    def condition(self, name: str) -> bool:
        """The value of a named condition of the template's Conditions section."""
        if name not in self._conditions:
            conditions = self.template.get("Conditions") or {}
            if name not in conditions:
                raise IntrinsicError(f"condition {name!r} is not defined in Conditions")
            self._conditions[name] = self._truth(self._resolve(conditions[name]), name)
        return self._conditions[name]

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self._resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            handler = _INTRINSICS.get(key)
            # {"Condition": {...}} is an IAM statement's key; only a name is a condition reference
            if handler is not None and not (key == "Condition" and not isinstance(argument, str)):
                return handler(self, argument)
            if key.startswith("Fn::"):
                raise IntrinsicError(f"{key} is not supported by the local cloud's resolver")
        resolved = {key: self._resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _ref(self, name: Any) -> Any:
        if not isinstance(name, str):
            raise IntrinsicError(f"Ref takes a name, got {name!r}")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in (self.template.get("Resources") or {}):
            return self.resources.ref(name)
        raise IntrinsicError(f"Ref {name}: no parameter, pseudo parameter or resource of that name")

    def _get_att(self, argument: Any) -> Any:
        if isinstance(argument, str):
            argument = argument.split(".", 1)
        if not (isinstance(argument, list) and len(argument) == 2):
            raise IntrinsicError(f"Fn::GetAtt takes [LogicalId, Attribute], got {argument!r}")
        logical_id, attribute = argument[0], self._resolve(argument[1])
        if logical_id not in (self.template.get("Resources") or {}):
            raise IntrinsicError(f"Fn::GetAtt {logical_id}.{attribute}: no such resource")
        return self.resources.get_att(logical_id, str(attribute))

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, str):
            text, variables = argument, {}
        elif isinstance(argument, list) and len(argument) == 2:
            text, variables = argument[0], self._resolve(argument[1])
        else:
            raise IntrinsicError(f"Fn::Sub takes a string or [string, variables], got {argument!r}")

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name in variables:
                return _as_text(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return _as_text(self._get_att([logical_id, attribute]))
            return _as_text(self._ref(name))

        # "${!Literal}" is how a template writes a literal "${Literal}"
        return _SUB_VARIABLE.sub(substitute, text).replace("${!", "${")

    def _join(self, argument: Any) -> str:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise IntrinsicError(f"Fn::Join takes [delimiter, list], got {argument!r}")
        delimiter, items = argument[0], self._resolve(argument[1])
        if not isinstance(items, list):
            raise IntrinsicError(f"Fn::Join: {items!r} is not a list")
        return str(delimiter).join(_as_text(item) for item in items)

    def _select(self, argument: Any) -> Any:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise IntrinsicError(f"Fn::Select takes [index, list], got {argument!r}")
        index, items = int(self._resolve(argument[0])), self._resolve(argument[1])
        if not isinstance(items, list) or not 0 <= index < len(items):
            raise IntrinsicError(f"Fn::Select: index {index} is outside {items!r}")
        return items[index]

    def _split(self, argument: Any) -> list[str]:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise IntrinsicError(f"Fn::Split takes [delimiter, string], got {argument!r}")
        return str(self._resolve(argument[1])).split(str(argument[0]))

    def _if(self, argument: Any) -> Any:
        if not (isinstance(argument, list) and len(argument) == 3):
            raise IntrinsicError(f"Fn::If takes [condition, if_true, if_false], got {argument!r}")
        chosen = argument[1] if self.condition(argument[0]) else argument[2]
        return self._resolve(chosen)

    def _equals(self, argument: Any) -> bool:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise IntrinsicError(f"Fn::Equals takes two values, got {argument!r}")
        left, right = (self._resolve(item) for item in argument)
        return _as_text(left) == _as_text(right)

    def _and(self, argument: Any) -> bool:
        return all(self._truth(self._resolve(item), "Fn::And") for item in argument)

    def _or(self, argument: Any) -> bool:
        return any(self._truth(self._resolve(item), "Fn::Or") for item in argument)

    def _not(self, argument: Any) -> bool:
        (item,) = argument
        return not self._truth(self._resolve(item), "Fn::Not")

    def _find_in_map(self, argument: Any) -> Any:
        map_name, top, second = (self._resolve(item) for item in argument)
        try:
            return (self.template.get("Mappings") or {})[map_name][top][second]
        except KeyError as missing:
            raise IntrinsicError(
                f"Fn::FindInMap {map_name}/{top}/{second}: {missing} not found"
            ) from None

    def _base64(self, argument: Any) -> str:
        return base64.b64encode(_as_text(self._resolve(argument)).encode()).decode()

    def _get_azs(self, argument: Any) -> list[str]:
        region = self._resolve(argument) or self.pseudo["AWS::Region"]
        return [f"{region}{zone}" for zone in "abc"]

    def _condition_ref(self, argument: Any) -> bool:
        return self.condition(str(argument))

    @staticmethod
    def _truth(value: Any, where: str) -> bool:
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise IntrinsicError(f"{where}: {value!r} is not a condition value")


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


_INTRINSICS: dict[str, Any] = {
    "Ref": IntrinsicResolver._ref,
    "Fn::GetAtt": IntrinsicResolver._get_att,
    "Fn::Sub": IntrinsicResolver._sub,
    "Fn::Join": IntrinsicResolver._join,
    "Fn::Select": IntrinsicResolver._select,
    "Fn::Split": IntrinsicResolver._split,
    "Fn::If": IntrinsicResolver._if,
    "Fn::Equals": IntrinsicResolver._equals,
    "Fn::And": IntrinsicResolver._and,
    "Fn::Or": IntrinsicResolver._or,
    "Fn::Not": IntrinsicResolver._not,
    "Fn::FindInMap": IntrinsicResolver._find_in_map,
    "Fn::Base64": IntrinsicResolver._base64,
    "Fn::GetAZs": IntrinsicResolver._get_azs,
    "Condition": IntrinsicResolver._condition_ref,
}
