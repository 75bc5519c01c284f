"""aws-samples/serverless-patterns lambda-esm-sqs-filters-sam, unchanged
(apps/lambda_esm_sqs_filters_sam).

One SNS topic fans out to six standard queues (AWS::SNS::Subscription, RawMessageDelivery),
each with its own function whose SQS mapping filters differently: none, prefix, anything-but,
cidr, a logical AND, a logical OR of three patterns. What Lambda documents: a message that
matches a mapping's filter invokes its function; one that matches none of them is deleted
from that queue without an invocation. The README publishes events/testMessage.json to the
topic, which every filter lets through.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.acceptance.conftest import APPS, RunningApp, deployed, eventually

APP = "lambda_esm_sqs_filters_sam"
KINDS = ("NoFilter", "Prefix", "AnythingBut", "IP", "And", "Or")

# The README's own message: every filter matches it.
EVERY_FILTER = json.loads((APPS / APP / "events" / "testMessage.json").read_text())
# us- region (Prefix), GA (not AnythingBut), outside 10.0.0.0/24 (not IP), rating 0 (not And),
# fileName metadata.txt (Or).
SOME_FILTERS = {
    "region": "us-west-2",
    "sourceIPAddress": "10.0.1.5",
    "rating": 0,
    "fileName": "metadata.txt",
    "address": {"country": "Canada", "street": "1 Main St", "city": "Toronto", "state": "GA"},
}
# No filter matches: eu- region, GA, 192.168/16, rating 7, another file, no USA address.
NO_FILTER = {
    "region": "eu-west-1",
    "sourceIPAddress": "192.168.0.1",
    "rating": 7,
    "fileName": "a.txt",
    "address": {"country": "FR", "city": "Paris", "state": "GA"},
}
# (messages invoked, messages filtered out) per queue after the three messages
EXPECTED = {
    "NoFilter": (3, 0),
    "Prefix": (2, 1),
    "AnythingBut": (1, 2),
    "IP": (1, 2),
    "And": (1, 2),
    "Or": (2, 1),
}


@pytest.fixture(scope="module")
def app() -> Iterator[RunningApp]:
    with deployed(APP, "lambda-esm-sqs-filters-sam") as running:
        yield running


def mapping(app: RunningApp, kind: str) -> Any:
    return app.mapping(f"EsmSqsFilterFunction{kind}", app.queue_arn(f"EsmSqsFilterQueue{kind}"))


def test_it_deploys_unchanged_with_each_filter(app: RunningApp) -> None:
    assert app.cloud.stack.unsupported_resources == ()
    assert mapping(app, "NoFilter").spec.filter_patterns == ()
    assert mapping(app, "IP").spec.filter_patterns == (
        '{"body":{"sourceIPAddress":[{ "cidr":"10.0.0.0/24"}]}}',
    )
    assert len(mapping(app, "Or").spec.filter_patterns) == 3
    subscriptions = app.client("sns").list_subscriptions_by_topic(
        TopicArn=app.cloud.stack.outputs["SNSArn"]
    )["Subscriptions"]
    assert sorted(item["Endpoint"] for item in subscriptions) == sorted(
        app.queue_arn(f"EsmSqsFilterQueue{kind}") for kind in KINDS
    )


def test_published_messages_reach_only_the_functions_whose_filters_match(
    app: RunningApp,
) -> None:
    sns = app.client("sns")
    topic = app.cloud.stack.outputs["SNSArn"]
    for message in (EVERY_FILTER, SOME_FILTERS, NO_FILTER):
        sns.publish(TopicArn=topic, Message=json.dumps(message))

    def settled() -> dict[str, tuple[int, int]]:
        stats = {kind: mapping(app, kind).stats() for kind in KINDS}
        return {kind: (item.received, item.filtered) for kind, item in stats.items()}

    eventually(lambda: settled() == EXPECTED, f"per-queue (invoked, filtered) {EXPECTED}")
    for kind in KINDS:
        # filtered messages were deleted, invoked ones too (the function succeeds)
        def empty(k: str = kind) -> bool:
            return app.depth(f"EsmSqsFilterQueue{k}") == (0, 0)

        eventually(empty, f"{kind} empty")
        stats = mapping(app, kind).stats()
        assert (stats.invocation_errors, stats.failed) == (0, 0)
        # one START line per invocation in the function's log, none for a filtered message
        starts = [
            line
            for line in app.lines(f"EsmSqsFilterFunction{kind}")
            if line.startswith("START RequestId")
        ]
        assert len(starts) == stats.batches
    assert settled() == EXPECTED  # nothing more arrived afterwards
