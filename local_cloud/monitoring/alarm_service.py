"""CloudWatch's side of monitoring, run inside the endpoint process on moto's backends.

moto stores metrics and alarms but never evaluates an alarm, and SQS publishes no
metrics. `MonitoringLoop` does both, every `interval` seconds:

1. puts each queue's AWS/SQS metrics (`queue_metrics`) into CloudWatch;
2. evaluates every metric alarm of every account and region (`alarm_rules.evaluate`);
   on a change of state it records it (SetAlarmState: the new state, its reason and
   reason data, an entry in the alarm's history) and, if the alarm's actions are
   enabled, publishes CloudWatch's notification message to each SNS topic among the
   actions of the new state (AlarmActions, OKActions, InsufficientDataActions).

Alarms it cannot evaluate (composite alarms, metric math, anomaly detection) are left as
they are and reported once on stderr. Datapoints older than `RETENTION` are dropped so a
long-running endpoint does not grow without bound (CloudWatch keeps them for 15 days).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from local_cloud.monitoring import queue_metrics
from local_cloud.monitoring.alarm_rules import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    AlarmDefinition,
    Evaluation,
    Sample,
    UnsupportedAlarm,
    as_utc,
    evaluate,
    matches,
)

DEFAULT_INTERVAL_SECONDS = 10.0
RETENTION = timedelta(hours=24)


def _backends(backend_dict: Any) -> Iterator[tuple[str, str, Any]]:
    for account, regions in list(backend_dict.items()):
        for region, backend in list(regions.items()):
            yield account, region, backend


def publish_queue_metrics(now: float | None = None) -> int:
    """Put every queue's AWS/SQS metrics into CloudWatch; the number of queues."""
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.sqs.models import sqs_backends

    moment = time.time() if now is None else now
    stamp = datetime.fromtimestamp(moment, UTC).replace(tzinfo=None)
    published = 0
    for account, region, sqs in _backends(sqs_backends):
        data: list[dict[str, Any]] = []
        for queue in list(sqs.queues.values()):
            messages = [
                queue_metrics.QueuedMessage(
                    sent_at=(message.sent_timestamp or 0) / 1000,
                    receive_count=message.approximate_receive_count,
                    visible=message.visible,
                    delayed=message.delayed,
                )
                for message in list(queue._messages)
            ]
            snapshot = queue_metrics.snapshot(messages, now=moment)
            for datum in queue_metrics.metric_data(queue.name, snapshot):
                data.append(datum | {"Timestamp": stamp})  # naive UTC, as moto stores them
            published += 1
        if data:
            cloudwatch_backends[account][region].put_metric_data(queue_metrics.NAMESPACE, data)
    return published


def definition_of(alarm: Any) -> AlarmDefinition:
    """The alarm_rules view of one of moto's alarms; UnsupportedAlarm if it has none."""
    if getattr(alarm, "rule", None):
        raise UnsupportedAlarm(f"{alarm.name} is a composite alarm")
    if alarm.metric_data_queries or getattr(alarm, "threshold_metric_id", None):
        raise UnsupportedAlarm(f"{alarm.name} uses metric math or anomaly detection")
    if not alarm.metric_name or not alarm.namespace:
        raise UnsupportedAlarm(f"{alarm.name} names no metric")
    return AlarmDefinition(
        name=alarm.name,
        namespace=alarm.namespace,
        metric_name=alarm.metric_name,
        dimensions=tuple((d.name, d.value) for d in alarm.dimensions),
        statistic=alarm.statistic or alarm.extended_statistic or "",
        period=int(alarm.period),
        evaluation_periods=int(alarm.evaluation_periods),
        threshold=float(alarm.threshold),
        comparison_operator=alarm.comparison_operator,
        datapoints_to_alarm=int(alarm.datapoints_to_alarm) if alarm.datapoints_to_alarm else None,
        treat_missing_data=alarm.treat_missing_data or "missing",
        unit=alarm.unit,
    )


def samples_of(datum: Any) -> Sample:
    """One of moto's stored datums as a Sample (a single value or a statistic set)."""
    timestamp = as_utc(datum.timestamp)
    if hasattr(datum, "value"):
        return Sample.of(timestamp, float(datum.value))
    return Sample(
        timestamp,
        float(datum.sample_count),
        float(datum.sum_stat),
        float(datum.min_stat),
        float(datum.max_stat),
    )


def notification(
    alarm: Any, definition: AlarmDefinition, old_state: str, evaluation: Evaluation, now: datetime
) -> dict[str, Any]:
    """The JSON CloudWatch publishes to an alarm's SNS topics on a change of state."""
    account = alarm.alarm_arn.split(":")[4]
    percentile = definition.statistic.startswith("p")
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description or None,
        "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": _iso(alarm.configuration_updated_timestamp),
        "NewStateValue": evaluation.state,
        "NewStateReason": evaluation.reason,
        "StateChangeTime": _iso(now),
        "Region": region_description(alarm.region_name),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "OKActions": list(alarm.ok_actions),
        "AlarmActions": list(alarm.alarm_actions),
        "InsufficientDataActions": list(alarm.insufficient_data_actions),
        "Trigger": {
            "MetricName": definition.metric_name,
            "Namespace": definition.namespace,
            "StatisticType": "ExtendedStatistic" if percentile else "Statistic",
            "Statistic": definition.statistic if percentile else definition.statistic.upper(),
            "Unit": definition.unit,
            "Dimensions": [{"value": value, "name": name} for name, value in definition.dimensions],
            "Period": definition.period,
            "EvaluationPeriods": definition.evaluation_periods,
            "DatapointsToAlarm": definition.required_breaches,
            "ComparisonOperator": definition.comparison_operator,
            "Threshold": definition.threshold,
            "TreatMissingData": definition.treat_missing_data,
            "EvaluateLowSampleCountPercentile": "",
        },
    }


