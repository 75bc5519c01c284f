"""The world the model-based guarantee tests run schedules in, and the machine they share.

Everything a schedule touches is real code on moto (in process, no sockets), except the
parts an outside party owns or that the schedule must control:

- a virtual clock (time-machine, not ticking) that moves every clock at once: Powertools'
  idempotency records, the charge journal's timestamps, the provider fake's key window;
- SQS queues modelled here (`ModelQueue`): standard-queue semantics as a consumer sees
  them, visibility timeout, receive counts, a redrive policy (maxReceiveCount 5 to the
  DLQ) and redrives that give a message a new ID, all driven by the schedule;
- the real handlers, invoked as Lambda's SQS event source invokes them
  (`invoke_consumer`): partial batch responses (every record listed when every record
  failed), an invocation that raised, and a killed invocation (`FunctionKilled`) that
  deletes nothing; a poison message the consumer copied to its own DLQ (moto) before
  acknowledging it moves to the modelled DLQ (`ConsumerDeadLetterQueue`, `apply_invocation`);
- a `Schedule` log, so a shrunk counterexample reads as what happened, in order.

`ModelMachine` is the lifecycle both state machines share: one moto, clock and quiet
logging per example; at the end of a schedule that ran through, everything settles and
the guarantees are checked. Worlds: billing_world.py, signup_world.py.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import logging
import os
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import boto3
import time_machine
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule
from moto import mock_aws

from tests.support.events import load_event
from tests.unit.billing.fakes import FunctionKilled

# Hypothesis settings for CI: derandomized (the same schedules on every run, so a failure
# in CI reproduces locally with the same command), no example database (nothing written to
# or replayed from .hypothesis/), no deadline (an example runs dozens of handler
# invocations on moto), no explain phase (it traces every line while shrinking, several
# times slower, to print lines only failing examples ran: the schedule says more). Each
# machine sets its number of examples so that tests/model stays within about 2-3 minutes
# on a loaded 2-core machine. To search longer or elsewhere: MODEL_EXAMPLES=2000 (every
# machine), MODEL_RANDOM=1 (not derandomized: other schedules on every run).
STEPS_PER_SCHEDULE = 25


def model_settings(max_examples: int) -> settings:
    return settings(
        max_examples=int(os.environ.get("MODEL_EXAMPLES", max_examples)),
        stateful_step_count=STEPS_PER_SCHEDULE,
        deadline=None,
        database=None,
        derandomize=not os.environ.get("MODEL_RANDOM"),
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


REGION = "us-east-1"
START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

# The clock jumps a schedule may take, shortest first (Hypothesis shrinks towards the
# first). Each lies on one side of a bound a guarantee once depended on, or on it: an
# invocation's timeout (40 s), a visibility timeout (about 4 min), the journal's reconcile
# threshold (23 h), the provider's idempotency-key window (24 h: a key 24 h old is
# forgotten), the idempotency record (19 days); jumps add up (23 h + 1 h).
DURATIONS: dict[str, timedelta] = {
    "3 min": timedelta(minutes=3),
    "1 h": timedelta(hours=1),
    "6 h": timedelta(hours=6),
    "23 h": timedelta(hours=23),
    "24 h": timedelta(hours=24),
    "25 h": timedelta(hours=25),
    "3 days": timedelta(days=3),
    "3 weeks": timedelta(weeks=3),
    "8 weeks": timedelta(weeks=8),
}

MAX_RECEIVE_COUNT = 5  # BillingQueue's and WelcomeEmailQueue's RedrivePolicy
BILLING_VISIBILITY_TIMEOUT = 242  # template.yaml: BillingQueue VisibilityTimeout
WELCOME_VISIBILITY_TIMEOUT = 245  # template.yaml: WelcomeEmailQueue VisibilityTimeout
BILLING_BATCH_SIZE = 5  # template.yaml: the BillingFunction event source's BatchSize
WELCOME_BATCH_SIZE = 10  # template.yaml: the WelcomeEmailFunction event source's BatchSize
# Settling redrives each DLQ until nothing is left or a round settles nothing new: what is
# left then can never succeed (a human's case). This bounds rounds that do make progress.
MAX_SETTLE_ROUNDS = 12


class GuaranteeBroken(AssertionError):
    """A guarantee does not hold at the end of (or during) a schedule."""


_SESSIONS: dict[str, boto3.session.Session] = {}


def session(purpose: str = "model") -> boto3.session.Session:
    """One boto3 session per purpose for every example: it keeps the parsed service models,
    which a new session would read again (about 40 ms per client). Hooks registered on a
    session's events reach every client created from it."""
    if purpose not in _SESSIONS:
        _SESSIONS[purpose] = boto3.session.Session(region_name=REGION)
    return _SESSIONS[purpose]


