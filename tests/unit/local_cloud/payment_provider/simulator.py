"""The simulator app behind werkzeug's test Client (no sockets), shared by the tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from stripe._encode import _api_encode
from werkzeug.test import Client, TestResponse

from local_cloud.payment_provider.app import PaymentProviderApp

API_KEY = "sk_test_simulator"
REAL_NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z: the real clock, frozen
CHARGE: dict[str, Any] = {
    "amount": 1999,
    "currency": "usd",
    "payment_method": "pm_card_visa",
    "confirm": True,
    "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
    "metadata": {"transaction_id": "txn_1", "account_id": "acc_1"},
}


class Simulator:
    """The app, a client, a frozen real clock, and a `sleep` that tests can script.

    With the real clock frozen, only the clock hook moves simulator time, so a test of
    key expiry or `created` fails if the hook does nothing.
    """

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.during_sleep: Callable[[], None] | None = None
        self.app = PaymentProviderApp(real_clock=lambda: REAL_NOW, sleep=self._sleep)
        self.client = Client(self.app)

    def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.during_sleep is not None:
            self.during_sleep()

    def charge(
        self,
        key: str | None = "txn_1",
        api_key: str = API_KEY,
        headers: dict[str, str] | None = None,
        **changes: Any,
    ) -> TestResponse:
        params = {**CHARGE, **changes}
        sent = {"Authorization": f"Bearer {api_key}", "Stripe-Version": "2026-10-28.endive"}
        if key is not None:
            sent["Idempotency-Key"] = key
        return self.client.post(
            "/v1/payment_intents",
            data=urlencode(list(_api_encode(params))),  # exactly what the SDK sends
            content_type="application/x-www-form-urlencoded",
            headers={**sent, **(headers or {})},
        )

    def get(self, path: str, **query: Any) -> TestResponse:
        return self.client.get(
            path, query_string=query, headers={"Authorization": f"Bearer {API_KEY}"}
        )

    def search(self, query: str, **params: Any) -> TestResponse:
        return self.get("/v1/payment_intents/search", query=query, **params)

    def advance_clock(self, seconds: Any) -> TestResponse:
        return self.client.post("/_simulator/clock", json={"advance_seconds": seconds})

    def fault(self, **spec: Any) -> TestResponse:
        return self.client.post("/_simulator/faults", json=spec)

    def stats(self) -> dict[str, Any]:
        return body(self.client.get("/_simulator/stats"))


def body(response: TestResponse) -> dict[str, Any]:
    parsed = response.json
    assert isinstance(parsed, dict), f"expected a JSON object, got {response.get_data()!r}"
    return parsed


def error_of(response: TestResponse) -> dict[str, Any]:
    error: dict[str, Any] = body(response)["error"]
    return error
