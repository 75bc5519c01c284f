"""The records of one SQS batch in parallel, bounded, with Powertools' partial-response semantics.

`ParallelBatchProcessor` is Powertools' `BatchProcessor` (so `process_partial_response`,
`processor.exceptions`, `processor.fail_messages` and `raise_on_entire_batch_failure` work
as before) whose `process` runs the record handler on a bounded pool of threads:

- Lanes. Records that share a key run one after another, in batch order, on one thread;
  other records run at once, at most `concurrency()` of them (read per batch). Keys are a
  record's FIFO `MessageGroupId` (a FIFO queue keeps its order per message group) and
  whatever `ordering_keys(record)` returns (billing: the transaction ID, so two copies of
  one charge in a batch are one duplicate answered from the stored result, not twins
  racing for the idempotency record). A standard queue's records without keys are all
  independent: fully parallel up to the bound. See `batch_lanes`.
- FIFO. Once a record of a message group fails, the later records of that group fail
  unprocessed (Powertools' `SQSFifoMessageGroupCircuitBreakerError`, as its
  `SqsFifoPartialProcessor(skip_group_on_error=True)`): a redelivered failure never lands
  behind a later message of its group. Other groups go on.
- Warm-up. Until `ready()` holds, records run one at a time in batch order on the
  calling thread; then the rest run in lanes. The consumers' `ready` is "the first call
  through this wiring has run" (`FirstCallAlone.has_run`): a cold execution environment
  initialises its clients, settings and secrets once, on one thread, with the batch's
  first record that gets that far; a warm one starts every record at once.
- The answer. Each record's outcome is reported in batch order through Powertools' own
  `success_handler` / `failure_handler` once every lane is done, so `batchItemFailures`
  names exactly the failed records, in batch order, whatever order they finished in, and
  the failure log lines (with their tracebacks) come from one thread.
- A `BaseException` in a record (a kill, an interrupt: `FunctionKilled` in the tests)
  ends the invocation as in the sequential processor: no record starts after it, the
  ones in flight finish, the finished ones are reported, then it is raised.
- `concurrency()` of 1, or a batch of one lane, runs in the calling thread, exactly as
  the sequential processor does.

Why threads and not Powertools' `AsyncBatchProcessor`: every call on the record path is
synchronous (boto3, the Stripe SDK, Powertools idempotency); asyncio would need each one
pushed to a thread anyway, and `async_process_partial_response` gathers every record at
once, with no bound and no order per message group. A thread pool around the sequential
processor's per-record step keeps the record handlers unchanged and the semantics
Powertools'. The pool lives as long as the processor (the execution environment): its
threads keep their thread-local HTTP sessions (the Stripe SDK keeps one per thread)
across warm invocations. Each lane runs in a copy of the calling thread's `contextvars`
context, so what the handler set there (Powertools Logger's `thread_safe_append_keys`)
reaches its records.

What is and is not safe from threads (checked against Powertools 3.x and boto3):
- boto3 clients are safe to call from threads; creating one from the shared default
  session is not, and several adapters create theirs on first use. Other first uses are
  not thread-safe either: Powertools' idempotency persistence layer configures itself on
  its first call and sets `configured` before it compiles the key expressions (a second
  thread could hash a record with none); the Stripe key is fetched from SSM and the
  Stripe client built. `FirstCallAlone` runs the first call through such an object alone
  (the others wait for it), and the warm-up above makes that the batch's first record.
- Powertools' Metrics keep their metric set in a plain dict shared by every `Metrics`
  (`get`, append, set, and a flush that clears it at 100 values): record handlers add
  metrics through `add_metric` here, under one lock. They are flushed after the batch,
  on the handler's thread.
- Powertools' Logger: `inject_lambda_context` appends its keys to the formatter every
  thread shares (before the records start); per-record fields travel in each call's
  `extra`; the standard handlers lock around each write. Nothing to guard.
- The idempotency config's `lambda_context` is registered once per invocation, before
  the records start, and only read after; the remaining-time checks (billing's
  `TimeBudget`, welcome emails' `SendDeadline`) read the invocation's clock, so each
  record starts its provider call or send only if the invocation still has the budget.
- X-Ray (where tracing is on): the SDK's Lambda context is per thread and refreshes from
  the invocation's trace header, so a record's subsegment lands in the invocation's
  trace, beside `## lambda_handler` rather than under it.
"""

