"""PaymentIntents: parameters, the simulated charge, and the list and search results
Stripe pages through.

Validation (`parse_create_params`, `parse_list_params`, `parse_search_params`) runs
before anything executes: Stripe saves no idempotent result for a request that fails
it. `create_payment_intent` is the execution: from there on, errors (a decline, an
unknown payment method) are answers that the idempotency layer saves and replays.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local_cloud.payment_provider.cards import TEST_PAYMENT_METHODS, SimulatedCard
from local_cloud.payment_provider.currencies import (
    ISO_4217_CODES,
    MAXIMUM_AMOUNT,
    MINIMUM_CHARGE_AMOUNTS,
    format_amount,
)
from local_cloud.payment_provider.errors import (
    CARD_ERROR,
    ApiError,
    invalid_request,
    missing_param,
    resource_missing,
    unknown_param,
)
from local_cloud.payment_provider.form import FormValue
from local_cloud.payment_provider.search_query import SearchQuery, parse_search_query

# The parameters the simulator implements. Anything else is refused with a 400 rather
# than ignored: a silently ignored `capture_method=manual` would report a charge that
# real Stripe would not have made.
CREATE_PARAMS = frozenset(
    {
        "amount",
        "currency",
        "payment_method",
        "confirm",
        "automatic_payment_methods",
        "payment_method_types",
        "metadata",
        "description",
        "receipt_email",
        "return_url",
    }
)
LIST_PARAMS = frozenset({"limit", "starting_after", "ending_before"})
LIST_URL = "/v1/payment_intents"
SEARCH_PARAMS = frozenset({"query", "limit", "page"})
SEARCH_URL = "/v1/payment_intents/search"

METADATA_MAX_KEYS = 50
METADATA_MAX_KEY_LENGTH = 40
METADATA_MAX_VALUE_LENGTH = 500

_ID_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    """Stripe-looking IDs: `pi_3Q...`, `ch_3Q...`."""
    return f"{prefix}_3{''.join(secrets.choice(_ID_ALPHABET) for _ in range(length - 1))}"


@dataclass(frozen=True)
class CreatePaymentIntent:
    """A validated `POST /v1/payment_intents`."""

    amount: int
    currency: str
    payment_method: str | None = None
    confirm: bool = False
    automatic_payment_methods: dict[str, Any] | None = None
    payment_method_types: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    receipt_email: str | None = None
    return_url: str | None = None


@dataclass(frozen=True)
class ListPaymentIntents:
    limit: int = 10
    starting_after: str | None = None
    ending_before: str | None = None


@dataclass(frozen=True)
class SearchPaymentIntents:
    """A validated `GET /v1/payment_intents/search`; `after` is the decoded `page`."""

    query: SearchQuery
    limit: int = 10
    after: str | None = None  # the last intent ID of the previous page


def parse_create_params(params: dict[str, FormValue]) -> CreatePaymentIntent:
    """Validate like Stripe does before executing; raises ApiError (400) naming the param."""
    _refuse_unknown(params, CREATE_PARAMS)
    amount = _amount(params)
    currency = _currency(params)
    if amount < MINIMUM_CHARGE_AMOUNTS.get(currency, 1):
        raise invalid_request(
            f"Amount must be at least {format_amount(MINIMUM_CHARGE_AMOUNTS[currency], currency)}",
            param="amount",
            code="amount_too_small",
        )
    payment_method = _optional_string(params, "payment_method")
    confirm = _boolean(params, "confirm", default=False)
    automatic = _automatic_payment_methods(params)
    method_types = _payment_method_types(params)
    return_url = _optional_string(params, "return_url")
    if automatic is not None and method_types:
        raise invalid_request(
            "You may only specify one of these parameters: automatic_payment_methods, "
            "payment_method_types.",
            param="automatic_payment_methods",
        )
    if confirm and payment_method is None:
        raise invalid_request(
            "You cannot confirm this PaymentIntent because it's missing a payment method. "
            "Pass `payment_method`, e.g. pm_card_visa.",
            param="payment_method",
            code="parameter_missing",
        )
    # Since API version 2023-08-16 automatic payment methods are on by default, and some
    # of them redirect: confirming then needs a return_url unless redirects are off.
    redirects_allowed = not method_types and (automatic or {}).get("allow_redirects") != "never"
    if confirm and redirects_allowed and return_url is None:
        raise invalid_request(
            "This PaymentIntent is configured to accept payment methods enabled in your "
            "Dashboard. Because some of these payment methods might redirect your customer "
            "off of your page, you must provide a `return_url`. If you don't want to accept "
            "redirect-based payment methods, set `automatic_payment_methods[enabled]` to "
            "`true` and `automatic_payment_methods[allow_redirects]` to `never`.",
            param="return_url",
        )
    return CreatePaymentIntent(
        amount=amount,
        currency=currency,
        payment_method=payment_method,
        confirm=confirm,
        automatic_payment_methods=automatic,
        payment_method_types=method_types,
        metadata=_metadata(params),
        description=_optional_string(params, "description"),
        receipt_email=_optional_string(params, "receipt_email"),
        return_url=return_url,
    )


def parse_list_params(params: dict[str, FormValue]) -> ListPaymentIntents:
    _refuse_unknown(params, LIST_PARAMS)
    limit = _limit(params)
    starting_after = _optional_string(params, "starting_after")
    ending_before = _optional_string(params, "ending_before")
    if starting_after is not None and ending_before is not None:
        raise invalid_request(
            "You may only specify one of these parameters: ending_before, starting_after.",
            param="ending_before",
        )
    return ListPaymentIntents(limit, starting_after, ending_before)


def parse_search_params(params: dict[str, FormValue]) -> SearchPaymentIntents:
    """`query` is required; a query the simulator cannot answer exactly is a 400."""
    _refuse_unknown(params, SEARCH_PARAMS)
    query = parse_search_query(_string(params, "query"))
    limit = _limit(params)
    page = _optional_string(params, "page")
    after = _decode_page(page) if page is not None else None
    return SearchPaymentIntents(query, limit, after)


def _limit(params: dict[str, FormValue]) -> int:
    if "limit" not in params:
        return 10
    limit = _integer(params, "limit")
    if not 1 <= limit <= 100:
        raise invalid_request(
            f"Invalid limit: {limit}. `limit` must be between 1 and 100.",
            param="limit",
            code="parameter_invalid_integer",
        )
    return limit


@dataclass
class PaymentIntent:
    id: str
    amount: int
    currency: str
    status: str
    created: int
    client_secret: str
    payment_method: str | None = None
    latest_charge: str | None = None
    amount_received: int = 0
    last_payment_error: dict[str, Any] | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    receipt_email: str | None = None
    automatic_payment_methods: dict[str, Any] | None = None
    payment_method_types: tuple[str, ...] = ("card",)

    def to_json(self) -> dict[str, Any]:
        """The object as Stripe's API renders it (fields we do not simulate are null)."""
        return {
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": self.amount_received,
            "application": None,
            "application_fee_amount": None,
            "automatic_payment_methods": self.automatic_payment_methods,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic_async",
            "client_secret": self.client_secret,
            "confirmation_method": "automatic",
            "created": self.created,
            "currency": self.currency,
            "customer": None,
            "description": self.description,
            "last_payment_error": self.last_payment_error,
            "latest_charge": self.latest_charge,
            "livemode": False,
            "metadata": dict(self.metadata),
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": self.payment_method,
            "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
            "payment_method_types": list(self.payment_method_types),
            "processing": None,
            "receipt_email": self.receipt_email,
            "review": None,
            "setup_future_usage": None,
            "shipping": None,
            "source": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": self.status,
            "transfer_data": None,
            "transfer_group": None,
        }


