"""BillingFunction: charges from BillingQueue with exactly-once effect.

Parse each record into a ChargeRequest, settle it through the journal and the idempotency
guard (delivery_guarantees.billing), report failed records so only they are redelivered.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from delivery_guarantees.adapters.payment_provider import PaymentProviderError
from delivery_guarantees.billing import (
    ChargeDeferred,
    ConflictingCharge,
    InvalidChargeMessage,
    LazyBilling,
    SettledFrom,
    billing_from_settings,
)
from delivery_guarantees.config import BillingSettings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# Given a logger, the processor logs every failed record with its error and traceback;
# Powertools' Logger offers the logging.Logger methods it calls.
processor = BatchProcessor(event_type=EventType.SQS, logger=cast(logging.Logger, logger))
# Built on the first invocation (settings, clients); tests install their own.
billing = LazyBilling(lambda: billing_from_settings(BillingSettings.from_env()))


def count(metric: str) -> None:
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)


@tracer.capture_method
def record_handler(record: SQSRecord) -> dict[str, Any]:
    current = billing.get()
    try:
        result = current.charge(current.parse(record.body))
    except InvalidChargeMessage:
        count("InvalidChargeMessage")
        raise
    except ConflictingCharge:
        count("ConflictingCharge")
        raise
    except ChargeDeferred:
        count("ChargeDeferred")  # too little time left: retried, nothing sent
        raise
    except PaymentProviderError as error:
        count("PaymentProviderUnavailable" if error.transient else "ChargeFailed")
        raise
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
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
