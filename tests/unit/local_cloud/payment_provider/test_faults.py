"""Fault descriptions: validation, matching and counting."""

from __future__ import annotations

import pytest

from local_cloud.payment_provider.faults import (
    Fault,
    FaultKind,
    FaultPhase,
    FaultPlan,
    FaultSpecError,
)


def test_from_json_fills_defaults_for_the_charge_endpoint() -> None:
    fault = Fault.from_json({"kind": "error", "status": 503})

    assert fault == Fault(FaultKind.ERROR, status=503)
    assert fault.phase is FaultPhase.BEFORE_EXECUTION
    assert fault.matches("POST", "/v1/payment_intents")
    assert not fault.matches("GET", "/v1/payment_intents")


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"kind": "explode"}, "kind"),
        ({"kind": "error"}, "status"),
        ({"kind": "error", "status": 404}, "status"),
        ({"kind": "delay"}, "delay_ms"),
        ({"kind": "delay", "delay_ms": 0}, "delay_ms"),
        ({"kind": "drop", "status": 500}, "status"),
        ({"kind": "drop", "count": 0}, "count"),
        ({"kind": "drop", "count": "2"}, "count"),
        ({"kind": "drop", "phase": "during"}, "phase"),
        ({"kind": "drop", "path": "v1"}, "path"),
        ({"kind": "drop", "colour": "red"}, "colour"),
        (["drop"], "JSON object"),
    ],
)
def test_bad_specs_are_refused_naming_the_field(spec: object, named: str) -> None:
    with pytest.raises(FaultSpecError, match=named):
        Fault.from_json(spec)


def test_a_fault_hits_its_next_count_matching_requests_then_is_gone() -> None:
    plan = FaultPlan()
    plan.add(Fault(FaultKind.DROP, count=2))

    assert plan.take("GET", "/v1/payment_intents") is None
    assert plan.take("POST", "/v1/payment_intents") is not None
    assert plan.pending()[0]["remaining"] == 1
    assert plan.take("POST", "/v1/payment_intents") is not None
    assert plan.take("POST", "/v1/payment_intents") is None
    assert plan.pending() == []


def test_faults_are_used_in_the_order_they_were_added() -> None:
    plan = FaultPlan()
    plan.add(Fault(FaultKind.ERROR, status=503))
    plan.add(Fault(FaultKind.DROP))

    first = plan.take("POST", "/v1/payment_intents")
    second = plan.take("POST", "/v1/payment_intents")

    assert first is not None
    assert first.kind is FaultKind.ERROR
    assert second is not None
    assert second.kind is FaultKind.DROP


def test_method_star_matches_reads_too() -> None:
    fault = Fault(FaultKind.DELAY, delay_ms=10, method="*", path="/v1/")

    assert fault.matches("GET", "/v1/payment_intents/pi_1")