@dataclass
class PaymentIntentLedger:
    """Every PaymentIntent created, oldest first; thread-safe."""

    _intents: list[PaymentIntent] = field(default_factory=list, repr=False)
    _by_id: dict[str, PaymentIntent] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, intent: PaymentIntent) -> None:
        with self._lock:
            self._intents.append(intent)
            self._by_id[intent.id] = intent

    def get(self, intent_id: str) -> PaymentIntent:
        with self._lock:
            intent = self._by_id.get(intent_id)
        if intent is None:
            raise resource_missing("payment_intent", intent_id, param="intent")
        return intent

    def newest_first(self) -> list[PaymentIntent]:
        with self._lock:
            return self._intents[::-1]

    def __len__(self) -> int:
        with self._lock:
            return len(self._intents)

    def clear(self) -> None:
        with self._lock:
            self._intents.clear()
            self._by_id.clear()


def create_payment_intent(
    request: CreatePaymentIntent,
    ledger: PaymentIntentLedger,
    now: Callable[[], float],
) -> PaymentIntent:
    """Create the intent and, with confirm=true, charge the test card.

    A decline still creates the intent (status requires_payment_method, as Stripe
    does) and then raises the 402 card_error carrying it.
    """
    card = None
    if request.payment_method is not None:
        card = TEST_PAYMENT_METHODS.get(request.payment_method)
        if card is None:
            raise resource_missing(
                "PaymentMethod", request.payment_method, param="payment_method", status=400
            )
    created = int(now())
    intent_id = new_id("pi")
    intent = PaymentIntent(
        id=intent_id,
        amount=request.amount,
        currency=request.currency,
        status="requires_confirmation" if card else "requires_payment_method",
        created=created,
        client_secret=f"{intent_id}_secret_{new_id('s', 25)[3:]}",
        metadata=dict(request.metadata),
        description=request.description,
        receipt_email=request.receipt_email,
        automatic_payment_methods=request.automatic_payment_methods,
        payment_method_types=request.payment_method_types or ("card",),
    )
    # A test token such as pm_card_visa becomes a fresh PaymentMethod, as on Stripe.
    payment_method = _payment_method_json(new_id("pm"), card, created) if card else None
    if payment_method is not None:
        intent.payment_method = payment_method["id"]
    if not request.confirm or card is None or payment_method is None:
        ledger.add(intent)
        return intent

    intent.latest_charge = new_id("ch")
    if card.decline is None:
        intent.status = "succeeded"
        intent.amount_received = request.amount
        ledger.add(intent)
        return intent

    decline = card.decline
    error = ApiError(
        402,
        CARD_ERROR,
        decline.message,
        code=decline.code,
        decline_code=decline.decline_code,
        param=decline.param,
        extra={"charge": intent.latest_charge, "payment_method": payment_method},
    )
    intent.status = "requires_payment_method"
    intent.payment_method = None  # Stripe detaches a payment method that failed
    intent.last_payment_error = error.body()["error"]
    ledger.add(intent)
    error.extra["payment_intent"] = intent.to_json()
    raise error


