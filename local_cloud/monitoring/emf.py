"""Custom metrics from CloudWatch embedded metric format (EMF) log lines.

On AWS, CloudWatch Logs turns each log line that is an EMF object into metrics, which is
how Powertools' `Metrics` publishes without a PutMetricData call. An EMF line is a JSON
object whose `_aws` member holds `Timestamp` (epoch milliseconds) and
`CloudWatchMetrics`, a list of directives: a `Namespace`, `Dimensions` (a list of
dimension sets, each a list of member names; `[]` is the set of no dimension) and
`Metrics` (each a `Name` and an optional `Unit`). Values, metric values and dimension
values alike, are members of the object; a metric value may be a number or a list of up
to 100 numbers. One datum is made per metric and dimension set.

A line that is not an EMF object yields nothing; one that claims to be but breaks the
specification yields nothing either and is reported (`EmfError`), as CloudWatch drops it
and logs an error.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

MAX_VALUES_PER_METRIC = 100


class EmfError(ValueError):
    pass


def metric_data(line: str) -> dict[str, list[dict[str, Any]]]:
    """PutMetricData entries by namespace for one log line; {} when it is not EMF."""
    text = line.strip()
    if not text.startswith("{") or '"_aws"' not in text:
        return {}
    try:
        document = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(document, dict) or not isinstance(document.get("_aws"), dict):
        return {}
    return _from_document(document)


def _from_document(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    metadata = document["_aws"]
    timestamp = metadata.get("Timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise EmfError("_aws.Timestamp must be epoch milliseconds (an integer)")
    moment = datetime.fromtimestamp(timestamp / 1000, UTC)
    directives = metadata.get("CloudWatchMetrics")
    if not isinstance(directives, list):
        raise EmfError("_aws.CloudWatchMetrics must be a list")
    result: dict[str, list[dict[str, Any]]] = {}
    for directive in directives:
        if not isinstance(directive, dict):
            raise EmfError("each CloudWatchMetrics entry must be an object")
        namespace = directive.get("Namespace")
        if not isinstance(namespace, str) or not namespace:
            raise EmfError("CloudWatchMetrics[].Namespace must be a non-empty string")
        dimension_sets = directive.get("Dimensions")
        if not isinstance(dimension_sets, list) or not all(
            isinstance(names, list) and all(isinstance(n, str) for n in names)
            for names in dimension_sets
        ):
            raise EmfError(f"{namespace}: Dimensions must be a list of lists of member names")
        metrics = directive.get("Metrics")
        if not isinstance(metrics, list):
            raise EmfError(f"{namespace}: Metrics must be a list of metric definitions")
        for metric in metrics:
            name = metric.get("Name") if isinstance(metric, dict) else None
            if not isinstance(name, str) or not name:
                raise EmfError(f"{namespace}: each metric needs a Name")
            values = _values(document.get(name), name)
            for names in dimension_sets or [[]]:
                dimensions = []
                for key in names:
                    if key not in document:
                        raise EmfError(f"{namespace}/{name}: dimension {key!r} has no value")
                    if not isinstance(document[key], str):
                        raise EmfError(f"{namespace}/{name}: dimension {key!r} must be a string")
                    dimensions.append({"Name": key, "Value": document[key]})
                datum: dict[str, Any] = {
                    "MetricName": name,
                    "Timestamp": moment,
                    "Values": values,
                    "Dimensions": dimensions,
                }
                if metric.get("Unit"):
                    datum["Unit"] = str(metric["Unit"])
                result.setdefault(namespace, []).append(datum)
    return result


def _values(value: Any, name: str) -> list[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    if (
        isinstance(value, list)
        and 0 < len(value) <= MAX_VALUES_PER_METRIC
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        return [float(v) for v in value]
    raise EmfError(f"metric {name!r} needs a number or a list of 1-100 numbers as its value")
