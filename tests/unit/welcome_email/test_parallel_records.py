"""Welcome emails: the records of a batch in parallel, bounded (delivery_guarantees.batch).

The real handler with a thread-safe fake sender (`ConcurrentEmailSender`): each send is
a call in flight on a `CallProbe`, which counts how many are in flight together. Sends
hold on events and conditions, never on timings, to put records in flight at once; a
wait that should not be needed has a short timeout and the test asserts what happened.
"""

from __future__ import annotations

import contextvars
import copy
import hashlib
import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import (
    SQSFifoMessageGroupCircuitBreakerError,
)

from delivery_guarantees.batch import FirstCallAlone, ParallelBatchProcessor, batch_lanes
from delivery_guarantees.config import (
    WELCOME_EMAIL_RECORD_CONCURRENCY,
    ConfigurationError,
    RecordConcurrencySettings,
)
from delivery_guarantees.welcome_email import EmailDeferred
from functions.welcome_email import app
from tests.support.events import load_event
from tests.unit.welcome_email.fakes import CallProbe, ConcurrentEmailSender, FakeLambdaContext

WAIT = 5.0  # seconds: how long a held send waits for what must happen; never reached


class Killed(BaseException):
    """The execution environment dies mid-send (a BaseException: no handler catches it)."""


def recipient(n: int) -> str:
    return f"person{n}@example.com"


def job_record(
    n: int, *, group: str | None = None, body: str | None = None, receive_count: int = 1
) -> dict[str, Any]:
    """A WelcomeEmailQueue record for person n (FIFO when `group` is given)."""
    record: dict[str, Any] = copy.deepcopy(load_event("welcome_email_batch")["Records"][0])
    text = body or json.dumps(
        {"account_id": f"acc_parallel_{n}", "email": recipient(n), "name": f"Person {n}"}
    )
    record["messageId"] = f"m-{n}"
    record["receiptHandle"] = f"AQEB-m-{n}-{receive_count}"
    record["body"] = text
    record["md5OfBody"] = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
    record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
    if group is not None:
        record["attributes"]["MessageGroupId"] = group
        record["attributes"]["MessageDeduplicationId"] = f"dedup-{n}"
        record["attributes"]["SequenceNumber"] = str(18_800_000_000_000_000_000 + n)
        record["eventSourceARN"] += ".fifo"
    return record


