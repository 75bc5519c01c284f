"""Stripe's search query language, the part the simulator answers for PaymentIntents.

Supported (https://docs.stripe.com/search#search-query-language):
- exact-match clauses `field:'value'` on the PaymentIntent token fields
  `metadata['key']`, `status` and `currency`; keys and values in single or double
  quotes, with backslash escapes inside (`metadata["note"]:"say \\"hi\\""`);
- clauses joined by `AND` (any case) or by plain whitespace, which Stripe also reads
  as AND; at most 10 clauses, Stripe's limit.
Matching is case insensitive, as Stripe documents for `:` on token fields.

The rest of the language (OR, negation with `-`, `null`, `~` substrings, `<`/`>`
comparators, the amount, created and customer fields, unquoted values) is refused with a
400 naming `query` and the construct: a simulator that skipped a clause it did not
understand would answer a superset of what Stripe would, and nobody would notice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local_cloud.payment_provider.errors import ApiError, invalid_request

MAX_CLAUSES = 10
SUPPORTED = "exact-match (:) clauses on metadata['key'], status and currency, joined by AND"

_TOKEN_FIELDS = frozenset({"status", "currency"})
_NOT_SIMULATED_FIELDS = frozenset({"amount", "created", "customer"})  # Stripe has them
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_OPERATOR = re.compile(r">=|<=|[:~<>=]")
_KEYWORD = re.compile(r"(AND|OR)(?=\s|$)", re.IGNORECASE)
_SPACE = re.compile(r"\s*")
_BARE_VALUE = re.compile(r"[^\s]+")


@dataclass(frozen=True)
class Clause:
    """`field:'value'`, or `metadata['key']:'value'` when `metadata_key` is set."""

    field: str
    value: str
    metadata_key: str | None = None

    def matches(self, document: Mapping[str, Any]) -> bool:
        """Does the object, as the API renders it, satisfy this clause?"""
        if self.metadata_key is not None:
            actual = document.get("metadata", {}).get(self.metadata_key)
        else:
            actual = document.get(self.field)
        return isinstance(actual, str) and actual.casefold() == self.value.casefold()


@dataclass(frozen=True)
class SearchQuery:
    text: str
    clauses: tuple[Clause, ...]

    def matches(self, document: Mapping[str, Any]) -> bool:
        return all(clause.matches(document) for clause in self.clauses)


def parse_search_query(text: str) -> SearchQuery:
    """Parse or raise a 400 ApiError (param `query`) that says what is not supported."""
    return SearchQuery(text, tuple(_Parser(text).clauses()))


class _Parser:
    """A cursor over the query text; each method consumes what it recognises."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def clauses(self) -> list[Clause]:
        self._skip_space()
        if self._done():
            raise self._error("the query is empty")
        parsed = [self._clause()]
        while True:
            spaced = self._skip_space()
            if self._done():
                return parsed
            if not spaced:
                raise self._error(f"expected a space or AND after a clause at {self._here()}")
            self._and_keyword()
            parsed.append(self._clause())
            if len(parsed) > MAX_CLAUSES:
                raise self._error(f"it has more than {MAX_CLAUSES} clauses, Stripe's limit")

    def _and_keyword(self) -> None:
        """Between clauses, after whitespace: an optional AND (whitespace alone means AND)."""
        keyword = _KEYWORD.match(self.text, self.at)
        if keyword is None:
            return
        if keyword[1].upper() == "OR":
            raise self._error("OR is not supported")
        self.at = keyword.end()
        self._skip_space()
        if self._done():
            raise self._error("it ends with AND, with no clause after it")

    def _clause(self) -> Clause:
        if self.text.startswith("-", self.at):
            raise self._error(f"negation ('-') is not supported, at {self._here()}")
        if self.text.startswith("(", self.at):
            raise self._error(f"parentheses are not supported, at {self._here()}")
        field, metadata_key = self._field()
        self._operator(field)
        return Clause(field, self._value(field), metadata_key)

    def _field(self) -> tuple[str, str | None]:
        match = _FIELD.match(self.text, self.at)
        if match is None:
            raise self._error(f"expected a field name at {self._here()}")
        field = match[0]
        self.at = match.end()
        if field == "metadata":
            return field, self._metadata_key()
        if field in _NOT_SIMULATED_FIELDS:
            raise self._error(f"the field {field!r} is not simulated")
        if field not in _TOKEN_FIELDS:
            raise self._error(f"{field!r} is not a PaymentIntent search field")
        return field, None

    def _metadata_key(self) -> str:
        if not self.text.startswith("[", self.at):
            raise self._error("metadata needs a quoted key: metadata['key']:'value'")
        self.at += 1
        key = self._quoted("the metadata key")
        if not self.text.startswith("]", self.at):
            raise self._error(f"expected ']' after the metadata key at {self._here()}")
        self.at += 1
        return key

    def _operator(self, field: str) -> None:
        match = _OPERATOR.match(self.text, self.at)
        if match is None:
            raise self._error(f"expected ':' after {field} at {self._here()}")
        if match[0] != ":":
            raise self._error(f"the operator {match[0]!r} is not supported (only ':')")
        self.at = match.end()

    def _value(self, field: str) -> str:
        if self.text.startswith(("'", '"'), self.at):
            return self._quoted(f"the value of {field}")
        bare = _BARE_VALUE.match(self.text, self.at)
        if bare is not None and bare[0].lower() == "null":
            raise self._error("null (field presence) is not supported")
        raise self._error(
            f"the value of {field} must be in quotes, as Stripe requires for strings "
            f"(e.g. {field}:'succeeded'), at {self._here()}"
        )

    def _quoted(self, what: str) -> str:
        """A '...' or "..." string; a backslash escapes the next character."""
        quote = self.text[self.at] if not self._done() else ""
        if quote not in ("'", '"'):
            raise self._error(f"{what} must be in quotes, at {self._here()}")
        chars: list[str] = []
        index = self.at + 1
        while index < len(self.text):
            char = self.text[index]
            if char == "\\" and index + 1 < len(self.text):
                chars.append(self.text[index + 1])
                index += 2
                continue
            if char == quote:
                self.at = index + 1
                return "".join(chars)
            chars.append(char)
            index += 1
        raise self._error(f"{what} has no closing {quote}")

    def _skip_space(self) -> bool:
        """Consume whitespace; was there any?"""
        match = _SPACE.match(self.text, self.at)
        assert match is not None  # \s* always matches
        self.at = match.end()
        return bool(match[0])

    def _done(self) -> bool:
        return self.at >= len(self.text)

    def _here(self) -> str:
        return f"character {self.at + 1}" if not self._done() else "the end"

    def _error(self, reason: str) -> ApiError:
        return invalid_request(
            f"Unsupported search query {self.text!r}: {reason}. The payment provider "
            f"simulator supports {SUPPORTED}.",
            param="query",
        )
