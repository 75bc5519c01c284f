"""CloudWatch metric alarm evaluation (local_cloud/monitoring/alarm_rules.py), without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from local_cloud.monitoring.alarm_rules import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    AlarmDefinition,
    Sample,
    UnsupportedAlarm,
    evaluate,
    matches,
    statistic,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
QUEUE = (("QueueName", "BillingDeadLetterQueue"),)


def dlq_depth_alarm(**overrides: Any) -> AlarmDefinition:
    """As template.yaml's dead-letter queue depth alarm; overrides change one field."""
    fields: dict[str, Any] = {
        "name": "dlq-depth",
        "namespace": "AWS/SQS",
        "metric_name": "ApproximateNumberOfMessagesVisible",
        "dimensions": QUEUE,
        "statistic": "Maximum",
        "period": 60,
        "evaluation_periods": 1,
        "threshold": 0.0,
        "comparison_operator": "GreaterThanThreshold",
        "treat_missing_data": "notBreaching",
    }
    return AlarmDefinition(**(fields | overrides))


def three_period_alarm(**overrides: Any) -> AlarmDefinition:
    """Three one-minute periods, breaching above 5, missing data left out."""
    fields: dict[str, Any] = {
        "evaluation_periods": 3,
        "threshold": 5.0,
        "treat_missing_data": "missing",
    }
    return dlq_depth_alarm(**(fields | overrides))


def ago(seconds: float, value: float) -> Sample:
    return Sample.of(NOW - timedelta(seconds=seconds), value)


def state_of(definition: AlarmDefinition, samples: list[Sample], current: str = OK) -> str:
    return evaluate(definition, samples, now=NOW, current_state=current).state


# The project's alarms


def test_dlq_depth_alarm_goes_to_alarm_with_one_visible_message() -> None:
    evaluation = evaluate(dlq_depth_alarm(), [ago(30, 1)], now=NOW, current_state=OK)

    assert evaluation.state == ALARM
    assert "1 out of the last 1 datapoints" in evaluation.reason
    assert evaluation.reason_data["recentDatapoints"] == [1.0]


def test_dlq_depth_alarm_goes_back_to_ok_with_no_samples() -> None:
    assert state_of(dlq_depth_alarm(), [], current=ALARM) == OK


def test_dlq_depth_alarm_is_ok_while_the_queue_is_empty() -> None:
    assert state_of(dlq_depth_alarm(), [ago(40, 0), ago(20, 0)], current=ALARM) == OK


def test_errors_sum_alarm_stays_ok_when_every_sample_is_zero() -> None:
    errors = dlq_depth_alarm(
        namespace="AWS/Lambda",
        metric_name="Errors",
        dimensions=(("FunctionName", "billing"),),
        statistic="Sum",
    )

    assert state_of(errors, [ago(50, 0), ago(30, 0), ago(10, 0)]) == OK
    assert state_of(errors, [ago(50, 0), ago(30, 1), ago(10, 0)]) == ALARM


# Statistics


def test_statistics_over_values_and_statistic_sets() -> None:
    samples = [
        ago(10, 4),
        Sample(NOW - timedelta(seconds=20), count=3, total=6, minimum=1, maximum=3),
    ]

    assert statistic("SampleCount", samples) == 4
    assert statistic("Sum", samples) == 10
    assert statistic("Average", samples) == 2.5
    assert statistic("Minimum", samples) == 1
    assert statistic("Maximum", samples) == 4
    assert statistic("Sum", []) is None


def test_p90_is_the_nearest_rank_value() -> None:
    samples = [ago(30, value) for value in range(10, 0, -1)]

    assert statistic("p90", samples) == 9
    assert statistic("p100", samples) == 10
    assert state_of(dlq_depth_alarm(statistic="p90", threshold=8.5), samples) == ALARM
    assert state_of(dlq_depth_alarm(statistic="p90", threshold=9), samples) == OK


def test_p55_of_a_hundred_values_is_the_55th_as_p50_is_the_50th() -> None:
    samples = [ago(30, value) for value in range(1, 101)]

    assert statistic("p50", samples) == 50
    assert statistic("p55", samples) == 55


def test_a_percentile_over_statistic_sets_only_is_missing() -> None:
    only_a_set = [Sample(NOW - timedelta(seconds=30), count=5, total=50, minimum=1, maximum=20)]

    assert statistic("p90", only_a_set) is None
    assert state_of(three_period_alarm(statistic="p90"), only_a_set) == INSUFFICIENT_DATA


