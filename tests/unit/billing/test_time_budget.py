"""The time budget: a hung provider call never times out the whole batch.

The clock is simulated: a hung call moves it forward by the call's worst case (what the
client's timeouts and retries allow) and fails as a timeout would; the Lambda context's
remaining time reads the same clock. No test waits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from delivery_guarantees.adapters.payment_provider import (
    PaymentProviderUnavailable,
    call_worst_case_seconds,
)
from delivery_guarantees.billing import DEFAULT_TIME_BUDGET, IdempotentBilling
from delivery_guarantees.models import ChargeOutcome, ChargeRequest
from functions.billing import app
from tests.unit.billing.fakes import (
    FakeLambdaContext,
    FakePaymentProvider,
    charge_body,
    failed_ids,
    sqs_event,
    sqs_record,
)

FUNCTION_TIMEOUT_SECONDS = 40.0  # template.yaml, Globals
HEALTHY_CALL_SECONDS = 0.3


@dataclass
class SimulatedInvocation:
    """A Lambda context whose remaining time follows a simulated clock."""

    timeout_seconds: float = FUNCTION_TIMEOUT_SECONDS
    elapsed: float = 0.0

    def context(self) -> Any:
        invocation = self

        class Context(FakeLambdaContext):
            def get_remaining_time_in_millis(self) -> int:
                return int((invocation.timeout_seconds - invocation.elapsed) * 1000)

        return Context()

    @property
    def timed_out(self) -> bool:
        return self.elapsed > self.timeout_seconds


@dataclass
class HangingProvider:
    """The fake provider, behind a network where some transactions' calls hang."""

    inner: FakePaymentProvider
    invocation: SimulatedInvocation
    hanging: set[str] = field(default_factory=set)
    attempted: list[str] = field(default_factory=list)

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        self.attempted.append(request.transaction_id)
        if request.transaction_id in self.hanging:
            # Every attempt stalls until its read timeout: the call's worst case, then a timeout.
            self.invocation.elapsed += call_worst_case_seconds()
            raise PaymentProviderUnavailable(request.transaction_id, "read timed out")
        self.invocation.elapsed += HEALTHY_CALL_SECONDS
        return self.inner.charge(request)

    def find_charge(self, request: ChargeRequest) -> ChargeOutcome | None:
        return self.inner.find_charge(request)


@pytest.fixture(autouse=True)
def records_one_after_another(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests model the batch as records run one after another on one simulated
    # clock: a hung call moves it for every record after it, and the assertions count
    # which records reached the provider in batch order. With records in parallel (the
    # default, RECORD_CONCURRENCY of BatchSize) the records after a hung call would have
    # started beside it, before the clock moved. The parallel case, where each record
    # checks the budget on the invocation's clock when it starts its call, is tested in
    # test_parallel_records.py (records queued behind hung calls are deferred).
    monkeypatch.setenv("RECORD_CONCURRENCY", "1")


@pytest.fixture
def invocation() -> SimulatedInvocation:
    return SimulatedInvocation()


@pytest.fixture
def hanging_provider(
    billing: IdempotentBilling, provider: FakePaymentProvider, invocation: SimulatedInvocation
) -> HangingProvider:
    hanging = HangingProvider(provider, invocation)
    billing.provider = hanging
    return hanging


def batch_of_five(receive_count: int = 1) -> dict[str, Any]:
    return sqs_event(
        *(
            sqs_record(
                charge_body(transaction_id=f"txn_budget_{n}"),
                message_id=f"m-{n}",
                receive_count=receive_count,
            )
            for n in range(1, 6)
        )
    )


def test_the_budget_arithmetic_fits_the_function_timeout() -> None:
    # 2 x (2 s + 4 s) + 0.5 s, then two DynamoDB writes of 2 x (1 s + 1.5 s) + 1 s of
    # back-off + 5 s that an x-amz-retry-after header may add (botocore standard mode).
    assert call_worst_case_seconds() == pytest.approx(12.5)
    assert DEFAULT_TIME_BUDGET.required_seconds == pytest.approx(34.5)
    assert DEFAULT_TIME_BUDGET.required_seconds < FUNCTION_TIMEOUT_SECONDS


def test_after_a_hung_call_the_rest_of_the_batch_is_deferred_not_timed_out(
    hanging_provider: HangingProvider,
    provider: FakePaymentProvider,
    invocation: SimulatedInvocation,
) -> None:
    hanging_provider.hanging = {"txn_budget_2", "txn_budget_3"}

    response = app.lambda_handler(batch_of_five(), invocation.context())

    # Record 1 settled; record 2 hung and failed; 3, 4 and 5 never reached the provider.
    assert failed_ids(response) == ["m-2", "m-3", "m-4", "m-5"]
    assert hanging_provider.attempted == ["txn_budget_1", "txn_budget_2"]
    assert not invocation.timed_out, f"{invocation.elapsed:.1f} s in a 40 s function"
    assert provider.idempotency_keys == ["txn_budget_1"]


def test_deferred_records_are_charged_once_on_their_redelivery(
    hanging_provider: HangingProvider,
    provider: FakePaymentProvider,
    invocation: SimulatedInvocation,
) -> None:
    hanging_provider.hanging = {"txn_budget_2"}
    first = app.lambda_handler(batch_of_five(), invocation.context())
    assert failed_ids(first) == ["m-2", "m-3", "m-4", "m-5"]

    hanging_provider.hanging = set()
    redelivery = SimulatedInvocation()
    hanging_provider.invocation = redelivery
    second = app.lambda_handler(batch_of_five(receive_count=2), redelivery.context())

    assert failed_ids(second) == []
    assert sorted(provider.idempotency_keys) == [f"txn_budget_{n}" for n in range(1, 6)]


def test_healthy_batches_are_never_deferred(
    hanging_provider: HangingProvider,
    provider: FakePaymentProvider,
    invocation: SimulatedInvocation,
) -> None:
    assert failed_ids(app.lambda_handler(batch_of_five(), invocation.context())) == []
    assert len(provider.idempotency_keys) == 5


def test_a_function_timeout_below_the_budget_leaves_the_guard_aside(
    hanging_provider: HangingProvider,
    provider: FakePaymentProvider,
) -> None:
    # The demo's template divides every timeout by 10: no record could ever be charged
    # if the guard insisted on 34.5 s, so it stands aside and the Lambda timeout rules.
    short = SimulatedInvocation(timeout_seconds=3.0)
    hanging_provider.invocation = short

    assert failed_ids(app.lambda_handler(batch_of_five(), short.context())) == []
    assert len(provider.idempotency_keys) == 5
