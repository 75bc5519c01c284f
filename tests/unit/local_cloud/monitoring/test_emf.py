"""CloudWatch embedded metric format lines to PutMetricData (local_cloud/monitoring/emf.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from local_cloud.monitoring.emf import EmfError, metric_data

AT = datetime(2025, 11, 30, 12, 0, tzinfo=UTC)


def powertools_document() -> dict[str, Any]:
    """What Powertools' Metrics prints for one ChargesSucceeded in the billing service."""
    return {
        "_aws": {
            "Timestamp": 1764504000000,
            "CloudWatchMetrics": [
                {
                    "Namespace": "DeliveryGuarantees",
                    "Dimensions": [["service"]],
                    "Metrics": [{"Name": "ChargesSucceeded", "Unit": "Count"}],
                }
            ],
        },
        "service": "billing",
        "ChargesSucceeded": [1.0],
    }


def line_with(change: Callable[[dict[str, Any]], object] | None = None) -> str:
    document = powertools_document()
    if change is not None:
        change(document)
    return json.dumps(document) + "\n"


def directive(document: dict[str, Any]) -> dict[str, Any]:
    return document["_aws"]["CloudWatchMetrics"][0]


def test_a_powertools_line_is_one_datum_in_its_namespace() -> None:
    assert metric_data(line_with()) == {
        "DeliveryGuarantees": [
            {
                "MetricName": "ChargesSucceeded",
                "Timestamp": AT,
                "Values": [1.0],
                "Dimensions": [{"Name": "service", "Value": "billing"}],
                "Unit": "Count",
            }
        ]
    }


@pytest.mark.parametrize(
    "line",
    [
        "START RequestId: 8f5c Version: $LATEST",
        '{"level": "INFO", "message": "charge stored"}',
        '{"level": "INFO", "message": "mentions _aws but has no such member"}',
        '{"_aws": {"Timestamp": 1764504000000, ',  # cut short: not JSON
        '["_aws", {"Timestamp": 1764504000000}]',
        "",
    ],
)
def test_a_line_that_is_not_emf_yields_nothing(line: str) -> None:
    assert metric_data(line) == {}


def test_a_list_of_values_is_one_datum_with_every_value() -> None:
    data = metric_data(line_with(lambda d: d.update(ChargesSucceeded=[1, 2.5, 3])))

    assert data["DeliveryGuarantees"][0]["Values"] == [1.0, 2.5, 3.0]


def test_a_single_number_is_a_one_value_datum() -> None:
    data = metric_data(line_with(lambda d: d.update(ChargesSucceeded=7)))

    assert data["DeliveryGuarantees"][0]["Values"] == [7.0]


def test_one_datum_per_metric_and_dimension_set() -> None:
    def two_metrics_two_sets(document: dict[str, Any]) -> None:
        directive(document)["Dimensions"] = [["service"], ["service", "operation"]]
        directive(document)["Metrics"].append({"Name": "ChargeLatency", "Unit": "Milliseconds"})
        document.update(operation="charge", ChargeLatency=[120, 80])

    data = metric_data(line_with(two_metrics_two_sets))["DeliveryGuarantees"]

    assert [(d["MetricName"], [x["Value"] for x in d["Dimensions"]]) for d in data] == [
        ("ChargesSucceeded", ["billing"]),
        ("ChargesSucceeded", ["billing", "charge"]),
        ("ChargeLatency", ["billing"]),
        ("ChargeLatency", ["billing", "charge"]),
    ]
    assert [d["Unit"] for d in data] == ["Count", "Count", "Milliseconds", "Milliseconds"]


def test_the_empty_dimension_set_is_a_datum_without_dimensions() -> None:
    def no_dimension_and_service(document: dict[str, Any]) -> None:
        directive(document)["Dimensions"] = [[], ["service"]]

    data = metric_data(line_with(no_dimension_and_service))["DeliveryGuarantees"]

    assert [d["Dimensions"] for d in data] == [[], [{"Name": "service", "Value": "billing"}]]


def test_a_metric_without_unit_has_no_unit() -> None:
    data = metric_data(line_with(lambda d: directive(d)["Metrics"][0].pop("Unit")))

    assert "Unit" not in data["DeliveryGuarantees"][0]


def test_each_directive_files_its_data_under_its_namespace() -> None:
    def second_namespace(document: dict[str, Any]) -> None:
        document["_aws"]["CloudWatchMetrics"].append(
            {"Namespace": "Payments", "Dimensions": [[]], "Metrics": [{"Name": "Refunds"}]}
        )
        document["Refunds"] = 2

    data = metric_data(line_with(second_namespace))

    assert sorted(data) == ["DeliveryGuarantees", "Payments"]
    assert data["Payments"] == [
        {"MetricName": "Refunds", "Timestamp": AT, "Values": [2.0], "Dimensions": []}
    ]


def test_a_missing_dimension_value_is_an_error_naming_the_dimension() -> None:
    with pytest.raises(EmfError, match="DeliveryGuarantees/ChargesSucceeded: dimension 'service'"):
        metric_data(line_with(lambda d: d.pop("service")))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d["_aws"].update(Timestamp="2025-11-30T12:00:00Z"), "Timestamp"),
        (lambda d: d["_aws"].update(Timestamp=True), "Timestamp"),
        (lambda d: d["_aws"].pop("Timestamp"), "Timestamp"),
        (lambda d: d["_aws"].pop("CloudWatchMetrics"), "CloudWatchMetrics must be a list"),
        (lambda d: d["_aws"].update(CloudWatchMetrics=["DeliveryGuarantees"]), "entry"),
        (lambda d: directive(d).update(Namespace=""), "Namespace"),
        (lambda d: directive(d).update(Dimensions=["service"]), "Dimensions"),
        (lambda d: directive(d).pop("Dimensions"), "Dimensions"),
        (lambda d: directive(d)["Metrics"][0].pop("Name"), "needs a Name"),
        (lambda d: d.pop("ChargesSucceeded"), "'ChargesSucceeded'"),
        (lambda d: d.update(ChargesSucceeded="1"), "'ChargesSucceeded'"),
        (lambda d: d.update(ChargesSucceeded=True), "'ChargesSucceeded'"),
        (lambda d: d.update(ChargesSucceeded=[]), "'ChargesSucceeded'"),
        (lambda d: d.update(ChargesSucceeded=[1.0] * 101), "'ChargesSucceeded'"),
        (lambda d: d.update(ChargesSucceeded=[1.0, "2"]), "'ChargesSucceeded'"),
    ],
)
def test_malformed_emf_is_an_error_naming_what_is_wrong(
    change: Callable[[dict[str, Any]], object], named: str
) -> None:
    with pytest.raises(EmfError, match=named):
        metric_data(line_with(change))


def test_a_hundred_values_are_allowed() -> None:
    data = metric_data(line_with(lambda d: d.update(ChargesSucceeded=[1.0] * 100)))

    assert len(data["DeliveryGuarantees"][0]["Values"]) == 100


def test_a_dimension_value_that_is_not_a_string_is_an_error() -> None:
    """The specification: "The target member MUST have a string value"."""
    with pytest.raises(EmfError, match="service"):
        metric_data(line_with(lambda d: d.update(service=42)))


def test_a_directive_without_metrics_is_an_error() -> None:
    """The specification: "MetricDirectives MUST contain ... Namespace, Dimensions, Metrics"."""
    with pytest.raises(EmfError, match="Metrics"):
        metric_data(line_with(lambda d: directive(d).pop("Metrics")))