def test_samples_in_the_same_period_are_aggregated_and_periods_are_not() -> None:
    sum_of_two = dlq_depth_alarm(
        statistic="Sum",
        evaluation_periods=2,
        datapoints_to_alarm=1,
        threshold=2,
        comparison_operator="GreaterThanOrEqualToThreshold",
    )

    assert state_of(sum_of_two, [ago(20, 1), ago(10, 1)]) == ALARM
    assert state_of(sum_of_two, [ago(70, 1), ago(10, 1)]) == OK


# Comparison operators


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("GreaterThanThreshold", 5, OK),
        ("GreaterThanThreshold", 6, ALARM),
        ("GreaterThanOrEqualToThreshold", 5, ALARM),
        ("GreaterThanOrEqualToThreshold", 4, OK),
        ("LessThanThreshold", 5, OK),
        ("LessThanThreshold", 4, ALARM),
        ("LessThanOrEqualToThreshold", 5, ALARM),
        ("LessThanOrEqualToThreshold", 6, OK),
    ],
)
def test_the_operator_compares_the_datapoint_with_the_threshold(
    operator: str, value: float, expected: str
) -> None:
    definition = dlq_depth_alarm(threshold=5, comparison_operator=operator)

    assert state_of(definition, [ago(30, value)]) == expected


# Evaluation periods and DatapointsToAlarm


def test_two_of_three_datapoints_breaching_is_enough_for_alarm() -> None:
    two_of_three = three_period_alarm(datapoints_to_alarm=2)

    assert state_of(two_of_three, [ago(150, 10), ago(90, 1), ago(30, 10)]) == ALARM
    assert state_of(two_of_three, [ago(150, 1), ago(90, 1), ago(30, 10)], current=ALARM) == OK


def test_without_datapoints_to_alarm_every_period_must_breach() -> None:
    three_of_three = three_period_alarm()

    assert three_of_three.required_breaches == 3
    assert state_of(three_of_three, [ago(150, 10), ago(90, 1), ago(30, 10)]) == OK
    assert state_of(three_of_three, [ago(150, 10), ago(90, 10), ago(30, 10)]) == ALARM


# The evaluation range


def test_a_sample_stamped_now_is_counted() -> None:
    assert state_of(dlq_depth_alarm(), [ago(0, 1)]) == ALARM


def test_a_sample_at_or_before_the_start_of_the_range_is_not_counted() -> None:
    assert state_of(dlq_depth_alarm(), [ago(59, 1)]) == ALARM
    assert state_of(dlq_depth_alarm(), [ago(60, 1)]) == OK  # periods are (start, end]
    assert state_of(dlq_depth_alarm(), [ago(61, 1)]) == OK


def test_a_sample_on_a_period_boundary_belongs_to_the_period_it_ends() -> None:
    sum_of_two = dlq_depth_alarm(
        statistic="Sum",
        evaluation_periods=2,
        datapoints_to_alarm=1,
        threshold=2,
        comparison_operator="GreaterThanOrEqualToThreshold",
    )

    assert state_of(sum_of_two, [ago(90, 1), ago(60, 1)]) == ALARM
    assert state_of(sum_of_two, [ago(60, 1), ago(30, 1)]) == OK


def test_naive_timestamps_are_utc() -> None:
    naive_now = NOW.replace(tzinfo=None)
    naive_sample = Sample.of(naive_now - timedelta(seconds=30), 1)

    assert state_of(dlq_depth_alarm(), [naive_sample]) == ALARM
    assert evaluate(dlq_depth_alarm(), [ago(30, 1)], now=naive_now, current_state=OK).state == (
        ALARM
    )


def test_an_aware_timestamp_in_another_zone_is_compared_as_utc() -> None:
    paris = timezone(timedelta(hours=1))
    in_range = Sample.of(datetime(2026, 11, 30, 12, 59, 30, tzinfo=paris), 1)  # 11:59:30Z
    an_hour_out = Sample.of(datetime(2026, 11, 30, 11, 59, 30, tzinfo=paris), 1)  # 10:59:30Z

    assert state_of(dlq_depth_alarm(), [in_range]) == ALARM
    assert state_of(dlq_depth_alarm(), [an_hour_out]) == OK


# TreatMissingData


def test_missing_with_no_data_is_insufficient_data() -> None:
    evaluation = evaluate(three_period_alarm(), [], now=NOW, current_state=ALARM)

    assert evaluation.state == INSUFFICIENT_DATA
    assert evaluation.reason.startswith("Insufficient Data: 3 datapoints were unknown")


