"""The simulator's HTTP behaviour through werkzeug's test Client (no sockets)."""

from __future__ import annotations

import json

import pytest
from werkzeug.test import TestResponse

from local_cloud.payment_provider.app import ConnectionDropped
from tests.unit.local_cloud.payment_provider.simulator import (
    API_KEY,
    CHARGE,
    Simulator,
    body,
    error_of,
)


def test_a_charge_succeeds_with_stripes_headers(sim: Simulator) -> None:
    response = sim.charge()

    assert response.status_code == 200
    assert body(response)["status"] == "succeeded"
    assert body(response)["metadata"] == CHARGE["metadata"]
    assert response.headers["Request-Id"].startswith("req_")
    assert response.headers["Idempotency-Key"] == "txn_1"
    assert response.headers["Stripe-Version"] == "2026-10-28.endive"
    assert "Idempotent-Replayed" not in response.headers


def test_a_retry_replays_the_first_answer_and_charges_once(sim: Simulator) -> None:
    first = sim.charge()
    retry = sim.charge()

    assert retry.status_code == 200
    assert retry.get_data() == first.get_data()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.headers["Original-Request"] == first.headers["Request-Id"]
    assert retry.headers["Request-Id"] != first.headers["Request-Id"]
    stats = sim.stats()
    assert (stats["payment_intents"], stats["charges_succeeded"], stats["replays"]) == (1, 1, 1)


def test_a_decline_is_replayed_as_the_same_402(sim: Simulator) -> None:
    first = sim.charge(payment_method="pm_card_chargeDeclined")
    retry = sim.charge(payment_method="pm_card_chargeDeclined")

    assert (first.status_code, retry.status_code) == (402, 402)
    assert error_of(first)["decline_code"] == "generic_decline"
    assert retry.get_data() == first.get_data()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert sim.stats()["payment_intents"] == 1


def test_the_same_key_with_another_amount_is_an_idempotency_error(sim: Simulator) -> None:
    sim.charge()
    response = sim.charge(amount=5000)

    assert response.status_code == 400
    assert error_of(response)["type"] == "idempotency_error"
    assert "txn_1" in error_of(response)["message"]
    stats = sim.stats()
    assert (stats["payment_intents"], stats["idempotency_mismatches"]) == (1, 1)


def test_a_retry_while_the_first_runs_gets_409_and_nothing_is_saved(sim: Simulator) -> None:
    during: list[TestResponse] = []
    sim.during_sleep = lambda: during.append(sim.charge())
    sim.fault(kind="delay", delay_ms=1500)

    first = sim.charge()
    sim.during_sleep = None
    after = sim.charge()

    assert len(during) == 1
    assert during[0].status_code == 409
    assert error_of(during[0])["type"] == "invalid_request_error"
    assert error_of(during[0])["code"] == "idempotency_key_in_use"
    assert "In-progress".lower() in error_of(during[0])["message"].lower()
    assert "Idempotent-Replayed" not in during[0].headers
    assert first.status_code == 200
    assert after.headers["Idempotent-Replayed"] == "true"
    assert body(after)["id"] == body(first)["id"]
    assert sim.sleeps == [1.5]
    assert sim.stats()["idempotency_conflicts"] == 1


def test_a_request_failing_validation_saves_nothing_under_its_key(sim: Simulator) -> None:
    invalid = sim.charge(amount="abc")
    valid = sim.charge()

    assert invalid.status_code == 400
    assert error_of(invalid)["param"] == "amount"
    assert valid.status_code == 200
    assert "Idempotent-Replayed" not in valid.headers


def test_an_error_once_executing_is_saved_and_replayed(sim: Simulator) -> None:
    first = sim.charge(payment_method="pm_card_nope")
    retry = sim.charge(payment_method="pm_card_nope")

    assert first.status_code == 400
    assert error_of(first)["code"] == "resource_missing"
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_data() == first.get_data()


def test_keys_up_to_255_characters_are_accepted(sim: Simulator) -> None:
    assert sim.charge(key="k" * 255).status_code == 200
    too_long = sim.charge(key="k" * 256)

    assert too_long.status_code == 400
    assert error_of(too_long)["param"] == "Idempotency-Key"
    assert sim.stats()["payment_intents"] == 1


def test_without_a_key_every_post_executes(sim: Simulator) -> None:
    first = sim.charge(key=None)
    second = sim.charge(key=None)

    assert body(first)["id"] != body(second)["id"]
    assert sim.stats()["charges_succeeded"] == 2


