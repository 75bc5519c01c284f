"""Billing: the records of a batch in parallel, bounded, every guarantee intact.

The real handler and wiring (moto DynamoDB, Powertools idempotency, the journal) with a
thread-safe fake provider (`ConcurrentPaymentProvider`): each charge is a call in flight
on a `CallProbe`, which counts how many are in flight together. Calls hold on events and
conditions, never on timings, to put records in flight at once; a wait that should not
be needed has a short timeout and the test asserts what happened.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import (
    SQSFifoMessageGroupCircuitBreakerError,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from delivery_guarantees.adapters.payment_provider import (
    PaymentProviderUnavailable,
    call_worst_case_seconds,
)
from delivery_guarantees.billing import (
    DEFAULT_TIME_BUDGET,
    ChargeDeferred,
    ConflictingCharge,
    IdempotentBilling,
)
from delivery_guarantees.config import BILLING_RECORD_CONCURRENCY
from delivery_guarantees.models import ChargeRequest
from functions.billing import app
from tests.unit.billing.fakes import (
    ConcurrentPaymentProvider,
    FakeLambdaContext,
    FakePaymentProvider,
    charge_body,
    dead_letters,
    failed_ids,
    sqs_event,
    sqs_record,
)
from tests.unit.welcome_email.fakes import CallProbe

BILLING_BATCH_SIZE = 5  # template.yaml: the BillingQueue mapping's BatchSize
WAIT = 5.0  # seconds: how long a held call waits for what must happen; never reached


def txn(n: int) -> str:
    return f"txn_parallel_{n}"


def charge(n: int, *, group: str | None = None, **overrides: Any) -> dict[str, Any]:
    """Record m-n charging transaction n (FIFO when `group` is given)."""
    record = sqs_record(charge_body(transaction_id=txn(n), **overrides), message_id=f"m-{n}")
    if group is not None:
        record["attributes"]["MessageGroupId"] = group
        record["eventSourceARN"] += ".fifo"
    return record


def errors() -> list[BaseException | None]:
    return [error for _, error, _ in app.processor.exceptions]


def settled(caplog: pytest.LogCaptureFixture) -> dict[str, str]:
    """Where each settled record's answer came from, by message ID."""
    return {
        vars(r)["message_id"]: vars(r)["settled_from"]
        for r in caplog.records
        if r.getMessage() == "charge settled"
    }


@pytest.fixture(autouse=True)
def records_in_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about records in parallel at the mapping's BatchSize, whatever
    the default in config.py (RECORD_CONCURRENCY set here, not read from it)."""
    monkeypatch.setenv("RECORD_CONCURRENCY", str(BILLING_BATCH_SIZE))


@pytest.fixture
def concurrent(
    billing: IdempotentBilling, provider: FakePaymentProvider
) -> ConcurrentPaymentProvider:
    """The fake provider behind a network, wired into a warm container's billing."""
    wrapped = ConcurrentPaymentProvider(inner=provider)
    billing.provider = wrapped
    app.first_charge_alone(billing, lambda: None)  # warm: records start at once
    return wrapped


# ---------------------------------------------------------------- the bound


