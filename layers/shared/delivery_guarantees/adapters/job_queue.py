"""Persisting jobs: the `JobQueue` protocol and its SQS implementation."""

from __future__ import annotations

import json
from typing import Any, Protocol

import boto3
from botocore.config import Config

# SendMessage answers in milliseconds; a stuck call is retried once by the SDK (standard
# mode) rather than holding the signup answer (HTTP APIs give up at 30 s).
SQS_CLIENT_CONFIG = Config(
    connect_timeout=1.0, read_timeout=3.0, retries={"mode": "standard", "total_max_attempts": 3}
)


class JobQueue(Protocol):
    def enqueue(self, queue_url: str, body: dict[str, Any]) -> str:
        """Persist one job on the queue and return its message ID. Raises if it was not stored."""
        ...


class SqsJobQueue:
    """`SendMessage` with a JSON body. A returned message ID means SQS has stored the job."""

    def __init__(self, client: Any | None = None) -> None:
        self._client = client

    @property
    def _sqs(self) -> Any:
        # Created on first use, never at import.
        if self._client is None:
            self._client = boto3.client("sqs", config=SQS_CLIENT_CONFIG)
        return self._client

    def enqueue(self, queue_url: str, body: dict[str, Any]) -> str:
        response = self._sqs.send_message(
            QueueUrl=queue_url, MessageBody=json.dumps(body, separators=(",", ":"), sort_keys=True)
        )
        message_id: str = response["MessageId"]
        return message_id
