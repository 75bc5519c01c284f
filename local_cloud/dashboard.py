"""A live terminal view of a running local cloud: queues, mappings, functions, alarms.

Queue depths come from GetQueueAttributes and alarm states from DescribeAlarms, each in
a background thread every few seconds, so the view never adds calls to the pollers' hot
path; function and mapping counters are read from memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from local_cloud.observe import queue_depth


class QueueDepths:
    """Latest (visible, in flight) per queue, refreshed by a daemon thread."""

    def __init__(self, sqs: Any, queue_urls: Mapping[str, str], poll_seconds: float = 2.0) -> None:
        self._sqs = sqs
        self._queue_urls = dict(queue_urls)
        self._poll_seconds = poll_seconds
        self._depths: dict[str, tuple[int, int] | str] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="queue-depths", daemon=True)

    def start(self) -> QueueDepths:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=self._poll_seconds + 5)

    def snapshot(self) -> dict[str, tuple[int, int] | str]:
        return dict(self._depths)

    def _run(self) -> None:
        while not self._stopping.is_set():
            for logical_id, url in self._queue_urls.items():
                try:
                    self._depths[logical_id] = queue_depth(self._sqs, url)
                except Exception as error:  # shown in the view, never fatal to it
                    self._depths[logical_id] = f"error: {error}"
            self._stopping.wait(self._poll_seconds)


class AlarmStates:
    """Latest state of each of the stack's alarms (names starting `prefix`), refreshed by
    a daemon thread; `on_change(name, old, new, reason)` hears of every change seen."""

    def __init__(
        self,
        cloudwatch: Any,
        prefix: str,
        poll_seconds: float = 2.0,
        on_change: Callable[[str, str, str, str], None] | None = None,
    ) -> None:
        self._cloudwatch = cloudwatch
        self._prefix = prefix
        self._poll_seconds = poll_seconds
        self._on_change = on_change
        self._states: dict[str, tuple[str, str]] = {}
        self._error: str | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alarm-states", daemon=True)

    def start(self) -> AlarmStates:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=self._poll_seconds + 5)

    def snapshot(self) -> dict[str, tuple[str, str]]:
        """{alarm name: (state, reason)}; {"error": ...} while DescribeAlarms fails."""
        if self._error is not None:
            return {"error": ("?", self._error)}
        return dict(self._states)

    def poll(self) -> None:
        try:
            pages = self._cloudwatch.get_paginator("describe_alarms").paginate(
                AlarmNamePrefix=self._prefix
            )
            alarms = [alarm for page in pages for alarm in page["MetricAlarms"]]
        except Exception as error:  # shown in the view, never fatal to it
            self._error = str(error)
            return
        self._error = None
        for alarm in alarms:
            name, state = alarm["AlarmName"], alarm["StateValue"]
            reason = alarm.get("StateReason", "")
            old = self._states.get(name)
            self._states[name] = (state, reason)
            if old is not None and old[0] != state and self._on_change is not None:
                self._on_change(name, old[0], state, reason)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.poll()
            self._stopping.wait(self._poll_seconds)


def render(
    stack_name: str,
    queue_depths: Mapping[str, tuple[int, int] | str],
    dead_letter_queues: set[str],
    mapping_stats: Mapping[str, Any],
    function_stats: Mapping[str, Any],
    uptime_seconds: float,
    log_tail: Sequence[tuple[str, str]] = (),
    alarm_states: Mapping[str, tuple[str, str]] | None = None,
) -> Group:
    queues = Table(title=f"{stack_name}: queues (polled every ~2 s)", expand=True)
    for column in ("queue", "kind", "visible", "in flight"):
        queues.add_column(column)
    for logical_id, depth in sorted(queue_depths.items()):
        kind = "DLQ" if logical_id in dead_letter_queues else "queue"
        if isinstance(depth, str):
            queues.add_row(logical_id, kind, depth, "")
        else:
            style = "bold red" if kind == "DLQ" and depth[0] else ""
            queues.add_row(logical_id, kind, str(depth[0]), str(depth[1]), style=style)

    mappings = Table(title="event source mappings", expand=True)
    for column in ("mapping", "batches", "received", "deleted", "failed", "errors", "throttles"):
        mappings.add_column(column)
    for logical_id, stats in sorted(mapping_stats.items()):
        counts = _as_dict(stats)
        mappings.add_row(
            logical_id,
            *(
                str(counts.get(key, ""))
                for key in ("batches", "received", "deleted", "failed", "invocation_errors")
            ),
            str(counts.get("throttles", "")),
        )

    functions = Table(title=f"functions (up {uptime_seconds:.0f} s)", expand=True)
    for column in ("function", "invocations", "errors", "cold starts", "timeouts", "busy"):
        functions.add_column(column)
    for logical_id, stats in sorted(function_stats.items()):
        counts = _as_dict(stats)
        functions.add_row(
            logical_id,
            *(
                str(counts.get(key, ""))
                for key in ("invocations", "errors", "cold_starts", "timeouts", "busy_workers")
            ),
        )
    tables: list[Table] = [queues, mappings, functions]
    if alarm_states:
        alarms = Table(title="alarms (evaluated by the endpoint every ~10 s)", expand=True)
        alarms.add_column("alarm", no_wrap=True)
        alarms.add_column("state", no_wrap=True)
        alarms.add_column("reason", overflow="ellipsis", no_wrap=True)
        for name, (state, reason) in sorted(alarm_states.items()):
            style = {"ALARM": "bold red", "OK": "green"}.get(state, "yellow")
            alarms.add_row(name, Text(state, style=style), Text(reason))
        tables.append(alarms)
    if not log_tail:
        return Group(*tables)
    logs = Table(title="function logs (last lines; local-cloud logs FUNCTION --tail)", expand=True)
    logs.add_column("function", no_wrap=True)
    logs.add_column("line", overflow="ellipsis", no_wrap=True)
    for logical_id, line in log_tail:
        logs.add_row(logical_id, Text(line))  # Text: a log line is never rich markup
    return Group(*tables, logs)


def _as_dict(stats: Any) -> dict[str, Any]:
    if is_dataclass(stats) and not isinstance(stats, type):
        return asdict(stats)
    return dict(stats) if isinstance(stats, Mapping) else {}


def run_live_view(
    stack_name: str,
    queue_depths: QueueDepths,
    dead_letter_queues: set[str],
    mapping_stats: Callable[[], Mapping[str, Any]],
    function_stats: Callable[[], Mapping[str, Any]],
    refresh_seconds: float = 0.5,
    log_tail: Callable[[], Sequence[tuple[str, str]]] | None = None,
    alarm_states: AlarmStates | None = None,
) -> None:
    """Redraw until KeyboardInterrupt (Ctrl-C), which propagates to the caller."""
    started = time.monotonic()

    def view() -> Group:
        return render(
            stack_name,
            queue_depths.snapshot(),
            dead_letter_queues,
            mapping_stats(),
            function_stats(),
            time.monotonic() - started,
            log_tail() if log_tail is not None else (),
            alarm_states.snapshot() if alarm_states is not None else None,
        )

    with Live(view(), refresh_per_second=max(1, round(1 / refresh_seconds))) as live:
        while True:
            time.sleep(refresh_seconds)
            live.update(view())