from __future__ import annotations

import contextvars
import sys
import threading
import weakref
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.exceptions import (
    ExceptionInfo,
    SQSFifoMessageGroupCircuitBreakerError,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

if TYPE_CHECKING:
    import logging
    from concurrent.futures import ThreadPoolExecutor

    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

T = TypeVar("T")

OrderingKeys = Callable[[SQSRecord], Iterable[Hashable]]


def message_group(record: dict[str, Any]) -> str | None:
    """The record's FIFO message group; None on a standard queue."""
    attributes = record.get("attributes") or {}
    group = attributes.get("MessageGroupId")
    return group if isinstance(group, str) and group else None


def batch_lanes(
    records: Sequence[dict[str, Any]], ordering_keys: OrderingKeys | None = None
) -> list[list[int]]:
    """The records' indices in lanes: each lane runs in batch order, lanes run at once.

    Two records share a lane when they share a FIFO message group or a key of
    `ordering_keys`, directly or through a third record (the lanes are the connected
    records). Lanes come in the order of their first record.
    """
    parent = list(range(len(records)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    first_with: dict[Hashable, int] = {}
    for index, record in enumerate(records):
        keys: list[Hashable] = []
        group = message_group(record)
        if group is not None:
            keys.append(("MessageGroupId", group))
        if ordering_keys is not None:
            keys.extend(("key", key) for key in ordering_keys(SQSRecord(record)))
        for key in keys:
            if key not in first_with:
                first_with[key] = index
                continue
            a, b = root(index), root(first_with[key])
            parent[max(a, b)] = min(a, b)
    lanes: dict[int, list[int]] = {}
    for index in range(len(records)):
        lanes.setdefault(root(index), []).append(index)
    return list(lanes.values())


@dataclass(frozen=True)
class _Outcome:
    data: SQSRecord
    result: Any = None
    error: ExceptionInfo | None = None


@dataclass
class _Batch:
    """One batch's shared state while its lanes run."""

    records: list[dict[str, Any]]
    outcomes: list[_Outcome | None]
    # Each message group lives in one lane, so one thread at a time touches a group.
    failed_groups: set[str] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)
    escaped: list[BaseException] = field(default_factory=list)


def _group_failed(group: str) -> ExceptionInfo:
    error = SQSFifoMessageGroupCircuitBreakerError(
        f"an earlier record of message group {group} failed in this batch; not processed, "
        "so the group stays in order"
    )
    return (SQSFifoMessageGroupCircuitBreakerError, error, None)


class ParallelBatchProcessor(BatchProcessor):
    """Powertools' SQS `BatchProcessor`, its records run in lanes on a bounded thread pool.

    `concurrency()` is read at the start of every batch (RECORD_CONCURRENCY, config.py);
    `ordering_keys(record)` names keys whose records must run one after another; until
    `ready()` holds, records run one at a time (see the module docstring).
    """

    def __init__(
        self,
        *,
        concurrency: Callable[[], int],
        ordering_keys: OrderingKeys | None = None,
        ready: Callable[[], bool] | None = None,
        raise_on_entire_batch_failure: bool = True,
        logger: logging.Logger | None = None,
    ) -> None:
        super().__init__(
            event_type=EventType.SQS,
            raise_on_entire_batch_failure=raise_on_entire_batch_failure,
            logger=logger,
        )
        self.concurrency = concurrency
        self.ordering_keys = ordering_keys
        self.ready = ready
        self._pool: ThreadPoolExecutor | None = None
        self._pool_size = 0

    def process(self) -> list[tuple[Any, ...]]:
        bound = max(1, int(self.concurrency()))  # first: a bad setting fails before any record
        records: list[dict[str, Any]] = list(self.records)
        batch = _Batch(records, [None] * len(records))
        warmed_up = 0
        while (
            warmed_up < len(records)
            and not batch.stop.is_set()
            and not (self.ready is None or self.ready())
        ):
            self._run_lane([warmed_up], batch)
            warmed_up += 1
        lanes = [
            rest
            for lane in batch_lanes(records, self.ordering_keys)
            if (rest := [index for index in lane if index >= warmed_up])
        ]
        if bound == 1 or len(lanes) <= 1:
            for lane in lanes:
                self._run_lane(lane, batch)
        else:
            self._run_in_parallel(lanes, batch, bound)
        entries = self._report(batch)
        if batch.escaped:
            raise batch.escaped[0]
        return entries

    def _run_in_parallel(self, lanes: list[list[int]], batch: _Batch, bound: int) -> None:
        from concurrent.futures import wait

        pool = self._executor(bound)
        running = [
            pool.submit(contextvars.copy_context().run, self._run_lane, lane, batch)
            for lane in lanes
        ]
        wait(running)
        for lane in running:
            lane.result()  # a fault of this module's own, never a record's

    def _executor(self, size: int) -> ThreadPoolExecutor:
        """The pool, kept across batches (and warm invocations) while its size holds."""
        if self._pool is None or self._pool_size != size:
            from concurrent.futures import ThreadPoolExecutor

            previous = self._pool
            self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="record")
            self._pool_size = size
            if previous is not None:
                previous.shutdown(wait=False)
        return self._pool

    def _run_lane(self, lane: list[int], batch: _Batch) -> None:
        for index in lane:
            if batch.stop.is_set():
                return
            record = batch.records[index]
            group = message_group(record)
            if group is not None and group in batch.failed_groups:
                batch.outcomes[index] = _Outcome(SQSRecord(record), error=_group_failed(group))
                continue
            try:
                outcome = self._run_record(record)
            except BaseException as error:  # a kill or an interrupt: the invocation ends
                batch.stop.set()
                batch.escaped.append(error)
                return
            batch.outcomes[index] = outcome
            if outcome.error is not None and group is not None:
                batch.failed_groups.add(group)

    def _run_record(self, record: dict[str, Any]) -> _Outcome:
        """The sequential processor's `_process_record`, its result returned, not recorded."""
        data = SQSRecord(record)
        try:
            if self._handler_accepts_lambda_context:
                result = self.handler(record=data, lambda_context=self.lambda_context)
            else:
                result = self.handler(record=data)
        except Exception:
            return _Outcome(data, error=sys.exc_info())
        return _Outcome(data, result=result)

    def _report(self, batch: _Batch) -> list[tuple[Any, ...]]:
        """Every finished record through Powertools' handlers, in batch order."""
        entries: list[tuple[Any, ...]] = []
        for record, outcome in zip(batch.records, batch.outcomes, strict=True):
            if outcome is None:  # not started: a BaseException is ending the invocation
                continue
            if outcome.error is None:
                entries.append(self.success_handler(record=record, result=outcome.result))
            else:
                entries.append(self.failure_handler(record=outcome.data, exception=outcome.error))
        return entries


class FirstCallAlone:
    """The first call through each object runs alone; the calls after it run at once.

    For objects that initialise themselves on first use in ways that are not thread-safe
    or not cheap to do N times at once (a boto3 client from the shared default session,
    Powertools' persistence layer configuring itself, a secret fetched from SSM): the
    first caller goes through alone while the others wait for it, whatever its outcome.
    Keyed on the object's identity, so a new object (a test's wiring, a rebuilt client)
    is first-called alone again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._called: dict[int, Callable[[], object]] = {}

    def has_run(self, owner: object) -> bool:
        """Whether a first call through `owner` has finished (returned or raised)."""
        ref = self._called.get(id(owner))
        return ref is not None and ref() is owner

    def __call__(self, owner: object, call: Callable[[], T]) -> T:
        if not self.has_run(owner):
            with self._lock:
                if not self.has_run(owner):
                    try:
                        return call()
                    finally:
                        self._remember(owner)
        return call()

    def _remember(self, owner: object) -> None:
        for key, ref in list(self._called.items()):
            if ref() is None:
                del self._called[key]
        try:
            self._called[id(owner)] = weakref.ref(owner)
        except TypeError:  # no weak references to it: keep it
            self._called[id(owner)] = lambda: owner


_METRICS_LOCK = threading.Lock()


def add_metric(
    metrics: Metrics, name: str, value: float = 1.0, unit: MetricUnit | str = "Count"
) -> None:
    """`metrics.add_metric` from a record handler that may run beside others (one lock)."""
    with _METRICS_LOCK:
        metrics.add_metric(name=name, unit=unit, value=value)
