"""Lambda's deploy-time rules for SQS mappings, the not-created report, alarm requests."""

from __future__ import annotations

import pytest

from local_cloud.model import SqsEventSourceSpec
from local_cloud.stack.errors import DeploymentError
from local_cloud.stack.specs import (
    alarm_request,
    check_sqs_event_source,
    not_created,
    sqs_event_source_spec,
)

STANDARD = "arn:aws:sqs:us-east-1:123456789012:jobs"
FIFO = "arn:aws:sqs:us-east-1:123456789012:jobs.fifo"


def spec(arn: str = STANDARD, **overrides: object) -> SqsEventSourceSpec:
    values: dict[str, object] = {
        "logical_id": "Mapping",
        "function_name": "fn",
        "queue_arn": arn,
        "queue_url": "http://127.0.0.1/123456789012/jobs",
    }
    return SqsEventSourceSpec(**{**values, **overrides})  # type: ignore[arg-type]


def test_properties_become_a_spec_with_aws_defaults() -> None:
    minimal = sqs_event_source_spec(
        "M", {"EventSourceArn": STANDARD}, function_name="fn", queue_url="u"
    )
    assert (minimal.batch_size, minimal.maximum_batching_window_seconds) == (10, 0)
    assert minimal.report_batch_item_failures is False
    assert minimal.maximum_concurrency is None
    assert minimal.enabled is True
    full = sqs_event_source_spec(
        "M",
        {
            "EventSourceArn": FIFO,
            "BatchSize": "5",
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": 3},
            "Enabled": "false",
        },
        function_name="fn",
        queue_url="u",
    )
    assert full.is_fifo
    assert (full.batch_size, full.maximum_concurrency, full.enabled) == (5, 3, False)
    assert full.report_batch_item_failures is True


def test_a_function_timeout_above_the_visibility_timeout_fails_with_lambdas_message() -> None:
    with pytest.raises(DeploymentError) as raised:
        check_sqs_event_source(spec(), function_timeout_seconds=60, visibility_timeout_seconds=30)
    assert "Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds" in str(
        raised.value
    )
    # equal is accepted by AWS (though the house rule asks for 6x)
    check_sqs_event_source(spec(), function_timeout_seconds=30, visibility_timeout_seconds=30)


def test_a_batch_above_ten_needs_a_window() -> None:
    with pytest.raises(DeploymentError, match="Maximum batch window in seconds must be greater"):
        check_sqs_event_source(
            spec(batch_size=11), function_timeout_seconds=3, visibility_timeout_seconds=30
        )
    check_sqs_event_source(
        spec(batch_size=11, maximum_batching_window_seconds=1),
        function_timeout_seconds=3,
        visibility_timeout_seconds=30,
    )


def test_fifo_takes_no_window_and_at_most_ten() -> None:
    with pytest.raises(DeploymentError, match="Batching window is not supported for FIFO queues"):
        check_sqs_event_source(
            spec(FIFO, maximum_batching_window_seconds=1),
            function_timeout_seconds=3,
            visibility_timeout_seconds=30,
        )
    with pytest.raises(DeploymentError, match="BatchSize 11 is outside 1-10"):
        check_sqs_event_source(
            spec(FIFO, batch_size=11), function_timeout_seconds=3, visibility_timeout_seconds=30
        )


def test_maximum_concurrency_range() -> None:
    with pytest.raises(DeploymentError, match="MaximumConcurrency 1"):
        check_sqs_event_source(
            spec(maximum_concurrency=1), function_timeout_seconds=3, visibility_timeout_seconds=30
        )


def test_every_resource_the_endpoint_did_not_create_is_reported() -> None:
    expected = {
        "Queue": "AWS::SQS::Queue",
        "Api": "AWS::ApiGatewayV2::Api",
        "Stage": "AWS::ApiGatewayV2::Stage",
        "Mapping": "AWS::Lambda::EventSourceMapping",
    }
    missing = not_created(
        expected, created=["Queue"], handled_types=["AWS::Lambda::EventSourceMapping"]
    )
    assert missing == [("Api", "AWS::ApiGatewayV2::Api"), ("Stage", "AWS::ApiGatewayV2::Stage")]


def test_alarm_properties_become_put_metric_alarm_arguments() -> None:
    request = alarm_request(
        "ErrorsAlarm",
        {
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Period": "60",
            "EvaluationPeriods": 1,
            "Threshold": "1",
            "ActionsEnabled": "true",
            "Tags": [{"Key": "team", "Value": "payments"}],
        },
        "my-stack",
    )
    assert request["AlarmName"] == "my-stack-ErrorsAlarm"
    assert (request["Period"], request["Threshold"], request["ActionsEnabled"]) == (60, 1.0, True)
    assert request["Tags"] == [{"Key": "team", "Value": "payments"}]
    named = alarm_request("A", {"AlarmName": "explicit"}, "s")
    assert named["AlarmName"] == "explicit"
