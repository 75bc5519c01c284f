"""Decoding Stripe's bracketed form keys back into nested params."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest
from stripe._encode import _api_encode

from local_cloud.payment_provider.errors import ApiError
from local_cloud.payment_provider.form import decode_form


def sdk_pairs(params: dict[str, object]) -> list[tuple[str, str]]:
    """The pairs the stripe SDK puts on the wire for these params."""
    return parse_qsl(urlencode(list(_api_encode(params))))


def test_round_trips_what_the_sdk_sends_for_a_charge() -> None:
    params = {
        "amount": 1999,
        "currency": "usd",
        "confirm": True,
        "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        "metadata": {"transaction_id": "txn_1", "account_id": "acc_1"},
        "payment_method_types": ["card"],
    }

    assert decode_form(sdk_pairs(params)) == {
        "amount": "1999",
        "currency": "usd",
        "confirm": "true",
        "automatic_payment_methods": {"enabled": "true", "allow_redirects": "never"},
        "metadata": {"transaction_id": "txn_1", "account_id": "acc_1"},
        "payment_method_types": ["card"],
    }


def test_empty_brackets_append_to_a_list() -> None:
    assert decode_form([("expand[]", "a"), ("expand[]", "b")]) == {"expand": ["a", "b"]}


def test_numbered_keys_with_gaps_stay_a_hash() -> None:
    assert decode_form([("x[0]", "a"), ("x[2]", "b")]) == {"x": {"0": "a", "2": "b"}}


@pytest.mark.parametrize(
    "pairs",
    [
        [("amount", "1"), ("amount", "2")],
        [("metadata", "x"), ("metadata[a]", "b")],
        [("metadata[a]", "b"), ("metadata", "x")],
    ],
)
def test_a_key_given_twice_or_as_value_and_hash_is_refused(pairs: list[tuple[str, str]]) -> None:
    with pytest.raises(ApiError) as raised:
        decode_form(pairs)

    assert raised.value.status == 400
    assert raised.value.param in ("amount", "metadata")


@pytest.mark.parametrize("key", ["metadata[a", "[a]", "a]b"])
def test_malformed_keys_are_refused_by_name(key: str) -> None:
    with pytest.raises(ApiError) as raised:
        decode_form([(key, "v")])

    assert raised.value.param == key
