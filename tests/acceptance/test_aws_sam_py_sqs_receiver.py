"""jeyabalajis/aws_sam_py_sqs_receiver, unchanged (apps/aws_sam_py_sqs_receiver): the first app
here from a publisher that is not an AWS organisation (an individual, MIT licence).

What its README documents: MySqsQueue feeds MySQSQueueFunction through an SQS event with a
batch size of 10; the handler prints `test`, then the body, for each record (its own
`event/event.json` gives `test` / `Hello from SQS!`). The function has no CodeUri, so
`sam build` builds it from the template's directory. It never fails and does not report
batch item failures, so what Lambda documents for a batch that succeeds applies: every
message is deleted once its batch returns.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.acceptance.conftest import APPS, RunningApp, deployed, eventually

pytestmark = pytest.mark.acceptance_fast

APP = "aws_sam_py_sqs_receiver"
FUNCTION = "MySQSQueueFunction"
QUEUE = "MySqsQueue"


@pytest.fixture(scope="module")
def app() -> Iterator[RunningApp]:
    with deployed(APP, "aws-sam-py-sqs-receiver") as running:
        yield running


def printed(app: RunningApp, bodies: list[str]) -> tuple[int, list[str]]:
    """How many `test` lines the function printed, and which of `bodies` it printed (in the
    order seen). The handler prints both per record; concurrent batches may interleave."""
    lines = app.lines(FUNCTION)
    return lines.count("test"), [line for line in lines if line in set(bodies)]


def test_it_deploys_unchanged_with_the_documented_mapping(app: RunningApp) -> None:
    assert app.cloud.stack.unsupported_resources == ()
    poller = app.mapping(FUNCTION, app.queue_arn(QUEUE))
    assert (poller.spec.batch_size, poller.spec.report_batch_item_failures) == (10, False)
    # python3.8 runs on this machine's interpreter, and the deploy says so, and that AWS
    # would refuse to create the function (past python3.8's create block)
    assert app.cloud.deployment is not None
    notes = [
        w for w in app.cloud.deployment.warnings if w.startswith(f"{FUNCTION}: runtime python3.8")
    ]
    assert len(notes) == 1
    assert "runs on this machine's" in notes[0]
    assert "would not deploy on AWS unchanged" in notes[0]


def test_every_message_is_printed_once_and_deleted(app: RunningApp) -> None:
    sample = json.loads((APPS / APP / "event" / "event.json").read_text())
    bodies = [record["body"] for record in sample["Records"]]
    bodies += [json.dumps({"order": n, "item": f"sku-{n}"}) for n in range(14)]
    sqs = app.client("sqs")
    url = app.queue_url(QUEUE)
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)

    eventually(lambda: len(printed(app, bodies)[1]) >= len(bodies), f"{len(bodies)} printed")
    eventually(lambda: app.depth(QUEUE) == (0, 0), f"{QUEUE} empty")
    tests, seen = printed(app, bodies)
    assert sorted(seen) == sorted(bodies)  # each once, none lost, none repeated
    assert tests == len(bodies)  # and `test` before each
    stats = app.mapping(FUNCTION, app.queue_arn(QUEUE)).stats()
    assert (stats.deleted, stats.failed, stats.invocation_errors) == (len(bodies), 0, 0)
    assert stats.batches >= 2  # 15 messages, at most 10 a batch


def test_the_readmes_local_invoke_prints_what_it_shows(app: RunningApp) -> None:
    """`sam local invoke --event ./event/event.json` prints `test` then `Hello from SQS!`."""
    event = json.loads((APPS / APP / "event" / "event.json").read_text())
    result = app.cloud.lambda_service.invoke(FUNCTION, event)
    assert result.error is None
    assert result.payload is None  # the handler returns nothing
    lines = result.logs.splitlines()  # this invocation's log, START to REPORT
    assert lines[0].startswith(f"START RequestId: {result.request_id}")
    assert lines[1:3] == ["test", "Hello from SQS!"]
    assert lines[3].startswith(f"END RequestId: {result.request_id}")
