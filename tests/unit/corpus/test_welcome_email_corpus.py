"""Every hostile welcome-email job in the corpus, between two good jobs, through the handler.

moto SES with a verified sender and moto SQS. The hostile record is a poison message: it
is copied to WelcomeEmailDeadLetterQueue at once with its reason (never lost), then
acknowledged, so it is not in batchItemFailures; the reason names the problem and never
repeats the hostile text, and no email is sent for it; both good jobs send their email.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from delivery_guarantees.poison import ERROR_MESSAGE_MAX_CHARS
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
from tests.unit.corpus.test_charge_corpus import sqs_can_carry
from tests.unit.welcome_email.conftest import WELCOME_EMAIL_ENV, dead_letters
from tests.unit.welcome_email.fakes import FakeLambdaContext


@pytest.fixture(autouse=True)
def fresh_sender() -> Iterator[None]:
    # The warm-container cache must not carry a client across tests (and moto mocks).
    app.email_sender.cache_clear()
    app.poison_router.cache_clear()
    yield
    app.email_sender.cache_clear()
    app.poison_router.cache_clear()


def good_job(email: str) -> str:
    return json.dumps({**WELCOME_EMAIL, "email": email})


@pytest.mark.parametrize("case", cases_for(Target.WELCOME_EMAIL), ids=lambda case: case.id)
def test_a_hostile_job_is_dead_lettered_with_its_reason_and_sends_nothing(
    case: HostileInput, sent_emails: list[Any], logs: LogText
) -> None:
    event = sqs_event(
        sqs_record(good_job("good-1@example.com"), "m-good-1"),
        sqs_record(case.text(), "m-hostile"),
        sqs_record(good_job("good-2@example.com"), "m-good-2"),
    )

    response = app.lambda_handler(event, FakeLambdaContext())

    if not sqs_can_carry(case.text()):
        # A body SQS itself refuses (not UTF-8, over its size limit) cannot be copied: the
        # record fails and takes the redelivery path, as before; never lost.
        assert failed_ids(response) == ["m-hostile"]
        [error] = [exc_info[1] for exc_info in app.processor.exceptions]
        assert isinstance(error, InvalidWelcomeEmailJob)
        return
    assert failed_ids(response) == []
    [copy] = dead_letters(WELCOME_EMAIL_ENV["DEAD_LETTER_QUEUE_URL"])
    assert copy["Body"] == event["Records"][1]["body"]
    reason = {n: v["StringValue"] for n, v in copy["MessageAttributes"].items()}
    assert reason["ErrorType"] == InvalidWelcomeEmailJob.__name__
    assert f"{case.names}: " in reason["ErrorMessage"]
    assert case.says in reason["ErrorMessage"]
    assert len(reason["ErrorMessage"]) <= ERROR_MESSAGE_MAX_CHARS
    recipients = sorted(a for m in sent_emails for a in m.destinations["ToAddresses"])
    assert recipients == ["good-1@example.com", "good-2@example.com"]
    assert_never_repeated(case.never_repeated, json.dumps(reason), logs.text())
