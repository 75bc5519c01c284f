"""No personal data leaves SignupFunction in its traces or its logs (issue #9).

Every answer path runs through the real handler: a first signup in each welcome-email
mode, a replay to the key's holder, the one 409 for a taken address, invalid input (a
card number where a token belongs, a malformed email), and a failing SES send. Then what
X-Ray would receive under template.yaml's tracer settings, and every log line, are
searched for the email addresses, names and payment methods sent, any email address,
card-like number or secret.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.support.events import load_event
from tests.support.privacy import TraceRecorder, logged_text, personal_data_in
from tests.unit.signup import test_handler
from tests.unit.signup.test_handler import (
    SENDER,
    Cloud,
    invoke_raw,
    with_body,
    with_details,
    with_key,
)
from tests.unit.welcome_email.fakes import throttle_ses_send_email

cloud = test_handler.cloud  # the fixture: moto DynamoDB, SQS and SES, the function's env

PERSONAL = {
    "emails": ["ada@example.com", "grace@example.com", "not-an-email@"],
    "names": ["Ada Lovelace", "Grace Hopper", "Eve Intruder"],
    # Not pm_card_visa: an error message names it as the example of a token.
    "payment_methods": ["pm_card_amex", "pm_card_mastercard", "pm_4242 4242 4242 4242"],
}


def every_path(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    ada = with_details(load_event("signup_at_least_once"), payment_method="pm_card_amex")
    first = with_key(ada)
    answers = [
        invoke_raw(first),  # 201
        invoke_raw(first),  # 201 replayed
        invoke_raw(with_details(ada, name="Eve Intruder")),  # 409
        invoke_raw(with_key(first, "another-key") | {"body": first["body"]}),  # 409
        invoke_raw(
            with_body(
                load_event("signup_at_least_once"),
                {
                    "email": "grace@example.com",
                    "name": "Grace Hopper",
                    "payment_method": "pm_4242 4242 4242 4242",
                },
            )
        ),  # 400: a card number
        invoke_raw(with_details(load_event("signup_at_least_once"), email="not-an-email@")),
    ]
    throttle_ses_send_email(monkeypatch)  # at-most-once: the email is dropped, logged
    answers.append(
        invoke_raw(
            with_details(
                load_event("signup_at_most_once"),
                email="grace@example.com",
                name="Grace Hopper",
                payment_method="pm_card_mastercard",
            )
        )
    )
    return answers


def log_text(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> list[str]:
    captured = capsys.readouterr()
    lines = (captured.out + captured.err).splitlines()
    lines += [logged_text(record) for record in caplog.records]
    return lines


def test_signup_traces_and_logs_carry_no_personal_data(
    cloud: Cloud,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    traces = TraceRecorder().install(monkeypatch)
    caplog.set_level(logging.INFO)  # template.yaml: POWERTOOLS_LOG_LEVEL INFO

    answers = every_path(cloud, monkeypatch)

    assert [a["statusCode"] for a in answers] == [201, 201, 409, 409, 400, 400, 201]
    assert traces.responses, "the recorder saw no handler response: is the tracer wired?"
    personal = [value for values in PERSONAL.values() for value in values]
    assert personal_data_in(traces.would_leave("SignupFunction"), personal) == []
    assert personal_data_in(log_text(capsys, caplog), personal, system_addresses=[SENDER]) == []
