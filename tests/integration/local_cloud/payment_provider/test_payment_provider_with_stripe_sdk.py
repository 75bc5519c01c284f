"""The official stripe SDK against the simulator on a real socket."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import stripe
from stripe.params import PaymentIntentCreateParams

from local_cloud.payment_provider import (
    PaymentProviderControl,
    PaymentProviderServer,
    PaymentSimulatorError,
    start_payment_provider,
)

API_KEY = "sk_test_integration"
REPO_ROOT = Path(__file__).resolve().parents[4]


def charge_params(**changes: Any) -> PaymentIntentCreateParams:
    """What the billing function sends."""
    params = {
        "amount": 1999,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": True,
        "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        "metadata": {"transaction_id": "txn_1", "account_id": "acc_1"},
        **changes,
    }
    return cast("PaymentIntentCreateParams", params)


@pytest.fixture(scope="module")
def server() -> Iterator[PaymentProviderServer]:
    with start_payment_provider(port=0) as running:
        yield running


@pytest.fixture
def control(server: PaymentProviderServer) -> PaymentProviderControl:
    control = PaymentProviderControl(server.url)
    control.reset()
    return control


def sdk(server: PaymentProviderServer, retries: int = 0, **kw: Any) -> stripe.StripeClient:
    return stripe.StripeClient(
        kw.pop("api_key", API_KEY),
        base_addresses={"api": server.url},
        max_network_retries=retries,
        **kw,
    )


def wait_until(condition: Any, what: str, limit_seconds: float = 10.0) -> None:
    deadline = time.monotonic() + limit_seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def intents(server: PaymentProviderServer) -> list[stripe.PaymentIntent]:
    return list(sdk(server).v1.payment_intents.list(params={"limit": 100}).auto_paging_iter())


def test_a_charge_succeeds(server: PaymentProviderServer, control: PaymentProviderControl) -> None:
    intent = sdk(server).v1.payment_intents.create(
        params=charge_params(), options={"idempotency_key": "txn_1"}
    )

    assert intent.status == "succeeded"
    assert intent.amount_received == 1999
    assert intent.metadata["transaction_id"] == "txn_1"
    assert str(intent.latest_charge).startswith("ch_")
    assert intent.last_response is not None
    assert intent.last_response.request_id is not None
    assert control.stats()["charges_succeeded"] == 1


@pytest.mark.parametrize(
    ("card", "code", "decline_code"),
    [
        ("pm_card_chargeDeclined", "card_declined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card"),
    ],
)
def test_a_decline_raises_card_error(
    server: PaymentProviderServer,
    control: PaymentProviderControl,
    card: str,
    code: str,
    decline_code: str,
) -> None:
    with pytest.raises(stripe.CardError) as raised:
        sdk(server).v1.payment_intents.create(
            params=charge_params(payment_method=card), options={"idempotency_key": card}
        )

    error = raised.value
    assert error.http_status == 402
    assert error.code == code
    assert error.error is not None
    assert error.error.decline_code == decline_code
    assert error.error.payment_intent is not None
    assert error.error.payment_intent.status == "requires_payment_method"
    assert control.stats()["charges_succeeded"] == 0


def test_a_retry_with_the_same_key_replays_and_charges_once(
    server: PaymentProviderServer, control: PaymentProviderControl
) -> None:
    client = sdk(server)
    first = client.v1.payment_intents.create(
        params=charge_params(), options={"idempotency_key": "txn_1"}
    )
    retry = client.v1.payment_intents.create(
        params=charge_params(), options={"idempotency_key": "txn_1"}
    )

    assert retry.id == first.id
    assert retry.last_response is not None
    assert retry.last_response.headers["Idempotent-Replayed"] == "true"
    assert [intent.id for intent in intents(server)] == [first.id]


def test_the_same_key_with_another_amount_is_an_idempotency_error(
    server: PaymentProviderServer, control: PaymentProviderControl
) -> None:
    client = sdk(server)
    client.v1.payment_intents.create(params=charge_params(), options={"idempotency_key": "k"})

    with pytest.raises(stripe.IdempotencyError):
        client.v1.payment_intents.create(
            params=charge_params(amount=5000), options={"idempotency_key": "k"}
        )

    assert [intent.amount for intent in intents(server)] == [1999]


def test_a_concurrent_request_with_the_same_key_gets_409(
    server: PaymentProviderServer, control: PaymentProviderControl
) -> None:
    control.inject_fault("delay", delay_ms=2000)  # the first request holds its key meanwhile
    first: list[stripe.PaymentIntent] = []
    worker = threading.Thread(
        target=lambda: first.append(
            sdk(server).v1.payment_intents.create(
                params=charge_params(), options={"idempotency_key": "txn_1"}
            )
        )
    )
    worker.start()
    wait_until(lambda: control.stats()["idempotency_keys_in_progress"] == 1, "the first request")

    with pytest.raises(stripe.APIError) as raised:
        sdk(server).v1.payment_intents.create(
            params=charge_params(), options={"idempotency_key": "txn_1"}
        )
    worker.join(timeout=30)
    replay = sdk(server).v1.payment_intents.create(
        params=charge_params(), options={"idempotency_key": "txn_1"}
    )

    assert raised.value.http_status == 409
    assert raised.value.error is not None
    assert raised.value.error.code == "idempotency_key_in_use"  # the SDK's APIError keeps it here
    assert len(first) == 1
    assert first[0].status == "succeeded"
    assert replay.id == first[0].id
    assert control.stats()["idempotency_conflicts"] == 1
    assert len(intents(server)) == 1


def test_list_pages_newest_first(
    server: PaymentProviderServer, control: PaymentProviderControl
) -> None:
    client = sdk(server)
    created = [
        client.v1.payment_intents.create(
            params=charge_params(metadata={"transaction_id": f"txn_{n}"}),
            options={"idempotency_key": f"txn_{n}"},
        ).id
        for n in range(5)
    ]

    page = client.v1.payment_intents.list(params={"limit": 2})
    after = client.v1.payment_intents.list(params={"limit": 2, "starting_after": page.data[-1].id})
    before = client.v1.payment_intents.list(params={"limit": 2, "ending_before": after.data[0].id})
    every = [
        intent.id
        for intent in client.v1.payment_intents.list(params={"limit": 2}).auto_paging_iter()
    ]

    assert [intent.id for intent in page.data] == created[::-1][:2]
    assert page.has_more is True
    assert [intent.id for intent in after.data] == created[::-1][2:4]
    assert [intent.id for intent in before.data] == created[::-1][:2]
    assert every == created[::-1]


def test_a_key_older_than_24_hours_executes_again_and_search_finds_both_charges(
    server: PaymentProviderServer, control: PaymentProviderControl
) -> None:
    client = sdk(server)
    first = client.v1.payment_intents.create(
        params=charge_params(), options={"idempotency_key": "txn_1"}
    )
    clock = control.advance_clock(25 * 3600)  # Stripe prunes keys once 24 hours old
    second = client.v1.payment_intents.create(
        params=charge_params(), options={"idempotency_key": "txn_1"}
    )
    client.v1.payment_intents.create(
        params=charge_params(metadata={"transaction_id": "txn_2"}),
        options={"idempotency_key": "txn_2"},
    )

    found = client.v1.payment_intents.search(
        params={"query": "metadata['transaction_id']:'txn_1'", "limit": 1}
    )
    every = [intent.id for intent in found.auto_paging_iter()]

    assert clock["offset_seconds"] == control.clock()["offset_seconds"] == 25 * 3600
    assert clock["now"] >= time.time() + 25 * 3600 - 60
    assert second.id != first.id
    assert second.last_response is not None
    assert "Idempotent-Replayed" not in second.last_response.headers
    assert second.created - first.created >= 25 * 3600
    assert isinstance(found, stripe.SearchResultObject)
    assert [intent.id for intent in found.data] == [second.id]
    assert isinstance(found.data[0], stripe.PaymentIntent)
    assert found.has_more is True
    assert every == [second.id, first.id]  # newest first, across pages via next_page
    assert control.stats()["charges_succeeded"] == 3


def test_a_bad_key_is_an_authentication_error(
    server: PaymentProviderServer, control: PaymentProviderControl
) -> None:
    with pytest.raises(stripe.AuthenticationError) as raised:
        sdk(server, api_key="sk_live_not_allowed_here").v1.payment_intents.create(
            params=charge_params(), options={"idempotency_key": "txn_1"}
        )

    assert raised.value.http_status == 401
    assert control.stats()["payment_intents"] == 0


def test_an_injected_503_then_the_sdks_retry_with_the_same_key_charges_once(
    server: PaymentProviderServer, control: PaymentProviderControl
) -> None:
    control.inject_fault("error", status=503)

    intent = sdk(server, retries=2).v1.payment_intents.create(
        params=charge_params(), options={"idempotency_key": "txn_1"}
    )

    stats = control.stats()
    assert intent.status == "succeeded"
    assert (stats["requests"], stats["faults_injected"]) == (2, 1)
    assert [listed.id for listed in intents(server)] == [intent.id]


def test_a_lost_answer_after_the_charge_is_replayed_on_the_sdks_retry(
    server: PaymentProviderServer, control: PaymentProviderControl
) -> None:
    control.inject_fault("drop", phase="after_execution")

    intent = sdk(server, retries=2).v1.payment_intents.create(
        params=charge_params(), options={"idempotency_key": "txn_1"}
    )

    assert intent.last_response is not None
    assert intent.last_response.headers["Idempotent-Replayed"] == "true"
    assert control.stats()["charges_succeeded"] == 1
    assert [listed.id for listed in intents(server)] == [intent.id]


def test_a_client_timeout_then_a_retry_with_the_same_key_charges_once(
    server: PaymentProviderServer, control: PaymentProviderControl
) -> None:
    control.inject_fault("delay", delay_ms=1500, phase="after_execution")
    impatient = sdk(server, http_client=stripe.RequestsClient(timeout=0.3))

    with pytest.raises(stripe.APIConnectionError):
        impatient.v1.payment_intents.create(
            params=charge_params(), options={"idempotency_key": "txn_1"}
        )
    retry = sdk(server).v1.payment_intents.create(
        params=charge_params(), options={"idempotency_key": "txn_1"}
    )

    assert retry.status == "succeeded"
    assert retry.last_response is not None
    assert retry.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(intents(server)) == 1


def test_a_port_in_use_is_a_clear_error(server: PaymentProviderServer) -> None:
    with pytest.raises(PaymentSimulatorError, match="cannot listen"):
        start_payment_provider(port=server.port)


def test_runs_standalone_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "local_cloud.payment_provider", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        client = stripe.StripeClient(API_KEY, base_addresses={"api": url}, max_network_retries=0)
        intent = client.v1.payment_intents.create(
            params=charge_params(), options={"idempotency_key": "txn_1"}
        )
        assert PaymentProviderControl(url).stats()["payment_intents"] == 1
        assert intent.status == "succeeded"
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=10)
    assert returncode == 0
