"""The simulated payment provider as a WSGI app: a Stripe API subset with Stripe's
idempotency, plus test hooks under /_simulator/.

API (what the official `stripe` SDK calls; form-encoded bodies, JSON answers):
  POST /v1/payment_intents          create (and with confirm=true, charge a test card)
  GET  /v1/payment_intents/{id}     retrieve
  GET  /v1/payment_intents          list, newest first (limit, starting_after, ending_before)
  GET  /v1/payment_intents/search   search, newest first (query, limit, page); the query
                                    language subset is in search_query.py. Answers at once,
                                    where Stripe's index lags writes by up to a minute.

Its doors (local_cloud/http_guard.py), on every route: a request whose Host is not a
loopback name or whose Origin is another site's (a browser page) is refused with 403;
a body over 1 MiB with 413 (checked from Content-Length before reading; a chunked body is
read one byte past the limit at most); a body cut short or malformed with 400. Each in
Stripe's error shape; nothing runs, nothing is counted. Stripe documents no request size
limit; its parameters are small (metadata: 50 keys, values of 500 characters).

Test hooks (no API key; the server binds to loopback):
  POST   /_simulator/reset          forget intents, idempotency keys, faults and counters,
                                    and set the clock back to real time (see clock.py)
  GET    /_simulator/clock          {"now": <epoch seconds>, "offset_seconds": <total>}
  POST   /_simulator/clock          {"advance_seconds": N}, N >= 0: move simulator time
                                    forward (idempotency-key expiry, `created`); answers
                                    like GET
  GET    /_simulator/stats          counters, intents, keys, keys in progress, pending faults
  GET    /_simulator/faults         pending faults
  POST   /_simulator/faults         add a fault (JSON, see faults.py)
  DELETE /_simulator/faults         drop pending faults
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from local_cloud.http_guard import HOOK_BODY_LIMIT, check_request
from local_cloud.payment_provider.clock import (
    ClockAdvanceError,
    SimulatorClock,
    advance_seconds_from_body,
)
from local_cloud.payment_provider.errors import (
    API_ERROR,
    IDEMPOTENCY_ERROR,
    INVALID_REQUEST,
    ApiError,
    invalid_request,
)
from local_cloud.payment_provider.faults import (
    Fault,
    FaultKind,
    FaultPhase,
    FaultPlan,
    FaultSpecError,
)
from local_cloud.payment_provider.form import FormValue, decode_form
from local_cloud.payment_provider.idempotency import (
    DEFAULT_RETENTION_SECONDS,
    MAX_KEY_LENGTH,
    Decision,
    IdempotencyStore,
    RequestFingerprint,
    StoredResponse,
)
from local_cloud.payment_provider.payment_intents import (
    CreatePaymentIntent,
    PaymentIntentLedger,
    create_payment_intent,
    list_payment_intents,
    new_id,
    parse_create_params,
    parse_list_params,
    parse_search_params,
    search_payment_intents,
)

logger = logging.getLogger("local_cloud.payment_provider")

DEFAULT_STRIPE_VERSION = "2026-10-28.endive"  # what stripe 16.1.0 sends
MAX_BODY_BYTES = HOOK_BODY_LIMIT  # 1 MiB, API and hooks alike
_TEST_SECRET_KEY = re.compile(r"^sk_test_[A-Za-z0-9_]+$")

_API_ROUTES = Map(
    [
        Rule("/v1/payment_intents", methods=["POST"], endpoint="create_payment_intent"),
        Rule("/v1/payment_intents", methods=["GET"], endpoint="list_payment_intents"),
        # Static before the converter below, so `search` is never taken for an intent ID
        # (werkzeug also ranks static segments first; the order says it to the reader).
        Rule("/v1/payment_intents/search", methods=["GET"], endpoint="search_payment_intents"),
        Rule(
            "/v1/payment_intents/<intent_id>", methods=["GET"], endpoint="retrieve_payment_intent"
        ),
    ]
)
_IMPLEMENTED = (
    "POST /v1/payment_intents, GET /v1/payment_intents, GET /v1/payment_intents/search, "
    "GET /v1/payment_intents/{id}"
)


class ConnectionDropped(Exception):
    """A drop fault fired where there is no socket to close (werkzeug's test Client)."""


COUNTERS = (
    "requests",
    "replays",
    "idempotency_conflicts",
    "idempotency_mismatches",
    "intents_created",
    "charges_succeeded",
    "charges_declined",
    "invalid_requests",
    "authentication_failures",
    "faults_injected",
)


@dataclass
class Counters:
    _values: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str) -> None:
        with self._lock:
            self._values[name] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)

    def clear(self) -> None:
        with self._lock:
            self._values = dict.fromkeys(COUNTERS, 0)


