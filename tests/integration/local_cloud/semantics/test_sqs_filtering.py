"""FilterCriteria on an SQS event source, end to end: SAM template, deployment, poller, worker.

Lambda's rule ("Control which events Lambda sends to your function", "Properly filtering
Amazon SQS messages"): a message that matches no filter is deleted from the queue without
an invocation; a non-JSON body cannot match a JSON pattern on `body`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local_cloud.cloud import LocalCloud, Settings
from local_cloud.observe import queue_depth

REPO = Path(__file__).resolve().parents[4]

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  DeadLetters:
    Type: AWS::SQS::Queue
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 30
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DeadLetters.Arn
        maxReceiveCount: 1
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: index.handler
      Timeout: 10
      InlineCode: |
        import json
        def handler(event, context):
            for record in event["Records"]:
                json.loads(record["body"])  # a plain-text body would fail the batch
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            FilterCriteria:
              Filters:
                - Pattern: '{"body": {"kind": ["charge"]}}'
Outputs:
  JobsUrl:
    Value: !Ref Jobs
  DeadLettersUrl:
    Value: !Ref DeadLetters
"""


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE)
    settings = Settings(
        template=template,
        stack=f"filtering-{uuid.uuid4().hex[:8]}",
        state_dir=REPO / ".local-cloud",
    )
    with LocalCloud(settings, endpoint_port=None, serve_http_apis=False) as running:
        yield running


def _counts(sqs: Any, url: str) -> tuple[int, int]:
    return queue_depth(sqs, url)


def _wait_until(condition: Any, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.2)


def test_only_matching_messages_invoke_the_function_and_the_others_are_deleted(
    cloud: LocalCloud,
) -> None:
    (poller,) = cloud.pollers
    assert poller.spec.filter_patterns == ('{"body": {"kind": ["charge"]}}',)
    sqs = boto3.client("sqs", endpoint_url=cloud.stack.endpoint_url, region_name="us-east-1")
    jobs, dead_letters = cloud.stack.outputs["JobsUrl"], cloud.stack.outputs["DeadLettersUrl"]

    charge = sqs.send_message(QueueUrl=jobs, MessageBody=json.dumps({"kind": "charge"}))
    sqs.send_message(QueueUrl=jobs, MessageBody=json.dumps({"kind": "refund"}))
    sqs.send_message(QueueUrl=jobs, MessageBody="kind=charge, but not JSON")

    _wait_until(lambda: poller.stats().filtered == 2, "two messages filtered out")
    _wait_until(lambda: poller.stats().batches == 1, "one invocation")
    _wait_until(lambda: _counts(sqs, jobs) == (0, 0), "the queue empty")

    stats = poller.stats()
    assert (stats.received, stats.deleted, stats.failed, stats.invocation_errors) == (1, 1, 0, 0)
    (batch,) = poller.recent_batches()
    assert batch.message_ids == (charge["MessageId"],)
    assert batch.result is not None
    assert batch.result.error is None
    assert _counts(sqs, dead_letters) == (0, 0)  # deleted, not dead-lettered
    assert poller.stats().batches == 1  # and nothing came back to invoke again