class SendMessageHooks:
    """Every SendMessage made through session("handlers"), the session the handlers'
    clients come from: counted, and failed on demand (SQS unreachable). Counted under a
    lock: consumers copy a batch's poison records to their DLQs from several threads."""

    def __init__(self, events: Any) -> None:
        self.sent = 0
        self.failed = 0
        self.fail = False
        self._lock = threading.Lock()
        events.register("before-call.sqs.SendMessage", self._before)

    def _before(self, **_: Any) -> None:
        if self.fail:
            with self._lock:
                self.failed += 1
            raise ClientError(
                {"Error": {"Code": "ServiceUnavailable", "Message": "SQS down (simulated)"}},
                "SendMessage",
            )
        with self._lock:
            self.sent += 1


_SEND_MESSAGE_HOOKS: list[SendMessageHooks] = []


def send_message_hooks() -> SendMessageHooks:
    """The hooks on session("handlers"), registered once for every example."""
    if not _SEND_MESSAGE_HOOKS:
        _SEND_MESSAGE_HOOKS.append(SendMessageHooks(session("handlers").events))
    return _SEND_MESSAGE_HOOKS[0]


class ConsumerDeadLetterQueue:
    """A consumer's own DLQ on moto, where it copies poison messages before acknowledging
    them (`poison_router` in its app module, DEAD_LETTER_QUEUE_URL). Code without one (before
    the poison path existed) leaves every failure to SQS's redrive policy: `url` is None.
    """

    def __init__(self, app_module: Any, queue_name: str) -> None:
        self._router = getattr(app_module, "poison_router", None)
        self.url: str | None = None
        self._sqs = session().client("sqs")
        self._sent = send_message_hooks().sent
        if self._router is None:
            return
        self.url = self._sqs.create_queue(QueueName=queue_name)["QueueUrl"]
        # Each function has its own DEAD_LETTER_QUEUE_URL; the router reads it once.
        saved = os.environ.get("DEAD_LETTER_QUEUE_URL")
        os.environ["DEAD_LETTER_QUEUE_URL"] = self.url
        try:
            self._router.cache_clear()
            self._router()
        finally:
            if saved is None:
                os.environ.pop("DEAD_LETTER_QUEUE_URL", None)
            else:
                os.environ["DEAD_LETTER_QUEUE_URL"] = saved

    def close(self) -> None:
        if self._router is not None:
            self._router.cache_clear()

    def collect(self) -> dict[str, tuple[str, str]]:
        """The copies made since the last call: source message ID -> (copy ID, reason)."""
        hooks = send_message_hooks()
        if self.url is None or hooks.sent == self._sent:
            return {}
        self._sent = hooks.sent
        copies: dict[str, tuple[str, str]] = {}
        while True:
            got = self._sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not got:
                return copies
            for message in got:
                attributes = message.get("MessageAttributes", {})
                source = attributes.get("SourceMessageId", {}).get("StringValue", "")
                reason = attributes.get("ErrorType", {}).get("StringValue", "poison")
                copies[source] = (message["MessageId"], reason)
                self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])


# ---------------------------------------------------------------------------- time


class VirtualClock:
    """time-machine, not ticking: time moves only when the schedule (or a wait) moves it."""

    def __init__(self) -> None:
        self._travel = time_machine.travel(START, tick=False)
        self._coordinates = self._travel.start()

    @staticmethod
    def now() -> float:
        return time.time()

    def advance(self, by: timedelta) -> None:
        self._coordinates.shift(by)

    def wait_until(self, moment: float) -> float:
        """Move forward to `moment` if it is later; the seconds waited."""
        waited = max(0.0, moment - time.time())
        if waited:
            self._coordinates.shift(timedelta(seconds=waited))
        return waited

    def elapsed(self) -> str:
        seconds = int(time.time() - START.timestamp())
        days, rest = divmod(seconds, 86_400)
        return f"day {days} {rest // 3600:02d}:{rest % 3600 // 60:02d}"

    def stop(self) -> None:
        self._travel.stop()


