"""Faults for the Lambda runtime on the endpoint: their JSON, the claim and its settlement,
the flag file, and the runtime's client (FaultClaims) against a real loopback server."""

from __future__ import annotations

import http.client
import io
import json
import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from werkzeug.test import Client

from local_cloud.endpoint import EndpointFaults
from local_cloud.endpoint_faults import (
    CLAIM_PATH,
    FAULTS_PATH,
    SETTLE_PATH,
    AwsCall,
    EndpointFaultPlan,
    FaultSpecError,
    LambdaAction,
    LambdaFault,
    LambdaFaultFlag,
    WithFaults,
    fault_from_json,
    load_fault_file,
)
from local_cloud.lambda_runtime.faults import BATCH_ACTIONS, INVOCATION_ACTIONS, FaultClaims
from local_cloud.model import FunctionSpec
from tests.unit.local_cloud.in_process import FakeMoto, client_through

CRASH = {
    "service": "lambda",
    "function": "BillingFunction",
    "action": "crash",
    "after_calls": 2,
    "call_matching": "/v1/payment_intents",
}
BILLING = FunctionSpec("BillingFunction", "stack-billing-1", "app.handler", "python3.13", Path("."))
OTHER = FunctionSpec("OtherFunction", "stack-other-1", "app.handler", "python3.13", Path("."))


# ---------------------------------------------------------------- the JSON of a lambda fault


def test_a_lambda_fault_gets_its_defaults_and_survives_a_round_trip() -> None:
    fault = fault_from_json(CRASH)

    assert isinstance(fault, LambdaFault)
    assert (fault.action, fault.count, fault.probability) == (LambdaAction.CRASH, 1, 1.0)
    assert fault.to_json() == {**CRASH, "count": 1, "probability": 1.0}
    assert fault_from_json(fault.to_json()) == fault
    hang = fault_from_json({"service": "lambda", "function": "Fn", "action": "hang"})
    assert isinstance(hang, LambdaFault)
    assert hang.after_calls == 0  # before the handler runs
    release = fault_from_json(
        {"service": "lambda", "function": "Fn", "action": "release_visibility", "count": 3}
    )
    assert release.to_json() == {
        "service": "lambda",
        "function": "Fn",
        "action": "release_visibility",
        "count": 3,
        "probability": 1.0,
    }


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"function": None}, "function", "is required"),
        ({"function": ""}, "function", "must not be empty"),
        ({"function": 7}, "function", "must be a string"),
        ({"action": None}, "action", "is required"),
        ({"action": "explode"}, "action", "must be one of ['crash', 'hang', 'release_visibility']"),
        ({"after_calls": -1}, "after_calls", "from 0 to"),
        ({"after_calls": "2"}, "after_calls", "must be an integer"),
        ({"after_calls": True}, "after_calls", "must be an integer"),
        ({"call_matching": ""}, "call_matching", "must not be empty"),
        ({"after_calls": 0}, "call_matching", "after_calls of 1 or more"),
        ({"count": 0}, "count", "at least 1"),
        ({"probability": 0}, "probability", "greater than 0"),
        ({"operation": "Invoke"}, "operation", "not a field of a lambda fault"),
        ({"error": "Boom"}, "error", "not a field of a lambda fault"),
        ({"action": "release_visibility"}, "after_calls", "crash and hang faults only"),
        (
            {"action": "release_visibility", "after_calls": None},
            "call_matching",
            "crash and hang faults only",
        ),
    ],
)
def test_an_invalid_lambda_fault_names_its_field(
    change: dict[str, Any], field: str, says: str
) -> None:
    spec = {**CRASH, **change}
    spec = {name: value for name, value in spec.items() if value is not None}

    with pytest.raises(FaultSpecError) as raised:
        fault_from_json(spec)

    assert raised.value.field == field
    assert says in raised.value.problem


