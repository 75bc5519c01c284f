"""Lambda's per-function metrics and the functions' EMF metrics, as PutMetricData sees them."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from local_cloud.monitoring.lambda_metrics import LambdaMetrics


class RecordingCloudWatch:
    def __init__(self, fail: bool = False) -> None:
        self.requests: list[tuple[str, list[dict[str, Any]]]] = []
        self.fail = fail

    def put_metric_data(self, Namespace: str, MetricData: list[dict[str, Any]]) -> None:
        if self.fail:
            raise ConnectionError("endpoint gone")
        self.requests.append((Namespace, MetricData))

    def values(self, namespace: str, name: str) -> list[float]:
        return [
            datum["Value"] if "Value" in datum else datum["Values"][0]
            for ns, data in self.requests
            if ns == namespace
            for datum in data
            if datum["MetricName"] == name
        ]


def metrics_of(cloudwatch: RecordingCloudWatch) -> LambdaMetrics:
    return LambdaMetrics(cloudwatch, flush_seconds=3600)  # flushed by the test only


def test_a_failed_invocation_counts_one_invocation_and_one_error() -> None:
    cloudwatch = RecordingCloudWatch()
    metrics = metrics_of(cloudwatch)

    metrics.invoked("billing", error=False, duration_ms=120.5, concurrent=1)
    metrics.invoked("billing", error=True, duration_ms=30000.0, concurrent=2)
    metrics.close()

    assert cloudwatch.values("AWS/Lambda", "Invocations") == [1.0, 1.0]
    assert cloudwatch.values("AWS/Lambda", "Errors") == [0.0, 1.0]
    assert cloudwatch.values("AWS/Lambda", "Duration") == [120.5, 30000.0]
    assert cloudwatch.values("AWS/Lambda", "ConcurrentExecutions") == [1.0, 2.0]
    [(_, data)] = cloudwatch.requests
    assert {d["Dimensions"][0]["Value"] for d in data} == {"billing"}


def test_a_throttled_request_counts_a_throttle_and_no_invocation() -> None:
    cloudwatch = RecordingCloudWatch()
    metrics = metrics_of(cloudwatch)

    metrics.throttled("billing")
    metrics.close()

    assert cloudwatch.values("AWS/Lambda", "Throttles") == [1.0]
    assert cloudwatch.values("AWS/Lambda", "Invocations") == []


def test_emf_lines_in_the_invocation_log_become_custom_metrics() -> None:
    cloudwatch = RecordingCloudWatch()
    metrics = metrics_of(cloudwatch)
    emf = {
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
    logs = f"START RequestId: r\n{json.dumps(emf)}\nEND RequestId: r\n"

    metrics.invoked("billing", error=False, duration_ms=5.0, concurrent=1, logs=logs)
    metrics.close()

    assert cloudwatch.values("DeliveryGuarantees", "ChargesSucceeded") == [1.0]


def test_a_failing_put_metric_data_is_reported_once_and_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = metrics_of(RecordingCloudWatch(fail=True))

    with caplog.at_level(logging.WARNING):
        metrics.invoked("billing", error=False, duration_ms=1.0, concurrent=1)
        metrics.flush()
        metrics.invoked("billing", error=False, duration_ms=1.0, concurrent=1)
        metrics.close()

    warnings = [r for r in caplog.records if "PutMetricData failed" in r.getMessage()]
    assert len(warnings) == 1