def batch(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def people(*numbers: int) -> dict[str, Any]:
    return batch(*(job_record(n) for n in numbers))


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def emitted_metrics(stdout: str) -> dict[str, float]:
    """Metric totals from the EMF lines Powertools Metrics prints when it flushes."""
    totals: dict[str, float] = {}
    for line in stdout.splitlines():
        entry = json.loads(line) if line.startswith("{") else {}
        for definition in (
            entry.get("_aws", {}).get("CloudWatchMetrics", [{}])[0].get("Metrics", [])
        ):
            value = entry[definition["Name"]]
            values = value if isinstance(value, list) else [value]
            totals[definition["Name"]] = totals.get(definition["Name"], 0) + sum(values)
    return totals


def invoke(event: dict[str, Any], context: Any = None) -> Any:
    return app.lambda_handler(event, context or FakeLambdaContext())


@pytest.fixture(autouse=True)
def fresh_poison_router(ses: Any) -> Iterator[None]:
    # moto SQS for the DLQ and the function's env (ses fixture); no client across mocks.
    app.poison_router.cache_clear()
    yield
    app.poison_router.cache_clear()


@pytest.fixture
def sender(monkeypatch: pytest.MonkeyPatch) -> ConcurrentEmailSender:
    """A sender a warm container has already sent through (its client exists)."""
    concurrent = ConcurrentEmailSender()
    monkeypatch.setattr(app, "email_sender", lambda: concurrent)
    app.first_send_alone(concurrent, lambda: None)  # warm: records start at once
    return concurrent


# ---------------------------------------------------------------- the bound


@pytest.mark.parametrize(
    ("setting", "bound"),
    [(None, WELCOME_EMAIL_RECORD_CONCURRENCY), ("3", 3), ("1", 1)],
    ids=["default-10", "RECORD_CONCURRENCY=3", "RECORD_CONCURRENCY=1"],
)
def test_records_are_sent_together_up_to_the_bound_and_never_more(
    setting: str | None,
    bound: int,
    sender: ConcurrentEmailSender,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if setting is not None:
        monkeypatch.setenv("RECORD_CONCURRENCY", setting)
    sender.hold = sender.probe.hold_at_the_bound(bound, WAIT)

    response = invoke(people(*range(1, 13)))

    assert failed_ids(response) == []
    assert sorted(sender.sent) == sorted(recipient(n) for n in range(1, 13))
    assert sender.probe.max_in_flight == bound


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_bad_record_concurrency_fails_the_invocation_before_any_send(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cold = ConcurrentEmailSender()  # a cold container's, which would send one record first
    monkeypatch.setattr(app, "email_sender", lambda: cold)
    for bad in ("0", "-2", "ten"):
        monkeypatch.setenv("RECORD_CONCURRENCY", bad)
        with pytest.raises(ConfigurationError, match="RECORD_CONCURRENCY"):
            invoke(people(1, 2))
    assert cold.probe.started == []


def test_without_a_sender_address_each_record_fails_on_its_own_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The warm-up builds the sender first; one that cannot be built fails no invocation:
    every record fails with the error naming the variable, and is redelivered."""
    app.email_sender.cache_clear()
    monkeypatch.delenv("SENDER_EMAIL_ADDRESS")
    try:
        response = invoke(people(1, 2, 3))
    finally:
        app.email_sender.cache_clear()

    assert failed_ids(response) == ["m-1", "m-2", "m-3"]
    assert all("SENDER_EMAIL_ADDRESS" in str(error) for _, error, _ in app.processor.exceptions)


def test_record_concurrency_is_optional_with_each_consumer_s_default() -> None:
    assert RecordConcurrencySettings.from_env({}, default=10).record_concurrency == 10
    assert RecordConcurrencySettings.from_env({"RECORD_CONCURRENCY": " "}, default=5) == (
        RecordConcurrencySettings(5)
    )
    assert RecordConcurrencySettings.from_env({"RECORD_CONCURRENCY": "7"}, default=5) == (
        RecordConcurrencySettings(7)
    )


# ---------------------------------------------------------------- partial responses


def test_failures_name_exactly_the_failed_records_in_batch_order(
    sender: ConcurrentEmailSender,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Records 2 and 5 fail, 5 first; 4 is malformed (dead-lettered, so acknowledged)."""
    sender.fail_for = {recipient(2), recipient(5)}
    recorded_5 = threading.Event()
    record_failure = app.processor.failure_handler

    def observed_failure(record: Any, exception: Any) -> Any:
        if record.message_id == "m-5":
            recorded_5.set()
        return record_failure(record=record, exception=exception)

    monkeypatch.setattr(app.processor, "failure_handler", observed_failure)

    def hold(to: str) -> None:
        if to == recipient(2):  # fails only once record 5 has failed
            assert sender.probe.wait_ended(recipient(5), WAIT)
            recorded_5.wait(0.3)  # were failures recorded as they happen, 5's would be now

    sender.hold = hold
    event = batch(
        job_record(1),
        job_record(2),
        job_record(3),
        job_record(4, body='{"account_id": "acc_4"}'),
        job_record(5),
        job_record(6),
    )

    response = invoke(event)

    assert failed_ids(response) == ["m-2", "m-5"]
    assert sender.probe.ended.index(recipient(5)) < sender.probe.ended.index(recipient(2))
    # Powertools' lists stay paired, in batch order: the failed record and its error.
    failed: list[Any] = app.processor.fail_messages
    assert [record.message_id for record in failed] == ["m-2", "m-5"]
    assert [type(error).__name__ for _, error, _ in app.processor.exceptions] == [
        "RuntimeError",
        "RuntimeError",
    ]
    assert sorted(sender.sent) == [recipient(n) for n in (1, 3, 6)]
    assert emitted_metrics(capsys.readouterr().out) == {
        "WelcomeEmailsSent": 3,
        "WelcomeEmailsFailed": 2,
        "PoisonMessageDeadLettered": 1,
    }


def test_metrics_from_records_in_parallel_are_all_counted(
    sender: ConcurrentEmailSender,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Powertools' metric set is a plain dict: `get`, append, set. Widened here (a `get`
    that yields), ten records adding the same new metric at once would lose all but one
    of their values without the lock around `add_metric`."""

    class SlowToRead(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            found = super().get(key, default)
            time.sleep(0.01)  # another thread runs between the read and the write
            return found

    provider = app.metrics.provider
    monkeypatch.setattr(provider, "metric_set", SlowToRead(provider.metric_set))
    sender.hold = sender.probe.hold_first(10, 10, WAIT)

    assert failed_ids(invoke(people(*range(1, 11)))) == []

    assert emitted_metrics(capsys.readouterr().out) == {"WelcomeEmailsSent": 10}


# ---------------------------------------------------------------- FIFO


def test_a_fifo_message_group_is_sent_in_order_one_at_a_time(
    sender: ConcurrentEmailSender,
) -> None:
    def hold(_: str) -> None:
        # Each send waits briefly for a second one: none comes while a group is in flight.
        sender.probe.wait_for(2, 0.05)

    sender.hold = hold

    response = invoke(batch(*(job_record(n, group="acc-1") for n in range(1, 7))))

    assert failed_ids(response) == []
    assert sender.probe.started == [recipient(n) for n in range(1, 7)]
    assert sender.sent == [recipient(n) for n in range(1, 7)]
    assert sender.probe.max_in_flight == 1


def test_records_of_different_groups_interleave_each_group_in_order(
    sender: ConcurrentEmailSender,
) -> None:
    groups = {"a": (1, 3, 5), "b": (2, 4, 6)}
    # Each group's first send waits until the other group's is in flight too.
    sender.hold = sender.probe.hold_first(2, 2, WAIT)

    response = invoke(batch(*(job_record(n, group="ab"[(n - 1) % 2]) for n in range(1, 7))))

    assert failed_ids(response) == []
    assert sender.probe.max_in_flight == 2
    for numbers in groups.values():
        order = [to for to in sender.probe.started if to in {recipient(n) for n in numbers}]
        assert order == [recipient(n) for n in numbers]


def test_after_a_failure_the_rest_of_its_group_fails_unsent_and_other_groups_go_on(
    sender: ConcurrentEmailSender,
) -> None:
    sender.fail_for = {recipient(2)}
    event = batch(
        job_record(1, group="a"),
        job_record(2, group="a"),  # fails
        job_record(3, group="b"),
        job_record(4, group="a"),  # after a failure in its group: not sent
        job_record(5, group="b"),
    )

    response = invoke(event)

    # Redelivered 2 and 4 arrive in their order again; b is done.
    assert failed_ids(response) == ["m-2", "m-4"]
    assert recipient(4) not in sender.probe.started
    assert sorted(sender.sent) == [recipient(n) for n in (1, 3, 5)]
    [_, skipped] = [error for _, error, _ in app.processor.exceptions]
    assert isinstance(skipped, SQSFifoMessageGroupCircuitBreakerError)
    assert "message group a" in str(skipped)


# ---------------------------------------------------------------- threads


def test_a_kill_in_one_record_ends_the_invocation_no_record_starts_after_it(
    sender: ConcurrentEmailSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECORD_CONCURRENCY", "2")
    sender.fail_for = {recipient(1)}
    sender.fail_with = Killed("the execution environment died")
    dying = threading.Event()

    def hold(to: str) -> None:
        if to == recipient(1):
            assert sender.probe.wait_for(2, WAIT)  # record 2 is in flight beside it
            dying.set()
        elif to == recipient(2):
            assert dying.wait(WAIT)
            time.sleep(0.3)  # the kill reaches the processor before this lane goes on

    sender.hold = hold

    with pytest.raises(Killed):
        invoke(people(1, 2, 3, 4, 5, 6))

    # The send in flight beside it finished; nothing started after the kill.
    assert sender.probe.started == [recipient(1), recipient(2)]
    assert sender.sent == [recipient(2)]


def test_what_the_handler_set_in_its_context_reaches_every_record(
    sender: ConcurrentEmailSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Powertools Logger's thread-safe keys live in a ContextVar; each lane runs in a copy
    of the invoking thread's context, as one thread would."""
    monkeypatch.setenv("RECORD_CONCURRENCY", "4")
    sender.hold = sender.probe.hold_first(4, 4, WAIT)
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(app.logger.registered_formatter)
    logging.getLogger(app.logger.name).addHandler(handler)
    app.logger.thread_safe_append_keys(batch_tag="parallel-test")
    try:
        assert failed_ids(invoke(people(1, 2, 3, 4))) == []
    finally:
        app.logger.thread_safe_clear_keys()
        logging.getLogger(app.logger.name).removeHandler(handler)

    lines = [json.loads(line) for line in written.getvalue().splitlines()]
    sent = [line for line in lines if line["message"] == "welcome email sent"]
    assert len(sent) == 4
    assert {line.get("batch_tag") for line in sent} == {"parallel-test"}


def test_a_contextvar_set_before_the_batch_is_seen_by_every_record() -> None:
    """The same property without the app: records read what the caller set."""
    seen: list[str] = []
    lock = threading.Lock()
    flag: contextvars.ContextVar[str] = contextvars.ContextVar("flag", default="unset")

    def handler(record: Any) -> None:
        with lock:
            seen.append(flag.get())

    processor = ParallelBatchProcessor(concurrency=lambda: 3)
    flag.set("set by the caller")
    with processor(people(1, 2, 3, 4, 5)["Records"], handler):
        processor.process()

    assert seen == ["set by the caller"] * 5


# ---------------------------------------------------------------- a cold container


def test_a_cold_sender_s_first_send_runs_alone_then_the_rest_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new sender creates its SES client on its first send, from boto3's shared default
    session, which is not thread-safe: the batch's first record goes alone, first."""
    cold = ConcurrentEmailSender()
    monkeypatch.setattr(app, "email_sender", lambda: cold)
    parse = app.parse_welcome_email_job

    def slow_to_parse_the_first(body: str) -> Any:
        if recipient(1) in body:  # another record would send meanwhile, were it running
            cold.probe.wait_for(1, 0.3)
        return parse(body)

    monkeypatch.setattr(app, "parse_welcome_email_job", slow_to_parse_the_first)

    def hold(to: str) -> None:
        # A second send arriving during the first would show here; none should.
        cold.probe.wait_for(2, 0.3 if to == recipient(1) else WAIT)

    cold.hold = hold

    assert failed_ids(invoke(people(1, 2, 3))) == []

    assert cold.probe.log[:2] == [("start", recipient(1)), ("end", recipient(1))]
    assert cold.probe.max_in_flight == 2  # then 2 and 3 together


def test_first_call_alone_lets_one_call_through_then_every_call_at_once() -> None:
    gate = FirstCallAlone()
    probe = CallProbe()

    @dataclass(eq=True)
    class Client:  # unhashable, as dataclasses are: keyed on identity
        name: str

    client = Client("ses")

    first_done = threading.Event()

    def send(n: int) -> None:
        with probe.call(f"send {n}"):
            # The first waits briefly for company (none may come), the others for each other.
            probe.wait_for(2, 0.2 if not first_done.is_set() else WAIT)
        first_done.set()

    threads = [threading.Thread(target=gate, args=(client, lambda n=n: send(n))) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)

    [(start, first), second, *_] = probe.log
    assert (start, second) == ("start", ("end", first))
    assert probe.max_in_flight == 2
    assert gate.has_run(client)
    assert not gate.has_run(Client("ses"))  # an equal object is another object


# ---------------------------------------------------------------- the time budget


@dataclass
class SimulatedInvocation:
    """A 40 s invocation whose remaining time follows a simulated clock (no test waits)."""

    timeout_seconds: float = 40.0
    elapsed: float = 0.0

    def context(self) -> Any:
        invocation = self

        class Context(FakeLambdaContext):
            def get_remaining_time_in_millis(self) -> int:
                return int((invocation.timeout_seconds - invocation.elapsed) * 1000)

        return Context()


def test_records_queued_behind_stuck_sends_are_deferred_those_beside_them_are_not(
    sender: ConcurrentEmailSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RECORD_CONCURRENCY=3: sends 1 and 2 get stuck together (the clock moves by one
    send's worst case, once: they hang at the same time) while 3 runs beside them; 4 and
    5 start after, with less than one send's worst case left: deferred, unsent."""
    monkeypatch.setenv("RECORD_CONCURRENCY", "3")
    invocation = SimulatedInvocation()
    stuck = {recipient(1), recipient(2)}
    worst_case = app.deadline.send_seconds
    lock = threading.Lock()

    hung = threading.Event()

    def hold(to: str) -> None:
        sender.probe.wait_for(3, WAIT)  # 1, 2 and 3 in flight together
        if to in stuck:
            with lock:
                if invocation.elapsed < worst_case:
                    invocation.elapsed += worst_case
            hung.set()
        else:  # 3 ends after the hang, as it would: it ran beside it
            assert hung.wait(WAIT)

    sender.hold = hold
    sender.fail_for = stuck
    sender.fail_with = TimeoutError("read timed out")

    response = invoke(people(1, 2, 3, 4, 5), invocation.context())

    assert failed_ids(response) == ["m-1", "m-2", "m-4", "m-5"]
    assert sender.sent == [recipient(3)]
    assert sorted(sender.probe.started) == sorted([recipient(1), recipient(2), recipient(3)])
    deferred = [error for _, error, _ in app.processor.exceptions][2:]
    assert all(isinstance(error, EmailDeferred) for error in deferred)
    assert invocation.elapsed <= invocation.timeout_seconds


# ---------------------------------------------------------------- lanes


def test_lanes_join_records_that_share_a_key_even_through_a_third() -> None:
    records = [job_record(n) for n in range(6)]
    records[4]["attributes"]["MessageGroupId"] = "g"
    records[5]["attributes"]["MessageGroupId"] = "g"
    keys = {"m-0": ["x"], "m-2": ["x", "y"], "m-3": ["y"], "m-5": ["z"], "m-1": ["z"]}

    lanes = batch_lanes(records, lambda record: keys.get(record.message_id, []))

    # 0-2 share x, 2-3 share y: one lane; 1-5 share z, 4-5 share the group: one lane.
    assert lanes == [[0, 2, 3], [1, 4, 5]]
    assert batch_lanes(records) == [[0], [1], [2], [3], [4, 5]]