def test_a_faults_file_may_mix_aws_call_and_lambda_faults(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    throttle = {"service": "ses", "operation": "SendEmail", "error": "Throttling"}
    path.write_text(json.dumps([throttle, CRASH]))

    kinds = [type(fault).__name__ for fault in load_fault_file(path)]

    assert kinds == ["EndpointFault", "LambdaFault"]
    path.write_text(json.dumps([throttle, {**CRASH, "action": "nap"}]))
    with pytest.raises(FaultSpecError, match=r"faults.json: \[1\]\.action: must be one of"):
        load_fault_file(path)


# ---------------------------------------------------------------- the plan: claims


def plan_with(*specs: dict[str, Any], seed: int = 1, flag: Path | None = None) -> Any:
    plan = EndpointFaultPlan(seed=seed, clock=lambda: 1000.0, lambda_flag=flag)
    for spec in specs:
        plan.add(fault_from_json(spec))
    return plan


def test_a_claim_takes_one_hit_of_the_first_fault_for_the_function_and_action() -> None:
    plan = plan_with(
        {**CRASH, "function": "OtherFunction"},
        {"service": "lambda", "function": "stack-billing-1", "action": "release_visibility"},
        CRASH,
    )
    names = ["stack-billing-1", "BillingFunction"]

    claimed = plan.claim(names, INVOCATION_ACTIONS)

    assert claimed is not None
    assert (claimed["id"], claimed["action"], claimed["after_calls"]) == (3, "crash", 2)
    assert plan.claim(names, INVOCATION_ACTIONS) is None  # its one hit is taken
    released = plan.claim(names, BATCH_ACTIONS)  # matched by the function's name
    assert released is not None
    assert released["id"] == 2
    [crash] = [entry for entry in plan.listing()["pending"] if entry["id"] == 3]
    assert (crash["remaining"], crash["claimed"]) == (0, 1)


def test_a_fired_claim_is_listed_and_the_fault_is_spent() -> None:
    plan = plan_with(CRASH)
    claimed = plan.claim(["BillingFunction"], INVOCATION_ACTIONS)

    assert plan.settle(claimed["claim"], fired=True, report={"request_id": "r-1", "calls": 2})

    listing = plan.listing()
    assert listing["pending"] == []
    assert listing["fired"] == [
        {
            "id": 1,
            "at": 1000.0,
            "service": "lambda",
            "function": "BillingFunction",
            "action": "crash",
            "request_id": "r-1",
            "calls": 2,
        }
    ]
    assert listing["fired_total"] == 1
    assert not plan.settle(claimed["claim"], fired=True, report={})  # once only


def test_a_claim_that_did_not_fire_is_given_back() -> None:
    plan = plan_with(CRASH)
    claimed = plan.claim(["BillingFunction"], INVOCATION_ACTIONS)

    plan.settle(claimed["claim"], fired=False, report={})

    [pending] = plan.listing()["pending"]
    assert (pending["remaining"], pending["claimed"]) == (1, 0)
    assert plan.listing()["fired"] == []
    assert plan.claim(["BillingFunction"], INVOCATION_ACTIONS) is not None


def test_count_is_how_many_invocations_it_hits_concurrent_ones_included() -> None:
    plan = plan_with({**CRASH, "count": 2})
    first = plan.claim(["BillingFunction"], INVOCATION_ACTIONS)
    second = plan.claim(["BillingFunction"], INVOCATION_ACTIONS)

    assert first is not None
    assert second is not None
    assert first["claim"] != second["claim"]
    assert plan.claim(["BillingFunction"], INVOCATION_ACTIONS) is None
    plan.settle(first["claim"], fired=True, report={})
    assert len(plan.listing()["pending"]) == 1  # the second claim is still out
    plan.settle(second["claim"], fired=True, report={})
    assert plan.listing()["pending"] == []


def test_probability_draws_at_claim_time_and_replays_from_the_seed() -> None:
    def hits(seed: int) -> list[bool]:
        plan = plan_with({**CRASH, "probability": 0.5, "count": 100}, seed=seed)
        outcomes = []
        for _ in range(20):
            claimed = plan.claim(["BillingFunction"], INVOCATION_ACTIONS)
            outcomes.append(claimed is not None)
            if claimed is not None:
                plan.settle(claimed["claim"], fired=True, report={})
        return outcomes

    assert hits(7) == hits(7)
    assert 0 < sum(hits(7)) < 20


def test_lambda_faults_never_match_an_aws_request() -> None:
    plan = plan_with(CRASH, {**CRASH, "function": "lambda"})
    invoke = AwsCall("lambda", "Invoke", "json", None, frozenset({"BillingFunction"}))

    assert not plan.concerns("lambda")
    assert plan.take(invoke) is None
    assert plan.listing()["fired"] == []


def test_a_clear_forgets_claims_too() -> None:
    plan = plan_with(CRASH)
    claimed = plan.claim(["BillingFunction"], INVOCATION_ACTIONS)

    plan.clear()

    assert not plan.settle(claimed["claim"], fired=True, report={})
    assert plan.listing() == {"seed": 1, "pending": [], "fired": [], "fired_total": 0}


# ---------------------------------------------------------------- the flag file


def flag_bits(path: Path) -> int:
    return path.read_bytes()[0]


def test_the_flag_has_a_bit_per_action_with_hits_left_to_claim(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    plan = plan_with(flag=flag)
    assert flag_bits(flag) == 0

    plan.add(fault_from_json({"service": "ses", "error": "Throttling"}))
    assert flag_bits(flag) == 0  # AWS call faults are not the runtime's business
    plan.add(fault_from_json(CRASH))
    plan.add(
        fault_from_json(
            {"service": "lambda", "function": "BillingFunction", "action": "release_visibility"}
        )
    )
    assert flag_bits(flag) == 1 | 4

    claimed = plan.claim(["BillingFunction"], INVOCATION_ACTIONS)
    assert flag_bits(flag) == 4  # nothing left to claim for crash while its hit is out
    plan.settle(claimed["claim"], fired=False, report={})
    assert flag_bits(flag) == 1 | 4  # given back
    plan.clear()
    assert flag_bits(flag) == 0


# ---------------------------------------------------------------- over HTTP, in process


def as_json(response: Any) -> Any:
    return json.loads(response.get_data())


def test_lambda_faults_are_added_and_listed_with_the_others_and_never_reach_moto() -> None:
    moto = FakeMoto()
    http = Client(WithFaults(moto, EndpointFaultPlan(seed=1)))

    added = http.post(FAULTS_PATH, json=[CRASH, {"service": "sqs", "kind": "drop"}])

    assert added.status_code == 201
    assert [fault.get("action") for fault in as_json(added)["added"]] == ["crash", None]
    claimed = as_json(
        http.post(CLAIM_PATH, json={"function": "stack-billing-1", "logical_id": "BillingFunction"})
    )["claimed"]
    assert claimed["id"] == 1
    settled = http.post(
        SETTLE_PATH, json={"claim": claimed["claim"], "fired": True, "report": {"calls": 2}}
    )
    assert as_json(settled) == {"settled": True}
    listing = as_json(http.get(FAULTS_PATH))
    assert [fault["id"] for fault in listing["pending"]] == [2]
    assert listing["fired"][0]["calls"] == 2
    assert moto.calls == []


def test_a_lambda_fault_without_a_claim_for_it_answers_null() -> None:
    http = Client(WithFaults(FakeMoto(), EndpointFaultPlan(seed=1)))
    http.post(FAULTS_PATH, json=CRASH)

    other = http.post(CLAIM_PATH, json={"function": "OtherFunction"})
    wrong_action = http.post(
        CLAIM_PATH, json={"function": "BillingFunction", "actions": ["release_visibility"]}
    )

    assert as_json(other) == {"claimed": None}
    assert as_json(wrong_action) == {"claimed": None}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (CLAIM_PATH, {}, "function"),
        (CLAIM_PATH, {"function": "Fn", "actions": ["nap"]}, "actions"),
        (CLAIM_PATH, {"function": "Fn", "actions": "crash"}, "actions"),
        (SETTLE_PATH, {"fired": True}, "claim"),
        (SETTLE_PATH, {"claim": "c", "report": [1]}, "report"),
    ],
)
def test_a_bad_claim_or_settlement_gets_a_400_naming_the_field(
    path: str, body: dict[str, Any], field: str
) -> None:
    response = Client(WithFaults(FakeMoto(), EndpointFaultPlan(seed=1))).post(path, json=body)

    assert response.status_code == 400
    assert as_json(response)["field"] == field


