"""The corpus itself: big enough, every kind of hostile input, each body what its id says."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.corpus.hostile_inputs import (
    BY_ID,
    CASES,
    HTTP_API_MAX_BODY_BYTES,
    LAMBDA_MAX_EVENT_BYTES,
    NESTING_DEPTH,
    SQS_MAX_BODY_BYTES,
    Target,
)


def test_at_least_40_cases_with_unique_ids() -> None:
    assert len(CASES) >= 40
    assert len(BY_ID) == len(CASES)


def test_every_kind_of_hostile_input_is_in_the_corpus() -> None:
    kinds = Counter(case.category for case in CASES)
    assert set(kinds) == {
        "invalid UTF-8",
        "JSON shape",
        "duplicate field",
        "missing field",
        "extra field",
        "wrong type",
        "amount",
        "currency",
        "transaction ID",
        "account ID",
        "size",
        "nesting",
        "bidi and invisible characters",
        "card number",
    }
    for target in Target:
        kinds_for_target = {case.category for case in CASES if case.target is target}
        for kind in ("invalid UTF-8", "JSON shape", "duplicate field", "nesting", "size"):
            assert kind in kinds_for_target, (target, kind)


def test_the_wrong_types_include_float_string_boolean_and_an_operator() -> None:
    amounts = [
        json.loads(BY_ID[f"charge-amount-{kind}"].raw())["amount"]
        for kind in ("float", "string", "boolean")
    ]
    assert [type(value) for value in amounts] == [float, str, bool]
    assert json.loads(BY_ID["charge-transaction-id-operator"].raw())["transaction_id"] == {
        "$ne": None
    }


def test_the_amounts_include_negative_zero_and_2_to_the_63() -> None:
    amounts = {
        json.loads(c.raw())["amount"]
        for c in CASES
        if c.category == "amount" and c.names == "amount"
    }
    assert {-1999, 0, 2**63, 2**64, -(2**63)} <= amounts


def test_transaction_ids_of_300_characters_and_with_cr_lf_nul() -> None:
    ids = [json.loads(c.raw())["transaction_id"] for c in CASES if c.category == "transaction ID"]
    assert 300 in {len(i) for i in ids}
    for char in "\r\n\x00":
        assert any(char in i for i in ids), repr(char)


def test_invalid_utf8_is_invalid_utf8() -> None:
    for case in CASES:
        if case.category == "invalid UTF-8" and case.id != "charge-escaped-lone-surrogate":
            with pytest.raises(UnicodeDecodeError):
                case.raw().decode("utf-8")


@pytest.mark.parametrize(
    ("case_id", "size"),
    [
        ("charge-at-the-sqs-limit", SQS_MAX_BODY_BYTES),
        ("charge-one-byte-over-the-sqs-limit", SQS_MAX_BODY_BYTES + 1),
        ("welcome-email-just-under-the-sqs-limit", SQS_MAX_BODY_BYTES - 1),
        ("welcome-email-one-byte-over-the-sqs-limit", SQS_MAX_BODY_BYTES + 1),
        ("signup-over-the-http-api-limit", HTTP_API_MAX_BODY_BYTES + 1),
    ],
)
def test_the_sizes_are_exact(case_id: str, size: int) -> None:
    assert len(BY_ID[case_id].raw()) == size


def test_the_lambda_limit_case_is_under_10_mb_but_over_6_mb() -> None:
    body = BY_ID["signup-over-the-lambda-event-limit"].raw()
    assert LAMBDA_MAX_EVENT_BYTES < len(body) < HTTP_API_MAX_BODY_BYTES


def test_the_nesting_is_100000_deep() -> None:
    assert BY_ID["signup-arrays-100k-deep"].raw().count(b"[") == NESTING_DEPTH == 100_000
    assert BY_ID["charge-amount-objects-100k-deep"].raw().count(b'{"a":') == NESTING_DEPTH