def _iso(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


@cache  # botocore's endpoints.json is read from disk: once per region, not per notification
def region_description(region: str) -> str:
    """ "US East (N. Virginia)" for us-east-1, as the notification's Region field says."""
    from botocore.loaders import Loader

    for partition in Loader().load_data("endpoints")["partitions"]:
        described = partition.get("regions", {}).get(region)
        if described:
            return str(described.get("description", region))
    return region


class MonitoringLoop:
    """Publishes queue metrics and evaluates alarms every `interval` seconds."""

    def __init__(self, interval: float = DEFAULT_INTERVAL_SECONDS) -> None:
        self.interval = interval
        self._stopping = threading.Event()
        self._reported: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="monitoring", daemon=True)

    def start(self) -> MonitoringLoop:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=self.interval + 5)

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.tick()
            except Exception as error:  # never fatal to the endpoint; said once per kind
                self._report_once(type(error).__name__, f"monitoring: {error!r}")

    def tick(self, now: datetime | None = None) -> list[tuple[str, str, str]]:
        """One round: queue metrics, then every alarm. The changes (alarm, old, new)."""
        moment = now or datetime.now(UTC)
        publish_queue_metrics(moment.timestamp())
        return self.evaluate_alarms(moment)

    def evaluate_alarms(self, now: datetime) -> list[tuple[str, str, str]]:
        from moto.cloudwatch.models import cloudwatch_backends

        changes: list[tuple[str, str, str]] = []
        for _account, _region, cloudwatch in _backends(cloudwatch_backends):
            _drop_old_datapoints(cloudwatch, now)
            by_metric: dict[tuple[str, str], list[Any]] = defaultdict(list)
            for datum in list(cloudwatch.metric_data):
                by_metric[(datum.namespace, datum.name)].append(datum)
            for alarm in list(cloudwatch.alarms.values()):
                try:
                    definition = definition_of(alarm)
                except UnsupportedAlarm as error:
                    self._report_once(alarm.alarm_arn, f"alarm not evaluated locally: {error}")
                    continue
                samples = [
                    samples_of(datum)
                    for datum in by_metric.get((definition.namespace, definition.metric_name), ())
                    if matches(definition, ((d.name, d.value) for d in datum.dimensions))
                    and (definition.unit is None or datum.unit == definition.unit)
                ]
                old_state = alarm.state_value
                evaluation = evaluate(definition, samples, now=now, current_state=old_state)
                if evaluation.state == old_state:
                    continue
                cloudwatch.set_alarm_state(
                    alarm.name,
                    evaluation.reason,
                    json.dumps(evaluation.reason_data),
                    evaluation.state,
                )
                changes.append((alarm.name, old_state, evaluation.state))
                if alarm.actions_enabled:
                    message = notification(alarm, definition, old_state, evaluation, now)
                    self._act(alarm, evaluation.state, message)
        return changes

    def _act(self, alarm: Any, state: str, message: dict[str, Any]) -> None:
        from moto.sns.models import sns_backends

        actions = {
            ALARM: alarm.alarm_actions,
            OK: alarm.ok_actions,
            INSUFFICIENT_DATA: alarm.insufficient_data_actions,
        }[state]
        region_name = region_description(alarm.region_name)
        subject = f'{state}: "{alarm.name}" in {region_name}'
        if len(subject) > 100:  # SNS subjects are at most 100 characters
            subject = subject[:97] + "..."
        for action in actions:
            parts = action.split(":")
            if len(parts) < 6 or parts[2] != "sns":
                self._report_once(action, f"alarm action not performed locally: {action}")
                continue
            region, account = parts[3], parts[4]
            try:
                sns_backends[account][region].publish(
                    json.dumps(message), arn=action, subject=subject
                )
            except Exception as error:  # a deleted topic: CloudWatch would log and go on
                self._report_once(action, f"alarm {alarm.name}: publishing to {action}: {error}")

    def _report_once(self, key: str, text: str) -> None:
        if key not in self._reported:
            self._reported.add(key)
            print(text, file=sys.stderr, flush=True)


def _drop_old_datapoints(cloudwatch: Any, now: datetime) -> None:
    """Delete the leading run of datapoints older than RETENTION. Requests append to the
    list's end while this runs, so only a prefix is ever deleted."""
    oldest = now - RETENTION
    data: list[Any] = cloudwatch.metric_data
    stale = 0
    for datum in data:
        if as_utc(datum.timestamp) >= oldest:
            break
        stale += 1
    if stale:
        del data[:stale]
