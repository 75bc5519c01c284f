"""The payment provider: one charge per transaction, whatever happens around the call.

The transaction ID travels to the provider as its idempotency key. A retry after a timeout,
a crash or an expired in-progress record is then answered with the first request's result
instead of charging again: Stripe stores the first response per key and replays it, errors
included, for at least 24 hours.

Errors say what the caller should do. `PaymentProviderUnavailable` is transient: let the
record fail and the redelivery retry with the same key. Every other `PaymentProviderError`
cannot be fixed by retrying (the message ends in the DLQ for a human). A declined card is
not an error at all but a final `ChargeOutcome`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from delivery_guarantees.config import ConfigurationError
from delivery_guarantees.records import ChargeOutcome

if TYPE_CHECKING:
    import stripe
    from aws_lambda_powertools.utilities.parameters import SSMProvider
    from mypy_boto3_ssm import SSMClient

    from delivery_guarantees.models import ChargeRequest


class PaymentProvider(Protocol):
    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        """Charge `request` at most once per `request.transaction_id`.

        Returns the final outcome (succeeded or declined); raises `PaymentProviderError`.
        """
        ...

    def find_charge(self, request: ChargeRequest) -> ChargeOutcome | None:
        """The outcome of a charge the provider already holds for `request.transaction_id`.

        For reconciliation once the provider may have forgotten the idempotency key: None
        means the provider has no payment for this transaction, so charging cannot
        double-charge. Raises `PaymentProviderError` when what it holds cannot be adopted
        (more than one successful payment, another amount, a payment still in flight).
        """
        ...


class PaymentProviderError(RuntimeError):
    """The provider did not give a final outcome for a transaction; retrying will not help."""

    transient: ClassVar[bool] = False

    def __init__(self, transaction_id: str, reason: str) -> None:
        super().__init__(f"transaction {transaction_id}: {reason}")
        self.transaction_id = transaction_id
        self.reason = reason


class PaymentProviderUnavailable(PaymentProviderError):
    """Timeout, connection error, 5xx, 429, or 409 (a request with the same key still running).

    Nothing is known to be charged; retrying with the same idempotency key is safe.
    """

    transient = True


class PaymentIdempotencyConflict(PaymentProviderError):
    """The provider already saw this transaction ID with different parameters.

    The provider refused to charge; a producer reused a transaction ID and a human must decide.
    """


class PaymentRequestRejected(PaymentProviderError):
    """The provider rejected the request itself: unknown payment method, bad API key, ..."""


# A hung connection must fail well inside the function timeout so that the record fails
# and is redelivered, rather than the whole batch timing out. Seconds: (connect, read).
# A TCP and TLS handshake with the provider takes tens of milliseconds; a confirmed
# PaymentIntent answers in well under a second, rarely a few. The read timeout applies to
# each socket read, not to the whole answer, which is why billing also keeps a deadline
# of its own (delivery_guarantees.billing.TimeBudget).
DEFAULT_TIMEOUT_SECONDS = (2.0, 4.0)
# One quick retry inside the invocation (same key, the SDK backs off ~0.5 s); beyond that,
# SQS redelivery after the visibility timeout is the retry.
DEFAULT_MAX_NETWORK_RETRIES = 1
# The longest the SDK waits before its retry: Stripe's initial delay (0.5 s, jitter only
# shortens it) doubles per retry and is capped at 5 s.
_RETRY_DELAY_SECONDS = (0.5, 1.0, 2.0, 4.0, 5.0)


def call_worst_case_seconds(
    timeout_seconds: tuple[float, float] = DEFAULT_TIMEOUT_SECONDS,
    max_network_retries: int = DEFAULT_MAX_NETWORK_RETRIES,
) -> float:
    """The longest one `charge` or `find_charge` can take when each socket read stalls
    just short of its timeout: every attempt's connect and read timeouts plus the SDK's
    back-off between attempts."""
    connect, read = timeout_seconds
    delays = sum(_RETRY_DELAY_SECONDS[min(i, len(_RETRY_DELAY_SECONDS) - 1)]
                 for i in range(max_network_retries))  # fmt: skip
    return (1 + max_network_retries) * (connect + read) + delays


class StripePaymentProvider:
    """Charges through Stripe PaymentIntents, confirmed immediately, no redirects."""

    def __init__(
        self,
        *,
        api_key: Callable[[], str],
        api_base: str = "https://api.stripe.com",
        http_client: stripe.HTTPClient | None = None,
        max_network_retries: int = DEFAULT_MAX_NETWORK_RETRIES,
        timeout_seconds: tuple[float, float] = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        # A callable, so the secret is fetched on first charge (never at import) and
        # re-read when its cache expires, which picks up a rotated key.
        self._api_key = api_key
        self._api_base = api_base.rstrip("/")
        self._http_client = http_client
        self._max_network_retries = max_network_retries
        self._timeout_seconds = timeout_seconds
        self._client: stripe.StripeClient | None = None
        self._client_api_key: str | None = None

    def __repr__(self) -> str:
        return f"StripePaymentProvider(api_base={self._api_base!r})"

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        import stripe  # lazily: the SDK takes ~130 ms to import and other functions never need it

        try:
            intent = self._stripe().v1.payment_intents.create(
                params={
                    "amount": request.amount,
                    "currency": request.currency,
                    "payment_method": request.payment_method,
                    "confirm": True,
                    "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                    "metadata": {
                        "transaction_id": request.transaction_id,
                        "account_id": request.account_id,
                    },
                },
                options={"idempotency_key": request.transaction_id},
            )
        except stripe.CardError as exc:
            return _declined(request, exc)
        except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
            # APIError covers 5xx and 409, the answer to a concurrent request with the same key.
            raise PaymentProviderUnavailable(request.transaction_id, _describe(exc)) from exc
        except stripe.IdempotencyError as exc:
            raise PaymentIdempotencyConflict(
                request.transaction_id,
                "the payment provider already has a request with this idempotency key and "
                f"different parameters; nothing was charged ({_describe(exc)})",
            ) from exc
        except stripe.StripeError as exc:
            raise PaymentRequestRejected(request.transaction_id, _describe(exc)) from exc
        return _outcome_of_intent(request, intent.to_dict())

    def find_charge(self, request: ChargeRequest) -> ChargeOutcome | None:
        import stripe

        # Transaction IDs are [A-Za-z0-9_-:.] only (models.TransactionId): nothing to escape.
        query = f"metadata['transaction_id']:'{request.transaction_id}'"
        try:
            page = self._stripe().v1.payment_intents.search(params={"query": query, "limit": 100})
            intents = [intent.to_dict() for intent in page.data]
        except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
            raise PaymentProviderUnavailable(request.transaction_id, _describe(exc)) from exc
        except stripe.StripeError as exc:
            raise PaymentRequestRejected(request.transaction_id, _describe(exc)) from exc
        return adoptable_outcome(request, intents)

    def _stripe(self) -> stripe.StripeClient:
        import stripe

        api_key = self._api_key()
        # Rebuild only when the key changed (rotation); keeping the client keeps its
        # HTTP connection alive across warm invocations.
        if self._client is None or api_key != self._client_api_key:
            http_client = self._http_client or stripe.RequestsClient(timeout=self._timeout_seconds)
            self._client = stripe.StripeClient(
                api_key,
                base_addresses={"api": self._api_base},
                http_client=http_client,
                max_network_retries=self._max_network_retries,
            )
            self._client_api_key = api_key
        return self._client


def _describe(exc: stripe.StripeError) -> str:
    """Type, status, request ID and the provider's message; never headers (they carry the key)."""
    code = f", code {exc.code}" if exc.code else ""
    request_id = f", request {exc.request_id}" if exc.request_id else ""
    message = exc.user_message or "no message"
    return f"{type(exc).__name__} (HTTP {exc.http_status}{code}{request_id}): {message}"