class Quiet:
    """No logs while an example runs: formatting tracebacks of failed records costs more
    than the handlers, and a failing example prints its schedule instead. (Metrics stay
    on: disabled, Powertools keeps them in memory instead of printing them.)"""

    def __init__(self) -> None:
        self._disabled = logging.root.manager.disable
        logging.disable(logging.CRITICAL)
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.filterwarnings("ignore", message="No application metrics to publish")

    def stop(self) -> None:
        self._warnings.__exit__(None, None, None)
        logging.disable(self._disabled)


# ---------------------------------------------------------------------------- the schedule


@dataclass
class Schedule:
    """What a schedule did: each step as it runs (`note`), and the whole in one line.

    Steps are short ("deliver txn_0 (kill after charge)"); what happened goes after an
    arrow ("-> killed after the provider charged txn_0"), in the detailed listing only.
    A step that found nothing to do (`NOTHING_TO_DO`) is noted but left out of both:
    Hypothesis cannot always shrink such steps away (the first steps of an example also
    carry its choice of enabled rules), and they change nothing.
    """

    NOTHING_TO_DO = "nothing to do"

    steps: list[tuple[str, str]] = field(default_factory=list)
    clock: VirtualClock | None = None

    def step(self, action: str, outcome: str = "") -> None:
        """Record a step once it ran; notes carry the clock's reading after it."""
        when = f"[{self.clock.elapsed()}] " if self.clock else ""
        if outcome.endswith(self.NOTHING_TO_DO):
            note(f"  -. {when}{action} -> {outcome}")
            return
        self.steps.append((action, outcome))
        note(f"{len(self.steps):>3}. {when}{action}" + (f" -> {outcome}" if outcome else ""))

    def line(self) -> str:
        return "; ".join(action for action, _ in self.steps)

    def listing(self) -> str:
        return "\n".join(
            f"  {n:>3}. {action}" + (f" -> {outcome}" if outcome else "")
            for n, (action, outcome) in enumerate(self.steps, 1)
        )


def broken(schedule: Schedule, guarantee: str, problems: Iterable[str]) -> GuaranteeBroken:
    listed = "\n".join(f"  - {p}" for p in problems)
    return GuaranteeBroken(
        f"{guarantee}\n{listed}\nschedule: {schedule.line()}\nin detail:\n{schedule.listing()}"
    )


# ---------------------------------------------------------------------------- queues


@dataclass
class QueuedMessage:
    message_id: str
    body: str
    label: str  # how the schedule names it: "txn_0", "txn_0 (dup)", "invalid (amount 0)"
    send: int  # the producer's send it is a copy of; a redrive keeps it, with a new ID
    receive_count: int = 0
    visible_at: float = 0.0
    reason: str = ""  # why the consumer copied it to the DLQ itself (a poison message)