def test_keys_are_scoped_to_the_api_key(sim: Simulator) -> None:
    first = sim.charge(api_key="sk_test_one")
    second = sim.charge(api_key="sk_test_two")

    assert body(first)["id"] != body(second)["id"]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer sk_live_abcdefghijklmnop", "Bearer pk_test_abc", "Bearer ", "Token sk_test_a"],
)
def test_anything_but_a_test_secret_key_is_401(sim: Simulator, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = sim.client.get("/v1/payment_intents", headers=headers)

    assert response.status_code == 401
    assert error_of(response)["type"] == "invalid_request_error"
    assert "abcdefghijklmnop" not in error_of(response)["message"]  # keys are redacted


def test_basic_auth_with_the_key_as_user_name_works_like_curl_u(sim: Simulator) -> None:
    response = sim.client.get(
        "/v1/payment_intents", headers={"Authorization": "Basic c2tfdGVzdF9hYmM6"}
    )  # base64("sk_test_abc:")

    assert response.status_code == 200


def test_a_rejected_key_executes_nothing(sim: Simulator) -> None:
    assert sim.charge(api_key="sk_live_x").status_code == 401
    assert sim.stats()["payment_intents"] == 0
    assert sim.stats()["authentication_failures"] == 1


def test_retrieve_and_list_what_was_charged(sim: Simulator) -> None:
    created = body(sim.charge())

    retrieved = sim.get(f"/v1/payment_intents/{created['id']}")
    listed = sim.get("/v1/payment_intents", limit=5)
    missing = sim.get("/v1/payment_intents/pi_missing")

    assert body(retrieved) == created
    assert [i["metadata"]["transaction_id"] for i in body(listed)["data"]] == ["txn_1"]
    assert body(listed)["has_more"] is False
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "resource_missing"


def test_reads_ignore_idempotency_keys(sim: Simulator) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "read"}
    sim.client.get("/v1/payment_intents", headers=headers)
    again = sim.client.get("/v1/payment_intents", headers=headers)

    assert "Idempotent-Replayed" not in again.headers
    assert sim.stats()["idempotency_keys"] == 0


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/v1/charges"), ("POST", "/v1/payment_intents/pi_1")]
)
def test_unimplemented_urls_are_404_naming_what_is_implemented(
    sim: Simulator, method: str, path: str
) -> None:
    response = sim.client.open(path, method=method, headers={"Authorization": f"Bearer {API_KEY}"})

    assert response.status_code == 404
    assert "Unrecognized request URL" in error_of(response)["message"]
    assert "GET /v1/payment_intents/{id}" in error_of(response)["message"]


def test_a_json_body_is_refused_with_a_hint_about_form_encoding(sim: Simulator) -> None:
    response = sim.client.post(
        "/v1/payment_intents",
        json=CHARGE,
        headers={"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "k"},
    )

    assert response.status_code == 400
    assert "x-www-form-urlencoded" in error_of(response)["message"]


def test_an_error_before_execution_charges_nothing_and_the_retry_executes(
    sim: Simulator,
) -> None:
    sim.fault(kind="error", status=503)

    failed = sim.charge()
    retry = sim.charge()

    assert failed.status_code == 503
    assert error_of(failed)["type"] == "api_error"
    assert retry.status_code == 200
    assert "Idempotent-Replayed" not in retry.headers
    assert sim.stats()["payment_intents"] == 1
    assert sim.stats()["faults_injected"] == 1


def test_an_error_after_execution_hides_a_charge_that_the_retry_replays(
    sim: Simulator,
) -> None:
    sim.fault(kind="error", status=500, phase="after_execution")

    failed = sim.charge()
    retry = sim.charge()

    assert failed.status_code == 500
    assert sim.stats()["charges_succeeded"] == 1
    assert retry.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert sim.stats()["payment_intents"] == 1


@pytest.mark.parametrize(("phase", "charged"), [("before_execution", 0), ("after_execution", 1)])
def test_a_drop_closes_the_connection_before_or_after_the_charge(
    sim: Simulator, phase: str, charged: int
) -> None:
    sim.fault(kind="drop", phase=phase)

    with pytest.raises(ConnectionDropped):
        sim.charge()

    assert sim.stats()["charges_succeeded"] == charged
    assert sim.charge().status_code == 200
    assert sim.stats()["payment_intents"] == 1


def test_a_delay_after_execution_sleeps_once_the_answer_is_saved(sim: Simulator) -> None:
    saved_during_sleep: list[int] = []
    sim.during_sleep = lambda: saved_during_sleep.append(sim.stats()["idempotency_keys"])
    sim.fault(kind="delay", delay_ms=250, phase="after_execution")

    assert sim.charge().status_code == 200
    assert sim.sleeps == [0.25]
    assert sim.stats()["idempotency_keys_in_progress"] == 0
    assert sim.stats()["faults_injected"] == 1
    assert saved_during_sleep == [1]


def test_faults_skip_requests_they_do_not_match(sim: Simulator) -> None:
    sim.fault(kind="error", status=503)  # POST /v1/payment_intents by default

    assert sim.get("/v1/payment_intents").status_code == 200
    assert sim.charge().status_code == 503


def test_hooks_report_reset_and_manage_faults(sim: Simulator) -> None:
    sim.charge()
    added = sim.fault(kind="error", status=503, count=2)

    assert added.status_code == 201
    assert body(sim.client.get("/_simulator/faults"))["pending"][0]["remaining"] == 2
    assert body(sim.client.delete("/_simulator/faults")) == {"pending": []}
    assert body(sim.client.post("/_simulator/reset")) == {"reset": True}
    stats = sim.stats()
    assert (stats["payment_intents"], stats["idempotency_keys"], stats["requests"]) == (0, 0, 0)
    assert sim.charge().headers.get("Idempotent-Replayed") is None


@pytest.mark.parametrize("spec", ['{"kind": "error"}', "not json", '{"kind": "drop", "x": 1}'])
def test_a_bad_fault_is_refused_with_the_reason(sim: Simulator, spec: str) -> None:
    response = sim.client.post("/_simulator/faults", data=spec, content_type="application/json")

    assert response.status_code == 400
    assert error_of(response)["message"].startswith("Invalid fault:")
    assert body(sim.client.get("/_simulator/faults"))["pending"] == []


def test_an_unknown_hook_is_404(sim: Simulator) -> None:
    response = sim.client.get("/_simulator/nope")

    assert response.status_code == 404
    assert "/_simulator/reset" in error_of(response)["message"]


def test_stats_count_every_api_request(sim: Simulator) -> None:
    sim.charge()
    sim.charge(amount="abc", key="other")
    sim.get("/v1/payment_intents")

    stats = sim.stats()
    assert stats["requests"] == 3
    assert stats["invalid_requests"] == 1
    assert json.dumps(stats)  # plain JSON for any client