def _declined(request: ChargeRequest, exc: stripe.CardError) -> ChargeOutcome:
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error: dict[str, Any] = body.get("error") or {}
    decline_code = error.get("decline_code") or exc.code or "card_declined"
    payment_intent = error.get("payment_intent") or {}
    return ChargeOutcome(
        transaction_id=request.transaction_id,
        account_id=request.account_id,
        amount=request.amount,
        currency=request.currency,
        status="declined",
        payment_intent_id=payment_intent.get("id"),
        decline_code=decline_code,
    )


def _outcome_of_intent(request: ChargeRequest, intent: dict[str, Any]) -> ChargeOutcome:
    status = intent.get("status")
    if status == "succeeded":
        decline_code = None
    elif status == "requires_payment_method":
        last_error = intent.get("last_payment_error") or {}
        decline_code = last_error.get("decline_code") or last_error.get("code") or "card_declined"
    elif status == "requires_action":
        # Redirects are disallowed and no customer is present to authenticate (3-D Secure):
        # no money moved, and a retry would replay the same answer. Record it as declined.
        decline_code = "authentication_required"
    else:
        # processing, requires_capture, canceled...: not a final outcome this flow knows.
        raise PaymentProviderError(
            request.transaction_id,
            f"payment intent {intent.get('id')} is in status {status!r}, which billing does "
            "not handle; check it in the provider's dashboard",
        )
    return ChargeOutcome(
        transaction_id=request.transaction_id,
        account_id=request.account_id,
        amount=request.amount,
        currency=request.currency,
        status="succeeded" if decline_code is None else "declined",
        payment_intent_id=intent.get("id"),
        decline_code=decline_code,
    )


