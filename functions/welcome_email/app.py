"""WelcomeEmailQueue consumer: at-least-once welcome emails through SES.

Each record succeeds or fails on its own (ReportBatchItemFailures): an SES error
(throttling included) fails only that record, which SQS redelivers until it succeeds or
moves to WelcomeEmailDeadLetterQueue. A redelivered job may send a second email; that is
the at-least-once guarantee. A malformed job, which no retry can fix, takes the short way:
copied to WelcomeEmailDeadLetterQueue with its reason, then acknowledged; if the copy
fails it fails like any other record (delivery_guarantees.poison).

SES's MessageRejected is not treated as poison: SES also answers it for the account's
state (an unverified sender identity, a sandbox recipient, sending paused), which is fixed
outside the message, so a later receive can succeed; it keeps the redelivery path and
reaches the DLQ after maxReceiveCount receives, as before.

A send starts only while the invocation has time left for one send at its worst case
(delivery_guarantees.welcome_email.SendDeadline): a stuck SES call fails its own record,
and the records the invocation has no time left for fail as EmailDeferred, unsent, to be
redelivered; the batch never runs into the function's timeout.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from delivery_guarantees.adapters.email_sender import (
    SES_CLIENT_CONFIG,
    EmailSender,
    SesEmailSender,
    send_worst_case_seconds,
)
from delivery_guarantees.batch import FirstCallAlone, ParallelBatchProcessor, add_metric
from delivery_guarantees.config import (
    WELCOME_EMAIL_RECORD_CONCURRENCY,
    ConfigurationError,
    DeadLetterSettings,
    RecordConcurrencySettings,
    WelcomeEmailSettings,
)
from delivery_guarantees.poison import PoisonMessageRouter, safe_error_message
from delivery_guarantees.tracing import function_tracer
from delivery_guarantees.welcome_email import (
    EmailDeferred,
    InvalidWelcomeEmailJob,
    SendDeadline,
    parse_welcome_email_job,
    send_welcome_email,
)

logger = Logger()
# Powertools' Tracer; with tracing off, no X-Ray SDK (~110 ms outside Lambda, ~10 ms in it).
tracer = function_tracer()
metrics = Metrics()
# Every record failed: answered with all of them in batchItemFailures, not raised, so a
# single failing email is no function error (Errors counts crashes and timeouts only).
# Records run in parallel, up to RECORD_CONCURRENCY (default: BatchSize, 10) at once; a
# FIFO message group's one after another (delivery_guarantees.batch).
processor = ParallelBatchProcessor(
    concurrency=lambda: (
        RecordConcurrencySettings.from_env(
            default=WELCOME_EMAIL_RECORD_CONCURRENCY
        ).record_concurrency
    ),
    ready=lambda: warmed_up(),
    raise_on_entire_batch_failure=False,
)
# The first send through a sender and the first DLQ copy through a router run alone: each
# creates its boto3 client on first use, which may not happen on several threads at once.
# Until the first send has run, a batch's records run one at a time, in order (`warmed_up`).
first_send_alone = FirstCallAlone()
first_copy_alone = FirstCallAlone()
copy_config_to_registered_loggers(source_logger=logger, include={"delivery_guarantees"})
# The worst case of one send is read from the very config the SES client is built with
# (adapters/email_sender.send_worst_case_seconds: attempts, timeouts, botocore's back-off).
deadline = SendDeadline(send_worst_case_seconds(SES_CLIENT_CONFIG))


@cache
def email_sender() -> EmailSender:
    """Built on the first record (never at import) and reused by the warm container."""
    settings = WelcomeEmailSettings.from_env()
    # A few quick SDK retries absorb a throttling blip; beyond that the record fails
    # and SQS redelivers it after the visibility timeout. The worst case of one send is
    # computed from this config (`deadline` above), never written out by hand.
    return SesEmailSender(settings.sender_email_address, client_config=SES_CLIENT_CONFIG)


@cache
def poison_router() -> PoisonMessageRouter:
    """Built on the first invocation from DEAD_LETTER_QUEUE_URL; its SQS client on first use."""
    return PoisonMessageRouter(DeadLetterSettings.from_env().dead_letter_queue_url)


def warmed_up() -> bool:
    """Whether the first send through the sender has run.

    A sender that cannot be built (SENDER_EMAIL_ADDRESS unset) has nothing to warm: each
    record fails on its own, as it always did.
    """
    try:
        sender = email_sender()
    except ConfigurationError:
        return True
    return first_send_alone.has_run(sender)


def count(metric: str) -> None:
    add_metric(metrics, metric, unit=MetricUnit.Count)  # records run in parallel


def dead_letter(
    record: SQSRecord, error: InvalidWelcomeEmailJob, lambda_context: LambdaContext | None
) -> str:
    """Copy a malformed job to the DLQ, then acknowledge it; if the copy fails, fail it."""
    function_name = lambda_context.function_name if lambda_context else "WelcomeEmailFunction"
    try:
        router = poison_router()
        copy_id = first_copy_alone(router, lambda: router.dead_letter(record, error, function_name))
    except Exception as copy_error:
        count("WelcomeEmailsFailed")
        logger.exception(
            "malformed welcome-email job NOT copied to the DLQ; the record returns to the queue",
            message_id=record.message_id,
            field=error.field,
        )
        raise error from copy_error
    count("PoisonMessageDeadLettered")
    logger.warning(
        "malformed welcome-email job copied to the DLQ and acknowledged",
        message_id=record.message_id,
        dead_letter_message_id=copy_id,
        field=error.field,
        reason=safe_error_message(error),
    )
    return copy_id


@tracer.capture_method
def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> str:
    try:
        job = parse_welcome_email_job(record.body)
    except InvalidWelcomeEmailJob as error:
        return dead_letter(record, error, lambda_context)
    try:
        sender = email_sender()
        message_id = first_send_alone(sender, lambda: send_welcome_email(job, sender, deadline))
    except EmailDeferred as deferred:
        # Too little time left for one send: nothing sent, the record is redelivered.
        count("WelcomeEmailsDeferred")
        logger.warning(
            "welcome email deferred; the record returns to the queue",
            message_id=record.message_id,
            reason=str(deferred),
        )
        raise
    except Exception:
        count("WelcomeEmailsFailed")
        logger.exception(
            "welcome email failed; the record returns to the queue",
            message_id=record.message_id,
            receive_count=record.attributes.approximate_receive_count,
        )
        raise
    count("WelcomeEmailsSent")
    logger.info("welcome email sent", account_id=job.account_id, ses_message_id=message_id)
    return message_id


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    deadline.start(lambda: context.get_remaining_time_in_millis() / 1000)
    poison_router()  # a missing DEAD_LETTER_QUEUE_URL fails the invocation, loudly
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
