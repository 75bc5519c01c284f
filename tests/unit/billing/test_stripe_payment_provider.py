"""StripePaymentProvider through the real stripe SDK, with its HTTP client stubbed (no sockets)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import boto3
import pytest
import stripe
from moto import mock_aws

from delivery_guarantees.adapters.payment_provider import (
    ParameterStoreSecret,
    PaymentIdempotencyConflict,
    PaymentProviderError,
    PaymentProviderUnavailable,
    PaymentRequestRejected,
    StripePaymentProvider,
)
from delivery_guarantees.billing import parse_charge_request
from delivery_guarantees.models import ChargeOutcome, ChargeRequest
from tests.unit.billing.fakes import charge_body

API_KEY = "sk_test_51DoNotLogMe0123456789abcdef"
API_BASE = "http://127.0.0.1:12111"
CHARGE: ChargeRequest = parse_charge_request(
    json.dumps(charge_body(transaction_id="txn_stripe_1", account_id="acc_stripe_1"))
)

Response = tuple[str, int, Mapping[str, str]]


@dataclass(frozen=True)
class SentRequest:
    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, list[str]]


class StubStripeHttp(stripe.HTTPClient):
    """Answers each request with the next scripted response (or raises it)."""

    name = "stub"

    def __init__(self, *script: Response | Exception) -> None:
        super().__init__()
        self.script = list(script)
        self.sent: list[SentRequest] = []

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> Response:
        body = post_data.decode() if isinstance(post_data, bytes) else (post_data or "")
        self.sent.append(SentRequest(method, url, dict(headers or {}), parse_qs(body)))
        answer = self.script.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _sleep_time_seconds(self, num_retries: int) -> float:
        return 0.0  # the SDK's backoff between its own retries: not worth waiting for in tests

    def close(self) -> None:
        pass


def answer(status: int, body: dict[str, Any]) -> Response:
    return json.dumps(body), status, {"request-id": f"req_{status}"}


def error(status: int, **fields: Any) -> Response:
    return answer(status, {"error": fields})


def intent(status: str, **fields: Any) -> Response:
    return answer(200, {"id": "pi_123", "object": "payment_intent", "status": status, **fields})


def provider_with(http: StubStripeHttp, *, max_network_retries: int = 0) -> StripePaymentProvider:
    return StripePaymentProvider(
        api_key=lambda: API_KEY,
        api_base=API_BASE,
        http_client=http,
        max_network_retries=max_network_retries,
    )


def test_a_charge_is_one_confirmed_payment_intent_keyed_on_the_transaction() -> None:
    http = StubStripeHttp(intent("succeeded"))

    outcome = provider_with(http).charge(CHARGE)

    assert outcome == ChargeOutcome(
        transaction_id="txn_stripe_1",
        account_id="acc_stripe_1",
        amount=1999,
        currency="usd",
        status="succeeded",
        payment_intent_id="pi_123",
    )
    [sent] = http.sent
    assert (sent.method, sent.url) == ("post", f"{API_BASE}/v1/payment_intents")
    assert sent.headers["Idempotency-Key"] == "txn_stripe_1"
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent.params == {
        "amount": ["1999"],
        "currency": ["usd"],
        "payment_method": ["pm_card_visa"],
        "confirm": ["true"],
        "automatic_payment_methods[enabled]": ["true"],
        "automatic_payment_methods[allow_redirects]": ["never"],
        "metadata[transaction_id]": ["txn_stripe_1"],
        "metadata[account_id]": ["acc_stripe_1"],
    }


def test_a_declined_card_is_a_declined_outcome() -> None:
    http = StubStripeHttp(
        error(
            402,
            type="card_error",
            code="card_declined",
            decline_code="insufficient_funds",
            message="Your card has insufficient funds.",
            payment_intent={"id": "pi_declined", "object": "payment_intent"},
        )
    )

    outcome = provider_with(http).charge(CHARGE)

    assert (outcome.status, outcome.decline_code, outcome.payment_intent_id) == (
        "declined",
        "insufficient_funds",
        "pi_declined",
    )


def test_a_card_error_without_decline_code_uses_its_code() -> None:
    http = StubStripeHttp(error(402, type="card_error", code="expired_card", message="Expired."))

    outcome = provider_with(http).charge(CHARGE)

    assert (outcome.status, outcome.decline_code, outcome.payment_intent_id) == (
        "declined",
        "expired_card",
        None,
    )


@pytest.mark.parametrize(
    ("intent_status", "fields", "decline_code"),
    [
        (
            "requires_payment_method",
            {"last_payment_error": {"code": "card_declined", "decline_code": "do_not_honor"}},
            "do_not_honor",
        ),
        ("requires_action", {}, "authentication_required"),
    ],
)
def test_an_unconfirmed_intent_is_a_declined_outcome(
    intent_status: str, fields: dict[str, Any], decline_code: str
) -> None:
    outcome = provider_with(StubStripeHttp(intent(intent_status, **fields))).charge(CHARGE)

    assert (outcome.status, outcome.decline_code) == ("declined", decline_code)


def test_an_intent_in_an_unexpected_status_is_an_error_naming_it() -> None:
    http = StubStripeHttp(intent("processing"))

    with pytest.raises(PaymentProviderError, match=r"txn_stripe_1.*pi_123.*'processing'") as exc:
        provider_with(http).charge(CHARGE)
    assert not exc.value.transient


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(
            stripe.APIConnectionError("Request timed out", should_retry=True), id="timeout"
        ),
        pytest.param(stripe.APIConnectionError("Connection refused"), id="connection"),
        pytest.param(error(500, type="api_error", message="Internal error"), id="500"),
        pytest.param(error(503, type="api_error", message="Unavailable"), id="503"),
        pytest.param(error(429, type="invalid_request_error", code="rate_limit"), id="429"),
        pytest.param(
            error(409, type="idempotency_error", message="another request is in progress"),
            id="409-concurrent-same-key",
        ),
    ],
)
def test_transient_failures_raise_unavailable(failure: Response | Exception) -> None:
    with pytest.raises(PaymentProviderUnavailable, match="transaction txn_stripe_1") as exc:
        provider_with(StubStripeHttp(failure)).charge(CHARGE)

    assert exc.value.transient


def test_the_sdk_retries_a_409_with_the_same_idempotency_key() -> None:
    http = StubStripeHttp(error(409, type="api_error", message="in progress"), intent("succeeded"))

    outcome = provider_with(http, max_network_retries=1).charge(CHARGE)

    assert outcome.status == "succeeded"
    assert [sent.headers["Idempotency-Key"] for sent in http.sent] == ["txn_stripe_1"] * 2


def test_same_key_with_other_parameters_is_a_conflict_naming_the_transaction() -> None:
    http = StubStripeHttp(
        error(
            400,
            type="idempotency_error",
            message="Keys for idempotent requests can only be used with the same parameters",
        )
    )

    with pytest.raises(PaymentIdempotencyConflict, match="transaction txn_stripe_1") as exc:
        provider_with(http).charge(CHARGE)

    assert not exc.value.transient
    assert "nothing was charged" in str(exc.value)


@pytest.mark.parametrize(
    "failure",
    [
        error(400, type="invalid_request_error", code="resource_missing", message="No such pm"),
        error(401, type="invalid_request_error", message="Invalid API Key provided: sk_test_****"),
    ],
)
def test_a_rejected_request_is_not_transient(failure: Response) -> None:
    with pytest.raises(PaymentRequestRejected, match="transaction txn_stripe_1") as exc:
        provider_with(StubStripeHttp(failure)).charge(CHARGE)

    assert not exc.value.transient


def test_the_api_key_is_never_logged_nor_in_errors(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)  # the SDK logs requests and responses at debug
    provider = provider_with(
        StubStripeHttp(
            intent("succeeded"),
            error(402, type="card_error", code="card_declined", message="Declined"),
            error(500, type="api_error", message="Internal error"),
            error(400, type="idempotency_error", message="Keys for idempotent requests"),
        )
    )
    texts = [repr(provider)]

    provider.charge(CHARGE)
    provider.charge(CHARGE)
    for _ in range(2):
        with pytest.raises(PaymentProviderError) as exc:
            provider.charge(CHARGE)
        texts += [str(exc.value), repr(exc.value), str(exc.value.__cause__)]

    captured = capsys.readouterr()
    texts += [caplog.text, captured.out, captured.err]
    assert "Request to Stripe api" in caplog.text  # the SDK did log: the check is not vacuous
    assert not [text for text in texts if API_KEY in text]


def test_the_api_key_is_fetched_on_first_charge_and_the_client_rebuilt_when_it_rotates() -> None:
    keys = iter(["sk_test_old", "sk_test_old", "sk_test_new"])
    fetched: list[str] = []

    def api_key() -> str:
        fetched.append(key := next(keys))
        return key

    http = StubStripeHttp(intent("succeeded"), intent("succeeded"), intent("succeeded"))
    provider = StripePaymentProvider(api_key=api_key, api_base=API_BASE, http_client=http)
    assert fetched == []

    for _ in range(3):
        provider.charge(CHARGE)

    assert [sent.headers["Authorization"] for sent in http.sent] == [
        "Bearer sk_test_old",
        "Bearer sk_test_old",
        "Bearer sk_test_new",
    ]


def test_the_secret_comes_from_a_secure_string_and_is_cached() -> None:
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        name = "/delivery-guarantees/payment-provider-secret-key"
        ssm.put_parameter(Name=name, Value=API_KEY, Type="SecureString")
        calls: list[str] = []
        ssm.meta.events.register("before-call.ssm", lambda model, **_: calls.append(model.name))
        secret = ParameterStoreSecret(name, max_age_seconds=300, ssm_client=ssm)

        assert calls == []  # nothing fetched until first use
        assert secret() == API_KEY
        assert secret() == API_KEY

        assert calls == ["GetParameter"]
        assert API_KEY not in repr(secret)


# ---------------------------------------------------------------- reconciliation (search)


def found(*intents: dict[str, Any]) -> Response:
    return answer(
        200,
        {
            "object": "search_result",
            "url": "/v1/payment_intents/search",
            "has_more": False,
            "next_page": None,
            "data": list(intents),
        },
    )


def held_intent(intent_id: str, status: str, *, created: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "id": intent_id,
        "object": "payment_intent",
        "status": status,
        "amount": 1999,
        "currency": "usd",
        "created": created,
        "metadata": {"transaction_id": "txn_stripe_1", "account_id": "acc_stripe_1"},
        **fields,
    }


def test_find_charge_searches_by_transaction_id_in_metadata_and_adopts_the_intent() -> None:
    http = StubStripeHttp(found(held_intent("pi_held", "succeeded")))

    outcome = provider_with(http).find_charge(CHARGE)

    assert outcome is not None
    assert (outcome.status, outcome.payment_intent_id) == ("succeeded", "pi_held")
    [sent] = http.sent
    assert sent.method == "get"
    assert sent.url.startswith(f"{API_BASE}/v1/payment_intents/search?")
    assert parse_qs(sent.url.split("?", 1)[1])["query"] == [
        "metadata['transaction_id']:'txn_stripe_1'"
    ]
    assert "Idempotency-Key" not in sent.headers


def test_find_charge_with_nothing_held_is_none() -> None:
    assert provider_with(StubStripeHttp(found())).find_charge(CHARGE) is None


def test_find_charge_prefers_the_succeeded_intent_over_a_newer_decline() -> None:
    http = StubStripeHttp(
        found(
            held_intent("pi_declined", "requires_payment_method", created=20),
            held_intent("pi_paid", "succeeded", created=10),
        )
    )

    outcome = provider_with(http).find_charge(CHARGE)

    assert outcome is not None
    assert (outcome.status, outcome.payment_intent_id) == ("succeeded", "pi_paid")


def test_find_charge_adopts_the_newest_decline_when_nothing_succeeded() -> None:
    http = StubStripeHttp(
        found(
            held_intent("pi_old", "requires_payment_method", created=1),
            held_intent(
                "pi_new",
                "requires_payment_method",
                created=2,
                last_payment_error={"decline_code": "insufficient_funds"},
            ),
        )
    )

    outcome = provider_with(http).find_charge(CHARGE)

    assert outcome is not None
    assert (outcome.status, outcome.decline_code, outcome.payment_intent_id) == (
        "declined",
        "insufficient_funds",
        "pi_new",
    )


def test_two_succeeded_intents_are_a_double_charge_a_human_must_refund() -> None:
    http = StubStripeHttp(found(held_intent("pi_a", "succeeded"), held_intent("pi_b", "succeeded")))

    with pytest.raises(PaymentProviderError, match=r"2 succeeded .*pi_a, pi_b.*refund") as caught:
        provider_with(http).find_charge(CHARGE)

    assert not caught.value.transient


def test_an_intent_for_another_amount_is_not_adopted() -> None:
    http = StubStripeHttp(found(held_intent("pi_other", "succeeded", amount=500)))

    with pytest.raises(PaymentProviderError, match="for 500 usd, not 1999 usd"):
        provider_with(http).find_charge(CHARGE)


def test_an_intent_still_processing_is_not_adopted() -> None:
    http = StubStripeHttp(found(held_intent("pi_slow", "processing")))

    with pytest.raises(PaymentProviderError, match="status 'processing'"):
        provider_with(http).find_charge(CHARGE)


def test_a_search_that_fails_is_transient() -> None:
    http = StubStripeHttp(error(503, type="api_error", message="Search is unavailable."))

    with pytest.raises(PaymentProviderUnavailable, match="HTTP 503"):
        provider_with(http).find_charge(CHARGE)