class ModelQueue:
    """A standard SQS queue with a redrive policy, as its consumer sees it.

    A receive hands out visible messages oldest first, makes them invisible for the
    visibility timeout and counts the receive. A message is gone only when its consumer
    deleted it (processed). A failed receive that reaches maxReceiveCount moves the message
    to the DLQ at once (SQS moves it on the next receive attempt: the same fate, earlier).
    A redrive sends every DLQ message back with a new message ID and a fresh count.
    Retention is not modelled: losses by retention are a configured bound, not a code path.
    """

    def __init__(self, name: str, *, visibility_timeout: int) -> None:
        self.name = name
        self.visibility_timeout = visibility_timeout
        self.waiting: list[QueuedMessage] = []  # visible or in flight
        self.dead: list[QueuedMessage] = []  # the DLQ
        self.processed: list[QueuedMessage] = []  # deleted by the consumer after success
        self.sends: set[int] = set()  # every producer send this queue was given
        self._ids = itertools.count(1)
        self._prefix = "".join(c for c in name if c.isupper()).lower()

    def _new_id(self) -> str:
        return f"{self._prefix}-msg-{next(self._ids)}"

    def send(self, body: str, label: str, send: int) -> QueuedMessage:
        message = QueuedMessage(self._new_id(), body, label, send)
        self.waiting.append(message)
        self.sends.add(send)
        return message

    def next_visible_at(self) -> float | None:
        return min((m.visible_at for m in self.waiting), default=None)

    def receive(self, max_messages: int, now: float) -> list[QueuedMessage]:
        batch = [m for m in self.waiting if m.visible_at <= now][:max_messages]
        for message in batch:
            message.receive_count += 1
            message.visible_at = now + self.visibility_timeout
        return batch

    def delete(self, message: QueuedMessage) -> None:
        self.waiting.remove(message)
        self.processed.append(message)

    def failed(self, message: QueuedMessage) -> bool:
        """The receive failed; True when that dead-lettered the message."""
        if message.receive_count < MAX_RECEIVE_COUNT:
            return False
        self.waiting.remove(message)
        self.dead.append(message)
        return True

    def dead_letter_copy(self, message: QueuedMessage, copy_id: str, reason: str) -> None:
        """The consumer copied `message` to the DLQ itself (a poison message)."""
        self.dead.append(
            QueuedMessage(copy_id, message.body, message.label, message.send, 0, 0.0, reason)
        )

    def acknowledge(self, message: QueuedMessage) -> None:
        """Deleted after the consumer copied it to the DLQ: not processed."""
        self.waiting.remove(message)

    def redrive(self) -> list[QueuedMessage]:
        moved, self.dead = self.dead, []
        copies = [QueuedMessage(self._new_id(), m.body, m.label, m.send) for m in moved]
        self.waiting.extend(copies)
        return copies

    def fates(self) -> dict[int, str]:
        """Per send: "processed" (acknowledged at least once), else "dead" or "waiting"."""
        fate: dict[int, str] = {}
        for message in self.waiting:
            fate[message.send] = "waiting"
        for message in self.dead:
            fate[message.send] = "dead"
        for message in self.processed:
            fate[message.send] = "processed"
        return fate


