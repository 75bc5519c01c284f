"""What `send` puts on a queue: --body is any text, as SQS takes it; an SQS event file gives
each record's body with its FIFO IDs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from local_cloud.cli import message_bodies
from local_cloud.errors import CommandError


def args(body: str | None = None, event: Path | None = None) -> argparse.Namespace:
    return argparse.Namespace(body=body, event=event)


@pytest.mark.parametrize("body", ["plain text, not JSON", '{"amount": 5}', "<xml/>", " "])
def test_a_body_is_sent_as_given_json_or_not(body: str) -> None:
    assert message_bodies(args(body=body)) == [{"body": body}]


def test_an_sqs_event_file_gives_each_records_body_and_fifo_ids(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    record = {
        "eventSource": "aws:sqs",
        "body": "text",
        "attributes": {"MessageGroupId": "g", "MessageDeduplicationId": "d"},
    }
    event.write_text(json.dumps({"Records": [record]}))
    assert message_bodies(args(event=event)) == [
        {"body": "text", "group_id": "g", "deduplication_id": "d"}
    ]


def test_a_record_that_is_not_from_sqs_is_named(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"Records": [{"eventSource": "aws:sns", "body": "x"}]}))
    with pytest.raises(CommandError, match=r"Records\[0\] is not an SQS record"):
        message_bodies(args(event=event))
