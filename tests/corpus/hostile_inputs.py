"""Hostile inputs for the three ways in, shared by the unit and the end-to-end tests.

Each case is the raw bytes a client or producer sends to one target (the body of
`POST /accounts`, a charge message body on BillingQueue, a job body on
WelcomeEmailQueue), for `POST /accounts` with any request headers it needs (an invalid
`Idempotency-Key`), and what must come back: an error that names the offending field
(or header), or "body" when the body as a whole is wrong, and contains a phrase saying
what is wrong.
Some cases also list text the error, the answer and the logs must never repeat (a card
number, a bidi override, a forged header).

What every case must do, wherever it is sent (checked by tests/unit/corpus and, for the
cases marked `end_to_end`, by tests/integration/app/test_hostile_corpus.py):

- signup: a 4xx with a message (400 naming the field; 413 above the size limits), and
  nothing stored, enqueued, sent or charged;
- queue messages: only its own record fails (reported in batchItemFailures, so SQS
  redelivers it and then dead-letters it: never lost), the records around it succeed,
  the provider is never called for it and no email is sent for it.

Size limits, as checked on 2026-11-29:
- SQS: AWS documents a message body of at most 1 MiB (1,048,576 bytes) since August 2025
  (it was 256 KiB before, the limit older guides still quote), counted in bytes of UTF-8,
  message attributes included. moto 5.2.5, in .venv, creates queues with
  MaximumMessageSize 1,048,576 and refuses a longer body with InvalidParameterValue, but
  counts characters, not bytes: a body of multi-byte characters that AWS refuses can pass
  moto. These cases are ASCII, where the two agree.
- HTTP API: a 10 MB payload quota, answered 413 above it before any integration runs
  (`SIGNUP_OVER_HTTP_LIMIT`); Lambda takes at most 6 MB of event, so a body between the
  two is refused too (`SIGNUP_OVER_LAMBDA_LIMIT`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from enum import StrEnum
from typing import Any


class Target(StrEnum):
    SIGNUP = "POST /accounts"
    CHARGE = "BillingQueue charge"
    WELCOME_EMAIL = "WelcomeEmailQueue job"


SQS_MAX_BODY_BYTES = 1_048_576  # 1 MiB, SQS's largest message body since 2025
HTTP_API_MAX_BODY_BYTES = 10 * 1024 * 1024  # local_cloud.http_api.server.MAX_BODY_BYTES
LAMBDA_MAX_EVENT_BYTES = 6 * 1024 * 1024  # a synchronous invocation's payload
NESTING_DEPTH = 100_000

SIGNUP: dict[str, Any] = {
    "email": "corpus@example.com",
    "name": "Ada Lovelace",
    "payment_method": "pm_card_visa",
}
CHARGE: dict[str, Any] = {
    "transaction_id": "txn_corpus_hostile",
    "account_id": "acc_corpus",
    "amount": 1999,
    "currency": "usd",
    "payment_method": "pm_card_visa",
}
WELCOME_EMAIL: dict[str, Any] = {
    "account_id": "acc_corpus",
    "email": "corpus@example.com",
    "name": "Ada Lovelace",
}
_BASE = {Target.SIGNUP: SIGNUP, Target.CHARGE: CHARGE, Target.WELCOME_EMAIL: WELCOME_EMAIL}


@dataclass(frozen=True)
class HostileInput:
    id: str
    target: Target
    category: str
    make: Callable[[], bytes]  # called when needed: some bodies are megabytes
    names: str  # the field the error names, or "body"
    says: str  # a phrase the error contains
    _: KW_ONLY
    never_repeated: tuple[str, ...] = ()
    # POST /accounts over HTTP: 400 with {"message", "field"}, or a gateway's 413.
    http_status: int = 400
    http_message: str | None = None  # the gateway's {"message"} when http_status is not 400
    sqs_accepts: bool = True  # False: SQS refuses to send it (over 1 MiB)
    end_to_end: bool = False
    # POST /accounts only: request headers sent with the body, such as an invalid
    # Idempotency-Key with a valid body (the error then names the header).
    headers: tuple[tuple[str, str], ...] = ()

    def raw(self) -> bytes:
        return self.make()

    def text(self) -> str:
        """The body as a str, as a queue record or a handler holds it.

        Bytes that are not UTF-8 become lone surrogates (surrogateescape): what a Python
        producer that decoded them carelessly would pass on. SQS itself takes only
        Unicode text, so such a body never reaches a queue (boto3 cannot even encode it).
        """
        return self.raw().decode("utf-8", "surrogateescape")


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _with(target: Target, **changes: Any) -> Callable[[], bytes]:
    return lambda: _json({**_BASE[target], **changes})


def _without(target: Target, field: str) -> Callable[[], bytes]:
    return lambda: _json({k: v for k, v in _BASE[target].items() if k != field})


def _json_body(value: dict[str, Any]) -> Callable[[], bytes]:
    return lambda: _json(value)


def _literal(raw: bytes) -> Callable[[], bytes]:
    return lambda: raw


def _raw_field(target: Target, field: str, raw_value: bytes) -> Callable[[], bytes]:
    """The base body with `field`'s JSON value replaced by raw bytes (not re-encoded)."""

    def make() -> bytes:
        marker = "\x00MARKER\x00"
        text = json.dumps({**_BASE[target], field: marker}).encode()
        return text.replace(json.dumps(marker).encode(), raw_value)

    return make