def test_an_invalid_lambda_fault_gets_a_400_naming_the_field() -> None:
    http = Client(WithFaults(FakeMoto(), EndpointFaultPlan(seed=1)))

    response = http.post(FAULTS_PATH, json=[CRASH, {**CRASH, "after_calls": -2}])

    assert response.status_code == 400
    assert as_json(response)["field"] == "[1].after_calls"
    assert as_json(response)["message"] == (
        "Invalid fault: [1].after_calls: must be from 0 to 100000, got -2"
    )
    assert as_json(http.get(FAULTS_PATH))["pending"] == []


def test_an_aws_call_to_lambda_passes_a_pending_lambda_fault_untouched() -> None:
    moto = FakeMoto()
    app = WithFaults(moto, EndpointFaultPlan(seed=1))
    Client(app).post(FAULTS_PATH, json=CRASH)

    response = client_through(app, "lambda").invoke(FunctionName="BillingFunction", Payload=b"{}")

    assert response["StatusCode"] == 200
    assert len(moto.calls) == 1
    assert as_json(Client(app).get(FAULTS_PATH))["fired"] == []


# ---------------------------------------------------------------- the runtime's client


class Loopback:
    """urllib's urlopen, answered by a WSGI app in this process (unit tests open no
    sockets): the clients' own request building, error handling and parsing run."""

    def __init__(self, app: Any) -> None:
        self._client = Client(app)
        self.paths: list[str] = []

    def __call__(self, request: urllib.request.Request, timeout: float | None = None) -> Any:
        url = urlsplit(request.full_url)
        self.paths.append(url.path)
        response = self._client.open(
            path=url.path,
            method=request.get_method(),
            data=request.data,
            headers=dict(request.header_items()),
        )
        body = response.get_data()
        if response.status_code >= 400:
            raise urllib.error.HTTPError(
                request.full_url,
                response.status_code,
                response.status,
                http.client.HTTPMessage(),  # the headers' type urllib gives an HTTPError
                io.BytesIO(body),
            )
        return io.BytesIO(body)


