"""PaymentIntent parameters, the simulated charge and list pagination."""

from __future__ import annotations

from typing import Any

import pytest

from local_cloud.payment_provider.errors import ApiError
from local_cloud.payment_provider.form import FormValue
from local_cloud.payment_provider.payment_intents import (
    CreatePaymentIntent,
    ListPaymentIntents,
    PaymentIntentLedger,
    create_payment_intent,
    list_payment_intents,
    parse_create_params,
    parse_list_params,
)

BILLING_PARAMS: dict[str, FormValue] = {
    "amount": "1999",
    "currency": "usd",
    "payment_method": "pm_card_visa",
    "confirm": "true",
    "automatic_payment_methods": {"enabled": "true", "allow_redirects": "never"},
    "metadata": {"transaction_id": "txn_1", "account_id": "acc_1"},
}


def params(**changes: Any) -> dict[str, FormValue]:
    merged = {**BILLING_PARAMS, **changes}
    return {name: value for name, value in merged.items() if value is not None}


def refusal(form: dict[str, FormValue]) -> ApiError:
    with pytest.raises(ApiError) as raised:
        parse_create_params(form)
    assert raised.value.status == 400
    return raised.value


def test_the_billing_functions_call_is_valid() -> None:
    request = parse_create_params(params())

    assert request == CreatePaymentIntent(
        amount=1999,
        currency="usd",
        payment_method="pm_card_visa",
        confirm=True,
        automatic_payment_methods={"enabled": True, "allow_redirects": "never"},
        metadata={"transaction_id": "txn_1", "account_id": "acc_1"},
    )


