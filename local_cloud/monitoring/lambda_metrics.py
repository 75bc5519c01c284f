"""The metrics Lambda publishes for each function, and the functions' own EMF metrics.

Per invocation, in namespace AWS/Lambda with the dimension FunctionName, as Lambda
documents them:

- Invocations: 1 for every invocation that ran, successful or not (not throttled ones);
- Errors: 1 when it ended in a function error (an exception the handler raised, a
  timeout, a crash, a failed init), else 0. A batch the handler answers with
  batchItemFailures is a success: its failed records are no function error;
- Duration: milliseconds the handler ran;
- ConcurrentExecutions: how many invocations of the function were running, this one
  included (alarm on its Maximum);
- Throttles: 1 per invocation request refused at the concurrency limit.

Each line the function logged that is in embedded metric format (`emf`) becomes the
custom metrics it declares, as CloudWatch Logs does on AWS.

Datums are buffered and sent with PutMetricData by a background thread every
`flush_seconds` and on `close()`, so an invocation never waits for CloudWatch. A failing
PutMetricData is reported on the logger once and its datums dropped, never the
invocation.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from local_cloud.monitoring import emf

logger = logging.getLogger(__name__)

NAMESPACE = "AWS/Lambda"
MAX_DATUMS_PER_REQUEST = 1000  # PutMetricData's limit


class LambdaMetrics:
    def __init__(self, cloudwatch: Any, *, flush_seconds: float = 2.0) -> None:
        self._cloudwatch = cloudwatch
        self._flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._pending: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._stopping = threading.Event()
        self._warned = False
        self._thread = threading.Thread(target=self._run, name="lambda-metrics", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ recording

    def invoked(
        self,
        function_name: str,
        *,
        error: bool,
        duration_ms: float,
        concurrent: int,
        logs: str = "",
    ) -> None:
        now = datetime.now(UTC)
        dimensions = [{"Name": "FunctionName", "Value": function_name}]

        def datum(name: str, value: float, unit: str) -> dict[str, Any]:
            return {
                "MetricName": name,
                "Value": value,
                "Unit": unit,
                "Timestamp": now,
                "Dimensions": dimensions,
            }

        data = [
            datum("Invocations", 1.0, "Count"),
            datum("Errors", 1.0 if error else 0.0, "Count"),
            datum("Duration", round(duration_ms, 2), "Milliseconds"),
            datum("ConcurrentExecutions", float(concurrent), "Count"),
        ]
        custom = self._from_logs(function_name, logs)
        with self._lock:
            self._pending[NAMESPACE].extend(data)
            for namespace, entries in custom.items():
                self._pending[namespace].extend(entries)

    def throttled(self, function_name: str) -> None:
        entry = {
            "MetricName": "Throttles",
            "Value": 1.0,
            "Unit": "Count",
            "Timestamp": datetime.now(UTC),
            "Dimensions": [{"Name": "FunctionName", "Value": function_name}],
        }
        with self._lock:
            self._pending[NAMESPACE].append(entry)

    @staticmethod
    def _from_logs(function_name: str, logs: str) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for line in logs.splitlines():
            try:
                entries = emf.metric_data(line)
            except emf.EmfError as error:
                logger.warning(
                    "%s: an EMF log line was not turned into metrics: %s", function_name, error
                )
                continue
            for namespace, data in entries.items():
                found[namespace].extend(data)
        return found

    # ------------------------------------------------------------------ sending

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, defaultdict(list)
        for namespace, data in pending.items():
            for start in range(0, len(data), MAX_DATUMS_PER_REQUEST):
                try:
                    self._cloudwatch.put_metric_data(
                        Namespace=namespace, MetricData=data[start : start + MAX_DATUMS_PER_REQUEST]
                    )
                except Exception as error:
                    if not self._warned:
                        self._warned = True
                        logger.warning("PutMetricData failed; these metrics are lost: %s", error)

    def _run(self) -> None:
        while not self._stopping.wait(self._flush_seconds):
            self.flush()

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=self._flush_seconds + 5)
        self.flush()
