"""Event source mappings: pollers that feed queue messages to the local Lambda service."""

from local_cloud.errors import InvalidEventSourceMapping
from local_cloud.event_sources.batch_response import BatchMessage, Settlement, settle_batch
from local_cloud.event_sources.sqs_event import lambda_event, lambda_record
from local_cloud.event_sources.sqs_poller import (
    BatchReport,
    FunctionInvoker,
    MappingStats,
    SqsEventSourcePoller,
)

__all__ = [
    "BatchMessage",
    "BatchReport",
    "FunctionInvoker",
    "InvalidEventSourceMapping",
    "MappingStats",
    "Settlement",
    "SqsEventSourcePoller",
    "lambda_event",
    "lambda_record",
    "settle_batch",
]
