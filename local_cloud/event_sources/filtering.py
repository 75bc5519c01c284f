"""Lambda's event filtering (a mapping's FilterCriteria) for SQS records: validate, then match.

Pure functions, no I/O. The rules are those of the Lambda developer guide, "Control which
events Lambda sends to your function" (filter rule syntax, the SQS body-format table) and
"Using event filtering with an Amazon SQS event source"; the rule language is EventBridge's
("Comparison operators for use in event patterns in Amazon EventBridge"), as Lambda says.

- FilterCriteria holds up to 5 `Filters` (AWS's default quota; 10 on request), each a JSON
  `Pattern` string of at most 4,096 characters. A record goes to the function if it matches
  ANY filter; for SQS, a message that matches none is deleted without an invocation.
- A pattern is a JSON object. Its keys are fields of the record (`body`, `attributes`,
  `messageAttributes`, ...) and nest as objects; every key of a pattern must match (AND).
  A leaf is an array of rules, ORed: exact values (string, number, true/false, null, "" for
  empty), {"prefix": s}, {"suffix": s}, {"equals-ignore-case": s}, {"anything-but": value,
  values, {"prefix": s}, {"suffix": s} or {"equals-ignore-case": s or [s, ...]}},
  {"numeric": ["=", n]} or a range, {"numeric": [">", 10, "<=", 20]}, {"exists": true/false},
  {"cidr": "10.0.0.0/24"} (an IPv4 or IPv6 address string within the block; EventBridge's
  "IP address matching", which Lambda accepts: AWS's own serverless pattern
  lambda-esm-sqs-filters-sam deploys a mapping filtering on it, see tests/acceptance).
  {"$or": [pattern, pattern, ...]} at any level matches if one of its patterns does.
- The record must hold every field the pattern names (except for "exists": false).
  Strings match character by character, numbers by how they are written (300, 300.0
  and 3.0e2 differ), "numeric" only JSON numbers. Where the record holds an array, the
  rule matches if it matches any element (objects in arrays: any element as a whole).
- `body`: a body that is JSON (an object or an array) is matched as JSON by an object
  pattern; a plain-text body only by a leaf array on `body` itself ({"body": ["text"]},
  {"body": [{"prefix": "x"}]}). A mismatch of the two formats drops the message, and a
  pattern without `body` ignores the body.

Not covered: EventBridge operators Lambda's guide does not list (wildcard,
prefix/suffix with equals-ignore-case); numeric's limits on magnitude and precision. AWS's
current SQS page says SQS mappings filter on `body` only; here every record field can be
matched (the general page's "metadata properties"), and no pattern is refused for it.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_FILTERS = 5  # per mapping, AWS's default quota (raised up to 10 on request)
MAX_PATTERN_LENGTH = 4096  # characters of one Pattern (the Filter API type)

_STRING_OPERATORS = ("prefix", "suffix", "equals-ignore-case")
_OPERATORS = (*_STRING_OPERATORS, "anything-but", "numeric", "exists", "cidr")
_LOWER_BOUNDS = (">", ">=")
_UPPER_BOUNDS = ("<", "<=")
_NUMERIC_OPERATORS = ("=", *_LOWER_BOUNDS, *_UPPER_BOUNDS)
_MISSING = object()


class InvalidFilterCriteria(ValueError):
    """CreateEventSourceMapping would refuse the FilterCriteria (InvalidParameterValue)."""


class _Number(float):
    """A JSON number that keeps how it was written: Lambda compares numbers as text."""

    text: str

    def __new__(cls, text: str) -> _Number:
        number = super().__new__(cls, text)
        number.text = text
        return number


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(text: str) -> Any:
    return json.loads(text, parse_int=_Number, parse_float=_Number, parse_constant=_reject_constant)


@dataclass(frozen=True)
class FilterPattern:
    """One filter of the criteria, parsed and checked."""

    index: int  # its position in FilterCriteria.Filters
    source: str  # the Pattern string
    tree: Mapping[str, Any]


# -- the FilterCriteria property -------------------------------------------------------------


def filter_patterns(criteria: Any) -> tuple[str, ...]:
    """The Pattern strings of a mapping's FilterCriteria property; () for none or {}."""
    if criteria is None:
        return ()
    if not isinstance(criteria, Mapping):
        raise InvalidFilterCriteria("FilterCriteria must be an object with a Filters list")
    filters = criteria.get("Filters")
    if filters is None:
        return ()
    if not isinstance(filters, list):
        raise InvalidFilterCriteria("FilterCriteria.Filters must be a list of {Pattern: ...}")
    patterns = []
    for index, item in enumerate(filters):
        pattern = item.get("Pattern") if isinstance(item, Mapping) else None
        if not isinstance(pattern, str):
            raise InvalidFilterCriteria(
                f"FilterCriteria.Filters[{index}]: Pattern must be a string holding the "
                f"filter pattern's JSON, got {type(pattern).__name__}"
            )
        patterns.append(pattern)
    return tuple(patterns)


