"""The corpus runs through the real handlers with the fixtures their own unit tests use.

Billing: moto DynamoDB tables, the production idempotency wiring and the fake provider
(tests/unit/billing/conftest.py). Welcome email: moto SES with a verified sender
(tests/unit/welcome_email/conftest.py). Signup: moto DynamoDB, SQS and SES
(tests/unit/signup/test_handler.py), reached over the local HTTP API's WSGI app with the
function invoked in this process under Lambda's payload limits.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
from werkzeug.test import Client

from functions.billing import app as billing_app
from functions.signup import app as signup_app
from functions.welcome_email import app as welcome_email_app
from local_cloud.http_api import HttpApiApp
from local_cloud.lambda_runtime import RequestTooLarge
from local_cloud.lambda_runtime.bootstrap import MAX_RESPONSE_BYTES
from local_cloud.lambda_runtime.service import MAX_REQUEST_BYTES
from local_cloud.model import HttpApiSpec, HttpRouteSpec
from tests.support.events import load_event
from tests.unit.billing.conftest import (  # noqa: F401 - fixtures, used by name
    billing,
    context,
    dead_letter_queue,
    dynamodb,
    dynamodb_calls,
    journal,
    provider,
    settings,
)
from tests.unit.signup.test_handler import Cloud, cloud  # noqa: F401 - a fixture
from tests.unit.welcome_email.conftest import listening_to, sent_emails, ses  # noqa: F401
from tests.unit.welcome_email.fakes import FakeLambdaContext

# template.yaml's route, as the local cloud resolves it (test_main_template.py checks that).
SIGNUP_API = HttpApiSpec(
    "SignupHttpApi",
    (HttpRouteSpec("POST", "/accounts", "SignupFunction"),),
    ("SignupHttpApiApiGatewayDefaultStage",),
)


@dataclass
class Result:
    """The parts of an InvocationResult the HTTP API reads."""

    payload: Any
    error: dict[str, Any] | None = None
    raw_payload: str | None = None


@dataclass
class InProcessSignupFunction:
    """LambdaService.invoke for SignupFunction, run in this process (moto stays in reach).

    Lambda's limits as the local cloud applies them: an event over 6 MB is refused
    (RequestTooLarge), a response over 6 MB or a raised error is a function error, so the
    HTTP API answers as it would on the local cloud.
    """

    calls: int = 0  # invocations asked for
    handled: int = 0  # invocations that reached the handler
    errors: list[dict[str, Any]] = field(default_factory=list)

    def invoke(self, function: str, event: Any) -> Result:
        assert function == "SignupFunction"
        self.calls += 1
        request = json.dumps(event)
        if len(request.encode()) > MAX_REQUEST_BYTES:
            raise RequestTooLarge(f"{function}: request payload over {MAX_REQUEST_BYTES} bytes")
        self.handled += 1
        try:
            payload = signup_app.lambda_handler(json.loads(request), FakeLambdaContext())
        except Exception as error:  # what Lambda reports as the function's error
            return self._error(type(error).__name__, str(error))
        raw = json.dumps(payload)
        if len(raw.encode()) > MAX_RESPONSE_BYTES:
            return self._error("Function.ResponseSizeTooLarge", f"{len(raw)} bytes")
        return Result(payload, None, raw)

    def _error(self, error_type: str, message: str) -> Result:
        error = {"errorType": error_type, "errorMessage": message[:500]}
        self.errors.append(error)
        return Result(None, error)


@dataclass
class SignupOverHttp:
    client: Client
    function: InProcessSignupFunction

    def post(self, body: bytes) -> tuple[int, dict[str, Any], bytes]:
        response = self.client.post(
            "/accounts", data=body, headers={"Content-Type": "application/json"}
        )
        return response.status_code, json.loads(response.data), response.data


@pytest.fixture
def signup_over_http(cloud: Cloud) -> SignupOverHttp:  # noqa: F811 - the imported fixture
    function = InProcessSignupFunction()
    return SignupOverHttp(Client(HttpApiApp([SIGNUP_API], function), use_cookies=False), function)


class LogText:
    """What the functions and the domain logged: caplog's records and stdout (Powertools)."""

    def __init__(
        self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self._caplog = caplog
        self._capsys = capsys
        self._out = ""

    def text(self) -> str:
        self._out += self._capsys.readouterr().out
        records = self._caplog.records
        return "\n".join(
            [self._out]
            + [json.dumps(vars(r), default=str) for r in records]
            + [r.getMessage() for r in records]
        )


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Iterator[LogText]:
    caplog.set_level("INFO")
    names = {"delivery_guarantees", signup_app.logger.name}
    names |= {billing_app.logger.name, welcome_email_app.logger.name}
    with ExitStack() as stack:
        for name in sorted(names):
            stack.enter_context(listening_to(caplog, name))
        yield LogText(caplog, capsys)


def assert_never_repeated(needles: tuple[str, ...], *texts: str) -> None:
    """None of `needles` in any text, as itself or JSON-escaped (as JSON logs write it)."""
    for needle in needles:
        for form in dict.fromkeys([needle, json.dumps(needle)[1:-1]]):
            for text in texts:
                assert form not in text, f"{form!r} repeated"


def sqs_record(body: str, message_id: str) -> dict[str, Any]:
    """An SQS record shaped like events/billing_charge.json's, for any body.

    md5OfBody is computed with surrogateescape, so a body holding the lone surrogates of
    bytes that were not UTF-8 can be built (SQS itself would never deliver one).
    """
    record: dict[str, Any] = copy.deepcopy(load_event("billing_charge")["Records"][0])
    record["messageId"] = message_id
    record["receiptHandle"] = f"AQEB-{message_id}"
    record["body"] = body
    raw = body.encode("utf-8", "surrogateescape")
    record["md5OfBody"] = hashlib.md5(raw, usedforsecurity=False).hexdigest()
    return record


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]