@dataclass
class _Call:
    """One API request, as the pipeline sees it."""

    request: Request
    request_id: str
    endpoint: str
    args: Mapping[str, Any]
    api_key: str = ""
    fault: Fault | None = None


class PaymentProviderApp:
    """WSGI callable; all state is in memory and shared by the server's threads."""

    def __init__(
        self,
        *,
        real_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        idempotency_retention_seconds: float = DEFAULT_RETENTION_SECONDS,
    ) -> None:
        # One clock for everything that reads time, so advancing it ages keys and dates
        # new intents consistently.
        self.clock = SimulatorClock(real_clock)
        self.intents = PaymentIntentLedger()
        self.idempotency = IdempotencyStore(idempotency_retention_seconds, self.clock.now)
        self.faults = FaultPlan()
        self.counters = Counters()
        self._sleep = sleep

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        refusal = check_request(environ, MAX_BODY_BYTES)
        if refusal is not None:
            error = invalid_request(f"Request refused: {refusal.message}.", status=refusal.status)
            return _json(refusal.status, error.body())(environ, start_response)
        request = Request(environ)
        if request.path.startswith("/_simulator/"):
            response = self._simulator_hook(request)
        else:
            response = self._api(request)
        return response(environ, start_response)

    # -- test hooks ---------------------------------------------------------------------

    def reset(self) -> None:
        self.intents.clear()
        self.idempotency.clear()
        self.faults.clear()
        self.counters.clear()
        self.clock.reset()  # nothing remembers the old times, so time cannot seem to go back

    def stats(self) -> dict[str, Any]:
        return {
            **self.counters.snapshot(),
            "payment_intents": len(self.intents),
            "idempotency_keys": len(self.idempotency),
            "idempotency_keys_in_progress": self.idempotency.in_progress_count(),
            "pending_faults": self.faults.pending(),
        }

    def _simulator_hook(self, request: Request) -> Response:
        route = (request.method, request.path.rstrip("/"))
        if route == ("POST", "/_simulator/reset"):
            self.reset()
            return _json(200, {"reset": True})
        if route == ("GET", "/_simulator/stats"):
            return _json(200, self.stats())
        if route == ("GET", "/_simulator/faults"):
            return _json(200, {"pending": self.faults.pending()})
        if route == ("DELETE", "/_simulator/faults"):
            self.faults.clear()
            return _json(200, {"pending": []})
        if route == ("POST", "/_simulator/faults"):
            try:
                fault = Fault.from_json(json.loads(request.get_data(as_text=True) or "null"))
            except (ValueError, FaultSpecError) as error:
                return _json(400, invalid_request(f"Invalid fault: {error}").body())
            self.faults.add(fault)
            return _json(201, {"fault": fault.to_json(), "pending": self.faults.pending()})
        if route == ("GET", "/_simulator/clock"):
            return _json(200, self.clock.to_json())
        if route == ("POST", "/_simulator/clock"):
            return self._advance_clock(request)
        return _json(
            404,
            invalid_request(
                f"Unrecognized simulator hook ({request.method}: {request.path}). Hooks: "
                "POST /_simulator/reset, GET /_simulator/stats, GET|POST|DELETE "
                "/_simulator/faults, GET|POST /_simulator/clock."
            ).body(),
        )

    def _advance_clock(self, request: Request) -> Response:
        try:
            self.clock.advance(advance_seconds_from_body(request.get_data(as_text=True)))
        except ClockAdvanceError as error:
            return _json(
                400,
                invalid_request(f"Invalid clock advance: {error}", param="advance_seconds").body(),
            )
        logger.info("simulator clock now %s", self.clock.to_json())
        return _json(200, self.clock.to_json())

    # -- the API pipeline ---------------------------------------------------------------

    def _api(self, request: Request) -> Response:
        self.counters.add("requests")
        request_id = f"req_{new_id('x', 15)[3:]}"
        fault = self.faults.take(request.method, request.path)
        if (
            fault is not None
            and fault.phase is FaultPhase.BEFORE_EXECUTION
            and fault.kind is not FaultKind.DELAY
        ):
            return self._inject(fault, request)
        try:
            endpoint, args = _API_ROUTES.bind_to_environ(request.environ).match()
        except HTTPException:
            return self._answer(request, request_id, _unrecognized(request))
        call = _Call(request, request_id, endpoint, args, fault=fault)
        try:
            call.api_key = _authenticate(request)
        except ApiError as error:
            self.counters.add("authentication_failures")
            return self._answer(request, request_id, error)

        if request.method == "POST":
            response = self._idempotent(call)
        else:  # GET: Stripe ignores idempotency keys on reads
            self._delay(call, FaultPhase.BEFORE_EXECUTION)
            response = self._answer(request, request_id, *self._run(call))

        if fault is not None and fault.phase is FaultPhase.AFTER_EXECUTION:
            if fault.kind is FaultKind.DELAY:
                self._delay(call, FaultPhase.AFTER_EXECUTION)
            else:
                return self._inject(fault, request)
        return response

    def _idempotent(self, call: _Call) -> Response:
        request = call.request
        key = request.headers.get("Idempotency-Key")
        if key is None:  # Stripe executes a POST without a key every time
            return self._answer(request, call.request_id, *self._run(call))
        if not key or len(key) > MAX_KEY_LENGTH:
            self.counters.add("invalid_requests")
            return self._answer(
                request,
                call.request_id,
                invalid_request(
                    f"Invalid Idempotency-Key: keys must be 1 to {MAX_KEY_LENGTH} characters "
                    f"long; this one has {len(key)}.",
                    param="Idempotency-Key",
                ),
            )
        fingerprint = RequestFingerprint.of(
            request.method, request.path, list(request.form.items(multi=True))
        )
        claim = self.idempotency.claim(call.api_key, key, fingerprint)
        if claim.decision is Decision.REPLAY:
            assert claim.stored is not None
            self.counters.add("replays")
            return self._replay(request, call.request_id, claim.stored)
        if claim.decision is Decision.IN_PROGRESS:
            self.counters.add("idempotency_conflicts")
            return self._answer(request, call.request_id, _in_progress(key))
        if claim.decision is not Decision.EXECUTE:
            self.counters.add("idempotency_mismatches")
            return self._answer(
                request, call.request_id, _mismatch(key, claim.original_endpoint, fingerprint)
            )

        try:
            validated = self._validate(call)
        except ApiError as error:  # never started executing: nothing saved, key free again
            self.idempotency.release(call.api_key, key)
            return self._answer(request, call.request_id, error)
        except BaseException:
            self.idempotency.release(call.api_key, key)
            raise
        self._delay(call, FaultPhase.BEFORE_EXECUTION)
        status, body = self._execute(call, validated)
        encoded = _encode(body)
        self.idempotency.complete(
            call.api_key, key, StoredResponse(status, encoded, call.request_id)
        )
        return self._respond(request, call.request_id, status, encoded)

    def _run(self, call: _Call) -> tuple[int, dict[str, Any]]:
        try:
            validated = self._validate(call)
        except ApiError as error:
            return error.status, error.body()
        return self._execute(call, validated)

    def _validate(self, call: _Call) -> Any:
        """Everything Stripe checks before executing; raises ApiError (counted)."""
        try:
            if call.endpoint == "create_payment_intent":
                return parse_create_params(_form(call.request))
            if call.endpoint == "list_payment_intents":
                return parse_list_params(decode_form(call.request.args.items(multi=True)))
            if call.endpoint == "search_payment_intents":
                return parse_search_params(decode_form(call.request.args.items(multi=True)))
            return call.args["intent_id"]
        except ApiError:
            self.counters.add("invalid_requests")
            raise

    def _execute(self, call: _Call, validated: Any) -> tuple[int, dict[str, Any]]:
        """Run the endpoint; errors from here on are answers (saved under a key)."""
        try:
            if call.endpoint == "create_payment_intent":
                return 200, self._create(validated)
            if call.endpoint == "list_payment_intents":
                return 200, list_payment_intents(self.intents, validated)
            if call.endpoint == "search_payment_intents":
                return 200, search_payment_intents(self.intents, validated)
            return 200, self.intents.get(validated).to_json()
        except ApiError as error:
            return error.status, error.body()
        except Exception:
            # Stripe saves and replays its 500s too; log ours so a bug is not hidden.
            logger.exception("payment provider simulator failed on %s", call.endpoint)
            return 500, ApiError(500, API_ERROR, "An unknown error occurred.").body()

    def _create(self, request: CreatePaymentIntent) -> dict[str, Any]:
        try:
            intent = create_payment_intent(request, self.intents, self.clock.now)
        except ApiError as error:
            if error.status == 402:
                self.counters.add("intents_created")
                self.counters.add("charges_declined")
            raise
        self.counters.add("intents_created")
        if intent.status == "succeeded":
            self.counters.add("charges_succeeded")
            logger.info(
                "charged %s %s as %s (metadata %s)",
                intent.amount,
                intent.currency,
                intent.id,
                intent.metadata,
            )
        return intent.to_json()

    # -- faults ---------------------------------------------------------------------------

    def _delay(self, call: _Call, phase: FaultPhase) -> None:
        fault = call.fault
        if fault is not None and fault.kind is FaultKind.DELAY and fault.phase is phase:
            assert fault.delay_ms is not None
            self._record_injection(fault, call.request)
            self._sleep(fault.delay_ms / 1000)

    def _record_injection(self, fault: Fault, request: Request) -> None:
        # Counted when it acts: a fault taken by a request answered early (401, 404)
        # with an after_execution phase does nothing.
        self.counters.add("faults_injected")
        logger.info("injecting %s into %s %s", fault.to_json(), request.method, request.path)

    def _inject(self, fault: Fault, request: Request) -> Response:
        self._record_injection(fault, request)
        if fault.kind is FaultKind.DROP:
            _drop_connection(request)
            return Response(status=500)  # never reaches the client: the socket is closed
        assert fault.status is not None
        return _json(
            fault.status,
            ApiError(
                fault.status,
                API_ERROR,
                f"Injected fault: HTTP {fault.status} ({fault.phase.value.replace('_', ' ')}) "
                "from the payment provider simulator.",
            ).body(),
        )

    # -- responses ----------------------------------------------------------------------

    def _answer(
        self,
        request: Request,
        request_id: str,
        status_or_error: int | ApiError,
        body: dict[str, Any] | None = None,
    ) -> Response:
        if isinstance(status_or_error, ApiError):
            status, body = status_or_error.status, status_or_error.body()
        else:
            status = status_or_error
        return self._respond(request, request_id, status, _encode(body or {}))

    def _respond(self, request: Request, request_id: str, status: int, body: bytes) -> Response:
        response = Response(body, status=status, content_type="application/json")
        response.headers["Request-Id"] = request_id
        response.headers["Stripe-Version"] = request.headers.get(
            "Stripe-Version", DEFAULT_STRIPE_VERSION
        )
        if request.method == "POST" and "Idempotency-Key" in request.headers:
            response.headers["Idempotency-Key"] = request.headers["Idempotency-Key"]
        return response

    def _replay(self, request: Request, request_id: str, stored: StoredResponse) -> Response:
        response = self._respond(request, request_id, stored.status, stored.body)
        response.headers["Idempotent-Replayed"] = "true"
        response.headers["Original-Request"] = stored.request_id
        return response


