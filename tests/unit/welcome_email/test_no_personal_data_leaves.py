"""No personal data leaves WelcomeEmailFunction in its traces or its logs (issue #9).

One batch through the real handler: emails sent, one refused by SES (throttled on every
attempt), a malformed job copied to the DLQ. What X-Ray would receive under
template.yaml's tracer settings, and every log line at the template's level, are searched
for the addresses and names of the jobs, any email address, card-like number or secret.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from functions.welcome_email import app
from tests.support.events import load_event
from tests.support.privacy import TraceRecorder, logged_text, personal_data_in
from tests.unit.welcome_email.conftest import SENDER
from tests.unit.welcome_email.fakes import FakeLambdaContext, throttle_ses_send_email

NAMES = ["Ada Lovelace", "Grace Hopper", "Eve Malformed"]
ADDRESSES = ["ada@example.com", "grace@example.com", "eve@example.com"]


def test_welcome_email_traces_and_logs_carry_no_personal_data(
    sent_emails: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app.email_sender.cache_clear()
    app.poison_router.cache_clear()
    traces = TraceRecorder().install(monkeypatch)
    caplog.set_level(logging.INFO)  # template.yaml: POWERTOOLS_LOG_LEVEL INFO
    event = load_event("welcome_email_batch")
    malformed = dict(event["Records"][0])
    malformed["messageId"] = "m-malformed"
    malformed["body"] = json.dumps({"email": "eve@example.com", "name": "Eve Malformed"})
    event["Records"].append(malformed)
    with throttle_ses_send_email(monkeypatch, recipients={"grace@example.com"}):
        response = app.lambda_handler(event, FakeLambdaContext())

    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    assert len(failed) == 1  # Grace's, throttled; the malformed job was dead-lettered
    assert len(sent_emails) >= 1
    captured = capsys.readouterr()
    logs = (captured.out + captured.err).splitlines()
    logs += [logged_text(record) for record in caplog.records]
    assert any("welcome email sent" in line for line in logs), "no log line was captured"
    personal = [*NAMES, *ADDRESSES]
    assert personal_data_in(traces.would_leave("WelcomeEmailFunction"), personal) == []
    assert personal_data_in(logs, personal, system_addresses=[SENDER]) == []
    app.email_sender.cache_clear()
    app.poison_router.cache_clear()
