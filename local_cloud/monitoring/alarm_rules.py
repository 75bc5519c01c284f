"""How a CloudWatch metric alarm decides its state, as plain functions (no I/O).

An alarm watches one metric (namespace, name and exactly its dimensions). At each
evaluation the most recent `EvaluationPeriods` periods of `Period` seconds, ending now
(a datapoint stamped now included), form the evaluation range. Each period's datapoint
is the alarm's statistic over the samples that fell in it (SampleCount, Sum, Average,
Minimum, Maximum, or a percentile such as p99), compared with the threshold by the
alarm's operator. A period with no
sample is missing, and `TreatMissingData` says what it counts as:

- `notBreaching`: a good datapoint; `breaching`: a bad one;
- `missing` (the default): left out; if every period is missing the alarm goes to
  INSUFFICIENT_DATA;
- `ignore`: left out; if every period is missing the alarm keeps its state.

The alarm is in ALARM when at least `DatapointsToAlarm` (default: EvaluationPeriods) of
the range's datapoints breach, otherwise OK; with `missing` and `ignore`, also when the
oldest breaching datapoint is at least DatapointsToAlarm periods old and every newer one
breaches or is missing: CloudWatch's rule so that an alarm still fires when the data
stops right after a breach. Alarms on AWS/DynamoDB metrics always treat
missing data as `ignore`, as CloudWatch does.

Where this is simpler than CloudWatch: the range slides with the evaluation (CloudWatch
aligns periods to the minute and may look back further for late data), and
`EvaluateLowSampleCountPercentile` is not applied.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

OK = "OK"
ALARM = "ALARM"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"

_COMPARISONS = {
    "GreaterThanThreshold": (lambda value, threshold: value > threshold, "greater than"),
    "GreaterThanOrEqualToThreshold": (
        lambda value, threshold: value >= threshold,
        "greater than or equal to",
    ),
    "LessThanThreshold": (lambda value, threshold: value < threshold, "less than"),
    "LessThanOrEqualToThreshold": (
        lambda value, threshold: value <= threshold,
        "less than or equal to",
    ),
}
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")


class UnsupportedAlarm(ValueError):
    """An alarm this evaluator cannot judge (metric math, anomaly detection, ...)."""


@dataclass(frozen=True)
class Sample:
    """What one PutMetricData entry contributed: a value, or a statistic set."""

    timestamp: datetime
    count: float
    total: float
    minimum: float
    maximum: float
    values: tuple[float, ...] = ()  # the raw values, when known (for percentiles)

    @classmethod
    def of(cls, timestamp: datetime, value: float) -> Sample:
        return cls(timestamp, 1.0, value, value, value, (value,))


@dataclass(frozen=True)
class AlarmDefinition:
    name: str
    namespace: str
    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str  # Sum, Maximum, ... or an extended statistic such as p99
    period: int
    evaluation_periods: int
    threshold: float
    comparison_operator: str
    datapoints_to_alarm: int | None = None
    treat_missing_data: str = "missing"
    unit: str | None = None

    def __post_init__(self) -> None:
        if self.comparison_operator not in _COMPARISONS:
            raise UnsupportedAlarm(
                f"alarm {self.name}: comparison operator {self.comparison_operator} is not "
                f"evaluated locally (only {', '.join(_COMPARISONS)})"
            )
        if self.period <= 0 or self.evaluation_periods <= 0:
            raise UnsupportedAlarm(f"alarm {self.name}: Period and EvaluationPeriods must be > 0")
        statistic(self.statistic, [])  # raises for an unknown statistic

    @property
    def required_breaches(self) -> int:
        return self.datapoints_to_alarm or self.evaluation_periods

    @property
    def missing_data(self) -> str:
        if self.namespace == "AWS/DynamoDB":
            return "ignore"
        return self.treat_missing_data or "missing"


@dataclass(frozen=True)
class Evaluation:
    state: str
    reason: str
    reason_data: dict[str, Any] = field(default_factory=dict)


def statistic(name: str, samples: Sequence[Sample]) -> float | None:
    """The value of statistic `name` over `samples`; None when there are none."""
    percentile = _PERCENTILE.match(name)
    if name not in ("SampleCount", "Sum", "Average", "Minimum", "Maximum") and not percentile:
        raise UnsupportedAlarm(f"statistic {name!r} is not evaluated locally")
    if not samples:
        return None
    count = sum(sample.count for sample in samples)
    total = sum(sample.total for sample in samples)
    if name == "SampleCount":
        return count
    if name == "Sum":
        return total
    if name == "Average":
        return total / count if count else None
    if name == "Minimum":
        return min(sample.minimum for sample in samples)
    if name == "Maximum":
        return max(sample.maximum for sample in samples)
    assert percentile is not None
    values = sorted(value for sample in samples for value in sample.values)
    if not values:  # only statistic sets: no percentile can be known
        return None
    rank = Fraction(percentile.group(1)) / 100 * len(values)  # exact: p55 of 100 is the 55th
    return values[max(0, math.ceil(rank) - 1)]


def matches(definition: AlarmDefinition, dimensions: Iterable[tuple[str, str]]) -> bool:
    """A metric's datapoints count for an alarm only with exactly the alarm's dimensions."""
    return sorted(dimensions) == sorted(definition.dimensions)


def evaluate(
    definition: AlarmDefinition,
    samples: Iterable[Sample],
    *,
    now: datetime,
    current_state: str,
) -> Evaluation:
    """The state `definition` is in at `now`, given the samples of its metric."""
    now = as_utc(now)
    period = timedelta(seconds=definition.period)
    start = now - period * definition.evaluation_periods
    buckets: list[list[Sample]] = [[] for _ in range(definition.evaluation_periods)]
    for sample in samples:
        at = as_utc(sample.timestamp)
        if start < at <= now:  # periods are (start, end]: what was just published counts
            buckets[math.ceil((at - start) / period) - 1].append(sample)
    datapoints: list[tuple[datetime, float | None]] = [
        (start + period * index, statistic(definition.statistic, bucket))
        for index, bucket in enumerate(buckets)
    ]
    present = [(at, value) for at, value in datapoints if value is not None]
    compare, words = _COMPARISONS[definition.comparison_operator]
    treat = definition.missing_data
    if not present and treat in ("missing", "ignore"):
        if treat == "ignore":
            return Evaluation(current_state, "no datapoints: the state is kept (ignore)")
        return Evaluation(
            INSUFFICIENT_DATA,
            f"Insufficient Data: {definition.evaluation_periods} datapoints were unknown.",
            {"recentDatapoints": [], "threshold": definition.threshold},
        )
    breaching = sum(1 for _, value in present if compare(value, definition.threshold))
    considered = len(present)
    missing = definition.evaluation_periods - considered
    if treat == "breaching":
        breaching += missing
        considered += missing
    elif treat == "notBreaching":
        considered += missing
    state = ALARM if breaching >= definition.required_breaches else OK
    if state == OK and treat in ("missing", "ignore"):
        premature = _premature_alarm(
            [value for _, value in datapoints], compare, definition.threshold,
            definition.required_breaches,
        )  # fmt: skip
        state = ALARM if premature else OK
    recent = [value for _, value in reversed(present)]
    shown = ", ".join(f"{value:g} ({at:%d/%m/%y %H:%M:%S})" for at, value in reversed(present))
    verb = "was" if breaching == 1 else "were"
    qualifier = "" if state == ALARM else "not "
    reason = (
        f"Threshold Crossed: {breaching} out of the last {considered} datapoints "
        f"[{shown}] {verb} {qualifier}{words} the threshold ({definition.threshold:g}) "
        f"(minimum {definition.required_breaches} datapoint"
        f"{'s' if definition.required_breaches != 1 else ''} for "
        f"{'OK -> ALARM' if state == ALARM else 'ALARM -> OK'} transition)."
    )
    reason_data = {
        "version": "1.0",
        "queryDate": now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000",
        "startDate": start.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000",
        "statistic": definition.statistic,
        "period": definition.period,
        "recentDatapoints": recent,
        "threshold": definition.threshold,
        "evaluatedDatapoints": [
            {"timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.000+0000"), "value": value}
            for at, value in reversed(present)
        ],
    }
    return Evaluation(state, reason, reason_data)


def _premature_alarm(
    values: Sequence[float | None],
    compare: Callable[[float, float], bool],
    threshold: float,
    required: int,
) -> bool:
    """CloudWatch's rule for data that stops after a breach: ALARM if the oldest breaching
    datapoint is at least `required` periods old and every newer one breaches or is
    missing, even with fewer than `required` datapoints present."""
    for index, value in enumerate(values):  # oldest first
        if value is None:
            continue
        if not compare(value, threshold):
            continue
        age = len(values) - index
        newer = values[index + 1 :]
        return age >= required and all(v is None or compare(v, threshold) for v in newer)
    return False


def as_utc(moment: datetime) -> datetime:
    """moto keeps some timestamps naive (UTC) and some aware: compare them as aware."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
