"""An SQS event source mapping: a receiver that gathers batches, invokers that run them.

AWS's own shape: pollers fetch, invokers run. Per mapping, one receiver thread makes every
ReceiveMessage call: it long-polls, gathers up to BatchSize within the batching window
(which starts at the first message and ends early when the batch is full, near the 6 MB
payload limit, or at stop()), and hands the batch to an idle invoker thread. It waits for
an idle invoker within the mapping's concurrency *before* receiving, so no message is taken
from the queue that nobody can run at once (its visibility timeout would tick while it
waited here). Each invoker invokes the function synchronously, settles the batch by AWS's
rules (batch_response.py) and DeleteMessageBatch-es what succeeded. Failed messages are
left alone: SQS makes them visible again when their visibility timeout ends, with a higher
ApproximateReceiveCount, and the queue's RedrivePolicy dead-letters them after
maxReceiveCount receives. Retries are redeliveries; nothing here retries by itself.

Concurrency: the rule of scaling.py, Lambda's, with time compressed. A mapping starts at
min(5, its ceiling) concurrent batches; every 2 s (AWS's minute, locally) the receiver
steps: one batch down after a function error or throttle in the interval (to 1 at least),
one up while every batch was running and the queue still had visible messages (asked with
GetQueueAttributes, only then, so at most once per interval), else one back toward 5. The
ceiling: min(ScalingConfig.MaximumConcurrency, the function's concurrency limit, the local
cap `max_concurrent_batches` (local-cloud.toml; default max(5, 4 x CPUs)), 1,000), and
for a FIFO queue the active message groups + 1. More concurrency starts invoker threads; less
retires spare ones as they come idle and asks the Lambda service to reclaim the function's
idle workers beyond it. stats() shows the concurrency and the most batches run at once. A
`concurrency` given to the constructor pins it (no scaling): tests use it.

Why one receiver: moto's ReceiveMessage is not atomic, and two concurrent receives could
hand out the same message, or two batches of one FIFO message group, which SQS itself never
does. Serialising receives behind a lock shared by several pollers made each poller's
follow-up receives within its window queue behind the others' long polls, and the window
overran by seconds; one receiver serialises them without anyone waiting on anyone else's
long poll. FIFO queues are short-polled: moto's long poll spins while a message group is
locked; and see _release_behind_group_heads for moto's FIFO redelivery order.

Fault injection: given `faults` (local_cloud/lambda_runtime/faults.py), before it hands a
batch to the function the invoker claims a `release_visibility` fault of the function from
the endpoint; if it gets one, it makes the batch's messages visible at once
(ChangeMessageVisibilityBatch, VisibilityTimeout 0), as if their visibility timeout had
lapsed while the batch still runs, so another invoker receives and runs twins concurrently.

Event filtering (filtering.py): with FilterCriteria, every message received is matched
against the filters before it joins a batch; those matching none are deleted at once
(DeleteMessageBatch) and never invoked, and count in stats().filtered. A batch holds only
matching messages, so filtered ones neither fill it nor end its window; if none match, no
invocation happens.

Not emulated: AWS's pace (300 more batches a minute, up to 1,000: here one batch per 2 s,
up to the local cap), its scaling down to 2 batches on a quiet queue, its pollers (one
receiver here, so a fast function is bounded by the receives, not by the concurrency), and
the 6 MB limit beyond a conservative estimate (gathering stops one maximum message size
short of it).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

import boto3
from botocore.config import Config

# Not `from local_cloud.event_sources import ...`: that runs the package's __init__, which
# imports this module (tests/unit/test_import_graph.py).
import local_cloud.event_sources.mapping_rules as mapping_rules
from local_cloud.aws_session import function_credentials
from local_cloud.event_sources.batch_response import BatchMessage, Settlement, settle_batch
from local_cloud.event_sources.filtering import (
    FilterPattern,
    compile_filters,
    matches,
)
from local_cloud.event_sources.scaling import (
    ConcurrencyScaler,
    ScalingLimits,
    ScalingRule,
    default_local_cap,
)
from local_cloud.event_sources.sqs_event import lambda_event, lambda_record
from local_cloud.lambda_runtime.faults import BATCH_ACTIONS, FaultClaims
from local_cloud.lambda_runtime.service import InvocationResult, Throttled
from local_cloud.model import FunctionSpec, SqsEventSourceSpec

logger = logging.getLogger(__name__)

POLL_WAIT_SECONDS = 1  # long-poll wait: short, so stop() is prompt
MAX_RECEIVE = 10  # ReceiveMessage's MaxNumberOfMessages limit
MAX_EVENT_BYTES = 6 * 1024 * 1024  # the synchronous invocation payload limit
MAX_MESSAGE_BYTES = 1024 * 1024  # SQS's largest message, our headroom under the limit
RECORD_OVERHEAD_BYTES = 1024  # keys, attributes, receipt handle of one record, roughly
FIFO_IDLE_SECONDS = 0.2
THROTTLE_BACKOFF_SECONDS = 0.5
ERROR_BACKOFF_SECONDS = 1.0
RECENT_BATCHES = 100  # kept for recent_batches()
_GAUGES = frozenset({"pollers", "concurrency", "peak_concurrency"})  # MappingStats, not counts

SqsClientFactory = Callable[[], Any]


class FunctionInvoker(Protocol):
    """What a mapping needs from the Lambda service (LambdaService is one)."""

    def invoke(self, function_name_or_logical_id: str, event: Any) -> InvocationResult: ...

    def function(self, name_or_logical_id: str) -> FunctionSpec: ...

    def concurrency_limit(self, name_or_logical_id: str) -> int: ...


@dataclass(frozen=True)
class MappingStats:
    pollers: int  # invoker threads running (the receiver is not counted)
    concurrency: int  # batches the mapping may run at once now (scaled; scaling.py)
    peak_concurrency: int  # the most batches it ran at once
    batches: int  # invocations
    received: int  # messages put into batches
    deleted: int
    failed: int  # messages left in the queue for a retry
    whole_batch_failures: int
    partial_batch_failures: int
    invocation_errors: int  # raised, timed out, crashed
    throttles: int
    delete_failures: int  # DeleteMessageBatch entries that failed
    poll_errors: int  # receive/invoke/delete calls that raised
    filtered: int  # messages that matched no filter (FilterCriteria): deleted, not invoked


@dataclass(frozen=True)
class BatchReport:
    """One batch, start to end: what was invoked and how it was settled."""

    message_ids: tuple[str, ...]
    settlement: Settlement
    result: InvocationResult | None  # None when throttled
    throttled: bool = False
    delete_failures: int = 0
    # From the receive that brought the first message to the invocation: the batching
    # window as it really was (AWS's MaximumBatchingWindowInSeconds is a maximum).
    batching_seconds: float = 0.0
    # An injected release_visibility fault made these messages visible before the invocation
    released_by_fault: tuple[str, ...] = ()


@dataclass(frozen=True)
class _GatheredBatch:
    messages: list[dict[str, Any]]
    first_received_at: float  # time.monotonic() when the first message had arrived


class _Handoff:
    """Gathered batches, from the one receiver to idle invokers, within the concurrency.

    An invoker calls take() whenever it is free and done() when its batch is settled; the
    receiver calls wait_for_slot() before it receives and put() once the batch is gathered,
    so a batch never waits here for an invoker. Invariants: `_idle` = invokers waiting in
    take() - batches not yet taken; `_running` = batches taken and not done(); a batch is
    handed over only while `_running` + batches not yet taken < `_limit`, the concurrency.
    Invoker threads beyond the limit retire when idle, but never the last idle one: the
    receiver may be gathering a batch for it.
    """

    def __init__(self, stopping: threading.Event, limit: int) -> None:
        self._stopping = stopping
        self._changed = threading.Condition()
        self._limit = limit
        self._threads = 0  # invoker threads started and not retired
        self._idle = 0
        self._running = 0
        self._saturated = False  # _running reached _limit since the last saturated()
        self.peak_running = 0
        self._batches: deque[_GatheredBatch] = deque()
        self._closed = False

    def _has_slot(self) -> bool:
        return self._idle > 0 and self._running + len(self._batches) < self._limit

    def wait_for_slot(self, timeout: float | None = None) -> bool:
        """True once an idle invoker may take a batch; False if stopping or after timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while not self._has_slot() and not self._stopping.is_set():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return not self._stopping.is_set()

    def set_limit(self, limit: int) -> None:
        with self._changed:
            self._limit = limit
            self._changed.notify_all()

    def claim_new_invokers(self) -> int:
        """How many invoker threads to start to reach the limit; counted as started."""
        with self._changed:
            missing = max(0, self._limit - self._threads)
            self._threads += missing
            return missing

    def saturated(self) -> bool:
        """Whether every slot was taken at some point since the last call."""
        with self._changed:
            was = self._saturated or self._running >= self._limit
            self._saturated = False
            return was

    def put(self, batch: _GatheredBatch) -> None:
        with self._changed:
            self._idle -= 1
            self._batches.append(batch)
            self._changed.notify_all()

    def take(self) -> _GatheredBatch | None:
        """The next batch; None once closed and empty, or for a spare invoker to retire."""
        with self._changed:
            self._idle += 1
            self._changed.notify_all()
            while not self._batches and not self._closed:
                if self._threads > self._limit and self._idle >= 2:
                    self._idle -= 1
                    self._threads -= 1
                    return None
                self._changed.wait()
            if self._batches:
                self._running += 1
                self.peak_running = max(self.peak_running, self._running)
                self._saturated |= self._running >= self._limit
                return self._batches.popleft()
            self._idle -= 1
            return None

    def done(self) -> None:
        """The batch taken last by this invoker is settled: its slot is free."""
        with self._changed:
            self._running -= 1
            self._changed.notify_all()

    def wake(self) -> None:
        """Let a receiver waiting for an invoker see that the mapping is stopping."""
        with self._changed:
            self._changed.notify_all()

    def close(self) -> None:
        """No more batches: invokers finish what was handed over, then return."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()


class SqsEventSourcePoller:
    def __init__(
        self,
        spec: SqsEventSourceSpec,
        lambda_service: FunctionInvoker,
        *,
        endpoint_url: str,
        region: str,
        concurrency: int | None = None,
        max_concurrent_batches: int | None = None,
        scaling_rule: ScalingRule | None = None,
        poll_wait_seconds: int = POLL_WAIT_SECONDS,
        client_factory: SqsClientFactory | None = None,
        faults: FaultClaims | None = None,
    ) -> None:
        """concurrency pins the number of concurrent batches (no scaling); else the mapping
        scales (scaling.py) up to max_concurrent_batches at most (default max(5, 4 x CPUs))."""
        mapping_rules.check(spec)
        self.spec = spec
        self._filters: tuple[FilterPattern, ...] = compile_filters(spec.filter_patterns)
        self._faults = faults
        self._lambda = lambda_service
        self._endpoint_url = endpoint_url
        self._region = region
        self._poll_wait = poll_wait_seconds
        self._client_factory = client_factory or self._new_client
        if max_concurrent_batches is not None and max_concurrent_batches < 1:
            raise ValueError(f"max_concurrent_batches must be at least 1: {max_concurrent_batches}")
        function_limit = lambda_service.concurrency_limit(spec.function_name)
        if function_limit < 1:
            # Reserved concurrency 0: AWS keeps polling and every batch is throttled (and so,
            # receive by receive, heads for the DLQ). One invoker does the same here.
            logger.warning(
                "%s: %s has no concurrency (reserved concurrency 0): every batch will be throttled",
                spec.logical_id,
                spec.function_name,
            )
        self._scaler = ConcurrencyScaler(
            ScalingLimits(
                function_limit=function_limit,
                maximum_concurrency=spec.maximum_concurrency,
                local_cap=max_concurrent_batches or default_local_cap(),
            ),
            scaling_rule,
            fifo=spec.is_fifo,
        )
        self._pinned = None if concurrency is None else max(1, concurrency)
        self._stopping = threading.Event()
        self._handoff = _Handoff(self._stopping, self.concurrency)
        self._earlier_peak = 0  # peak_concurrency of the runs before the last start()
        # Uncontended while only the receiver thread receives; it keeps a process_next_batch()
        # on another thread from receiving concurrently with it (moto's receive is not atomic).
        self._receive_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._receiver: threading.Thread | None = None
        self._invokers: list[threading.Thread] = []
        self._counts = dict.fromkeys(
            (f.name for f in fields(MappingStats) if f.name not in _GAUGES), 0
        )
        self._recent: deque[BatchReport] = deque(maxlen=RECENT_BATCHES)
        self._thread_clients = threading.local()
        self._invoker_numbers = itertools.count()

    def _new_client(self) -> Any:
        # A session per client: boto3 sessions are not thread safe, clients are.
        session = boto3.session.Session()
        return session.client(
            "sqs",
            endpoint_url=self._endpoint_url,
            region_name=self._region,
            # The function's key: on AWS a mapping acts with the function's execution role.
            **function_credentials(self._lambda.function(self.spec.function_name).logical_id),
            config=Config(
                read_timeout=self._poll_wait + 10,
                retries={"mode": "standard", "max_attempts": 3},
            ),
        )

    def _client(self) -> Any:
        client = getattr(self._thread_clients, "client", None)
        if client is None:
            client = self._thread_clients.client = self._client_factory()
        return client

    @property
    def concurrency(self) -> int:
        """The batches the mapping may run at once now."""
        return self._pinned if self._pinned is not None else self._scaler.current

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Check the queue once (off the hot path), then start the receiver and invokers."""
        if self._receiver is not None or self._invokers:
            return
        if not self.spec.enabled:
            logger.info("%s: mapping disabled, not polling", self.spec.logical_id)
            return
        self._check_visibility_timeout()
        self._stopping.clear()
        self._earlier_peak = max(self._earlier_peak, self._handoff.peak_running)
        self._handoff = _Handoff(self._stopping, self.concurrency)
        self._start_invokers(self._handoff)
        self._receiver = threading.Thread(
            target=self._receive_forever,
            args=(self._handoff,),
            name=f"{self.spec.logical_id}-receiver",
            daemon=True,
        )
        self._receiver.start()

    def _start_invokers(self, handoff: _Handoff) -> None:
        """Invoker threads up to the concurrency (retired ones have left the list)."""
        self._invokers = [t for t in self._invokers if t.is_alive()]
        for _ in range(handoff.claim_new_invokers()):
            invoker = threading.Thread(
                target=self._invoke_forever,
                args=(handoff,),
                name=f"{self.spec.logical_id}-invoker-{next(self._invoker_numbers)}",
                daemon=True,
            )
            invoker.start()
            self._invokers.append(invoker)

    def _check_visibility_timeout(self) -> None:
        # CreateEventSourceMapping refuses a function timeout above the visibility timeout;
        # the queue's value is read here, once, as the mapping starts.
        response = self._client().get_queue_attributes(
            QueueUrl=self.spec.queue_url, AttributeNames=["VisibilityTimeout"]
        )
        mapping_rules.check(
            self.spec,
            function_timeout_seconds=self._lambda.function(self.spec.function_name).timeout_seconds,
            visibility_timeout_seconds=int(response["Attributes"]["VisibilityTimeout"]),
        )

    def stop(self, timeout: float = 30.0) -> None:
        """Stop receiving; every batch already received is invoked and settled first."""
        self._stopping.set()
        self._handoff.wake()
        deadline = time.monotonic() + timeout
        # The receiver first: it closes the hand-off, which lets the invokers return; once it
        # has returned it starts no more invokers, so their list is read after it.
        if self._receiver is not None:
            self._join(self._receiver, deadline, timeout)
        for invoker in list(self._invokers):
            self._join(invoker, deadline, timeout)
        if self._receiver is not None and not self._receiver.is_alive():
            self._receiver = None
        self._invokers = [t for t in self._invokers if t.is_alive()]

    def _join(self, thread: threading.Thread, deadline: float, timeout: float) -> None:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            logger.warning(
                "%s: %s did not stop in %.0f s", self.spec.logical_id, thread.name, timeout
            )

    @property
    def running(self) -> bool:
        threads = [t for t in (self._receiver, *list(self._invokers)) if t is not None]
        return any(thread.is_alive() for thread in threads)

    def stats(self) -> MappingStats:
        pollers = sum(invoker.is_alive() for invoker in list(self._invokers))
        peak = max(self._earlier_peak, self._handoff.peak_running)
        with self._stats_lock:
            return MappingStats(
                pollers=pollers,
                concurrency=self.concurrency,
                peak_concurrency=peak,
                **self._counts,
            )

    def recent_batches(self) -> tuple[BatchReport, ...]:
        """The last batches invoked (up to 100), oldest first."""
        with self._stats_lock:
            return tuple(self._recent)

    def _count(self, report: BatchReport | None = None, **increments: int) -> None:
        with self._stats_lock:
            for name, value in increments.items():
                self._counts[name] += value
            if report is not None:
                self._recent.append(report)

    def _receive_forever(self, handoff: _Handoff) -> None:
        try:
            while not self._stopping.is_set():
                if self._pinned is None:
                    self._scale(handoff)
                    next_step: float | None = self._scaler.seconds_to_next_step()
                else:
                    next_step = None
                if not handoff.wait_for_slot(timeout=next_step):
                    continue  # a step is due, or stopping
                try:
                    batch = self._gather(self._client())
                except Exception:
                    self._count(poll_errors=1)
                    logger.exception("%s: receiving failed; retrying", self.spec.logical_id)
                    self._stopping.wait(ERROR_BACKOFF_SECONDS)
                    continue
                if batch is not None:
                    if self.spec.is_fifo:
                        self._scaler.batch_started(_groups(batch))
                    handoff.put(batch)
                elif self.spec.is_fifo:
                    self._stopping.wait(FIFO_IDLE_SECONDS)
        finally:
            handoff.close()

    def _invoke_forever(self, handoff: _Handoff) -> None:
        while (batch := handoff.take()) is not None:
            try:
                try:
                    report = self._run(self._client(), batch)
                except Exception:
                    # The batch stays in flight and comes back after its visibility timeout.
                    self._count(poll_errors=1)
                    logger.exception("%s: invoking a batch failed", self.spec.logical_id)
                    self._stopping.wait(ERROR_BACKOFF_SECONDS)
                    continue
                function_error = report.result is not None and report.result.error is not None
                self._scaler.record_outcome(failed=report.throttled or function_error)
                if report.throttled:
                    self._stopping.wait(THROTTLE_BACKOFF_SECONDS)
            finally:
                if self.spec.is_fifo:
                    self._scaler.batch_ended(_groups(batch))
                handoff.done()

    # -- scaling (scaling.py) --------------------------------------------------------------

    def _scale(self, handoff: _Handoff) -> None:
        """A step of the scaling rule, when one is due: on the receiver's thread."""
        if not self._scaler.due():
            return
        saturated = handoff.saturated()
        # Asked only when more concurrency could help: every batch was running.
        waiting = self._waiting_messages() if saturated else 0
        before = self._scaler.current
        after = self._scaler.step(saturated=saturated, waiting_messages=waiting)
        if after == before:
            return
        handoff.set_limit(after)
        logger.info(
            "%s: %d concurrent batches (was %d; %d messages waiting)",
            self.spec.logical_id,
            after,
            before,
            waiting,
        )
        if after > before:
            self._start_invokers(handoff)
            return
        # Fewer batches: the function's idle environments beyond them go (LambdaService).
        reclaim = getattr(self._lambda, "reclaim_idle_workers", None)
        if reclaim is not None:
            try:
                reclaim(self.spec.function_name, keep=after)
            except Exception:
                logger.exception("%s: reclaiming idle workers failed", self.spec.logical_id)

    def _waiting_messages(self) -> int:
        """ApproximateNumberOfMessages: the visible messages; 0 if the call fails."""
        try:
            response = self._client().get_queue_attributes(
                QueueUrl=self.spec.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
            )
            return int(response["Attributes"]["ApproximateNumberOfMessages"])
        except Exception:
            self._count(poll_errors=1)
            logger.warning(
                "%s: GetQueueAttributes failed; not scaling up", self.spec.logical_id, exc_info=True
            )
            return 0

    # -- one batch -----------------------------------------------------------------------

    def process_next_batch(self) -> BatchReport | None:
        """Receive, invoke and settle one batch on the calling thread; None if none came."""
        client = self._client()
        batch = self._gather(client)
        return None if batch is None else self._run(client, batch)

    def _run(self, client: Any, gathered: _GatheredBatch) -> BatchReport:
        """Invoke the function with a gathered batch, settle it and delete what succeeded."""
        messages = gathered.messages
        batch = [
            BatchMessage(
                message_id=m["MessageId"],
                receipt_handle=m["ReceiptHandle"],
                group_id=m.get("Attributes", {}).get("MessageGroupId"),
            )
            for m in messages
        ]
        event = lambda_event(messages, queue_arn=self.spec.queue_arn)
        result: InvocationResult | None = None
        batching_seconds = time.monotonic() - gathered.first_received_at
        released = self._release_for_fault(client, batch)
        try:
            result = self._lambda.invoke(self.spec.function_name, event)
            error, raw_payload = result.error, result.raw_payload
        except Throttled as exc:
            error, raw_payload = {"errorType": exc.error_code, "errorMessage": str(exc)}, None
        settlement = settle_batch(
            batch,
            invocation_error=error,
            raw_payload=raw_payload,
            report_batch_item_failures=self.spec.report_batch_item_failures,
            fifo=self.spec.is_fifo,
        )
        delete_failures = self._delete(client, settlement.delete)
        if self.spec.is_fifo and settlement.retain:
            self._release_behind_group_heads(client, settlement.retain)
        report = BatchReport(
            message_ids=tuple(m.message_id for m in batch),
            settlement=settlement,
            result=result,
            throttled=result is None,
            delete_failures=delete_failures,
            batching_seconds=batching_seconds,
            released_by_fault=tuple(m.message_id for m in released),
        )
        self._count(
            report,
            batches=1,
            received=len(batch),
            deleted=len(settlement.delete) - delete_failures,
            failed=len(settlement.retain),
            whole_batch_failures=int(settlement.whole_batch_failed),
            partial_batch_failures=int(bool(settlement.retain) and bool(settlement.delete)),
            invocation_errors=int(error is not None and result is not None),
            throttles=int(result is None),
            delete_failures=delete_failures,
        )
        log = logger.info if settlement.retain else logger.debug
        log(
            "%s: batch of %d: %s; deleted %d, left %d in the queue",
            self.spec.logical_id,
            len(batch),
            settlement.reason,
            len(settlement.delete),
            len(settlement.retain),
        )
        return report

    def _gather(self, client: Any) -> _GatheredBatch | None:
        """Up to BatchSize messages, within the batching window once the first arrived."""
        wait = 0 if self.spec.is_fifo else self._poll_wait
        messages = self._matching(
            client, self._receive(client, min(MAX_RECEIVE, self.spec.batch_size), wait)
        )
        if not messages:
            return None
        first_received_at = time.monotonic()
        window = self.spec.maximum_batching_window_seconds
        if window == 0:
            return _GatheredBatch(messages, first_received_at)
        by_id = {m["MessageId"]: m for m in messages}
        size = sum(_estimated_size(m) for m in messages)
        deadline = first_received_at + window
        while len(by_id) < self.spec.batch_size and size + MAX_MESSAGE_BYTES <= MAX_EVENT_BYTES:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stopping.is_set():
                break
            count = min(MAX_RECEIVE, self.spec.batch_size - len(by_id))
            # Whole seconds only (SQS's WaitTimeSeconds), never past the deadline.
            more = self._matching(
                client, self._receive(client, count, min(self._poll_wait, int(remaining)))
            )
            if not more:
                self._stopping.wait(min(0.05, remaining))  # stop() cuts the window short
            for message in more:
                # Received again within the window (a short visibility timeout): newest wins.
                size += 0 if message["MessageId"] in by_id else _estimated_size(message)
                by_id[message["MessageId"]] = message
        return _GatheredBatch(list(by_id.values()), first_received_at)

    def _receive(self, client: Any, count: int, wait: int) -> list[dict[str, Any]]:
        with self._receive_lock:
            response = client.receive_message(
                QueueUrl=self.spec.queue_url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def _matching(self, client: Any, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The messages that match a filter; the others are deleted (Lambda's rule for SQS)."""
        if not self._filters or not messages:
            return messages
        kept: list[dict[str, Any]] = []
        dropped: list[dict[str, Any]] = []
        for message in messages:
            record = lambda_record(message, queue_arn=self.spec.queue_arn)
            (kept if matches(record, self._filters) else dropped).append(message)
        if dropped:
            failures = self._delete(
                client,
                [
                    BatchMessage(message_id=m["MessageId"], receipt_handle=m["ReceiptHandle"])
                    for m in dropped
                ],
            )
            self._count(filtered=len(dropped) - failures, delete_failures=failures)
            logger.debug(
                "%s: %d of %d messages matched no filter: deleted without an invocation",
                self.spec.logical_id,
                len(dropped),
                len(messages),
            )
        return kept

    def _release_for_fault(self, client: Any, batch: Sequence[BatchMessage]) -> list[BatchMessage]:
        """An injected release_visibility fault: the batch visible again while it runs."""
        if self._faults is None:
            return []
        function = self._lambda.function(self.spec.function_name)
        fault = self._faults.claim(function, BATCH_ACTIONS)
        if fault is None:
            return []
        released = self._make_visible(client, batch)
        logger.info(
            "%s: injected fault %s: %d of %d messages visible again while the batch runs",
            self.spec.logical_id,
            fault.fault_id,
            len(released),
            len(batch),
        )
        self._faults.settle(
            fault,
            fired=bool(released),
            mapping=self.spec.logical_id,
            message_ids=[m.message_id for m in released],
        )
        return released

    def _make_visible(self, client: Any, messages: Sequence[BatchMessage]) -> list[BatchMessage]:
        """ChangeMessageVisibilityBatch to 0 in chunks of 10; the messages it released."""
        released: list[BatchMessage] = []
        for start in range(0, len(messages), MAX_RECEIVE):
            chunk = messages[start : start + MAX_RECEIVE]
            response = client.change_message_visibility_batch(
                QueueUrl=self.spec.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0}
                    for index, m in enumerate(chunk)
                ],
            )
            failed = {int(entry["Id"]): entry for entry in response.get("Failed", [])}
            for index, message in enumerate(chunk):
                if index in failed:
                    logger.warning(
                        "%s: could not release message %s: %s",
                        self.spec.logical_id,
                        message.message_id,
                        failed[index].get("Message"),
                    )
                else:
                    released.append(message)
        return released

    def _release_behind_group_heads(self, client: Any, retained: Sequence[BatchMessage]) -> None:
        """Make the later retained messages of each FIFO group visible at once.

        A workaround for moto: when several in-flight messages of one group become visible
        together, moto unlocks the group one message at a time and hands out the second
        message before the first. The first retained message of each group stays in flight
        and keeps its group locked (in SQS and in moto), so the others cannot be received
        before it; they just wait visibly instead of in flight.
        """
        heads: set[str | None] = set()
        behind: list[BatchMessage] = []
        for message in retained:
            if message.group_id in heads:
                behind.append(message)
            heads.add(message.group_id)
        self._make_visible(client, behind)

    def _delete(self, client: Any, messages: Sequence[BatchMessage]) -> int:
        """DeleteMessageBatch in chunks of 10; returns how many entries failed."""
        failures = 0
        for start in range(0, len(messages), MAX_RECEIVE):
            chunk = messages[start : start + MAX_RECEIVE]
            response = client.delete_message_batch(
                QueueUrl=self.spec.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": m.receipt_handle}
                    for index, m in enumerate(chunk)
                ],
            )
            for failed in response.get("Failed", []):
                failures += 1
                message = chunk[int(failed["Id"])]
                logger.warning(
                    "%s: could not delete message %s: %s %s",
                    self.spec.logical_id,
                    message.message_id,
                    failed.get("Code"),
                    failed.get("Message"),
                )
        return failures


def _groups(batch: _GatheredBatch) -> list[str]:
    """The message groups of a FIFO batch."""
    return [str(m.get("Attributes", {}).get("MessageGroupId")) for m in batch.messages]


def _estimated_size(message: dict[str, Any]) -> int:
    return len(message.get("Body", "").encode("utf-8")) + RECORD_OVERHEAD_BYTES
