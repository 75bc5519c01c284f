"""Lambda's rules for an SQS event source mapping, in one module used by the deployer and the
poller: every rule in Lambda's wording, and both callers refusing the same mapping with the
same exception and message."""

from __future__ import annotations

from typing import Any

import pytest

from local_cloud.errors import DeploymentError, InvalidEventSourceMapping, LocalCloudError
from local_cloud.event_sources import SqsEventSourcePoller, mapping_rules
from local_cloud.model import SqsEventSourceSpec

STANDARD = "arn:aws:sqs:us-east-1:123456789012:jobs"
FIFO = "arn:aws:sqs:us-east-1:123456789012:jobs.fifo"


def spec(arn: str = STANDARD, **overrides: Any) -> SqsEventSourceSpec:
    values: dict[str, Any] = {
        "logical_id": "Mapping",
        "function_name": "fn",
        "queue_arn": arn,
        "queue_url": "http://127.0.0.1/123456789012/jobs",
    }
    return SqsEventSourceSpec(**{**values, **overrides})


@pytest.mark.parametrize(
    ("mapping", "complaint"),
    [
        (spec(batch_size=0), "BatchSize 0 is outside 1-10000 for a standard queue"),
        (
            spec(batch_size=10_001, maximum_batching_window_seconds=1),
            "BatchSize 10001 is outside 1-10000 for a standard queue",
        ),
        (spec(FIFO, batch_size=11), "BatchSize 11 is outside 1-10 for a FIFO queue"),
        (
            spec(batch_size=11),
            "Maximum batch window in seconds must be greater than 0 if maximum batch size "
            "is greater than 10",
        ),
        (
            spec(maximum_batching_window_seconds=301),
            "MaximumBatchingWindowInSeconds 301 is outside 0-300",
        ),
        (
            spec(FIFO, maximum_batching_window_seconds=1),
            "Batching window is not supported for FIFO queues",
        ),
        (spec(maximum_concurrency=1), "ScalingConfig.MaximumConcurrency 1 is outside 2-1000"),
        (spec(maximum_concurrency=1001), "ScalingConfig.MaximumConcurrency 1001 is outside"),
        (spec("jobs"), "EventSourceArn: not an SQS queue ARN: 'jobs'"),
        (
            spec(filter_patterns=('{"body": {"kind": "charge"}}',)),
            "FilterCriteria.Filters[0].Pattern: invalid filter pattern definition: body.kind",
        ),
    ],
)
def test_each_rule_refuses_in_lambdas_words(mapping: SqsEventSourceSpec, complaint: str) -> None:
    with pytest.raises(InvalidEventSourceMapping) as raised:
        mapping_rules.check(mapping)

    message = str(raised.value)
    assert message.startswith(
        "Mapping (AWS::Lambda::EventSourceMapping): InvalidParameterValueException: "
    )
    assert complaint in message


@pytest.mark.parametrize(
    "mapping",
    [
        spec(),
        spec(batch_size=10_000, maximum_batching_window_seconds=300),
        spec(FIFO, batch_size=10),
        spec(batch_size=11, maximum_batching_window_seconds=1),
        spec(maximum_concurrency=2),
        spec(maximum_concurrency=1000),
        spec(filter_patterns=('{"body": {"kind": ["charge"]}}',)),
    ],
)
def test_what_lambda_accepts_passes(mapping: SqsEventSourceSpec) -> None:
    assert mapping_rules.problems(mapping) == []
    mapping_rules.check(mapping)


def test_a_function_timeout_above_the_visibility_timeout_is_refused() -> None:
    with pytest.raises(InvalidEventSourceMapping) as raised:
        mapping_rules.check(spec(), function_timeout_seconds=60, visibility_timeout_seconds=30)
    assert "Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds" in str(
        raised.value
    )
    # Equal is accepted by AWS (though the house rule asks for 6x); unknown values skip it.
    mapping_rules.check(spec(), function_timeout_seconds=30, visibility_timeout_seconds=30)
    mapping_rules.check(spec(), function_timeout_seconds=60)


def test_every_broken_rule_is_named_at_once() -> None:
    found = mapping_rules.problems(
        spec(FIFO, batch_size=20, maximum_batching_window_seconds=5, maximum_concurrency=1),
        function_timeout_seconds=60,
        visibility_timeout_seconds=30,
    )
    assert len(found) == 4  # visibility, FIFO window, FIFO batch size, concurrency


def test_a_refused_mapping_is_a_deployment_error_the_cli_reports() -> None:
    # One type, whoever checks: the deployer's callers catch DeploymentError, the CLI catches
    # LocalCloudError, code that only knew ValueError still does.
    assert issubclass(InvalidEventSourceMapping, DeploymentError)
    assert issubclass(InvalidEventSourceMapping, LocalCloudError)
    assert issubclass(InvalidEventSourceMapping, ValueError)


class _NoLambda:
    def invoke(self, function_name_or_logical_id: str, event: Any) -> Any:
        raise AssertionError("not invoked")

    def function(self, name_or_logical_id: str) -> Any:
        raise AssertionError("not looked up")

    def concurrency_limit(self, name_or_logical_id: str) -> int:
        return 10


def test_the_poller_refuses_a_mapping_with_the_deployers_message() -> None:
    mapping = spec(FIFO, batch_size=11)
    with pytest.raises(InvalidEventSourceMapping) as from_rules:
        mapping_rules.check(mapping)
    with pytest.raises(InvalidEventSourceMapping) as from_poller:
        SqsEventSourcePoller(
            mapping,
            _NoLambda(),
            endpoint_url="http://127.0.0.1:1",
            region="us-east-1",
            client_factory=lambda: None,
        )
    assert str(from_poller.value) == str(from_rules.value)