def adoptable_outcome(
    request: ChargeRequest, intents: list[dict[str, Any]]
) -> ChargeOutcome | None:
    """The outcome to adopt from the intents the provider holds for one transaction.

    One succeeded intent is the charge. None succeeded: the newest declined one is the
    outcome a replay of its key would have given. No intent at all: None. Anything else
    needs a human and raises: two succeeded intents (a double charge already happened:
    refund one), an intent for another amount or currency, or one still in flight.
    """
    mine = [
        i
        for i in intents
        if (i.get("metadata") or {}).get("transaction_id") == request.transaction_id
    ]
    for intent in mine:
        if intent.get("amount") != request.amount or intent.get("currency") != request.currency:
            raise PaymentProviderError(
                request.transaction_id,
                f"payment intent {intent.get('id')} carries this transaction ID for "
                f"{intent.get('amount')} {intent.get('currency')}, not {request.amount} "
                f"{request.currency}; check it in the provider's dashboard",
            )
    succeeded = [i for i in mine if i.get("status") == "succeeded"]
    if len(succeeded) > 1:
        ids = ", ".join(str(i.get("id")) for i in succeeded)
        raise PaymentProviderError(
            request.transaction_id,
            f"{len(succeeded)} succeeded payment intents carry this transaction ID ({ids}): "
            "it was charged more than once; refund all but one, then redrive",
        )
    if succeeded:
        return _outcome_of_intent(request, succeeded[0])
    if not mine:
        return None
    newest = max(mine, key=lambda i: int(i.get("created") or 0))
    return _outcome_of_intent(request, newest)


class ParameterStoreSecret:
    """A SecureString from SSM Parameter Store: fetched on first call, cached `max_age_seconds`.

    Callable, so it plugs into `StripePaymentProvider(api_key=...)`. Its repr names the
    parameter, never the value.
    """

    def __init__(
        self, name: str, *, max_age_seconds: int = 300, ssm_client: SSMClient | None = None
    ) -> None:
        self.name = name
        self._max_age_seconds = max_age_seconds
        self._ssm_client = ssm_client
        self._provider: SSMProvider | None = None

    def __repr__(self) -> str:
        return f"ParameterStoreSecret(name={self.name!r})"

    def __call__(self) -> str:
        from aws_lambda_powertools.utilities.parameters import SSMProvider

        if self._provider is None:
            self._provider = SSMProvider(boto3_client=self._ssm_client)
        value = self._provider.get(self.name, decrypt=True, max_age=self._max_age_seconds)
        if not isinstance(value, str) or not value:
            raise ConfigurationError(f"SSM parameter {self.name} holds no payment provider key")
        return value
