"""Fault descriptions: validation, matching and counting."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from local_cloud.cloud import LocalCloud, Settings, SettingsError
from local_cloud.payment_provider.faults import (
    Fault,
    FaultKind,
    FaultPhase,
    FaultPlan,
    FaultSpecError,
    load_fault_file,
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


def test_a_fault_file_is_a_json_list_of_what_the_hook_takes(tmp_path: Path) -> None:
    path = tmp_path / "provider-faults.json"
    path.write_text(
        json.dumps(
            [
                {"kind": "error", "status": 503, "count": 2},
                {"kind": "drop", "phase": "after_execution"},
            ]
        )
    )

    assert load_fault_file(path) == [
        Fault(FaultKind.ERROR, count=2, status=503),
        Fault(FaultKind.DROP, phase=FaultPhase.AFTER_EXECUTION),
    ]


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("not json", "not a readable JSON file"),
        ('{"kind": "drop"}', "expected a JSON list"),
        ('[{"kind": "drop"}, {"kind": "error", "status": 404}]', "[1]: status"),
    ],
)
def test_a_bad_fault_file_is_refused_naming_the_file_and_the_entry(
    tmp_path: Path, content: str, named: str
) -> None:
    path = tmp_path / "provider-faults.json"
    path.write_text(content)

    with pytest.raises(FaultSpecError, match=re.escape(named)) as caught:
        load_fault_file(path)

    assert str(path) in str(caught.value)


def test_local_cloud_refuses_a_bad_provider_fault_file_before_starting_anything(
    tmp_path: Path,
) -> None:
    path = tmp_path / "provider-faults.json"
    path.write_text('[{"kind": "explode"}]')
    with_provider = LocalCloud(
        Settings(template=tmp_path / "t.yaml", payment_provider=True), provider_faults=path
    )
    without_provider = LocalCloud(Settings(template=tmp_path / "t.yaml"), provider_faults=path)

    with pytest.raises(SettingsError, match=r"provider faults: .*\[0\]: kind"):
        with_provider.start()
    with pytest.raises(SettingsError, match="start no payment provider"):
        without_provider.start()
    assert with_provider.endpoint is None  # refused before the endpoint was started
