"""aws-samples/serverless-patterns sqs-lambda-lmi-esm-provisioned-sam, unchanged
(apps/sqs_lambda_lmi_esm_provisioned_sam).

What its README documents: send `{"orderId": "123", "amount": 99.99}` and then ten more
orders to the queue of the `QueueUrl` Output; the explicit AWS::Lambda::EventSourceMapping
(BatchSize 10, MaximumBatchingWindowInSeconds 5, ReportBatchItemFailures) invokes
ProcessorFunction, which logs "Processing message" for each. What AWS documents for partial
batch responses: a record the function reports in `batchItemFailures` is not deleted (it
comes back after the visibility timeout, 90 s here, and after 3 receives goes to the DLQ:
the test stops at the first failure, not waiting 4.5 minutes) while the rest of its batch
is deleted.

What the local cloud does not run, and says so: the capacity provider (Lambda Managed
Instances on EC2 in the template's VPC) is reported as not created, and the function runs
in local workers; the mapping's ProvisionedPollerConfig is named in a warning.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from tests.acceptance.conftest import RunningApp, deployed, eventually

APP = "sqs_lambda_lmi_esm_provisioned_sam"
STACK = "sqs-lmi-esm"
FUNCTION = "ProcessorFunction"
README_ORDER = {"orderId": "123", "amount": 99.99}


@pytest.fixture(scope="module")
def app() -> Iterator[RunningApp]:
    with deployed(APP, STACK) as running:
        yield running


def processed(app: RunningApp) -> int:
    return sum("Processing message" in line for line in app.lines(FUNCTION))


def test_it_deploys_unchanged_with_its_explicit_mapping(app: RunningApp) -> None:
    assert [
        (note.logical_id, note.resource_type) for note in app.cloud.stack.unsupported_resources
    ] == [("CapacityProvider", "AWS::Lambda::CapacityProvider")]
    outputs = app.cloud.stack.outputs
    mapping = app.mapping(FUNCTION, outputs["QueueArn"])
    spec = mapping.spec
    assert spec.logical_id == "SQSEventSourceMapping"
    assert (spec.batch_size, spec.maximum_batching_window_seconds) == (10, 5)
    assert spec.report_batch_item_failures
    # Refs to what the endpoint does not create resolve as CloudFormation's would
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", outputs[
        "EventSourceMappingId"
    ])  # fmt: skip
    assert outputs["CapacityProviderArn"] == (
        f"arn:aws:lambda:us-east-1:123456789012:capacity-provider:{STACK}-capacity-provider"
    )
    assert app.cloud.deployment is not None
    warnings = app.cloud.deployment.warnings
    assert any(w.startswith("SQSEventSourceMapping: ProvisionedPollerConfig") for w in warnings)
    assert any(w.startswith(f"{FUNCTION}: CapacityProviderConfig") for w in warnings)


def test_the_readmes_orders_are_each_processed_once(app: RunningApp) -> None:
    sqs = app.client("sqs")
    url = app.cloud.stack.outputs["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(README_ORDER))
    for number in range(1, 11):
        order = {"orderId": str(number), "amount": number * 7 % 100}
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(order))
    eventually(lambda: processed(app) >= 11, "11 messages processed")
    eventually(lambda: app.depth("MessageQueue") == (0, 0), "MessageQueue empty")
    assert processed(app) == 11
    assert app.depth("DeadLetterQueue") == (0, 0)


def test_a_record_the_function_reports_failed_is_kept_and_its_batch_deleted(
    app: RunningApp,
) -> None:
    sqs = app.client("sqs")
    url = app.cloud.stack.outputs["QueueUrl"]
    before = processed(app)
    bad = sqs.send_message(QueueUrl=url, MessageBody="not json")["MessageId"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"orderId": "good", "amount": 1}))
    failed = f"Failed to process record {bad}"
    eventually(
        lambda: any(failed in line for line in app.lines(FUNCTION)), "the bad record reported"
    )
    eventually(lambda: processed(app) == before + 1, "the good record processed")
    # The failed record stays in flight for the visibility timeout; the good one is gone
    eventually(lambda: app.depth("MessageQueue") == (0, 1), "only the bad record in flight")
    assert app.depth("DeadLetterQueue") == (0, 0)
