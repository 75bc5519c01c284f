"""The rules on what customers type: `PersonName` and `PaymentMethodToken`, in every model.

Names end up in the welcome email under our sender address; payment methods in charges
and logs. Each rule has cases here that pass only while the rule is in place.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from delivery_guarantees.models import (
    NAME_MAX_LENGTH,
    ChargeRequest,
    SignupRequest,
    WelcomeEmailJob,
    check_person_name,
    describe_problems,
    validation_problems,
)

ORDINARY_NAMES = [
    "Ada Lovelace",
    "José Ñúñez",
    "Jean-Luc Picard",
    "J. R. R. Tolkien",
    "J.R.R. Tolkien",
    "O'Brien",
    "李小龍",
    "Nguyễn Văn A",
    "Mary-Kate d'Arc",
    "山田\u3000太郎",  # an ideographic space
    "Ada & Charles",
    'Grace "Amazing Grace" Hopper',
    "Dr. No",
    "A" * NAME_MAX_LENGTH,
]

# (name, the error type that names the rule it breaks)
HOSTILE_NAMES = [
    ("Ada\nLovelace", "name_control_character"),
    ("Ada\r\nBcc: eve@example.com", "name_control_character"),
    ("Ada\tLovelace", "name_control_character"),
    ("Ada\x00", "name_control_character"),
    ("Ada\u2028Lovelace", "name_control_character"),  # LINE SEPARATOR
    ("Ada\u2029Lovelace", "name_control_character"),  # PARAGRAPH SEPARATOR
    ("Ada \u202ecod.exe", "name_bidi_control"),  # RIGHT-TO-LEFT OVERRIDE
    ("Ada\u202a", "name_bidi_control"),
    ("Ada\u2066x\u2069", "name_bidi_control"),  # isolates
    ("Ada\u200f", "name_bidi_control"),  # RIGHT-TO-LEFT MARK
    ("Ada\u061c", "name_bidi_control"),  # ARABIC LETTER MARK
    ("A\u200bda", "name_invisible_character"),  # ZERO WIDTH SPACE
    ("Ada\u2060", "name_invisible_character"),  # WORD JOINER
    ("Ada\ufeff", "name_invisible_character"),  # ZERO WIDTH NO-BREAK SPACE
    ("Ada\u00ad", "name_invisible_character"),  # SOFT HYPHEN
    ("\u3164", "name_invisible_character"),  # HANGUL FILLER, a "blank" name
    ("Ada\u2800", "name_invisible_character"),  # BRAILLE PATTERN BLANK
    ("Ada\ue000", "name_unassigned_character"),  # private use
    ("Ada\u0378", "name_unassigned_character"),  # unassigned in Unicode 15.1
    ("<b>Ada</b>", "name_markup"),
    ("Ada <script>", "name_markup"),
    ("\uff1cb\uff1eAda", "name_markup"),  # fullwidth < and >
    ("http://evil.example", "name_link"),
    ("Ada https://evil.example/login", "name_link"),
    ("HTTPS://EVIL", "name_link"),
    ("javascript:alert(1)", "name_link"),
    ("JavaScript :alert(1)", "name_link"),
    ("data:text/html,hi", "name_link"),
    ("Ada mailto:eve", "name_link"),
    ("ftp://files", "name_link"),
    ("\uff48\uff54\uff54\uff50\uff53\uff1a\uff0f\uff0fevil", "name_link"),  # fullwidth https://
    ("ada@example.com", "name_email_address"),
    ("Ada @eve", "name_email_address"),
    ("Ada \uff20eve", "name_email_address"),  # FULLWIDTH COMMERCIAL AT
    ("www.evil", "name_web_address"),
    ("WWW.EVIL", "name_web_address"),
    ("Ada www.2048", "name_web_address"),  # www. alone, whatever follows
    ("evil.example", "name_web_address"),
    ("Ada, see bank.com/verify", "name_web_address"),
    ("Ada evil.co.uk", "name_web_address"),
    ("Ada пример.рф", "name_web_address"),  # an internationalised domain
    ("Ada 192.0.2.1", "name_web_address"),
    ("Ada \uff45\uff56\uff49\uff4c\uff0e\uff43\uff4f\uff4d", "name_web_address"),  # fullwidth
    ("Ada evil\u3002com", "name_web_address"),  # IDEOGRAPHIC FULL STOP as a dot
    ("St.John Smith", "name_web_address"),  # a space after the dot passes
]


def problem(error: ValidationError) -> tuple[str, str, str]:
    """(field, error type, message) of the first problem."""
    first = error.errors(include_url=False)[0]
    field, message = validation_problems(error)[0]
    return field, first["type"], message


def signup(**changes: Any) -> dict[str, Any]:
    fields = {"email": "ada@example.com", "name": "Ada Lovelace", "payment_method": "pm_card_visa"}
    return fields | changes


def welcome_job(**changes: Any) -> dict[str, Any]:
    return {"account_id": "acc_1", "email": "ada@example.com", "name": "Ada Lovelace"} | changes


def charge(**changes: Any) -> dict[str, Any]:
    fields = {
        "transaction_id": "txn_1",
        "account_id": "acc_1",
        "amount": 1999,
        "currency": "usd",
        "payment_method": "pm_card_visa",
    }
    return fields | changes


NAME_MODELS = [(SignupRequest, signup), (WelcomeEmailJob, welcome_job)]
PAYMENT_MODELS = [(SignupRequest, signup), (ChargeRequest, charge)]


@pytest.mark.parametrize(("model", "fields"), NAME_MODELS, ids=lambda m: getattr(m, "__name__", ""))
@pytest.mark.parametrize("name", ORDINARY_NAMES)
def test_ordinary_names_pass_unchanged(model: type[BaseModel], fields: Any, name: str) -> None:
    assert model.model_validate(fields(name=name)).name == name  # type: ignore[attr-defined]


@pytest.mark.parametrize(("model", "fields"), NAME_MODELS, ids=lambda m: getattr(m, "__name__", ""))
@pytest.mark.parametrize(("name", "rule"), HOSTILE_NAMES)
def test_hostile_names_are_rejected_naming_the_field_and_the_rule(
    model: type[BaseModel], fields: Any, name: str, rule: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(fields(name=name))

    field, error_type, message = problem(raised.value)
    assert (field, error_type) == ("name", rule)
    assert message.startswith("must not contain")


def test_a_character_rule_names_the_code_point_it_found() -> None:
    with pytest.raises(ValidationError) as raised:
        SignupRequest.model_validate(signup(name="Ada \u202ecod.exe"))

    assert "(found U+202E)" in problem(raised.value)[2]


def test_a_lone_surrogate_is_refused_by_the_rule_too() -> None:
    # pydantic refuses one before the rule runs (invalid JSON, or not valid Unicode); the
    # rule refuses it anyway for any other caller.
    with pytest.raises(PydanticCustomError) as raised:
        check_person_name("Ada\ud800")

    assert raised.value.type == "name_unassigned_character"


def test_surrounding_whitespace_is_trimmed_and_length_is_limited() -> None:
    assert SignupRequest.model_validate(signup(name="  Ada Lovelace \n")).name == "Ada Lovelace"
    with pytest.raises(ValidationError) as raised:
        SignupRequest.model_validate(signup(name="A" * (NAME_MAX_LENGTH + 1)))
    assert problem(raised.value)[:2] == ("name", "string_too_long")
    with pytest.raises(ValidationError) as raised:
        SignupRequest.model_validate(signup(name=" \n "))
    assert problem(raised.value)[:2] == ("name", "string_too_short")


CARD_NUMBERS = [
    "4242424242424242",
    "pm_4242424242424242",
    "pm_4242_4242_4242_4242",
    "pm_card_4000_0566_5566_5556",
    "pm_378282246310005",  # 15 digits (Amex)
    "pm_6011_0009_9013_9424",
    "pm_555555555555",  # 12 digits, the shortest card numbers
    "4242 4242 4242 4242",
    "4242-4242-4242-4242",
    "pm_" + "4" * 40,
]


@pytest.mark.parametrize(
    ("model", "fields"), PAYMENT_MODELS, ids=lambda m: getattr(m, "__name__", "")
)
@pytest.mark.parametrize("value", CARD_NUMBERS)
def test_a_card_number_is_never_accepted_nor_repeated_in_the_error(
    model: type[BaseModel], fields: Any, value: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(fields(payment_method=value))

    field, error_type, message = problem(raised.value)
    assert (field, error_type) == ("payment_method", "payment_method_card_number")
    assert "a card number is never accepted" in message
    # Not one digit of it in what is logged or answered: the message, the error's text.
    for text in (message, str(raised.value), describe_problems(validation_problems(raised.value))):
        assert "4242" not in text
        assert "5555" not in text
        assert "0005" not in text
        assert "4444" not in text


@pytest.mark.parametrize(
    ("model", "fields"), PAYMENT_MODELS, ids=lambda m: getattr(m, "__name__", "")
)
@pytest.mark.parametrize(
    "value",
    ["pm_card_visa", "pm_card_chargeDeclined", "pm_1NXWPnDbKbEPRp7Gx2Q0cZ3v", "pm_12345678901"],
)
def test_provider_tokens_pass(model: type[BaseModel], fields: Any, value: str) -> None:
    assert model.model_validate(fields(payment_method=value)).payment_method == value  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("model", "fields"), PAYMENT_MODELS, ids=lambda m: getattr(m, "__name__", "")
)
@pytest.mark.parametrize("value", ["card_visa", "pm_card-visa", "pm_", "pm_visa<b>", "pm_x" * 100])
def test_anything_but_a_token_is_rejected_naming_payment_method(
    model: type[BaseModel], fields: Any, value: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(fields(payment_method=value))

    assert problem(raised.value)[0] == "payment_method"


@pytest.mark.parametrize(
    "account_id", ["acc_1\nClick here", "evil.example", "acc_<b>", "", "acc_1 http://x"]
)
def test_the_welcome_job_account_id_is_an_account_id_not_free_text(account_id: str) -> None:
    # It is rendered into the email too.
    with pytest.raises(ValidationError) as raised:
        WelcomeEmailJob.model_validate(welcome_job(account_id=account_id))

    assert problem(raised.value)[0] == "account_id"