@pytest.mark.parametrize(
    ("setting", "bound"),
    [(None, BILLING_RECORD_CONCURRENCY), (str(BILLING_BATCH_SIZE), BILLING_BATCH_SIZE), ("2", 2)],
    ids=["default", "RECORD_CONCURRENCY=5", "RECORD_CONCURRENCY=2"],
)
def test_charges_are_in_flight_together_up_to_the_bound_and_never_more(
    setting: str | None,
    bound: int,
    concurrent: ConcurrentPaymentProvider,
    context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if setting is None:
        monkeypatch.delenv("RECORD_CONCURRENCY")
    else:
        monkeypatch.setenv("RECORD_CONCURRENCY", setting)
    concurrent.hold = concurrent.probe.hold_at_the_bound(bound, WAIT)

    response = app.lambda_handler(sqs_event(*(charge(n) for n in range(1, 11))), context)

    assert failed_ids(response) == []
    assert sorted(concurrent.probe.started) == sorted(txn(n) for n in range(1, 11))
    assert concurrent.probe.max_in_flight == bound


# ---------------------------------------------------------------- duplicates


def test_a_duplicate_in_the_batch_runs_after_its_original_and_is_answered_from_it(
    concurrent: ConcurrentPaymentProvider,
    context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two copies of one charge share a lane: the copy waits for the original and is
    answered from its idempotency record, while other records run beside them."""
    copy_done = threading.Event()
    handle = app.record_handler

    def observed(record: Any, lambda_context: LambdaContext | None = None) -> Any:
        try:
            return handle(record, lambda_context)
        finally:
            if record.message_id == "m-3":
                copy_done.set()

    monkeypatch.setattr(app, "record_handler", observed)

    def hold(request: ChargeRequest) -> None:
        concurrent.probe.wait_for(3, WAIT)  # 1, 2 and 4 in flight together
        if request.transaction_id == txn(1):
            copy_done.wait(0.3)  # the copy would be done by now, were it running beside it

    concurrent.hold = hold
    event = sqs_event(
        charge(1),
        charge(2),
        sqs_record(charge_body(transaction_id=txn(1)), message_id="m-3"),
        charge(4),
    )

    response = app.lambda_handler(event, context)

    assert failed_ids(response) == []
    assert sorted(concurrent.probe.started) == [txn(1), txn(2), txn(4)]
    assert concurrent.probe.max_in_flight == 3
    assert settled(caplog)["m-3"] == "idempotency-record"


def test_twins_in_flight_at_once_are_charged_once_and_only_the_twin_fails(
    concurrent: ConcurrentPaymentProvider,
    context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Twins that do run at once (no shared lane here; two invocations in production):
    the first holds the idempotency record while the provider answers; the twin, started
    meanwhile, is refused (IdempotencyAlreadyInProgressError), fails alone, and its
    redelivery is answered from the record. One provider call."""
    monkeypatch.setattr(app, "same_transaction", lambda record: ())
    first_in_provider = threading.Event()
    twin_done = threading.Event()
    handle = app.record_handler

    def observed(record: Any, lambda_context: LambdaContext | None = None) -> Any:
        if record.message_id == "m-twin":
            assert first_in_provider.wait(WAIT)
        try:
            return handle(record, lambda_context)
        finally:
            if record.message_id == "m-twin":
                twin_done.set()

    monkeypatch.setattr(app, "record_handler", observed)
    twin_finished_while_first_in_flight: list[bool] = []

    def hold(request: ChargeRequest) -> None:
        if request.transaction_id == txn(1) and not first_in_provider.is_set():
            first_in_provider.set()
            twin_finished_while_first_in_flight.append(twin_done.wait(WAIT))

    concurrent.hold = hold
    twin = sqs_record(charge_body(transaction_id=txn(1)), message_id="m-twin")

    response = app.lambda_handler(sqs_event(charge(1), charge(2), twin), context)

    assert failed_ids(response) == ["m-twin"]
    assert twin_finished_while_first_in_flight == [True]
    assert [type(error) for error in errors()] == [IdempotencyAlreadyInProgressError]
    assert concurrent.probe.started.count(txn(1)) == 1

    redelivery = sqs_record(
        charge_body(transaction_id=txn(1)), message_id="m-twin", receive_count=2
    )
    assert failed_ids(app.lambda_handler(sqs_event(redelivery), context)) == []

    assert concurrent.probe.started.count(txn(1)) == 1
    assert settled(caplog)["m-twin"] == "idempotency-record"


def test_a_conflicting_copy_in_the_batch_is_dead_lettered_and_charges_nothing(
    concurrent: ConcurrentPaymentProvider,
    context: FakeLambdaContext,
    dead_letter_queue: str,
) -> None:
    conflicting = sqs_record(
        charge_body(transaction_id=txn(1), amount=2999), message_id="m-conflicting"
    )

    response = app.lambda_handler(sqs_event(charge(1), charge(2), conflicting, charge(3)), context)

    assert failed_ids(response) == []
    [copy] = dead_letters(dead_letter_queue)
    assert copy.attributes["SourceMessageId"] == "m-conflicting"
    assert copy.attributes["ErrorType"] == ConflictingCharge.__name__
    assert sorted(concurrent.probe.started) == [txn(1), txn(2), txn(3)]


# ---------------------------------------------------------------- partial responses


def test_failures_name_exactly_the_failed_records_in_batch_order(
    concurrent: ConcurrentPaymentProvider,
    context: FakeLambdaContext,
    dead_letter_queue: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """2 and 5 fail (5 first), 3 is poison (dead-lettered, so acknowledged)."""
    concurrent.unavailable_for = {txn(2), txn(5)}
    recorded_5 = threading.Event()
    record_failure = app.processor.failure_handler

    def observed_failure(record: Any, exception: Any) -> Any:
        if record.message_id == "m-5":
            recorded_5.set()
        return record_failure(record=record, exception=exception)

    monkeypatch.setattr(app.processor, "failure_handler", observed_failure)

    def hold(request: ChargeRequest) -> None:
        if request.transaction_id == txn(2):  # fails only once 5 has failed
            assert concurrent.probe.wait_ended(txn(5), WAIT)
            recorded_5.wait(0.3)  # were failures recorded as they happen, 5's would be now

    concurrent.hold = hold
    event = sqs_event(charge(1), charge(2), charge(3, amount=-5), charge(4), charge(5), charge(6))

    response = app.lambda_handler(event, context)

    assert failed_ids(response) == ["m-2", "m-5"]
    assert concurrent.probe.ended.index(txn(5)) < concurrent.probe.ended.index(txn(2))
    # Powertools' lists stay paired, in batch order: the failed record and its error.
    failed: list[Any] = app.processor.fail_messages
    assert [record.message_id for record in failed] == ["m-2", "m-5"]
    assert [type(error) for error in errors()] == [PaymentProviderUnavailable] * 2
    assert [copy.attributes["SourceMessageId"] for copy in dead_letters(dead_letter_queue)] == [
        "m-3"
    ]


# ---------------------------------------------------------------- FIFO


def test_a_fifo_message_group_is_charged_in_order_one_at_a_time(
    concurrent: ConcurrentPaymentProvider, context: FakeLambdaContext
) -> None:
    def hold(_: ChargeRequest) -> None:
        concurrent.probe.wait_for(2, 0.05)  # a second charge would come now, were it running

    concurrent.hold = hold

    response = app.lambda_handler(
        sqs_event(*(charge(n, group="acc_1") for n in range(1, 6))), context
    )

    assert failed_ids(response) == []
    assert concurrent.probe.started == [txn(n) for n in range(1, 6)]
    assert concurrent.probe.max_in_flight == 1


def test_charges_of_different_groups_interleave_each_group_in_order(
    concurrent: ConcurrentPaymentProvider, context: FakeLambdaContext
) -> None:
    # each group's first waits for the other's
    concurrent.hold = concurrent.probe.hold_first(2, 2, WAIT)
    event = sqs_event(*(charge(n, group="ab"[(n - 1) % 2]) for n in range(1, 7)))

    assert failed_ids(app.lambda_handler(event, context)) == []

    assert concurrent.probe.max_in_flight == 2
    for numbers in ((1, 3, 5), (2, 4, 6)):
        wanted = {txn(n) for n in numbers}
        assert [t for t in concurrent.probe.started if t in wanted] == [txn(n) for n in numbers]


def test_after_a_failure_the_rest_of_its_group_is_not_charged_other_groups_go_on(
    concurrent: ConcurrentPaymentProvider, context: FakeLambdaContext
) -> None:
    concurrent.unavailable_for = {txn(2)}
    event = sqs_event(
        charge(1, group="a"),
        charge(2, group="a"),
        charge(3, group="b"),
        charge(4, group="a"),
        charge(5, group="b"),
    )

    response = app.lambda_handler(event, context)

    assert failed_ids(response) == ["m-2", "m-4"]
    assert txn(4) not in concurrent.probe.started
    assert sorted(concurrent.probe.started) == [txn(1), txn(2), txn(3), txn(5)]
    assert isinstance(errors()[1], SQSFifoMessageGroupCircuitBreakerError)


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


def test_records_queued_behind_hung_calls_are_deferred_those_beside_them_settle(
    concurrent: ConcurrentPaymentProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RECORD_CONCURRENCY=3: calls 1 and 2 hang together (the clock moves by one call's
    worst case, once: they hang at the same time) while 3 settles beside them; 4 and 5
    start after, with less than the budget left: deferred, never sent."""
    monkeypatch.setenv("RECORD_CONCURRENCY", "3")
    invocation = SimulatedInvocation()
    hung = threading.Event()
    lock = threading.Lock()

    def hold(request: ChargeRequest) -> None:
        concurrent.probe.wait_for(3, WAIT)  # 1, 2 and 3 in flight together
        if request.transaction_id in concurrent.unavailable_for:
            with lock:
                if not hung.is_set():
                    invocation.elapsed += call_worst_case_seconds()
                    hung.set()
        else:  # 3 is answered after the hang began, as it would be: it ran beside it
            assert hung.wait(WAIT)

    concurrent.hold = hold
    concurrent.unavailable_for = {txn(1), txn(2)}
    left_after_the_hang = invocation.timeout_seconds - call_worst_case_seconds()
    assert left_after_the_hang < DEFAULT_TIME_BUDGET.required_seconds

    response = app.lambda_handler(
        sqs_event(*(charge(n) for n in range(1, 6))), invocation.context()
    )

    assert failed_ids(response) == ["m-1", "m-2", "m-4", "m-5"]
    assert sorted(concurrent.probe.started) == [txn(1), txn(2), txn(3)]
    assert [type(error) for error in errors()][2:] == [ChargeDeferred, ChargeDeferred]
    assert invocation.elapsed <= invocation.timeout_seconds


# ---------------------------------------------------------------- a cold container


def test_a_cold_wiring_s_first_charge_runs_alone_then_the_rest_at_once(
    billing: IdempotentBilling,
    provider: FakePaymentProvider,
    context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new wiring configures Powertools' persistence layer, fetches the Stripe key and
    builds its clients on its first charge: the batch's first record goes alone, first."""
    cold = ConcurrentPaymentProvider(inner=provider)
    billing.provider = cold
    parse = billing.parse

    def slow_to_parse_the_first(body: str) -> ChargeRequest:
        if txn(1) in body:  # another record would charge meanwhile, were it running
            cold.probe.wait_for(1, 0.3)
        return parse(body)

    monkeypatch.setattr(billing, "parse", slow_to_parse_the_first)

    def hold(request: ChargeRequest) -> None:
        # A second charge arriving during the first would show here; none should.
        cold.probe.wait_for(2, 0.3 if request.transaction_id == txn(1) else WAIT)

    cold.hold = hold

    assert failed_ids(app.lambda_handler(sqs_event(charge(1), charge(2), charge(3)), context)) == []

    assert cold.probe.log[:2] == [("start", txn(1)), ("end", txn(1))]
    assert cold.probe.max_in_flight == 2  # then 2 and 3 together


def test_a_cold_router_s_first_dead_letter_copy_runs_alone(
    concurrent: ConcurrentPaymentProvider,
    context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The DLQ router creates its SQS client on its first copy, from boto3's shared
    default session (not thread-safe): poison records in parallel wait for the first."""
    probe = CallProbe()

    class Router:
        def dead_letter(self, record: Any, error: BaseException, function_name: str) -> str:
            with probe.call(record.message_id):
                probe.wait_for(2, 0.3 if not probe.ended else WAIT)
            return f"copy-of-{record.message_id}"

    router = Router()

    def poison_router() -> Router:
        return router

    poison_router.cache_clear = lambda: None  # type: ignore[attr-defined]
    monkeypatch.setattr(app, "poison_router", poison_router)
    poison = [charge(n, amount=-n) for n in range(1, 4)]

    assert failed_ids(app.lambda_handler(sqs_event(*poison), context)) == []

    [(start, first), second, *_] = probe.log
    assert (start, second) == ("start", ("end", first))
    assert probe.max_in_flight == 2  # then the other two together
    assert concurrent.probe.started == []


def test_the_log_lines_of_records_in_parallel_each_carry_their_own_record(
    concurrent: ConcurrentPaymentProvider,
    context: FakeLambdaContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    concurrent.hold = concurrent.probe.hold_first(5, 5, WAIT)

    assert (
        failed_ids(app.lambda_handler(sqs_event(*(charge(n) for n in range(1, 6))), context)) == []
    )

    lines = [vars(r) for r in caplog.records if r.getMessage() == "charge settled"]
    assert sorted((line["message_id"], line["transaction_id"]) for line in lines) == [
        (f"m-{n}", txn(n)) for n in range(1, 6)
    ]