def _authenticate(request: Request) -> str:
    """Bearer (what the SDK sends) or Basic with the key as user name (curl -u sk_test_...:)."""
    authorization = request.authorization
    if authorization is None:
        raise ApiError(
            401,
            INVALID_REQUEST,
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY').",
        )
    key = (authorization.token if authorization.type == "bearer" else authorization.username) or ""
    if not _TEST_SECRET_KEY.match(key):
        raise ApiError(
            401,
            INVALID_REQUEST,
            f"Invalid API Key provided: {_redact(key)}. The payment provider simulator "
            "accepts test-mode secret keys (sk_test_...) only.",
        )
    return key


def _redact(key: str) -> str:
    if len(key) <= 12:
        return "*" * len(key)
    return f"{key[:8]}{'*' * (len(key) - 12)}{key[-4:]}"


def _form(request: Request) -> dict[str, FormValue]:
    if request.mimetype not in ("", "application/x-www-form-urlencoded"):
        raise invalid_request(
            f"Invalid request: the body is {request.mimetype}; Stripe's v1 API takes "
            "application/x-www-form-urlencoded bodies (metadata[key]=value)."
        )
    return decode_form(request.form.items(multi=True))


def _in_progress(key: str) -> ApiError:
    # Stripe's own wording and shape for this 409 (type invalid_request_error; the SDK
    # raises stripe.APIError for it and, with max_network_retries, retries it).
    return ApiError(
        409,
        INVALID_REQUEST,
        "There is currently another in-progress request using this Idempotent Key (that "
        "probably means you submitted twice, and the other request is still going "
        f"through): {key}. Please try again later.",
        code="idempotency_key_in_use",
    )


