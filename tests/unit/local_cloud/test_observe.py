"""Observations made from outside the stack, in one module: queue depth from one
GetQueueAttributes, and the provider's PaymentIntents page after page. No sockets: moto in
process, and urlopen replaced by pages of JSON."""

from __future__ import annotations

import io
import json
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from moto import mock_aws

from local_cloud import observe


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def test_queue_depth_counts_waiting_and_in_flight(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(n))
    assert observe.queue_depth(sqs, url) == (3, 0)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)
    depth = observe.queue_depth(sqs, url)
    assert (depth.visible, depth.in_flight, depth.total) == (1, 2, 3)


def test_a_missing_count_is_zero() -> None:
    assert observe.depth_of({}) == (0, 0)


def test_payment_intents_follow_has_more(monkeypatch: pytest.MonkeyPatch) -> None:
    intents = [
        {"id": f"pi_{n}", "metadata": {"transaction_id": f"txn_{n % 3}"}} for n in range(250)
    ]
    asked: list[dict[str, list[str]]] = []

    def urlopen(request: urllib.request.Request, timeout: float) -> io.BytesIO:
        assert request.get_header("Authorization") == "Bearer sk_test_x"
        query = parse_qs(urlsplit(request.full_url).query)
        asked.append(query)
        start = 0
        if "starting_after" in query:
            start = (
                next(i for i, p in enumerate(intents) if p["id"] == query["starting_after"][0]) + 1
            )
        page = intents[start : start + int(query["limit"][0])]
        return io.BytesIO(
            json.dumps({"data": page, "has_more": start + len(page) < len(intents)}).encode()
        )

    monkeypatch.setattr(observe.urllib.request, "urlopen", urlopen)
    assert [p["id"] for p in observe.payment_intents("http://provider", "sk_test_x")] == [
        p["id"] for p in intents
    ]
    assert [q.get("starting_after") for q in asked] == [None, ["pi_99"], ["pi_199"]]
    found = observe.intents_for("http://provider", "sk_test_x", "txn_1")
    assert len(found) == len([n for n in range(250) if n % 3 == 1])
