"""The rules Lambda enforces when it creates an SQS event source mapping, in Lambda's wording.

One place for them: the deployer checks a template's mappings here before anything runs
(stack/deploy.py), and the poller checks a mapping it is given directly (sqs_poller.py), so
a mapping is refused the same way, with the same message and the same exception, wherever it
comes from. AWS answers CreateEventSourceMapping with InvalidParameterValueException; the
message names the mapping's logical ID, its type and every rule it breaks.

The visibility-timeout rule needs two values the spec does not hold (the queue's
VisibilityTimeout and the function's Timeout); callers pass them when they know them.
"""

from __future__ import annotations

from local_cloud.errors import InvalidEventSourceMapping
from local_cloud.event_sources.filtering import InvalidFilterCriteria, compile_filters
from local_cloud.event_sources.sqs_event import region_of
from local_cloud.model import SqsEventSourceSpec

# "Amazon SQS event source mapping parameters" and CreateEventSourceMapping's API reference.
MAX_BATCH_SIZE_STANDARD = 10_000
MAX_BATCH_SIZE_FIFO = 10
MAX_BATCHING_WINDOW_SECONDS = 300
MAXIMUM_CONCURRENCY_RANGE = (2, 1000)


def problems(
    spec: SqsEventSourceSpec,
    *,
    function_timeout_seconds: int | None = None,
    visibility_timeout_seconds: int | None = None,
) -> list[str]:
    """Every rule spec breaks, each in Lambda's words; empty when CreateEventSourceMapping
    would accept it."""
    found: list[str] = []
    try:
        region_of(spec.queue_arn)
    except ValueError as error:
        found.append(f"EventSourceArn: {error}")
    if (
        function_timeout_seconds is not None
        and visibility_timeout_seconds is not None
        and function_timeout_seconds > visibility_timeout_seconds
    ):
        found.append(
            f"Queue visibility timeout: {visibility_timeout_seconds} seconds is less than "
            f"Function timeout: {function_timeout_seconds} seconds"
        )
    window = spec.maximum_batching_window_seconds
    if spec.is_fifo and window > 0:
        found.append("Batching window is not supported for FIFO queues")
    if not 0 <= window <= MAX_BATCHING_WINDOW_SECONDS:
        found.append(
            f"MaximumBatchingWindowInSeconds {window} is outside 0-{MAX_BATCHING_WINDOW_SECONDS}"
        )
    limit = MAX_BATCH_SIZE_FIFO if spec.is_fifo else MAX_BATCH_SIZE_STANDARD
    if not 1 <= spec.batch_size <= limit:
        kind = "FIFO" if spec.is_fifo else "standard"
        found.append(f"BatchSize {spec.batch_size} is outside 1-{limit} for a {kind} queue")
    if spec.batch_size > 10 and window < 1 and not spec.is_fifo:
        found.append(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size "
            "is greater than 10"
        )
    concurrency = spec.maximum_concurrency
    low, high = MAXIMUM_CONCURRENCY_RANGE
    if concurrency is not None and not low <= concurrency <= high:
        found.append(f"ScalingConfig.MaximumConcurrency {concurrency} is outside {low}-{high}")
    try:
        compile_filters(spec.filter_patterns)
    except InvalidFilterCriteria as error:
        found.append(str(error))
    return found


def check(
    spec: SqsEventSourceSpec,
    *,
    function_timeout_seconds: int | None = None,
    visibility_timeout_seconds: int | None = None,
) -> None:
    """Raise InvalidEventSourceMapping naming every rule spec breaks, as Lambda would."""
    found = problems(
        spec,
        function_timeout_seconds=function_timeout_seconds,
        visibility_timeout_seconds=visibility_timeout_seconds,
    )
    if found:
        raise InvalidEventSourceMapping(
            f"{spec.logical_id} (AWS::Lambda::EventSourceMapping): "
            "InvalidParameterValueException: " + "; ".join(found)
        )