def list_payment_intents(
    ledger: PaymentIntentLedger, request: ListPaymentIntents
) -> dict[str, Any]:
    """A Stripe list object, newest first; cursors are object IDs."""
    intents = ledger.newest_first()
    if request.starting_after is not None:
        after = _position(intents, request.starting_after, "starting_after")
        candidates = intents[after + 1 :]
        page = candidates[: request.limit]
    elif request.ending_before is not None:
        before = _position(intents, request.ending_before, "ending_before")
        candidates = intents[:before]
        page = candidates[-request.limit :]
    else:
        candidates = intents
        page = candidates[: request.limit]
    return {
        "object": "list",
        "data": [intent.to_json() for intent in page],
        "has_more": len(candidates) > len(page),
        "url": LIST_URL,
    }


def search_payment_intents(
    ledger: PaymentIntentLedger, request: SearchPaymentIntents
) -> dict[str, Any]:
    """A Stripe search_result, newest first; `next_page` continues after its last intent.

    Stripe's search index lags writes (new objects are searchable "in under 1 minute",
    later during outages). The simulator answers from the ledger at once, so code that
    passes here may still miss a just-created intent on Stripe: read-after-write flows
    must retrieve by ID or list instead.
    """
    intents = ledger.newest_first()
    if request.after is not None:
        intents = intents[_page_start(intents, request.after) :]
    found: list[dict[str, Any]] = []
    for intent in intents:
        document = intent.to_json()
        if request.query.matches(document):
            found.append(document)
            if len(found) > request.limit:  # one more than a page: there is a next page
                break
    page = found[: request.limit]
    has_more = len(found) > len(page)
    return {
        "object": "search_result",
        "url": SEARCH_URL,
        "has_more": has_more,
        "next_page": _encode_page(page[-1]["id"]) if has_more else None,
        "data": page,
    }


def _encode_page(last_id: str) -> str:
    """Opaque to clients, as Stripe's cursors are; inside, the last intent ID served."""
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode()


def _decode_page(page: str) -> str:
    try:
        cursor = json.loads(base64.urlsafe_b64decode(page.encode()))
    except ValueError:  # binascii.Error and JSONDecodeError are both ValueErrors
        cursor = None
    after = cursor.get("after") if isinstance(cursor, dict) else None
    if not isinstance(after, str):
        raise invalid_request(
            f"Invalid page: {page!r} is not a cursor from this simulator. Pass the "
            "`next_page` of a previous search result, or omit `page` for the first page.",
            param="page",
        )
    return after


def _page_start(intents: list[PaymentIntent], after: str) -> int:
    for index, intent in enumerate(intents):
        if intent.id == after:
            return index + 1
    raise invalid_request(
        f"Invalid page: the cursor continues after payment_intent {after!r}, which no longer "
        "exists (was the simulator reset?). Search again without `page`.",
        param="page",
    )


def _position(intents: list[PaymentIntent], intent_id: str, param: str) -> int:
    for index, intent in enumerate(intents):
        if intent.id == intent_id:
            return index
    raise resource_missing("payment_intent", intent_id, param=param, status=400)


def _payment_method_json(pm_id: str, card: SimulatedCard, created: int) -> dict[str, Any]:
    return {
        "id": pm_id,
        "object": "payment_method",
        "type": "card",
        "card": {
            "brand": card.brand,
            "last4": card.last4,
            "funding": card.funding,
            "exp_month": 12,
            "exp_year": 2034,
            "country": "US",
        },
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "created": created,
        "customer": None,
        "livemode": False,
        "metadata": {},
    }


