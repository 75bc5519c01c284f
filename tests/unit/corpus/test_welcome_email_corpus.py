"""Every hostile welcome-email job in the corpus, between two good jobs, through the handler.

moto SES with a verified sender. The hostile record alone is reported in
batchItemFailures (redelivered, then dead-lettered: never lost), its error names the
problem, and no email is sent for it; both good jobs send their email.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from delivery_guarantees.welcome_email import InvalidWelcomeEmailJob
from functions.welcome_email import app
from tests.corpus.hostile_inputs import WELCOME_EMAIL, HostileInput, Target, cases_for
from tests.unit.corpus.conftest import (
    LogText,
    assert_never_repeated,
    failed_ids,
    sqs_event,
    sqs_record,
)
from tests.unit.welcome_email.fakes import FakeLambdaContext


@pytest.fixture(autouse=True)
def fresh_sender() -> Iterator[None]:
    # The warm-container cache must not carry a client across tests (and moto mocks).
    app.email_sender.cache_clear()
    yield
    app.email_sender.cache_clear()


def good_job(email: str) -> str:
    return json.dumps({**WELCOME_EMAIL, "email": email})


@pytest.mark.parametrize("case", cases_for(Target.WELCOME_EMAIL), ids=lambda case: case.id)
def test_a_hostile_job_fails_only_its_own_record_and_sends_nothing(
    case: HostileInput, sent_emails: list[Any], logs: LogText
) -> None:
    event = sqs_event(
        sqs_record(good_job("good-1@example.com"), "m-good-1"),
        sqs_record(case.text(), "m-hostile"),
        sqs_record(good_job("good-2@example.com"), "m-good-2"),
    )

    response = app.lambda_handler(event, FakeLambdaContext())

    assert failed_ids(response) == ["m-hostile"]
    [error] = [exc_info[1] for exc_info in app.processor.exceptions]
    assert isinstance(error, InvalidWelcomeEmailJob)
    assert error.field == case.names
    assert f"{case.names}: " in str(error)
    assert case.says in str(error)
    assert len(str(error)) < 2048
    recipients = sorted(a for m in sent_emails for a in m.destinations["ToAddresses"])
    assert recipients == ["good-1@example.com", "good-2@example.com"]
    assert_never_repeated(case.never_repeated, str(error), logs.text())