def compile_filters(
    patterns: Sequence[str], *, max_filters: int = MAX_FILTERS
) -> tuple[FilterPattern, ...]:
    """Parse and check every Pattern; InvalidFilterCriteria names the first bad one."""
    if len(patterns) > max_filters:
        raise InvalidFilterCriteria(
            f"FilterCriteria has {len(patterns)} filters; an event source mapping takes at "
            f"most {max_filters} (AWS's default quota)"
        )
    return tuple(_compile(index, pattern) for index, pattern in enumerate(patterns))


def _compile(index: int, pattern: str) -> FilterPattern:
    where = f"FilterCriteria.Filters[{index}].Pattern"
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidFilterCriteria(
            f"{where} is {len(pattern)} characters long; the limit is {MAX_PATTERN_LENGTH}"
        )
    try:
        tree = _loads(pattern)
    except ValueError as error:
        raise InvalidFilterCriteria(f"{where} is not valid JSON: {error}") from None
    try:
        _check_object(tree, "")
    except InvalidFilterCriteria as error:
        raise InvalidFilterCriteria(
            f"{where}: invalid filter pattern definition: {error}"
        ) from None
    return FilterPattern(index=index, source=pattern, tree=tree)


def _check_object(node: Any, path: str) -> None:
    if not isinstance(node, dict):
        raise InvalidFilterCriteria(f"{path or 'the pattern'} must be a JSON object")
    if not node:
        raise InvalidFilterCriteria(f"{path or 'the pattern'} is an empty object")
    for key, value in node.items():
        where = f"{path}.{key}" if path else key
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise InvalidFilterCriteria(f"{where} must be an array of at least 2 patterns")
            for number, alternative in enumerate(value):
                _check_object(alternative, f"{where}[{number}]")
        elif isinstance(value, dict):
            _check_object(value, where)
        elif isinstance(value, list):
            if not value:
                raise InvalidFilterCriteria(f"{where} is an empty array: give at least one rule")
            for rule in value:
                _check_rule(rule, where)
        else:
            raise InvalidFilterCriteria(
                f"{where} must be an array of rules or an object of nested fields, "
                f"not {json.dumps(value)}"
            )


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, _Number))


def _check_rule(rule: Any, where: str) -> None:
    if _is_scalar(rule):
        return
    if not isinstance(rule, dict) or len(rule) != 1:
        raise InvalidFilterCriteria(
            f"{where}: {json.dumps(rule)} is not a rule (a value, or an object with one "
            f"of {', '.join(_OPERATORS)})"
        )
    ((operator, operand),) = rule.items()
    if operator in _STRING_OPERATORS:
        if not isinstance(operand, str):
            raise InvalidFilterCriteria(f"{where}: {operator} takes a string")
    elif operator == "exists":
        if not isinstance(operand, bool):
            raise InvalidFilterCriteria(f"{where}: exists takes true or false")
    elif operator == "numeric":
        _check_numeric(operand, where)
    elif operator == "anything-but":
        _check_anything_but(operand, where)
    elif operator == "cidr":
        _check_cidr(operand, where)
    else:
        raise InvalidFilterCriteria(
            f"{where}: unknown operator {operator!r} (Lambda knows {', '.join(_OPERATORS)})"
        )


def _check_cidr(operand: Any, where: str) -> None:
    shape = f"{where}: cidr takes an IP address block such as '10.0.0.0/24'"
    if not isinstance(operand, str):
        raise InvalidFilterCriteria(shape)
    try:
        # strict=False: a block written with host bits ("10.0.0.7/24") means its network
        ipaddress.ip_network(operand, strict=False)
    except ValueError:
        raise InvalidFilterCriteria(f"{shape}, not {json.dumps(operand)}") from None


def _in_block(block: str, value: Any) -> bool:
    """Whether `value` is an IP address string inside `block`; any other value is not."""
    if not isinstance(value, str):
        return False
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return address in ipaddress.ip_network(block, strict=False)


def _check_numeric(operand: Any, where: str) -> None:
    shape = f"{where}: numeric takes [op, number] or a range like ['>', 0, '<=', 5]"
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        raise InvalidFilterCriteria(shape)
    operators = operand[0::2]
    for operator, number in zip(operators, operand[1::2], strict=True):
        if operator not in _NUMERIC_OPERATORS:
            raise InvalidFilterCriteria(
                f"{where}: numeric operator {json.dumps(operator)} is not one of "
                f"{', '.join(_NUMERIC_OPERATORS)}"
            )
        if not isinstance(number, _Number):
            raise InvalidFilterCriteria(f"{where}: numeric {operator} takes a number")
    if len(operators) == 2:
        lower = [op for op in operators if op in _LOWER_BOUNDS]
        upper = [op for op in operators if op in _UPPER_BOUNDS]
        if len(lower) != 1 or len(upper) != 1:
            raise InvalidFilterCriteria(
                f"{where}: a numeric range needs one lower bound (> or >=) and one upper "
                "bound (< or <=)"
            )