def test_missing_judges_the_datapoints_that_are_there() -> None:
    one_of_three = three_period_alarm(datapoints_to_alarm=1)

    assert state_of(one_of_three, [ago(90, 10)]) == ALARM
    assert state_of(one_of_three, [ago(90, 1)], current=ALARM) == OK


def test_ignore_with_no_data_keeps_the_current_state() -> None:
    ignoring = three_period_alarm(treat_missing_data="ignore")

    assert state_of(ignoring, [], current=ALARM) == ALARM
    assert state_of(ignoring, [], current=OK) == OK
    assert state_of(ignoring, [], current=INSUFFICIENT_DATA) == INSUFFICIENT_DATA


def test_breaching_counts_missing_periods_as_breaching() -> None:
    breaching = three_period_alarm(treat_missing_data="breaching", datapoints_to_alarm=2)

    assert state_of(breaching, []) == ALARM
    assert state_of(breaching, [ago(30, 1)]) == ALARM  # 1 good, 2 missing = 2 bad
    assert state_of(breaching, [ago(150, 1), ago(30, 1)], current=ALARM) == OK


def test_not_breaching_counts_missing_periods_as_good() -> None:
    not_breaching = three_period_alarm(treat_missing_data="notBreaching", datapoints_to_alarm=2)

    assert state_of(not_breaching, [ago(30, 10)], current=ALARM) == OK
    assert state_of(not_breaching, [ago(90, 10), ago(30, 10)]) == ALARM


def test_the_default_treatment_is_missing() -> None:
    definition = three_period_alarm(treat_missing_data=None)

    assert definition.missing_data == "missing"
    assert state_of(definition, []) == INSUFFICIENT_DATA


@pytest.mark.parametrize("chosen", ["missing", "breaching", "notBreaching", "ignore"])
def test_dynamodb_alarms_always_ignore_missing_data(chosen: str) -> None:
    throttles = three_period_alarm(namespace="AWS/DynamoDB", treat_missing_data=chosen)

    assert throttles.missing_data == "ignore"
    assert state_of(throttles, [], current=ALARM) == ALARM
    assert state_of(throttles, [], current=OK) == OK


@pytest.mark.parametrize(("treatment", "current"), [("missing", OK), ("ignore", ALARM)])
def test_a_lone_breach_in_the_oldest_period_then_missing_data_is_a_premature_alarm(
    treatment: str, current: str
) -> None:
    """AWS's 'Avoiding premature transitions to alarm state': 3 of 3, data `X - -`.

    CloudWatch goes to ALARM (missing) or keeps its state (ignore) when the oldest breaching
    datapoint of the evaluation periods is at least DatapointsToAlarm old and every more
    recent one is breaching or missing, even with fewer than DatapointsToAlarm datapoints.
    """
    definition = three_period_alarm(treat_missing_data=treatment)

    assert state_of(definition, [ago(150, 10)], current=current) == ALARM


# Dimensions


def test_dimensions_must_match_exactly() -> None:
    definition = dlq_depth_alarm(dimensions=(("QueueName", "q"), ("Region", "eu")))

    assert matches(definition, [("Region", "eu"), ("QueueName", "q")])
    assert not matches(definition, [("QueueName", "q")])
    assert not matches(definition, [("QueueName", "q"), ("Region", "eu"), ("Extra", "x")])
    assert not matches(definition, [("QueueName", "other"), ("Region", "eu")])


def test_an_alarm_without_dimensions_matches_only_a_datum_without_dimensions() -> None:
    definition = dlq_depth_alarm(dimensions=())

    assert matches(definition, [])
    assert not matches(definition, [("QueueName", "q")])


# What is not evaluated locally


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"statistic": "tm99"}, "tm99"),
        ({"statistic": "p101"}, "p101"),
        ({"statistic": "maximum"}, "maximum"),
        ({"comparison_operator": "LessThanLowerOrGreaterThanUpperThreshold"}, "LessThanLower"),
        ({"period": 0}, "Period"),
        ({"evaluation_periods": 0}, "EvaluationPeriods"),
    ],
)
def test_an_alarm_the_evaluator_cannot_judge_is_unsupported(
    overrides: dict[str, Any], named: str
) -> None:
    with pytest.raises(UnsupportedAlarm, match=named):
        dlq_depth_alarm(**overrides)