@pytest.fixture
def endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Loopback, EndpointFaultPlan, Path]:
    flag = tmp_path / "flag"
    plan = EndpointFaultPlan(seed=1, lambda_flag=flag)
    loopback = Loopback(WithFaults(FakeMoto(), plan))
    monkeypatch.setattr(urllib.request, "urlopen", loopback)
    return loopback, plan, flag


URL = "http://127.0.0.1:4566"


def test_fault_claims_claim_and_settle_over_http(
    endpoint: tuple[Loopback, EndpointFaultPlan, Path],
) -> None:
    _loopback, _plan, flag = endpoint
    claims = FaultClaims(URL, flag=flag)
    EndpointFaults(URL).add(**CRASH)

    fault = claims.claim(BILLING, INVOCATION_ACTIONS)

    assert fault is not None
    assert fault.for_worker() == {
        "id": 1,
        "action": "crash",
        "after_calls": 2,
        "call_matching": "/v1/payment_intents",
    }
    assert claims.claim(BILLING, INVOCATION_ACTIONS) is None
    claims.settle(fault, fired=True, request_id="r-9")
    assert EndpointFaults(URL).fired()[0]["request_id"] == "r-9"
    claims.close()


def test_fault_claims_ask_nothing_while_the_flag_is_clear(
    endpoint: tuple[Loopback, EndpointFaultPlan, Path],
) -> None:
    loopback, _plan, flag = endpoint
    claims = FaultClaims(URL, flag=flag)

    def asked() -> int:
        return loopback.paths.count(CLAIM_PATH)

    assert claims.claim(BILLING, INVOCATION_ACTIONS) is None
    assert asked() == 0  # no fault at all: not asked
    EndpointFaults(URL).add(service="lambda", function="OtherFunction", action="hang")
    assert claims.claim(BILLING, BATCH_ACTIONS) is None
    assert asked() == 0  # a hang is pending, but a batch claims release_visibility only
    assert claims.claim(BILLING, INVOCATION_ACTIONS) is None
    assert asked() == 1  # the flag says "a hang": asked, and it is another function's
    assert claims.claim(OTHER, INVOCATION_ACTIONS) is not None


def test_without_a_flag_every_claim_asks(
    endpoint: tuple[Loopback, EndpointFaultPlan, Path],
) -> None:
    loopback, _plan, _flag = endpoint
    claims = FaultClaims(URL)

    assert claims.claim(BILLING, INVOCATION_ACTIONS) is None
    assert loopback.paths.count(CLAIM_PATH) == 1


@pytest.mark.parametrize(
    ("status", "body"),
    [("404 Not Found", b"no such route"), ("200 OK", b"<html>LocalStack</html>")],
)
def test_an_endpoint_without_lambda_faults_is_asked_once(
    status: str, body: bytes, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def not_found(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(status, [("Content-Type", "text/plain")])
        return [body]

    loopback = Loopback(not_found)
    monkeypatch.setattr(urllib.request, "urlopen", loopback)
    claims = FaultClaims(URL)

    with caplog.at_level(logging.WARNING):
        assert claims.claim(BILLING, INVOCATION_ACTIONS) is None
        assert claims.claim(BILLING, INVOCATION_ACTIONS) is None

    assert loopback.paths == [CLAIM_PATH]
    assert "lambda faults off" in caplog.text


def test_an_unreachable_endpoint_means_no_fault_not_a_failed_invocation(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refused(request: Any, timeout: float | None = None) -> Any:
        raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))

    monkeypatch.setattr(urllib.request, "urlopen", refused)
    claims = FaultClaims(URL)

    with caplog.at_level(logging.WARNING):
        assert claims.claim(BILLING, INVOCATION_ACTIONS) is None

    assert "claiming a lambda fault" in caplog.text
    assert claims.might_have(INVOCATION_ACTIONS)  # asked again next time


def test_the_flag_reader_sees_what_the_plan_wrote(tmp_path: Path) -> None:
    import os

    flag = tmp_path / "flag"
    plan = plan_with(CRASH, flag=flag)
    fd = os.open(flag, os.O_RDONLY)
    try:
        assert LambdaFaultFlag.read(fd) == 1
        plan.clear()
        assert LambdaFaultFlag.read(fd) == 0
    finally:
        os.close(fd)