def _refuse_unknown(params: dict[str, FormValue], supported: frozenset[str]) -> None:
    for name in params:
        if name not in supported:
            raise unknown_param(name, supported)


def _string(params: dict[str, FormValue], name: str) -> str:
    value = params.get(name)
    if value is None:
        raise missing_param(name)
    if not isinstance(value, str):
        raise invalid_request(
            f"Invalid {name}: expected a string, got a {type(value).__name__}.", param=name
        )
    return value


def _optional_string(params: dict[str, FormValue], name: str) -> str | None:
    if name not in params:
        return None
    value = _string(params, name)
    return value or None


def _integer(params: dict[str, FormValue], name: str) -> int:
    raw = _string(params, name)
    if not (raw.isascii() and raw.lstrip("-").isdigit()):
        raise invalid_request(
            f"Invalid integer: {raw}", param=name, code="parameter_invalid_integer"
        )
    return int(raw)


def _boolean(params: dict[str, FormValue], name: str, *, default: bool) -> bool:
    if name not in params:
        return default
    raw = _string(params, name)
    if raw not in ("true", "false"):
        raise invalid_request(f"Invalid boolean: {raw}", param=name)
    return raw == "true"


def _amount(params: dict[str, FormValue]) -> int:
    amount = _integer(params, "amount")
    if amount < 1:
        raise invalid_request(
            "This value must be greater than or equal to 1.",
            param="amount",
            code="parameter_invalid_integer",
        )
    if amount > MAXIMUM_AMOUNT:
        raise invalid_request(
            f"Amount must be no more than {MAXIMUM_AMOUNT:,} in the currency's smallest unit.",
            param="amount",
            code="amount_too_large",
        )
    return amount


def _currency(params: dict[str, FormValue]) -> str:
    currency = _string(params, "currency")
    if currency not in ISO_4217_CODES:
        hint = " (currencies are lower case)" if currency.lower() in ISO_4217_CODES else ""
        raise invalid_request(
            f"Invalid currency: {currency}. Expected a lower-case ISO 4217 code such as usd{hint}.",
            param="currency",
        )
    return currency


def _automatic_payment_methods(params: dict[str, FormValue]) -> dict[str, Any] | None:
    value = params.get("automatic_payment_methods")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_request(
            "Invalid automatic_payment_methods: expected a hash with `enabled`.",
            param="automatic_payment_methods",
        )
    known = frozenset({"enabled", "allow_redirects"})
    for name in value:
        if name not in known:
            raise unknown_param(f"automatic_payment_methods[{name}]", known)
    sub: dict[str, FormValue] = dict(value)
    if "enabled" not in sub:
        raise missing_param("automatic_payment_methods[enabled]")
    enabled = _boolean(sub, "enabled", default=False)
    allow_redirects = _optional_string(sub, "allow_redirects") or "always"
    if allow_redirects not in ("always", "never"):
        raise invalid_request(
            f"Invalid automatic_payment_methods[allow_redirects]: must be one of always, "
            f"never (got {allow_redirects}).",
            param="automatic_payment_methods[allow_redirects]",
        )
    return {"allow_redirects": allow_redirects, "enabled": enabled}


def _payment_method_types(params: dict[str, FormValue]) -> tuple[str, ...]:
    value = params.get("payment_method_types")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid_request(
            "Invalid payment_method_types: expected an array of strings.",
            param="payment_method_types",
        )
    for item in value:
        if item != "card":
            raise invalid_request(
                f"The payment method type {item!r} is not simulated; only 'card' is.",
                param="payment_method_types",
            )
    return tuple(value)


def _metadata(params: dict[str, FormValue]) -> dict[str, str]:
    value = params.get("metadata")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_request(
            "Invalid metadata: expected a hash of keys to strings.", param="metadata"
        )
    metadata: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(item, str):
            raise invalid_request(
                f"Invalid metadata[{key}]: metadata values must be strings, not hashes.",
                param=f"metadata[{key}]",
            )
        if len(key) > METADATA_MAX_KEY_LENGTH:
            raise invalid_request(
                f"Metadata keys can have up to {METADATA_MAX_KEY_LENGTH} characters; "
                f"{key!r} has {len(key)}.",
                param=f"metadata[{key}]",
            )
        if len(item) > METADATA_MAX_VALUE_LENGTH:
            raise invalid_request(
                f"Metadata values can have up to {METADATA_MAX_VALUE_LENGTH} characters; "
                f"metadata[{key}] has {len(item)}.",
                param=f"metadata[{key}]",
            )
        if item:  # an empty value unsets a key on Stripe; on create it sets nothing
            metadata[key] = item
    if len(metadata) > METADATA_MAX_KEYS:
        raise invalid_request(
            f"You can have up to {METADATA_MAX_KEYS} metadata keys; got {len(metadata)}.",
            param="metadata",
        )
    return metadata