def sqs_event(messages: list[QueuedMessage], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event source passes for `messages` (events/ record shape)."""
    template = load_event("billing_charge")["Records"][0]
    records = []
    for message in messages:
        record = json.loads(json.dumps(template))
        record["messageId"] = message.message_id
        record["receiptHandle"] = f"AQEB-{message.message_id}-{message.receive_count}"
        record["body"] = message.body
        record["md5OfBody"] = hashlib.md5(message.body.encode(), usedforsecurity=False).hexdigest()
        record["attributes"]["ApproximateReceiveCount"] = str(message.receive_count)
        record["eventSourceARN"] = queue_arn
        records.append(record)
    return {"Records": records}


@dataclass
class Invocation:
    """What one invocation of an SQS consumer did to its batch."""

    failed: set[str]  # message IDs that return to the queue
    errors: dict[str, str]  # message ID -> the error its record failed with
    killed: bool = False
    crashed: str | None = None  # an exception that escaped the handler

    def outcome_of(self, message: QueuedMessage) -> str:
        if self.killed:
            return "returns"
        if message.message_id in self.failed:
            return f"failed ({self.errors.get(message.message_id, 'error')})"
        return "ok"


def invoke_consumer(
    handler: Callable[[dict[str, Any], Any], Any],
    processor: Any,
    event: dict[str, Any],
    context: Any,
) -> Invocation:
    """Run a partial-batch SQS consumer as Lambda would; a kill or crash fails the batch."""
    every = {r["messageId"] for r in event["Records"]}
    try:
        response = handler(event, context)
    except FunctionKilled:
        return Invocation(failed=every, errors={}, killed=True)
    except Exception as error:  # the whole invocation fails: Lambda retries the batch
        return Invocation(failed=every, errors={}, crashed=f"{type(error).__name__}: {error}")
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    return Invocation(failed=failed, errors=_record_errors(processor))


def apply_invocation(
    queue: ModelQueue,
    messages: list[QueuedMessage],
    invocation: Invocation,
    copies: dict[str, tuple[str, str]],
) -> list[str]:
    """What SQS does with a batch after its invocation; each message's outcome, for people.

    Failed records return (and are dead-lettered by the redrive policy at the 5th
    receive); the others are deleted: processed, or poison the consumer copied to its DLQ.
    """
    outcomes = []
    for message in messages:
        outcome = invocation.outcome_of(message)
        copy = copies.get(message.message_id)
        if copy is not None:
            queue.dead_letter_copy(message, *copy)
        if message.message_id in invocation.failed:
            if queue.failed(message):
                outcome += ", dead-lettered"
        elif copy is not None:
            queue.acknowledge(message)
            outcome = f"dead-lettered at once ({copy[1]})"
        else:
            queue.delete(message)
        outcomes.append(f"{message.label}: {outcome}")
    return outcomes


def _record_errors(processor: Any) -> dict[str, str]:
    errors = {}
    for record, (_, error, _) in zip(processor.fail_messages, processor.exceptions, strict=False):
        message_id = record["messageId"]
        errors[message_id] = type(error).__name__ if error is not None else "error"
    return errors


def settle(
    schedule: Schedule, drains: dict[str, Callable[[], int]], queues: dict[str, ModelQueue]
) -> None:
    """Redeliver until every message is processed or dead-lettered, then redrive every DLQ.

    Rounds repeat until the DLQs are empty or a round processes nothing that was redriven:
    what is left then can never succeed by redelivery. No faults while settling.
    """
    summary: Counter[str] = Counter()
    for _ in range(MAX_SETTLE_ROUNDS):
        for name, drain in drains.items():
            summary[f"{name} deliveries"] += drain()
        dead = {name: len(q.dead) for name, q in queues.items() if q.dead}
        if not dead:
            break
        processed_before = {name: len(q.processed) for name, q in queues.items()}
        for name in dead:
            queues[name].redrive()
            summary[f"{name} redriven"] += dead[name]
        for name, drain in drains.items():
            summary[f"{name} deliveries"] += drain()
        if all(len(q.processed) == processed_before[n] for n, q in queues.items()):
            break
    left = {name: len(q.dead) for name, q in queues.items() if q.dead}
    summary_text = ", ".join(f"{k} {v}" for k, v in summary.items() if v) or "no deliveries"
    schedule.step(
        "settle (redeliver, redrive every DLQ)",
        summary_text + (f"; left in DLQs: {left}" if left else "; DLQs empty"),
    )


def check_nothing_lost(schedule: Schedule, queues: dict[str, ModelQueue]) -> None:
    """After settling: every message sent is processed or sits in a DLQ."""
    problems = []
    for name, queue in queues.items():
        fates = queue.fates()
        for message in queue.waiting:
            problems.append(f"{name}: {message.label} still on the queue after settling")
        problems += [
            f"{name}: send #{n} is neither processed nor dead-lettered"
            for n in sorted(queue.sends)
            if fates.get(n) not in ("processed", "dead")
        ]
    if problems:
        raise broken(schedule, "MESSAGE LOST OR NEVER SETTLED", problems)


# ---------------------------------------------------------------------------- the machine

F = TypeVar("F", bound=Callable[..., Any])


def tracked[F: Callable[..., Any]](method: F) -> F:
    """Marks the machine busy while a step runs: teardown settles only after clean steps."""

    @functools.wraps(method)
    def wrapper(self: ModelMachine, *args: Any, **kwargs: Any) -> Any:
        self.interrupted = True
        result = method(self, *args, **kwargs)
        self.interrupted = False
        return result

    return wrapper  # type: ignore[return-value]


class ModelMachine(RuleBasedStateMachine):
    """One example's world: moto, a virtual clock, quiet logs; settle and check at the end.

    Subclasses build their worlds in `build`, release them in `release`, and settle and
    check in `settle_and_check`, which runs only when the schedule ran through: not after
    a failed step, nor when Hypothesis abandons a schedule.
    """

    def __init__(self) -> None:
        super().__init__()
        self.interrupted = False
        self._quiet = Quiet()
        self._mock = mock_aws()
        self._mock.start()
        self.clock = VirtualClock()
        self.schedule = Schedule(clock=self.clock)
        try:
            self.build()
        except BaseException:
            self._stop()
            raise

    def build(self) -> None:
        raise NotImplementedError

    def release(self) -> None:
        """Undo what `build` installed (handlers' wiring, environment)."""

    def settle_and_check(self) -> None:
        raise NotImplementedError

    @rule(by=st.sampled_from(list(DURATIONS)))
    @tracked
    def advance(self, by: str) -> None:
        """Time passes and nothing polls meanwhile (an outage, a paused event source
        mapping): the worst case for whatever waits on a queue."""
        self.clock.advance(DURATIONS[by])
        self.schedule.step(f"advance {by}")

    def teardown(self) -> None:
        try:
            if not self.interrupted and sys.exception() is None:
                self.settle_and_check()
        finally:
            self._stop()

    def _stop(self) -> None:
        try:
            self.release()
        finally:
            self.clock.stop()
            self._mock.stop()
            self._quiet.stop()