@pytest.mark.parametrize(
    ("changes", "param", "code"),
    [
        ({"amount": None}, "amount", "parameter_missing"),
        ({"amount": "19.99"}, "amount", "parameter_invalid_integer"),
        ({"amount": "abc"}, "amount", "parameter_invalid_integer"),
        ({"amount": "0"}, "amount", "parameter_invalid_integer"),
        ({"amount": "-5"}, "amount", "parameter_invalid_integer"),
        ({"amount": "49"}, "amount", "amount_too_small"),
        ({"amount": "100000000"}, "amount", "amount_too_large"),
        ({"amount": {"x": "1"}}, "amount", None),
        ({"currency": None}, "currency", "parameter_missing"),
        ({"currency": "USD"}, "currency", None),
        ({"currency": "usdx"}, "currency", None),
        ({"currency": "xyz"}, "currency", None),
        ({"confirm": "yes"}, "confirm", None),
        ({"payment_method": None}, "payment_method", "parameter_missing"),
        ({"capture_method": "manual"}, "capture_method", "parameter_unknown"),
        ({"metadata": "txn_1"}, "metadata", None),
        ({"metadata": {"k" * 41: "v"}}, f"metadata[{'k' * 41}]", None),
        ({"metadata": {"k": "v" * 501}}, "metadata[k]", None),
        ({"metadata": {"k": {"nested": "v"}}}, "metadata[k]", None),
        ({"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata", None),
        (
            {"automatic_payment_methods": {"allow_redirects": "never"}},
            "automatic_payment_methods[enabled]",
            "parameter_missing",
        ),
        (
            {"automatic_payment_methods": {"enabled": "true", "x": "1"}},
            "automatic_payment_methods[x]",
            "parameter_unknown",
        ),
        (
            {"automatic_payment_methods": {"enabled": "true", "allow_redirects": "sometimes"}},
            "automatic_payment_methods[allow_redirects]",
            None,
        ),
        ({"payment_method_types": ["card"]}, "automatic_payment_methods", None),
        ({"automatic_payment_methods": None}, "return_url", None),
    ],
)
def test_invalid_params_are_refused_naming_the_param(
    changes: dict[str, Any], param: str, code: str | None
) -> None:
    error = refusal(params(**changes))

    assert error.param == param
    assert error.code == code
    assert error.body()["error"]["type"] == "invalid_request_error"


def test_the_currency_message_says_currencies_are_lower_case() -> None:
    assert "lower case" in refusal(params(currency="USD")).message


def test_minimum_amounts_follow_the_currency() -> None:
    assert parse_create_params(params(amount="30", currency="gbp")).amount == 30
    assert parse_create_params(params(amount="1", currency="isk")).amount == 1
    assert "0.30 gbp" in refusal(params(amount="29", currency="gbp")).message


def test_card_types_or_redirects_off_or_a_return_url_allow_confirming() -> None:
    card_only = params(automatic_payment_methods=None, payment_method_types=["card"])
    with_return_url = params(automatic_payment_methods=None, return_url="https://x.test/done")

    assert parse_create_params(card_only).payment_method_types == ("card",)
    assert parse_create_params(with_return_url).return_url == "https://x.test/done"


def test_empty_metadata_values_set_nothing() -> None:
    assert parse_create_params(params(metadata={"a": "", "b": "1"})).metadata == {"b": "1"}


def charge(payment_method: str, ledger: PaymentIntentLedger | None = None, **kw: Any) -> Any:
    request = CreatePaymentIntent(
        amount=1999,
        currency="usd",
        payment_method=payment_method,
        confirm=kw.pop("confirm", True),
        metadata={"transaction_id": "txn_1"},
    )
    ledger = ledger if ledger is not None else PaymentIntentLedger()
    return create_payment_intent(request, ledger, lambda: 1_700_000_000)


@pytest.mark.parametrize("card", ["pm_card_visa", "pm_card_mastercard", "pm_card_amex"])
def test_a_good_card_is_charged(card: str) -> None:
    ledger = PaymentIntentLedger()

    intent = charge(card, ledger).to_json()

    assert intent["object"] == "payment_intent"
    assert intent["id"].startswith("pi_")
    assert intent["status"] == "succeeded"
    assert intent["amount_received"] == 1999
    assert intent["latest_charge"].startswith("ch_")
    assert intent["payment_method"].startswith("pm_")
    assert intent["payment_method"] != card
    assert intent["metadata"] == {"transaction_id": "txn_1"}
    assert intent["livemode"] is False
    assert intent["created"] == 1_700_000_000
    assert len(ledger) == 1


@pytest.mark.parametrize(
    ("card", "code", "decline_code"),
    [
        ("pm_card_chargeDeclined", "card_declined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card"),
    ],
)
def test_a_declined_card_raises_402_and_leaves_an_unpaid_intent(
    card: str, code: str, decline_code: str
) -> None:
    ledger = PaymentIntentLedger()

    with pytest.raises(ApiError) as raised:
        charge(card, ledger)

    error = raised.value.body()["error"]
    assert raised.value.status == 402
    assert (error["type"], error["code"], error["decline_code"]) == (
        "card_error",
        code,
        decline_code,
    )
    intent = error["payment_intent"]
    assert intent["status"] == "requires_payment_method"
    assert intent["amount_received"] == 0
    assert intent["last_payment_error"]["decline_code"] == decline_code
    assert error["charge"] == intent["latest_charge"]
    assert ledger.get(intent["id"]).status == "requires_payment_method"


def test_an_unknown_payment_method_is_resource_missing_and_creates_nothing() -> None:
    ledger = PaymentIntentLedger()

    with pytest.raises(ApiError) as raised:
        charge("pm_card_doesNotExist", ledger)

    assert (raised.value.status, raised.value.code) == (400, "resource_missing")
    assert raised.value.param == "payment_method"
    assert len(ledger) == 0


def test_without_confirm_nothing_is_charged() -> None:
    intent = charge("pm_card_visa", confirm=False)

    assert intent.status == "requires_confirmation"
    assert intent.latest_charge is None
    assert intent.amount_received == 0


@pytest.fixture
def five_intents() -> tuple[PaymentIntentLedger, list[str]]:
    ledger = PaymentIntentLedger()
    ids = [charge("pm_card_visa", ledger).id for _ in range(5)]
    return ledger, ids[::-1]  # newest first, as Stripe lists


def test_list_is_newest_first_and_pages_forward(
    five_intents: tuple[PaymentIntentLedger, list[str]],
) -> None:
    ledger, newest_first = five_intents

    first = list_payment_intents(ledger, ListPaymentIntents(limit=2))
    second = list_payment_intents(
        ledger, ListPaymentIntents(limit=2, starting_after=first["data"][-1]["id"])
    )
    last = list_payment_intents(
        ledger, ListPaymentIntents(limit=2, starting_after=second["data"][-1]["id"])
    )

    assert (first["object"], first["url"]) == ("list", "/v1/payment_intents")
    assert [i["id"] for i in first["data"] + second["data"] + last["data"]] == newest_first
    assert (first["has_more"], second["has_more"], last["has_more"]) == (True, True, False)


def test_ending_before_pages_back_to_the_newest(
    five_intents: tuple[PaymentIntentLedger, list[str]],
) -> None:
    ledger, newest_first = five_intents

    page = list_payment_intents(ledger, ListPaymentIntents(limit=2, ending_before=newest_first[3]))
    top = list_payment_intents(ledger, ListPaymentIntents(limit=2, ending_before=newest_first[1]))

    assert [i["id"] for i in page["data"]] == newest_first[1:3]
    assert page["has_more"] is True
    assert [i["id"] for i in top["data"]] == newest_first[:1]
    assert top["has_more"] is False


def test_an_unknown_cursor_is_resource_missing(
    five_intents: tuple[PaymentIntentLedger, list[str]],
) -> None:
    ledger, _ = five_intents

    with pytest.raises(ApiError) as raised:
        list_payment_intents(ledger, ListPaymentIntents(starting_after="pi_nope"))

    assert (raised.value.status, raised.value.param) == (400, "starting_after")


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"starting_after": "pi_1", "ending_before": "pi_2"}, "ending_before"),
        ({"customer": "cus_1"}, "customer"),
    ],
)
def test_bad_list_params_are_refused(query: dict[str, FormValue], param: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_list_params(query)

    assert raised.value.param == param


def test_list_limit_defaults_to_ten() -> None:
    assert parse_list_params({}).limit == 10
    assert parse_list_params({"limit": "100"}).limit == 100
