"""aws-powertools/powertools-lambda-python's SQS batch processing example, as its docs
(docs/utilities/batch.md, "Processing messages from SQS") put it together: the SAM template
examples/batch_processing/sam/sqs_batch_processing.yaml with getting_started_sqs.py as
hello_world/app.py (apps/powertools_sqs_batch_processing, see its SOURCE.md).

What the docs document: each record's body is read as JSON (`record.json_body`); a record
whose body is not JSON fails alone and is reported in `batchItemFailures`
(getting_started_sqs_response.json for getting_started_sqs_event.json), so SQS deletes the
others and redelivers only it; after maxReceiveCount (2) receives SQS moves it to SampleDLQ.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.acceptance.conftest import APPS, RunningApp, deployed, eventually

APP = "powertools_sqs_batch_processing"
EVENTS = APPS / APP / "events"
# Two visibility timeouts of 30 s pass before the DLQ move, on a loaded machine
DLQ_DEADLINE_SECONDS = 300.0


@pytest.fixture(scope="module")
def app() -> Iterator[RunningApp]:
    with deployed(APP, "powertools-sqs-batch") as running:
        yield running


def logged_payloads(app: RunningApp) -> list[Any]:
    """The `message` of each of the function's Powertools Logger INFO lines."""
    payloads = []
    for line in app.lines("HelloWorldFunction"):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") == "INFO":
            payloads.append(entry.get("message"))
    return payloads


def test_it_deploys_unchanged(app: RunningApp) -> None:
    assert app.cloud.stack.unsupported_resources == ()
    poller = app.mapping("HelloWorldFunction", app.queue_arn("SampleQueue"))
    assert poller.spec.report_batch_item_failures


def test_the_docs_event_gets_the_docs_response(app: RunningApp) -> None:
    event = json.loads((EVENTS / "getting_started_sqs_event.json").read_text())
    result = app.cloud.lambda_service.invoke("HelloWorldFunction", event)
    assert result.error is None
    assert result.payload == json.loads((EVENTS / "getting_started_sqs_response.json").read_text())


def test_only_the_bad_record_is_redelivered_then_dead_lettered(app: RunningApp) -> None:
    sample = json.loads((EVENTS / "getting_started_sqs_event.json").read_text())
    good, bad = (record["body"] for record in sample["Records"])  # JSON, then base64 text
    bodies = [good, *(json.dumps({"Message": f"order {n}"}) for n in range(5)), bad]
    sqs = app.client("sqs")
    url = app.queue_url("SampleQueue")
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    expected = [json.loads(body) for body in bodies if body != bad]

    eventually(
        lambda: all(payload in logged_payloads(app) for payload in expected),
        "every JSON record logged",
    )
    in_dlq = "the bad record in SampleDLQ"
    eventually(lambda: app.depth("SampleDLQ") == (1, 0), in_dlq, DLQ_DEADLINE_SECONDS)
    eventually(lambda: app.depth("SampleQueue") == (0, 0), "SampleQueue empty")
    dead = sqs.receive_message(
        QueueUrl=app.queue_url("SampleDLQ"), AttributeNames=["ApproximateReceiveCount"]
    )["Messages"]
    assert [message["Body"] for message in dead] == [bad]
    stats = app.mapping("HelloWorldFunction", app.queue_arn("SampleQueue")).stats()
    assert stats.deleted == len(expected)  # each good record deleted once, never redelivered
    # The bad record failed on both receives, alone: reported in batchItemFailures when it
    # shared its batch, or, alone in it, Powertools' documented default for a batch whose
    # every record failed (raise_on_entire_batch_failure: "All records failed processing").
    assert stats.failed == 2
    assert stats.partial_batch_failures + stats.whole_batch_failures == 2
    logged = logged_payloads(app)
    for payload in expected[1:]:  # `good` is also the docs event's first record
        assert logged.count(payload) == 1, payload
