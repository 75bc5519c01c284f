"""No personal data leaves BillingFunction in its traces or its logs (issue #9).

One batch through the real handler holds every kind of record: a fresh charge, its
duplicate, a declined card, the same transaction ID with another payment method, a
charge whose provider call times out, an invalid currency and a card number where a
token belongs. What X-Ray would receive under template.yaml's tracer settings, and every
log line at the template's level, are searched for the payment methods sent, any email
address, card-like number or secret.
"""

from __future__ import annotations

import logging

import pytest

from delivery_guarantees.billing import IdempotentBilling
from functions.billing import app
from tests.support.privacy import TraceRecorder, logged_text, personal_data_in
from tests.unit.billing.fakes import (
    FakeLambdaContext,
    FakePaymentProvider,
    charge_body,
    failed_ids,
    sqs_event,
    sqs_record,
)

PAYMENT_METHODS = ["pm_card_amex", "pm_card_mastercard", "pm_card_chargeDeclined"]
CARD_NUMBER = "pm_4000 0566 5566 5556"


def test_billing_traces_and_logs_carry_no_personal_data(
    billing: IdempotentBilling,
    provider: FakePaymentProvider,
    context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    traces = TraceRecorder().install(monkeypatch)
    caplog.set_level(logging.INFO)  # template.yaml: POWERTOOLS_LOG_LEVEL INFO
    fresh = charge_body(transaction_id="txn_p_1", payment_method="pm_card_amex")
    records = [
        sqs_record(fresh, message_id="m-fresh"),
        sqs_record(fresh, message_id="m-duplicate"),
        sqs_record(
            charge_body(transaction_id="txn_p_2", payment_method="pm_card_chargeDeclined"),
            message_id="m-declined",
        ),
        sqs_record(fresh | {"payment_method": "pm_card_mastercard"}, message_id="m-conflicting"),
        sqs_record(charge_body(transaction_id="txn_p_3", currency="usx"), message_id="m-usx"),
        sqs_record(
            charge_body(transaction_id="txn_p_4", payment_method=CARD_NUMBER),
            message_id="m-card-number",
        ),
        sqs_record(charge_body(transaction_id="txn_p_5"), message_id="m-timeout"),
    ]
    provider.time_out_next()  # the first provider call fails: txn_p_1, retried later
    response = app.lambda_handler(sqs_event(*records), context)
    provider_answers = app.lambda_handler(sqs_event(*records), context)

    assert failed_ids(response) == ["m-fresh"]
    assert failed_ids(provider_answers) == []
    captured = capsys.readouterr()
    logs = (captured.out + captured.err).splitlines()
    logs += [logged_text(record) for record in caplog.records]
    assert any("charge settled" in line for line in logs), "no log line was captured"
    personal = [*PAYMENT_METHODS, CARD_NUMBER]
    assert personal_data_in(traces.would_leave("BillingFunction"), personal) == []
    assert personal_data_in(logs, personal) == []