def _check_anything_but(operand: Any, where: str) -> None:
    if isinstance(operand, (str, _Number)):
        return
    if isinstance(operand, list):
        if not operand:
            raise InvalidFilterCriteria(f"{where}: anything-but has an empty array")
        if not (
            all(isinstance(v, str) for v in operand) or all(isinstance(v, _Number) for v in operand)
        ):
            raise InvalidFilterCriteria(
                f"{where}: anything-but takes an array of strings or an array of numbers"
            )
        return
    if isinstance(operand, dict) and len(operand) == 1:
        ((operator, value),) = operand.items()
        if operator in ("prefix", "suffix") and isinstance(value, str):
            return
        if operator == "equals-ignore-case" and (
            isinstance(value, str)
            or (isinstance(value, list) and value and all(isinstance(v, str) for v in value))
        ):
            return
    raise InvalidFilterCriteria(
        f"{where}: anything-but takes a value, an array of values, or one of "
        f"{{prefix: s}}, {{suffix: s}}, {{equals-ignore-case: s}}; got {json.dumps(operand)}"
    )


# -- matching --------------------------------------------------------------------------------


def matches(record: Mapping[str, Any], filters: Sequence[FilterPattern]) -> bool:
    """Whether Lambda sends this SQS record (sqs_event.lambda_record's shape) to the function:
    it matches any filter. No filters: every record goes."""
    if not filters:
        return True
    view: dict[str, Any] = _loads(json.dumps(record))  # numbers as _Number, like patterns'
    body = view.get("body")
    body_is_json = False
    if isinstance(body, str):
        try:
            parsed = _loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, (dict, list)):
            view["body"] = parsed
            body_is_json = True
    return any(_match_object(f.tree, view, body_is_json=body_is_json) for f in filters)


def _match_object(
    pattern: Mapping[str, Any], node: Mapping[str, Any], *, body_is_json: bool | None = None
) -> bool:
    """Every key of the pattern matches. body_is_json is given at the record's top level."""
    for key, sub in pattern.items():
        if key == "$or":
            if not any(_match_object(alt, node, body_is_json=body_is_json) for alt in sub):
                return False
            continue
        value = node.get(key, _MISSING)
        # Lambda checks the formats first: a plain-text pattern (a leaf array on body) for
        # a JSON body, or a JSON pattern for a plain-text body, drops the message.
        if (
            body_is_json is not None
            and key == "body"
            and value is not _MISSING
            and isinstance(sub, list) == body_is_json
        ):
            return False
        if not _match_field(sub, value):
            return False
    return True


def _match_field(sub: Any, value: Any) -> bool:
    if isinstance(sub, dict):
        if isinstance(value, list):
            return any(_match_object(sub, v) for v in value if isinstance(v, dict))
        # A field that is absent or not an object has no nested fields: only "exists":
        # false can match them.
        return _match_object(sub, value if isinstance(value, dict) else {})
    leaves = _leaves(value)
    for rule in sub:
        if isinstance(rule, dict) and "exists" in rule:
            if rule["exists"] == bool(leaves):
                return True
        elif any(_match_rule(rule, leaf) for leaf in leaves):
            return True
    return False


def _leaves(value: Any) -> list[Any]:
    """The values a leaf rule is tried on: none when absent or an object, else the value or
    the scalar elements of an array."""
    if value is _MISSING or isinstance(value, dict):
        return []
    if isinstance(value, list):
        return [v for v in value if _is_scalar(v)]
    return [value]


def _same(expected: Any, value: Any) -> bool:
    if isinstance(expected, _Number) or isinstance(value, _Number):
        return (
            isinstance(expected, _Number)
            and isinstance(value, _Number)
            and expected.text == value.text
        )
    if isinstance(expected, bool) or isinstance(value, bool):
        return expected is value
    return bool(type(expected) is type(value) and expected == value)


def _match_rule(rule: Any, value: Any) -> bool:
    if not isinstance(rule, dict):
        return _same(rule, value)
    ((operator, operand),) = rule.items()
    if operator == "prefix":
        return isinstance(value, str) and value.startswith(operand)
    if operator == "suffix":
        return isinstance(value, str) and value.endswith(operand)
    if operator == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == operand.casefold()
    if operator == "numeric":
        return isinstance(value, _Number) and _in_range(operand, float(value))
    if operator == "anything-but":
        return not _excluded(operand, value)
    if operator == "cidr":
        return _in_block(operand, value)
    raise AssertionError(f"unchecked operator {operator}")  # compile_filters refuses it


def _excluded(operand: Any, value: Any) -> bool:
    """Whether anything-but's operand names this value."""
    if isinstance(operand, dict):
        ((operator, argument),) = operand.items()
        if not isinstance(value, str):
            return False
        if operator == "prefix":
            return value.startswith(argument)
        if operator == "suffix":
            return value.endswith(argument)
        names = [argument] if isinstance(argument, str) else argument
        return value.casefold() in {name.casefold() for name in names}
    values = operand if isinstance(operand, list) else [operand]
    return any(_same(excluded, value) for excluded in values)


def _in_range(conditions: Sequence[Any], number: float) -> bool:
    for operator, bound in zip(conditions[0::2], conditions[1::2], strict=True):
        limit = float(bound)
        holds = {
            "=": number == limit,
            "<": number < limit,
            "<=": number <= limit,
            ">": number > limit,
            ">=": number >= limit,
        }[operator]
        if not holds:
            return False
    return True
