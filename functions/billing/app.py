"""BillingFunction: charges from BillingQueue with exactly-once effect.

Parse each record into a ChargeRequest, settle it through the journal and the idempotency
guard (delivery_guarantees.billing), report failed records so only they are redelivered.
A poison record (an invalid charge, a reused transaction ID, a final provider refusal)
is copied to BillingDeadLetterQueue with its reason and then acknowledged; if the copy
fails it fails like any other record (delivery_guarantees.poison).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from functools import cache
from typing import Any, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from delivery_guarantees.adapters.payment_provider import PaymentProviderError
from delivery_guarantees.batch import FirstCallAlone, ParallelBatchProcessor, add_metric
from delivery_guarantees.billing import (
    ChargeDeferred,
    ConflictingCharge,
    ConflictingCopyInProgress,
    InvalidChargeMessage,
    LazyBilling,
    SettledFrom,
    billing_from_settings,
)
from delivery_guarantees.config import (
    BILLING_RECORD_CONCURRENCY,
    BillingSettings,
    DeadLetterSettings,
    RecordConcurrencySettings,
)
from delivery_guarantees.poison import PoisonMessageRouter, safe_error_message
from delivery_guarantees.tracing import function_tracer

logger = Logger()
# Powertools' Tracer; with tracing off, no X-Ray SDK (~110 ms outside Lambda, ~10 ms in it).
tracer = function_tracer()
metrics = Metrics()
# Given a logger, the processor logs every failed record with its error and traceback;
# Powertools' Logger offers the logging.Logger methods it calls. A batch whose every
# record failed is answered with every record in batchItemFailures, not raised: SQS
# redelivers the same records either way, and a raise would be a function error, moving
# the Errors alarm for one in-progress duplicate or one failing record.
# Records run in parallel, up to RECORD_CONCURRENCY (default: BatchSize, 5) at once; the
# records of one transaction run one after another, as do a FIFO message group's
# (delivery_guarantees.batch).
processor = ParallelBatchProcessor(
    concurrency=lambda: (
        RecordConcurrencySettings.from_env(default=BILLING_RECORD_CONCURRENCY).record_concurrency
    ),
    ordering_keys=lambda record: same_transaction(record),
    ready=lambda: warmed_up(),
    logger=cast(logging.Logger, logger),
    raise_on_entire_batch_failure=False,
)
# The first charge through a billing wiring, and the first DLQ copy through a router,
# run alone: they configure Powertools' persistence layer, fetch the Stripe key and
# create clients, none of which may happen on several threads at once. Until the first
# charge has run, a batch's records run one at a time, in order (`warmed_up`).
first_charge_alone = FirstCallAlone()
first_copy_alone = FirstCallAlone()
# Built on the first invocation (settings, clients); tests install their own.
billing = LazyBilling(lambda: billing_from_settings(BillingSettings.from_env()))


@cache
def poison_router() -> PoisonMessageRouter:
    """Built on the first invocation from DEAD_LETTER_QUEUE_URL; its SQS client on first use."""
    return PoisonMessageRouter(DeadLetterSettings.from_env().dead_letter_queue_url)


def warmed_up() -> bool:
    """Whether the first charge through the current billing wiring has run."""
    return first_charge_alone.has_run(billing.get())


def same_transaction(record: SQSRecord) -> tuple[str, ...]:
    """The record's transaction_id, read leniently (none for a body that is no charge).

    Two records of one transaction in a batch run one after the other: the second is a
    duplicate answered from the stored result, not a twin racing the first for the
    idempotency record (which would fail it, to be redelivered).
    """
    try:
        body = json.loads(record.body)
    except Exception:  # not JSON (or nested too deep): record_handler dead-letters it
        return ()
    transaction_id = body.get("transaction_id") if isinstance(body, dict) else None
    return (transaction_id,) if isinstance(transaction_id, str) else ()


def count(metric: str) -> None:
    add_metric(metrics, metric, unit=MetricUnit.Count)  # records run in parallel


def dead_letter(
    record: SQSRecord, error: Exception, lambda_context: LambdaContext | None
) -> dict[str, Any]:
    """Copy a poison record to the DLQ, then acknowledge it; if the copy fails, fail it."""
    function_name = lambda_context.function_name if lambda_context else "BillingFunction"
    try:
        router = poison_router()
        copy_id = first_copy_alone(router, lambda: router.dead_letter(record, error, function_name))
    except Exception as copy_error:
        logger.exception(
            "poison charge NOT copied to the DLQ; the record returns to the queue",
            extra={"message_id": record.message_id, "error_type": type(error).__name__},
        )
        raise error from copy_error
    count("PoisonMessageDeadLettered")
    logger.warning(
        "poison charge copied to the DLQ and acknowledged; no retry can fix it",
        extra={
            "message_id": record.message_id,
            "dead_letter_message_id": copy_id,
            "error_type": type(error).__name__,
            "reason": safe_error_message(error),
        },
    )
    return {"dead_lettered": True, "error_type": type(error).__name__, "copy_id": copy_id}


@tracer.capture_method
def record_handler(
    record: SQSRecord, lambda_context: LambdaContext | None = None
) -> dict[str, Any]:
    current = billing.get()
    try:
        charge = current.parse(record.body)
        result = first_charge_alone(current, lambda: current.charge(charge))
    except InvalidChargeMessage as error:
        count("InvalidChargeMessage")
        return dead_letter(record, error, lambda_context)
    except ConflictingCharge as error:
        count("ConflictingCharge")
        return dead_letter(record, error, lambda_context)
    except ConflictingCopyInProgress:
        # Another copy under this ID, with other details, holds the in-progress record:
        # retried, nothing sent; the redelivery comes after that record has expired.
        count("ConflictingCopyInProgress")
        raise
    except ChargeDeferred:
        count("ChargeDeferred")  # too little time left: retried, nothing sent
        raise
    except PaymentProviderError as error:
        if error.transient:  # unavailable, rate limited, in flight: redelivered, same key
            count("PaymentProviderUnavailable")
            raise
        count("ChargeFailed")  # a final refusal: a human decides, retrying cannot help
        return dead_letter(record, error, lambda_context)
    outcome = result.outcome
    if result.replayed:
        count("DuplicateCharge")
    else:
        if result.settled_from is SettledFrom.RECONCILIATION:
            count("ChargeReconciled")
        count("ChargeSucceeded" if outcome.status == "succeeded" else "ChargeDeclined")
    logger.info(
        "charge settled",
        extra={
            "transaction_id": outcome.transaction_id,
            "status": outcome.status,
            "payment_intent_id": outcome.payment_intent_id,
            "replayed": result.replayed,
            "settled_from": result.settled_from.value,
            "message_id": record.message_id,
        },
    )
    return asdict(outcome)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    billing.get().register_lambda_context(context)
    poison_router()  # a missing DEAD_LETTER_QUEUE_URL fails the invocation, loudly
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
