"""The simulator's doors, in process: a web page of another site cannot drive its hooks
or its API, bodies are limited to 1 MiB and run only when complete; refusals are in
Stripe's error shape and leave no trace in the simulator's state."""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import urlencode

from stripe._encode import _api_encode
from werkzeug.test import EnvironBuilder, run_wsgi_app

from local_cloud.http_guard import RequestBody
from local_cloud.payment_provider.app import MAX_BODY_BYTES
from tests.unit.local_cloud.payment_provider.simulator import API_KEY, CHARGE, Simulator

EVIL = {"Origin": "http://evil.example"}
A_FAULT = {"kind": "error", "status": 500, "count": 1}


def stripe_error(response: Any) -> dict[str, Any]:
    error: dict[str, Any] = response.json["error"]
    assert error["type"] == "invalid_request_error"
    return error


def test_a_web_page_cannot_reset_the_simulator(sim: Simulator) -> None:
    assert sim.charge().status_code == 200
    response = sim.client.post("/_simulator/reset", headers=EVIL)
    assert response.status_code == 403
    assert "http://evil.example" in stripe_error(response)["message"]
    assert sim.app.stats()["payment_intents"] == 1


def test_a_web_page_cannot_add_faults_advance_the_clock_or_charge(sim: Simulator) -> None:
    before = sim.app.clock.to_json()
    assert sim.client.post("/_simulator/faults", json=A_FAULT, headers=EVIL).status_code == 403
    clock = sim.client.post("/_simulator/clock", json={"advance_seconds": 86400}, headers=EVIL)
    assert clock.status_code == 403
    assert sim.charge(headers=EVIL).status_code == 403
    stats = sim.app.stats()
    assert (stats["pending_faults"], stats["payment_intents"], stats["requests"]) == ([], 0, 0)
    assert sim.app.clock.to_json() == before


def test_a_rebound_host_name_is_refused(sim: Simulator) -> None:
    response = sim.client.post("/_simulator/reset", headers={"Host": "rebound.example:12111"})
    assert response.status_code == 403
    assert sim.charge(headers={"Host": "rebound.example:12111"}).status_code == 403
    assert sim.app.stats()["payment_intents"] == 0


def test_the_sdk_and_local_pages_pass(sim: Simulator) -> None:
    assert sim.charge(headers={"Host": "127.0.0.1:12111"}).status_code == 200
    local = sim.client.get("/_simulator/stats", headers={"Origin": "http://127.0.0.1:5173"})
    assert local.status_code == 200


def post_raw(sim: Simulator, path: str, length: int, stream: RequestBody) -> tuple[int, Any]:
    built = EnvironBuilder(
        path=path,
        method="POST",
        headers=[
            ("Authorization", f"Bearer {API_KEY}"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
    ).get_environ()
    built["CONTENT_LENGTH"] = str(length)
    built["wsgi.input"] = stream
    body, status, _ = run_wsgi_app(sim.app, built)
    return int(status.split()[0]), json.loads(b"".join(body))


class Unreadable(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise AssertionError("the body was read")


def test_a_body_over_1_mib_is_a_413_without_reading_it(sim: Simulator) -> None:
    for path in ("/v1/payment_intents", "/_simulator/faults"):
        status, body = post_raw(sim, path, 10 * 1024 * 1024, Unreadable())
        assert status == 413
        assert "1048576 bytes" in body["error"]["message"]
    assert sim.app.stats()["requests"] == 0


def test_a_chunked_body_over_1_mib_is_a_413(sim: Simulator) -> None:
    built = EnvironBuilder(
        path="/_simulator/faults",
        method="POST",
        headers=[("Transfer-Encoding", "chunked"), ("Content-Type", "application/json")],
    ).get_environ()
    built.pop("CONTENT_LENGTH", None)
    # what werkzeug's server sets for a chunked body: the stream ends where the body does
    built |= {"wsgi.input": io.BytesIO(b"x" * (MAX_BODY_BYTES + 1)), "wsgi.input_terminated": True}
    _body, status, _ = run_wsgi_app(sim.app, built)
    assert status.startswith("413")
    assert sim.app.stats()["pending_faults"] == []


def test_a_cut_off_charge_is_never_executed(sim: Simulator) -> None:
    """The first half of a charge's form is a valid charge too: it must not run."""
    form = urlencode(list(_api_encode({**CHARGE, "metadata": {"transaction_id": "t"}})))
    status, body = post_raw(sim, "/v1/payment_intents", len(form) + 40, io.BytesIO(form.encode()))
    assert status == 400
    assert "of its" in body["error"]["message"]
    assert sim.app.stats()["payment_intents"] == 0
    assert sim.app.stats()["requests"] == 0