def _mismatch(key: str, original_endpoint: str | None, fingerprint: RequestFingerprint) -> ApiError:
    if original_endpoint is not None:
        message = (
            "Keys for idempotent requests can only be used for the same endpoint they were "
            f"first used for ('{original_endpoint}' vs '{fingerprint.endpoint}'). Try using "
            f"a key other than '{key}' if you meant to execute a different request."
        )
    else:
        message = (
            "Keys for idempotent requests can only be used with the same parameters they "
            f"were first used with. Try using a key other than '{key}' if you meant to "
            "execute a different request."
        )
    return ApiError(400, IDEMPOTENCY_ERROR, message)


def _unrecognized(request: Request) -> ApiError:
    return invalid_request(
        f"Unrecognized request URL ({request.method}: {request.path}). The payment provider "
        f"simulator implements: {_IMPLEMENTED}.",
        status=404,
    )


def _drop_connection(request: Request) -> None:
    sock = request.environ.get("werkzeug.socket")
    if sock is None:
        raise ConnectionDropped(f"drop fault on {request.method} {request.path}")
    # Closing both directions: the client reads EOF without a status line, as when a
    # proxy or the network loses the answer. Werkzeug then ignores the failed write.
    sock.shutdown(socket.SHUT_RDWR)


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, indent=2).encode()


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(_encode(body), status=status, content_type="application/json")
