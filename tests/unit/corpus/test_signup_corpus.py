"""POST /accounts with every hostile body in the corpus: a 4xx that names the problem.

Over the local HTTP API's WSGI app (as a client sends it: bytes, a Content-Type), to the
real signup handler on moto. Nothing may be stored, enqueued, sent or charged, and the
answer and the logs never repeat what the case says must not be repeated.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from functions.signup import app
from tests.corpus.hostile_inputs import SIGNUP, HostileInput, Target, cases_for
from tests.support.events import load_event
from tests.unit.corpus.conftest import LogText, SignupOverHttp, assert_never_repeated
from tests.unit.signup.test_handler import Cloud
from tests.unit.welcome_email.fakes import FakeLambdaContext

SIGNUP_CASES = cases_for(Target.SIGNUP)


def assert_nothing_stored(cloud: Cloud) -> None:
    assert cloud.accounts() == []
    assert cloud.drain(cloud.billing_queue_url) == []  # no charge
    assert cloud.drain(cloud.welcome_queue_url) == []
    assert cloud.sent_emails == []


def post(signup_over_http: SignupOverHttp, case: HostileInput) -> tuple[int, dict[str, Any], bytes]:
    """POST the case's body with its headers, as `SignupOverHttp.post` does without them."""
    response = signup_over_http.client.post(
        "/accounts",
        data=case.raw(),
        headers=[("Content-Type", "application/json"), *case.headers],
    )
    return response.status_code, json.loads(response.data), response.data


@pytest.mark.parametrize("case", SIGNUP_CASES, ids=lambda case: case.id)
def test_a_hostile_signup_gets_a_4xx_naming_the_problem_and_stores_nothing(
    case: HostileInput, cloud: Cloud, signup_over_http: SignupOverHttp, logs: LogText
) -> None:
    status, answer, raw_answer = post(signup_over_http, case)

    assert status == case.http_status, answer
    if status == 400:
        assert answer["field"] == case.names
        assert case.says in answer["message"]
        assert signup_over_http.function.handled == 1
    else:  # refused by the gateway, before the function runs
        assert answer == {"message": case.http_message}
        assert signup_over_http.function.handled == 0
    assert signup_over_http.function.errors == []  # never a 500
    assert len(raw_answer) < 4096  # the error stays short whatever the body's size
    assert_nothing_stored(cloud)
    assert_never_repeated(case.never_repeated, raw_answer.decode(), answer["message"], logs.text())


def api_gateway_event(body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """POST /accounts as API Gateway passes it on: text if UTF-8, base64 otherwise."""
    event = load_event("signup_at_least_once")
    event["headers"] |= {name.lower(): value for name, value in headers}
    try:
        return event | {"body": body.decode("utf-8"), "isBase64Encoded": False}
    except UnicodeDecodeError:
        return event | {"body": base64.b64encode(body).decode(), "isBase64Encoded": True}


@pytest.mark.parametrize(
    "case", [c for c in SIGNUP_CASES if c.http_status != 400], ids=lambda case: case.id
)
def test_a_body_the_gateway_refuses_is_a_400_from_the_function_too(
    case: HostileInput, cloud: Cloud
) -> None:
    # The function does not rely on the gateway's limits: given the body anyway, it
    # answers 400 naming the field.
    response = app.lambda_handler(api_gateway_event(case.raw(), case.headers), FakeLambdaContext())

    answer = json.loads(response["body"])
    assert (response["statusCode"], answer["field"]) == (400, case.names)
    assert case.says in answer["message"]
    assert_nothing_stored(cloud)


@pytest.mark.parametrize("case", [c for c in SIGNUP_CASES if c.headers], ids=lambda case: case.id)
def test_an_invalid_idempotency_key_is_refused_for_a_taken_address_too(
    case: HostileInput, cloud: Cloud, signup_over_http: SignupOverHttp, logs: LogText
) -> None:
    # Checked before the address is looked up: the same 400 whether it has an account or
    # not, and nothing is claimed, sent or stored for the account.
    first, answer, _ = signup_over_http.post(case.raw())
    assert first == 201, answer
    cloud.drain(cloud.billing_queue_url)
    cloud.drain(cloud.welcome_queue_url)
    item = cloud.account_item("corpus@example.com")

    status, answer, raw_answer = post(signup_over_http, case)

    assert (status, answer["field"]) == (400, case.names)
    assert case.says in answer["message"]
    assert cloud.account_item("corpus@example.com") == item
    assert cloud.drain(cloud.billing_queue_url) == []
    assert cloud.sent_emails == []
    assert_never_repeated(case.never_repeated, raw_answer.decode(), answer["message"], logs.text())


def test_a_valid_signup_still_passes_the_same_way(
    cloud: Cloud, signup_over_http: SignupOverHttp
) -> None:
    # The corpus's baseline body is valid: each case fails for its own reason only.
    status, answer, _ = signup_over_http.post(json.dumps(SIGNUP).encode())

    assert status == 201, answer
    assert len(cloud.drain(cloud.billing_queue_url)) == 1
