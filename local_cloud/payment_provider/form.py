"""Stripe's form encoding: `metadata[transaction_id]=...`, `payment_method_types[0]=card`.

The SDK (stripe/_encode.py, `_api_encode`) flattens nested dicts into bracketed keys,
lists into `key[0]`, `key[1]` and booleans into "true"/"false". This turns the pairs
back into nested dicts and lists of strings; typing the leaves is the endpoint's job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from local_cloud.payment_provider.errors import ApiError, invalid_request

_KEY = re.compile(r"^(?P<name>[^\[\]]+)(?P<path>(?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")

FormValue = str | dict[str, Any] | list[Any]


def decode_form(pairs: Iterable[tuple[str, str]]) -> dict[str, FormValue]:
    """Nest bracketed keys; a key given twice, or as both a value and a hash, is an error."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if match is None:
            raise invalid_request(f"Invalid parameter name: {key!r}.", param=key)
        path = [match["name"], *_SEGMENT.findall(match["path"])]
        _insert(root, path, value, key)
    return {name: _listify(value) for name, value in root.items()}


def _insert(node: dict[str, Any], path: list[str], value: str, key: str) -> None:
    for depth, segment in enumerate(path[:-1]):
        if segment == "":
            # `expand[]=a&expand[]=b`: an append; number it like the SDK's `expand[0]`
            segment = str(len(node))
        child = node.setdefault(segment, {})
        if not isinstance(child, dict):
            raise _conflict(key, path[: depth + 1])
        node = child
    leaf = path[-1] if path[-1] != "" else str(len(node))
    if leaf in node:
        raise _conflict(key, path)
    node[leaf] = value


def _conflict(key: str, path: list[str]) -> ApiError:
    name = path[0] + "".join(f"[{segment}]" for segment in path[1:])
    return invalid_request(
        f"Invalid parameter {key!r}: {name} was given more than once, or both as a value "
        "and as a hash.",
        param=name,
    )


def _listify(value: Any) -> FormValue:
    """A hash whose keys are 0..n-1 was a list on the client."""
    if not isinstance(value, dict):
        return str(value)
    converted = {name: _listify(child) for name, child in value.items()}
    if converted and all(name.isdigit() for name in converted):
        indexes = sorted(int(name) for name in converted)
        if indexes == list(range(len(indexes))):
            return [converted[str(index)] for index in indexes]
    return converted
