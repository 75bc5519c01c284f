"""Message models at the edges (pydantic); the plain dataclasses inside are re-exported.

A message that does not fit its model raises pydantic's `ValidationError`, whose text
names the offending field; the record then fails and is retried or dead-lettered, and
nothing is charged or sent.

Two field types guard what customers type, because it travels further than this service:
`PersonName` ends up in emails we send, `PaymentMethodToken` in charges and logs. Each is
one annotated type shared by every model that carries the value, so the rules cannot
drift apart between the signup request and the queue messages it produces.

The plain dataclasses live in delivery_guarantees.records, without pydantic, so that the
modules a handler imports at a cold start can use them without loading this one.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from delivery_guarantees.currencies import ISO_4217_CODES
from delivery_guarantees.records import (  # noqa: F401 - re-exported
    Account,
    ChargeOutcome,
    ChargeStatus,
    EnqueuedJob,
    SignupJob,
)

# Stripe allows idempotency keys up to 255 characters; the transaction ID is forwarded as one.
TransactionId = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_\-:.]+$")
]
# The `acc_` IDs signup mints, never free text: rendered into the welcome email, and
# forwarded to the payment provider's metadata and the charge journal with each charge.
AccountId = Annotated[str, StringConstraints(max_length=255, pattern=r"^acc_[A-Za-z0-9_]+$")]

# ---------------------------------------------------------------------- person names

NAME_MAX_LENGTH = 100
"""Long enough for full legal names in any script, short enough that a name cannot
carry a paragraph of spam into the welcome email."""

# Explicit or implicit direction changes (embeddings, overrides, isolates, marks): they
# make text display in another order than it is stored ("Trojan Source" style spoofing).
_BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)
# Not category Cf, but they render as nothing and are used to forge blank-looking names.
_BLANK_LOOKING = frozenset("\u034f\u115f\u1160\u3164\uffa0\u2800")
# Full stops that browsers and mail clients accept between the labels of a host name.
_DOT_LOOKALIKES = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})

_LINK_SCHEME = re.compile(
    r"[a-z][a-z0-9+.\-]*://|\b(?:https?|ftp|javascript|vbscript|data|file|mailto|tel|sms)\s*:"
)
_WWW = re.compile(r"\bwww\d*\.")
# A letter, digit or hyphen, a dot, then two letters: "evil.example", "bank.com/verify",
# "пример.рф". Initials keep a space after the dot ("J. R. R. Tolkien") and pass.
_HOST_LIKE = re.compile(r"[\w\-]\.[^\W\d_]{2}|\b\d{1,3}(?:\.\d{1,3}){3}\b")


def _name_error(rule: str, message: str, code_point: str | None = None) -> PydanticCustomError:
    if code_point is None:
        return PydanticCustomError(f"name_{rule}", message)
    return PydanticCustomError(
        f"name_{rule}", message + " (found {code_point})", {"code_point": code_point}
    )


def _character_problem(char: str) -> PydanticCustomError | None:
    category = unicodedata.category(char)
    code_point = f"U+{ord(char):04X}"
    if category == "Cc" or category in ("Zl", "Zp"):
        return _name_error(
            "control_character",
            "must not contain control characters or line breaks such as CR, LF or TAB",
            code_point,
        )
    if char in _BIDI_CONTROLS:
        return _name_error(
            "bidi_control",
            "must not contain bidirectional text controls, which make text display "
            "in another order than it was written",
            code_point,
        )
    if category == "Cf" or char in _BLANK_LOOKING:
        return _name_error(
            "invisible_character",
            "must not contain invisible characters such as zero-width spaces",
            code_point,
        )
    if category in ("Cn", "Co", "Cs"):
        return _name_error(
            "unassigned_character",
            "must not contain unassigned, private-use or surrogate code points",
            code_point,
        )
    return None


def check_person_name(value: str) -> str:
    """Accept a person's name in any script; reject what could spoof or link in an email.

    The name is the one piece of customer text in the welcome email. It is HTML-escaped
    there, but escaping does not stop a line break from forging a paragraph, a bidi
    override from reversing text, or a mail client from turning "bank.com/verify" into a
    link under our sender address. So those are refused at the edge, with the rule named.
    Lookalikes are checked in their NFKC form (fullwidth "evil.com" is evil.com); the value
    itself is returned unchanged.
    """
    for char in value:
        problem = _character_problem(char)
        if problem is not None:
            raise problem
    folded = unicodedata.normalize("NFKC", value).translate(_DOT_LOOKALIKES).casefold()
    if "<" in folded or ">" in folded:
        raise _name_error("markup", "must not contain < or >: markup is not part of a name")
    if _LINK_SCHEME.search(folded):
        raise _name_error(
            "link", "must not contain a link (a scheme such as http://, https:// or javascript:)"
        )
    if "@" in folded:
        raise _name_error("email_address", "must not contain @: an address is not a name")
    if _WWW.search(folded) or _HOST_LIKE.search(folded):
        raise _name_error(
            "web_address",
            "must not contain a web address or host name such as www.example.com, "
            "evil.example or bank.com/verify; write initials with a space after the dot",
        )
    return value


PersonName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX_LENGTH),
    AfterValidator(check_person_name),
]

# ---------------------------------------------------------------------- payment methods

# 12 or more digits in a row once separators are ignored: the length of a card number
# (PANs are 12-19 digits), also when written "pm_4242_4242_4242_4242".
_CARD_NUMBER_LIKE = re.compile(r"\d{12,}")
_CARD_NUMBER_SEPARATORS = str.maketrans("", "", "_- .")
# Used with fullmatch: in Python's re, "$" also matches before a final line break, so
# `match` would let "pm_card_visa\n" through (pydantic's patterns are Rust regexes,
# where "$" is the end of the text).
_PAYMENT_METHOD_TOKEN = re.compile(r"pm_[A-Za-z0-9_]+")


def check_payment_method_token(value: str) -> str:
    """Accept a provider token such as Stripe's `pm_card_visa`; never a card number.

    A card number must never reach our queues, tables or logs (that would put them in PCI
    scope), so a value that embeds one is refused before anything is stored, and the error
    says so without repeating a single digit of it.
    """
    if _CARD_NUMBER_LIKE.search(value.translate(_CARD_NUMBER_SEPARATORS)):
        raise PydanticCustomError(
            "payment_method_card_number",
            "looks like it contains a card number, and a card number is never accepted: "
            "send the payment-method token from the payment provider (such as pm_card_visa)",
        )
    if not _PAYMENT_METHOD_TOKEN.fullmatch(value):
        raise PydanticCustomError(
            "payment_method_token",
            "must be a payment-method token from the payment provider: pm_ followed by "
            "letters, digits or underscores (such as pm_card_visa)",
        )
    return value


PaymentMethodToken = Annotated[
    str, StringConstraints(max_length=255), AfterValidator(check_payment_method_token)
]


# An unknown field is named in its error, which is how a misspelling is found. But its
# name is input like any value: it may be a card number, a line break or a megabyte, and
# errors are logged and returned. So only a plain name is repeated.
_PLAIN_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")  # fullmatch
_UNNAMED_FIELD = (
    "has a field that is not part of the contract; its name is not repeated because it is "
    "not a plain name (a letter or _, then letters, digits, _ or -, at most 64 characters)"
)
# A body with a hundred thousand unknown fields has as many problems: the error names
# the first few and counts the rest, so it stays short whatever the body's size (a
# 2 MB body of tiny fields would otherwise make an 8 MB error, over Lambda's 6 MB
# response limit, and a 500 instead of a 400).
MAX_PROBLEMS_DESCRIBED = 10


def _is_plain_field_name(name: str) -> bool:
    return bool(_PLAIN_FIELD_NAME.fullmatch(name)) and not _CARD_NUMBER_LIKE.search(
        name.translate(_CARD_NUMBER_SEPARATORS)
    )


def validation_problems(error: ValidationError) -> list[tuple[str, str]]:
    """(field, message) for each problem pydantic found; "body" when it is the whole body.

    A field name that is not plain is never repeated: the problem is the body's then.
    """
    problems: list[tuple[str, str]] = []
    for detail in error.errors(include_url=False):
        loc = [str(part) for part in detail["loc"]]
        if all(_is_plain_field_name(part) for part in loc):
            problem = (".".join(loc) or "body", detail["msg"])
        elif detail["type"] == "extra_forbidden":
            problem = ("body", _UNNAMED_FIELD)
        else:
            problem = ("body", detail["msg"])
        problems.append(problem)
    return list(dict.fromkeys(problems))  # each once, in order


def describe_problems(problems: list[tuple[str, str]]) -> str:
    described = "; ".join(
        f"{field}: {message}" for field, message in problems[:MAX_PROBLEMS_DESCRIBED]
    )
    more = len(problems) - MAX_PROBLEMS_DESCRIBED
    return described + (f"; and {more} more problems" if more > 0 else "")


def _duplicate_names(body: str | bytes) -> list[str]:
    duplicates: list[str] = []

    def collect(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        counts = Counter(name for name, _ in pairs)
        duplicates.extend(name for name, count in counts.items() if count > 1)
        return dict(pairs)

    json.loads(body, object_pairs_hook=collect)
    return duplicates


class _Message(BaseModel):
    # Strict: "1999" is not an amount and true is not a string. Unknown fields are
    # rejected so a misspelled field is an error, not a silently ignored value. Inputs
    # stay out of error texts, which are logged: a rejected value may be a card number.
    # Not defer_build: in pydantic 2.13 a deferred build is not thread safe, and records
    # may be parsed on several threads at once; the import lock makes this module's safe.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, hide_input_in_errors=True)

    @classmethod
    def from_json(cls, body: str | bytes) -> Self:
        """`model_validate_json`, where a field given twice is an error too.

        JSON parsers disagree on a repeated name (most keep the last value, some the
        first, some refuse), so `"amount": 1, "amount": 100000` could be one charge to
        the producer's checks and another here. Checked once the body has validated, when
        it is known to be one flat object of known fields: cheap, with no nesting to
        recurse into, and the names are the model's own.
        """
        message = cls.model_validate_json(body)
        duplicates = _duplicate_names(body)
        if duplicates:
            raise ValidationError.from_exception_data(
                cls.__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "duplicate_field",
                            "appears more than once; JSON parsers disagree on which value "
                            "counts, so give each field once",
                        ),
                        loc=(name,),
                        input=None,
                    )
                    for name in duplicates
                ],
            )
        return message


# A value this shape is repeated in the error for an unknown currency; anything else is not.
_CURRENCY_SHAPED = re.compile(r"[A-Za-z]{1,8}")  # fullmatch


class ChargeRequest(_Message):
    """A charge on BillingQueue. Carries everything the charge needs."""

    transaction_id: TransactionId
    account_id: AccountId
    amount: int = Field(gt=0, description="minor units, e.g. cents")
    currency: str
    payment_method: PaymentMethodToken

    @field_validator("currency")
    @classmethod
    def _iso_4217_lower_case(cls, value: str) -> str:
        if value in ISO_4217_CODES:
            return value
        if value.lower() in ISO_4217_CODES:
            raise ValueError(f"{value!r} must be written in lower case: {value.lower()!r}")
        if _CURRENCY_SHAPED.fullmatch(value):
            raise ValueError(f"unknown currency {value!r}: expected an ISO 4217 code in lower case")
        # Not repeated: only a few letters are safe to log (this could be a card number).
        raise ValueError("unknown currency: expected an ISO 4217 code in lower case, such as usd")


class WelcomeEmailJob(_Message):
    """A welcome email to send, on WelcomeEmailQueue."""

    account_id: AccountId
    email: EmailStr
    name: PersonName


class SignupRequest(_Message):
    """The body of POST /accounts."""

    email: EmailStr
    name: PersonName
    payment_method: PaymentMethodToken
    welcome_email_delivery: Literal["at-least-once", "at-most-once"] | None = None
