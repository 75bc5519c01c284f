"""Stripe's idempotency rules, on the store alone."""

from __future__ import annotations

import threading

import pytest

from local_cloud.payment_provider.idempotency import (
    Decision,
    IdempotencyStore,
    RequestFingerprint,
    StoredResponse,
)

CHARGE = RequestFingerprint.of("POST", "/v1/payment_intents", [("amount", "1999"), ("c", "usd")])


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_first_claim_executes_and_a_retry_replays_the_saved_answer() -> None:
    store = IdempotencyStore()
    saved = StoredResponse(402, b'{"error": {}}', "req_1")

    assert store.claim("sk_test_a", "k", CHARGE).decision is Decision.EXECUTE
    store.complete("sk_test_a", "k", saved)
    retry = store.claim("sk_test_a", "k", CHARGE)

    assert retry.decision is Decision.REPLAY
    assert retry.stored == saved


def test_parameter_order_does_not_make_a_request_different() -> None:
    store = IdempotencyStore()
    store.claim("sk_test_a", "k", CHARGE)
    store.complete("sk_test_a", "k", StoredResponse(200, b"{}", "req_1"))
    reordered = RequestFingerprint.of(
        "POST", "/v1/payment_intents", [("c", "usd"), ("amount", "1999")]
    )

    assert store.claim("sk_test_a", "k", reordered).decision is Decision.REPLAY


def test_a_retry_while_the_first_still_executes_is_in_progress() -> None:
    store = IdempotencyStore()
    store.claim("sk_test_a", "k", CHARGE)

    assert store.claim("sk_test_a", "k", CHARGE).decision is Decision.IN_PROGRESS
    assert store.in_progress_count() == 1


def test_other_parameters_with_the_same_key_are_a_mismatch_even_in_progress() -> None:
    store = IdempotencyStore()
    store.claim("sk_test_a", "k", CHARGE)
    other = RequestFingerprint.of("POST", "/v1/payment_intents", [("amount", "5000")])

    assert store.claim("sk_test_a", "k", other).decision is Decision.PARAMETERS_MISMATCH
    store.complete("sk_test_a", "k", StoredResponse(200, b"{}", "req_1"))
    assert store.claim("sk_test_a", "k", other).decision is Decision.PARAMETERS_MISMATCH


def test_another_endpoint_with_the_same_key_names_the_original_endpoint() -> None:
    store = IdempotencyStore()
    store.claim("sk_test_a", "k", CHARGE)
    refund = RequestFingerprint.of("POST", "/v1/refunds", [])

    claim = store.claim("sk_test_a", "k", refund)

    assert claim.decision is Decision.ENDPOINT_MISMATCH
    assert claim.original_endpoint == "POST /v1/payment_intents"


def test_keys_are_scoped_to_the_api_key() -> None:
    store = IdempotencyStore()
    store.claim("sk_test_a", "k", CHARGE)

    assert store.claim("sk_test_b", "k", CHARGE).decision is Decision.EXECUTE


def test_a_released_key_executes_again() -> None:
    store = IdempotencyStore()
    store.claim("sk_test_a", "k", CHARGE)
    store.release("sk_test_a", "k")

    assert len(store) == 0
    assert store.claim("sk_test_a", "k", CHARGE).decision is Decision.EXECUTE


def test_release_never_forgets_a_saved_answer() -> None:
    store = IdempotencyStore()
    store.claim("sk_test_a", "k", CHARGE)
    store.complete("sk_test_a", "k", StoredResponse(200, b"{}", "req_1"))
    store.release("sk_test_a", "k")

    assert store.claim("sk_test_a", "k", CHARGE).decision is Decision.REPLAY


def test_completing_a_key_nobody_holds_is_a_bug() -> None:
    store = IdempotencyStore()

    with pytest.raises(RuntimeError, match="not held"):
        store.complete("sk_test_a", "k", StoredResponse(200, b"{}", "req_1"))


def test_saved_answers_are_pruned_after_the_retention_and_execute_again() -> None:
    clock = FakeClock()
    store = IdempotencyStore(retention_seconds=24 * 3600, clock=clock)
    store.claim("sk_test_a", "k", CHARGE)
    store.complete("sk_test_a", "k", StoredResponse(200, b"{}", "req_1"))

    clock.now += 24 * 3600 - 1
    assert store.claim("sk_test_a", "k", CHARGE).decision is Decision.REPLAY
    clock.now += 1
    assert store.claim("sk_test_a", "k", CHARGE).decision is Decision.EXECUTE


def test_a_key_still_executing_is_never_pruned() -> None:
    clock = FakeClock()
    store = IdempotencyStore(retention_seconds=10, clock=clock)
    store.claim("sk_test_a", "k", CHARGE)
    clock.now += 3600

    assert store.claim("sk_test_a", "k", CHARGE).decision is Decision.IN_PROGRESS


def test_concurrent_claims_let_exactly_one_request_execute() -> None:
    store = IdempotencyStore()
    barrier = threading.Barrier(16)
    decisions: list[Decision] = []
    lock = threading.Lock()

    def claim() -> None:
        barrier.wait()
        decision = store.claim("sk_test_a", "k", CHARGE).decision
        with lock:
            decisions.append(decision)

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert decisions.count(Decision.EXECUTE) == 1
    assert decisions.count(Decision.IN_PROGRESS) == 15
