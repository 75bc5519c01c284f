"""POST /accounts (HTTP API, payload format 2.0): create an account and store its jobs.

201 with the account when this call created it, and the same 201 with the same account
and `Idempotent-Replayed: true` to a retry that sends the first request's
`Idempotency-Key` and the same details; 400 naming the field (or the header) on invalid
input; 422 when that key comes with other details; 409, the same bytes whatever was sent,
when the address has an account and the request does not hold its key (the account
holder is told by email, at most once a day). Whatever the answer, the account's own
unrecorded jobs are stored first. Any other failure raises: API Gateway answers 500, the
Lambda `Errors` metric counts it, and the client may retry safely with the same key
(a retry stores only the jobs an earlier attempt did not record, listed in
`jobs_enqueued`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from delivery_guarantees.adapters.accounts_store import AccountsStore, DynamoDbAccountsStore
from delivery_guarantees.adapters.email_sender import EmailSender, SesEmailSender
from delivery_guarantees.adapters.job_queue import JobQueue, SqsJobQueue
from delivery_guarantees.config import SignupSettings
from delivery_guarantees.signup import (
    IDEMPOTENCY_KEY_HEADER,
    EmailTakenError,
    IdempotencyKeyReusedError,
    InvalidSignupRequest,
    SignupNoticeOutcome,
    WelcomeEmailOutcome,
    parse_idempotency_key,
    parse_signup_request,
    sign_up,
)
from delivery_guarantees.tracing import function_tracer

logger = Logger()
# Powertools' Tracer; with tracing off, no X-Ray SDK (~110 ms outside Lambda, ~10 ms in it).
tracer = function_tracer()
metrics = Metrics()
app = APIGatewayHttpResolver()
# The domain logs through the standard library; give those records the same JSON format.
copy_config_to_registered_loggers(source_logger=logger, include={"delivery_guarantees"})


@dataclass(frozen=True)
class Adapters:
    settings: SignupSettings
    accounts: AccountsStore
    jobs: JobQueue
    email_sender: EmailSender


@cache
def adapters() -> Adapters:
    """Built on the first request (never at import) and reused by the warm container."""
    settings = SignupSettings.from_env()
    return Adapters(
        settings=settings,
        # Explicit timeouts and retries: dynamodb_client_config() (1 s connect, 1.5 s read,
        # 2 attempts) and job_queue.SQS_CLIENT_CONFIG, the adapters' defaults.
        accounts=DynamoDbAccountsStore(settings.accounts_table_name),
        jobs=SqsJobQueue(),
        # At-most-once means one attempt: no SDK retry may resend an email SES accepted.
        # Short timeouts: a slow SES must not hold the API answer (HTTP APIs give up at 30 s).
        email_sender=SesEmailSender(
            settings.sender_email_address,
            client_config=Config(
                retries={"mode": "standard", "total_max_attempts": 1},
                connect_timeout=3,
                read_timeout=5,
            ),
        ),
    )


@app.post("/accounts")
def create_account() -> Response[dict[str, Any]]:
    try:
        body = app.current_event.decoded_body
    except ValueError:
        # API Gateway base64-encodes a body it cannot pass as text, such as bytes that are
        # not UTF-8; decoding them fails here.
        raise InvalidSignupRequest(
            "body", "request body is not UTF-8 text: expected a JSON object"
        ) from None
    request = parse_signup_request(body)
    # Validated before anything is read or stored, as the body is: an invalid request
    # gets the same 400 whether or not its address has an account.
    idempotency_key = parse_idempotency_key(app.current_event.headers.get(IDEMPOTENCY_KEY_HEADER))
    deps = adapters()
    result = sign_up(
        request,
        deps.accounts,
        deps.jobs,
        deps.email_sender,
        deps.settings,
        idempotency_key=idempotency_key,
    )

    metrics.add_metric(
        name="AccountsCreated" if result.created else "SignupRetries",
        unit=MetricUnit.Count,
        value=1,
    )
    if result.welcome_email is WelcomeEmailOutcome.DROPPED:
        metrics.add_metric(name="WelcomeEmailsDropped", unit=MetricUnit.Count, value=1)
    logger.info(
        "signup stored",
        account_id=result.account.account_id,
        account_created=result.created,
        replayed=result.replayed,
        idempotency_key_given=idempotency_key is not None,
        welcome_email=result.welcome_email.value,
        jobs_enqueued=[job.value for job in result.jobs_enqueued],
    )
    # A replay is the first answer again (Stripe's convention: the same status and body,
    # marked by a header); only `jobs_enqueued` and `welcome_email` speak for this call.
    return Response(
        status_code=HTTPStatus.CREATED,
        content_type=content_types.APPLICATION_JSON,
        body={
            "account": asdict(result.account),
            "first_charge_transaction_id": result.first_charge_transaction_id,
            "welcome_email_delivery": result.welcome_email_delivery.value,
            "welcome_email": result.welcome_email.value,
            "jobs_enqueued": [job.value for job in result.jobs_enqueued],
        },
        headers={"Idempotent-Replayed": "true"} if result.replayed else None,
    )


@app.exception_handler(InvalidSignupRequest)
def reject_invalid_request(error: InvalidSignupRequest) -> Response[dict[str, str]]:
    logger.info("signup rejected: invalid request", field=error.field, reason=str(error))
    metrics.add_metric(name="SignupsRejected", unit=MetricUnit.Count, value=1)
    return _client_error(HTTPStatus.BAD_REQUEST, error.field, str(error))


@app.exception_handler(EmailTakenError)
def reject_taken_email(error: EmailTakenError) -> Response[dict[str, str]]:
    # The same answer, byte for byte, whatever the request's details: nothing in it may
    # depend on them (the account ID and the notice stay in the logs).
    logger.info(
        "signup rejected: the address has an account and the request does not hold its key",
        account_id=error.account_id,
        signup_notice=error.notice.value,
    )
    metrics.add_metric(name="SignupsRejected", unit=MetricUnit.Count, value=1)
    if error.notice is SignupNoticeOutcome.SENT:
        metrics.add_metric(name="SignupNoticesSent", unit=MetricUnit.Count, value=1)
    elif error.notice is SignupNoticeOutcome.FAILED:
        metrics.add_metric(name="SignupNoticesFailed", unit=MetricUnit.Count, value=1)
    return _client_error(HTTPStatus.CONFLICT, error.field, str(error))


@app.exception_handler(IdempotencyKeyReusedError)
def reject_reused_key(error: IdempotencyKeyReusedError) -> Response[dict[str, str]]:
    logger.info(
        "signup rejected: the idempotency key was used for another request",
        account_id=error.account_id,
        differing=list(error.differing),
    )
    metrics.add_metric(name="SignupsRejected", unit=MetricUnit.Count, value=1)
    return _client_error(HTTPStatus.UNPROCESSABLE_ENTITY, error.field, str(error))


def _client_error(status: HTTPStatus, field: str, message: str) -> Response[dict[str, str]]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"message": message, "field": field},
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return app.resolve(event, context)
    except Exception:
        metrics.add_metric(name="SignupsFailed", unit=MetricUnit.Count, value=1)
        logger.exception("signup failed; API Gateway answers 500 and the client may retry")
        raise
