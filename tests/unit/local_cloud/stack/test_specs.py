"""Specs from template properties, the not-created report, alarm requests. (Lambda's rules
for SQS mappings: tests/unit/local_cloud/event_sources/test_mapping_rules.py.)"""

from __future__ import annotations

from local_cloud.model import SqsEventSourceSpec
from local_cloud.stack.specs import (
    alarm_request,
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