def _sized(target: Target, field: str, size: int) -> Callable[[], bytes]:
    """The base body with `field` a run of "x" long enough for exactly `size` bytes."""

    def make() -> bytes:
        empty = len(_json({**_BASE[target], field: ""}))
        body = _json({**_BASE[target], field: "x" * (size - empty)})
        assert len(body) == size
        return body

    return make


def _unknown_fields(target: Target, count: int) -> Callable[[], bytes]:
    """The base body plus `count` tiny unknown fields f0, f1, ... (one problem each)."""

    def make() -> bytes:
        extra = ",".join(f'"f{n}":0' for n in range(count))
        return _json(_BASE[target])[:-1] + b"," + extra.encode() + b"}"

    return make


def _nested_arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _nested_objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


S, C, W = Target.SIGNUP, Target.CHARGE, Target.WELCOME_EMAIL

CASES: tuple[HostileInput, ...] = (
    # ------------------------------------------------------------------ not UTF-8
    HostileInput(
        "signup-invalid-utf8",
        S,
        "invalid UTF-8",
        _raw_field(S, "name", b'"Ada \xff\xfe Lovelace"'),
        "body",
        "not UTF-8",
        end_to_end=True,
    ),
    HostileInput(
        "signup-overlong-utf8-slash",
        S,
        "invalid UTF-8",
        _raw_field(S, "name", b'"Ada \xc0\xaf"'),  # an overlong "/": a classic filter bypass
        "body",
        "not UTF-8",
    ),
    HostileInput(
        "signup-cesu8-surrogate",
        S,
        "invalid UTF-8",
        _raw_field(S, "name", b'"Ada \xed\xa0\x80"'),  # U+D800 encoded: not UTF-8
        "body",
        "not UTF-8",
    ),
    HostileInput(
        "charge-invalid-utf8",
        C,
        "invalid UTF-8",
        _raw_field(C, "transaction_id", b'"txn_\xff"'),
        "body",
        "unicode string",
    ),
    HostileInput(
        "welcome-email-invalid-utf8",
        W,
        "invalid UTF-8",
        _raw_field(W, "name", b'"Ada \xe2\x80"'),  # a truncated sequence
        "body",
        "unicode string",
    ),
    HostileInput(
        "charge-escaped-lone-surrogate",
        C,
        "invalid UTF-8",
        _raw_field(C, "account_id", b'"acc_\\ud800"'),
        "body",
        "Invalid JSON",
        end_to_end=True,
    ),
    # ------------------------------------------------------------------ not one JSON object
    HostileInput(
        "signup-null", S, "JSON shape", _literal(b"null"), "body", "object", end_to_end=True
    ),
    HostileInput(
        "signup-array", S, "JSON shape", _literal(b"[]"), "body", "object", end_to_end=True
    ),
    HostileInput("signup-empty", S, "JSON shape", _literal(b""), "body", "empty"),
    HostileInput(
        "signup-string", S, "JSON shape", _literal(b'"ada@example.com"'), "body", "object"
    ),
    HostileInput(
        "signup-trailing-garbage",
        S,
        "JSON shape",
        lambda: _json(SIGNUP) + b' {"email": "eve@example.com"}',
        "body",
        "trailing characters",
    ),
    HostileInput(
        "signup-byte-order-mark",
        S,
        "JSON shape",
        lambda: b"\xef\xbb\xbf" + _json(SIGNUP),
        "body",
        "Invalid JSON",
    ),
    HostileInput(
        "charge-null", C, "JSON shape", _literal(b"null"), "body", "object", end_to_end=True
    ),
    HostileInput(
        "charge-array-of-charges",
        C,
        "JSON shape",
        lambda: _json([CHARGE, {**CHARGE, "transaction_id": "txn_corpus_second"}]),
        "body",
        "object",
        end_to_end=True,
    ),
    HostileInput("charge-number", C, "JSON shape", _literal(b"1999"), "body", "object"),
    HostileInput(
        "charge-not-json", C, "JSON shape", _literal(b'{"amount": 1999'), "body", "Invalid JSON"
    ),
    HostileInput(
        "welcome-email-null", W, "JSON shape", _literal(b"null"), "body", "object", end_to_end=True
    ),
    HostileInput(
        "welcome-email-array", W, "JSON shape", lambda: _json([WELCOME_EMAIL]), "body", "object"
    ),
    HostileInput("welcome-email-boolean", W, "JSON shape", _literal(b"true"), "body", "object"),
    # ------------------------------------------------------------------ a field given twice
    HostileInput(
        "signup-payment-method-twice",
        S,
        "duplicate field",
        lambda: _json(SIGNUP)[:-1] + b', "payment_method": "pm_card_amex"}',
        "payment_method",
        "more than once",
        end_to_end=True,
    ),
    HostileInput(
        "charge-amount-twice",
        C,
        "duplicate field",
        lambda: _json(CHARGE)[:-1] + b', "amount": 100000}',
        "amount",
        "more than once",
        end_to_end=True,
    ),
    HostileInput(
        "welcome-email-address-twice",
        W,
        "duplicate field",
        lambda: _json(WELCOME_EMAIL)[:-1] + b', "email": "eve@example.com"}',
        "email",
        "more than once",
        end_to_end=True,
    ),
    # ------------------------------------------------------------------ missing fields
    HostileInput(
        "signup-missing-email", S, "missing field", _without(S, "email"), "email", "Field required"
    ),
    HostileInput(
        "signup-missing-payment-method",
        S,
        "missing field",
        _without(S, "payment_method"),
        "payment_method",
        "Field required",
    ),
    HostileInput(
        "charge-missing-amount",
        C,
        "missing field",
        _without(C, "amount"),
        "amount",
        "Field required",
    ),
    HostileInput(
        "charge-missing-transaction-id",
        C,
        "missing field",
        _without(C, "transaction_id"),
        "transaction_id",
        "Field required",
    ),
    HostileInput(
        "welcome-email-missing-name",
        W,
        "missing field",
        _without(W, "name"),
        "name",
        "Field required",
    ),
    # ------------------------------------------------------------------ unknown fields
    HostileInput(
        "signup-extra-is-admin",
        S,
        "extra field",
        _with(S, is_admin=True),
        "is_admin",
        "Extra inputs are not permitted",
    ),
    HostileInput(
        "signup-extra-field-named-by-a-card-number",
        S,
        "extra field",
        _with(S, **{"4242 4242 4242 4242": "x"}),
        "body",
        "not part of the contract",
        never_repeated=("4242 4242",),
        end_to_end=True,
    ),
    HostileInput(
        "signup-extra-field-named-with-a-bidi-override",
        S,
        "extra field",
        _with(S, **{"\u202eliame": "eve@example.com"}),
        "body",
        "not part of the contract",
        never_repeated=("\u202e", "liame"),
    ),
    HostileInput(
        "charge-extra-amount-override",
        C,
        "extra field",
        _with(C, amount_override=1),
        "amount_override",
        "Extra inputs are not permitted",
    ),
    HostileInput(
        "welcome-email-extra-field-forging-a-header",
        W,
        "extra field",
        _with(W, **{"x\r\nBcc: eve@example.com": 1}),
        "body",
        "not part of the contract",
        never_repeated=("Bcc", "eve@example.com"),
    ),
    HostileInput(
        "signup-200k-unknown-fields",
        S,
        "extra field",
        _unknown_fields(S, 200_000),  # 2.2 MB of body, once an 8 MB error (a 500)
        "f0",
        "and 199990 more problems",
        end_to_end=True,
    ),
    HostileInput(
        "charge-80k-unknown-fields-under-1-mib",
        C,
        "extra field",
        _unknown_fields(C, 80_000),
        "f0",
        "and 79990 more problems",
    ),
    # ------------------------------------------------------------------ wrong types
    HostileInput(
        "charge-amount-float", C, "wrong type", _with(C, amount=19.99), "amount", "valid integer"
    ),
    HostileInput(
        "charge-amount-integral-float",
        C,
        "wrong type",
        _with(C, amount=1999.0),
        "amount",
        "valid integer",
    ),
    HostileInput(
        "charge-amount-exponent",
        C,
        "wrong type",
        _raw_field(C, "amount", b"1e3"),
        "amount",
        "valid integer",
    ),
    HostileInput(
        "charge-amount-string",
        C,
        "wrong type",
        _with(C, amount="1999"),
        "amount",
        "valid integer",
        end_to_end=True,
    ),
    HostileInput(
        "charge-amount-boolean", C, "wrong type", _with(C, amount=True), "amount", "valid integer"
    ),
    HostileInput(
        "charge-amount-null", C, "wrong type", _with(C, amount=None), "amount", "valid integer"
    ),
    HostileInput(
        "charge-transaction-id-operator",
        C,
        "wrong type",
        _with(C, transaction_id={"$ne": None}),
        "transaction_id",
        "valid string",
        end_to_end=True,
    ),
    HostileInput(
        "signup-email-operator",
        S,
        "wrong type",
        _with(S, email={"$ne": None}),
        "email",
        "valid string",
        end_to_end=True,
    ),
    HostileInput(
        "signup-name-boolean", S, "wrong type", _with(S, name=True), "name", "valid string"
    ),
    HostileInput(
        "signup-welcome-email-delivery-exactly-once",
        S,
        "wrong type",
        _with(S, welcome_email_delivery="exactly-once"),
        "welcome_email_delivery",
        "'at-least-once' or 'at-most-once'",
    ),
    HostileInput(
        "welcome-email-account-id-number",
        W,
        "wrong type",
        _with(W, account_id=12345),
        "account_id",
        "valid string",
    ),
    # ------------------------------------------------------------------ amounts
    HostileInput(
        "charge-amount-negative",
        C,
        "amount",
        _with(C, amount=-1999),
        "amount",
        "greater than 0",
        end_to_end=True,
    ),
    HostileInput(
        "charge-amount-zero",
        C,
        "amount",
        _with(C, amount=0),
        "amount",
        "greater than 0",
        end_to_end=True,
    ),
    HostileInput(
        "charge-amount-2-to-the-63",
        C,
        "amount",
        _with(C, amount=2**63),
        "amount",
        "above the maximum",
        end_to_end=True,
    ),
    HostileInput(
        "charge-amount-minus-2-to-the-63",
        C,
        "amount",
        _with(C, amount=-(2**63)),
        "amount",
        "greater than 0",
    ),
    HostileInput(
        "charge-amount-2-to-the-64",
        C,
        "amount",
        _with(C, amount=2**64),
        "amount",
        "above the maximum",
    ),
    HostileInput(
        "charge-amount-over-max-charge",
        C,
        "amount",
        _with(C, amount=100_000_000),
        "amount",
        "above the maximum",
    ),
    HostileInput(
        "charge-amount-5000-digits",
        C,
        "amount",
        _raw_field(C, "amount", b"9" * 5000),
        "body",
        "number out of range",
    ),
    # ------------------------------------------------------------------ currencies
    HostileInput(
        "charge-currency-unknown",
        C,
        "currency",
        _with(C, currency="xyz"),
        "currency",
        "unknown currency 'xyz'",
    ),
    HostileInput(
        "charge-currency-upper-case",
        C,
        "currency",
        _with(C, currency="USD"),
        "currency",
        "lower case",
        end_to_end=True,
    ),
    HostileInput(
        "charge-currency-mixed-case",
        C,
        "currency",
        _with(C, currency="Usd"),
        "currency",
        "lower case",
    ),
    HostileInput(
        "charge-currency-empty",
        C,
        "currency",
        _with(C, currency=""),
        "currency",
        "unknown currency",
    ),
    HostileInput(
        "charge-currency-trailing-line-feed",
        C,
        "currency",
        _with(C, currency="usd\n"),
        "currency",
        "unknown currency",
    ),
    HostileInput(
        "charge-currency-card-number",
        C,
        "currency",
        _with(C, currency="4242424242424242"),
        "currency",
        "unknown currency",
        never_repeated=("42424242",),
    ),
    # ------------------------------------------------------------------ transaction IDs
    HostileInput(
        "charge-transaction-id-300-characters",
        C,
        "transaction ID",
        _with(C, transaction_id="txn_" + "x" * 296),
        "transaction_id",
        "at most 255 characters",
        end_to_end=True,
    ),
    HostileInput(
        "charge-transaction-id-carriage-return",
        C,
        "transaction ID",
        _with(C, transaction_id="txn_1\r"),
        "transaction_id",
        "should match pattern",
    ),
    HostileInput(
        "charge-transaction-id-line-feed",
        C,
        "transaction ID",
        _with(C, transaction_id="txn_1\ntxn_2"),
        "transaction_id",
        "should match pattern",
        end_to_end=True,
    ),
    HostileInput(
        "charge-transaction-id-trailing-line-feed",
        C,
        "transaction ID",
        _with(C, transaction_id="txn_1\n"),
        "transaction_id",
        "should match pattern",
    ),
    HostileInput(
        "charge-transaction-id-nul",
        C,
        "transaction ID",
        _with(C, transaction_id="txn_1\x00"),
        "transaction_id",
        "should match pattern",
        end_to_end=True,
    ),
    HostileInput(
        "charge-transaction-id-forging-a-header",
        C,
        "transaction ID",
        _with(C, transaction_id="txn_1\r\nIdempotency-Key: txn_other"),
        "transaction_id",
        "should match pattern",
    ),
    HostileInput(
        "charge-transaction-id-empty",
        C,
        "transaction ID",
        _with(C, transaction_id=""),
        "transaction_id",
        "at least 1 character",
    ),
    # ------------------------------------------------------------------ account IDs
    HostileInput(
        "charge-account-id-line-break",
        C,
        "account ID",
        _with(C, account_id="acc_1\r\nstatus: refunded"),
        "account_id",
        "should match pattern",
        end_to_end=True,
    ),
    HostileInput(
        "charge-account-id-free-text",
        C,
        "account ID",
        _with(C, account_id="Ada's account"),
        "account_id",
        "should match pattern",
    ),
    # ------------------------------------------------------------------ SQS's 1 MiB
    HostileInput(
        "charge-at-the-sqs-limit",
        C,
        "size",
        _sized(C, "transaction_id", SQS_MAX_BODY_BYTES),  # the largest body SQS accepts
        "transaction_id",
        "at most 255 characters",
        end_to_end=True,
    ),
    HostileInput(
        "charge-one-byte-over-the-sqs-limit",
        C,
        "size",
        _sized(C, "transaction_id", SQS_MAX_BODY_BYTES + 1),
        "transaction_id",
        "at most 255 characters",
        sqs_accepts=False,
        end_to_end=True,
    ),
    HostileInput(
        "welcome-email-just-under-the-sqs-limit",
        W,
        "size",
        _sized(W, "name", SQS_MAX_BODY_BYTES - 1),
        "name",
        "at most 100 characters",
        end_to_end=True,
    ),
    HostileInput(
        "welcome-email-one-byte-over-the-sqs-limit",
        W,
        "size",
        _sized(W, "name", SQS_MAX_BODY_BYTES + 1),
        "name",
        "at most 100 characters",
        sqs_accepts=False,
    ),
    # ------------------------------------------------------------------ HTTP's 10 MB
    HostileInput(
        "signup-over-the-http-api-limit",
        S,
        "size",
        _sized(S, "name", HTTP_API_MAX_BODY_BYTES + 1),
        "name",
        "at most 100 characters",
        http_status=413,
        http_message="Request Entity Too Large",
        end_to_end=True,
    ),
    HostileInput(
        "signup-over-the-lambda-event-limit",
        S,
        "size",
        _sized(S, "name", 7_000_000),  # under 10 MB, but the event is over Lambda's 6 MB
        "name",
        "at most 100 characters",
        http_status=413,
        http_message="Request Too Long",
        end_to_end=True,
    ),
    # ------------------------------------------------------------------ nesting 100,000 deep
    HostileInput(
        "signup-arrays-100k-deep",
        S,
        "nesting",
        lambda: _nested_arrays(NESTING_DEPTH),
        "body",
        "recursion limit",
        end_to_end=True,
    ),
    HostileInput(
        "charge-amount-objects-100k-deep",
        C,
        "nesting",
        _raw_field(C, "amount", _nested_objects(NESTING_DEPTH)),
        "body",
        "recursion limit",
        end_to_end=True,
    ),
    HostileInput(
        "welcome-email-arrays-100k-deep",
        W,
        "nesting",
        lambda: _nested_arrays(NESTING_DEPTH),
        "body",
        "recursion limit",
        end_to_end=True,
    ),
    # ------------------------------------------------------------------ names that spoof
    HostileInput(
        "signup-name-bidi-override",
        S,
        "bidi and invisible characters",
        _with(S, name="Ada \u202eecalevoL"),
        "name",
        "bidirectional",
        never_repeated=("\u202e",),
        end_to_end=True,
    ),
    HostileInput(
        "signup-name-bidi-isolate",
        S,
        "bidi and invisible characters",
        _with(S, name="Ada \u2067Lovelace"),
        "name",
        "bidirectional",
    ),
    HostileInput(
        "signup-name-zero-width-only",
        S,
        "bidi and invisible characters",
        _with(S, name="\u200b\u200b"),
        "name",
        "invisible",
        never_repeated=("\u200b",),
        end_to_end=True,
    ),
    HostileInput(
        "signup-name-hangul-filler",
        S,
        "bidi and invisible characters",
        _with(S, name="\u3164"),
        "name",
        "invisible",
    ),
    HostileInput(
        "signup-email-bidi-override",
        S,
        "bidi and invisible characters",
        _with(S, email="ada@example.com\u202e"),
        "email",
        "unsafe characters",
    ),
    HostileInput(
        "welcome-email-name-bidi-override",
        W,
        "bidi and invisible characters",
        _with(W, name="\u202eAda Lovelace"),
        "name",
        "bidirectional",
        end_to_end=True,
    ),
    HostileInput(
        "welcome-email-name-zero-width-joiner",
        W,
        "bidi and invisible characters",
        _with(W, name="Ada\u200dLovelace"),
        "name",
        "invisible",
        end_to_end=True,
    ),
    HostileInput(
        "welcome-email-address-forging-a-header",
        W,
        "bidi and invisible characters",
        _with(W, email="ada@example.com\r\nBcc: eve@example.com"),
        "email",
        "not a valid email address",
    ),
    # ------------------------------------------------------------------ Idempotency-Key
    # A header, not a field: the body is valid and the error names the header. The key is
    # the caller's secret for reading its account back: never repeated.
    HostileInput(
        "signup-idempotency-key-256-characters",
        S,
        "size",
        _json_body(SIGNUP),
        "Idempotency-Key",
        "at most 255 characters",
        headers=(("Idempotency-Key", "k" * 255 + "Z"),),
        never_repeated=("k" * 32,),
    ),
    HostileInput(
        "signup-idempotency-key-with-an-escape-sequence",
        S,
        "bidi and invisible characters",
        _json_body(SIGNUP),
        "Idempotency-Key",
        "printable ASCII",
        headers=(("Idempotency-Key", "key-\x1b[2J\x1b[31mred"),),
        never_repeated=("\x1b", "[2J"),
    ),
    HostileInput(
        "signup-idempotency-key-with-a-nul-and-a-tab",
        S,
        "bidi and invisible characters",
        _json_body(SIGNUP),
        "Idempotency-Key",
        "printable ASCII",
        headers=(("Idempotency-Key", "key\x00\tsecret"),),
        never_repeated=("secret",),
    ),
    # ------------------------------------------------------------------ card numbers
    HostileInput(
        "signup-card-number-as-payment-method",
        S,
        "card number",
        _with(S, payment_method="4242424242424242"),
        "payment_method",
        "card number is never accepted",
        never_repeated=("42424242",),
        end_to_end=True,
    ),
    HostileInput(
        "signup-spaced-card-number-as-payment-method",
        S,
        "card number",
        _with(S, payment_method="4242 4242 4242 4242"),
        "payment_method",
        "card number is never accepted",
        never_repeated=("4242 4242",),
    ),
    HostileInput(
        "charge-card-number-in-a-token",
        C,
        "card number",
        _with(C, payment_method="pm_4000_0566_5566_5556"),
        "payment_method",
        "card number is never accepted",
        never_repeated=("0566_5566", "05665566"),
        end_to_end=True,
    ),
    HostileInput(
        "charge-card-number-as-payment-method",
        C,
        "card number",
        _with(C, payment_method="5555555555554444"),
        "payment_method",
        "card number is never accepted",
        never_repeated=("55555555", "55554444"),
    ),
    HostileInput(
        "signup-token-with-a-trailing-line-feed",
        S,
        "card number",
        _with(S, payment_method="pm_card_visa\n"),
        "payment_method",
        "payment-method token",
    ),
    HostileInput(
        "charge-token-with-a-trailing-line-feed",
        C,
        "card number",
        _with(C, payment_method="pm_card_visa\n"),
        "payment_method",
        "payment-method token",
        end_to_end=True,
    ),
)

BY_ID = {case.id: case for case in CASES}


def cases_for(target: Target, *, end_to_end: bool = False) -> list[HostileInput]:
    return [c for c in CASES if c.target is target and (c.end_to_end or not end_to_end)]
