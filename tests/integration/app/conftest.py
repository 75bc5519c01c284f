"""The deployed application, on the local cloud (always) or on LocalStack (opt-in).

One stack serves every app module of a pytest process (`shared_stack`, session scope: one
per pytest-xdist worker on the local cloud, the deployed one on LocalStack), as tests share
a stack in an AWS account: each test keys what it checks by IDs of its own or reads shared
state as of its own start, and each module cleans up after itself (`stack`). Two modules
deploy a stack of their own instead: test_hostile_corpus and test_permissions_match_calls.

Tests talk to the stack as they would on AWS: boto3 clients, resources found through
the stack's Outputs, effects observed from outside (SES's sent-email listing, the
payment provider's list of payment intents, the ledger table).

LocalStack: deploy the stack there first (`samlocal deploy`, stack delivery-guarantees),
then run `AWS_ENDPOINT_URL=http://localhost:4566 make integration`. Set
PAYMENT_PROVIDER_URL to the provider the deployed billing function talks to (for
example a `python -m local_cloud.payment_provider` reachable from LocalStack's Lambda
containers) to check charges at the provider too.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import localstack_client.session
import pytest

from local_cloud import observe
from local_cloud.cloud import LocalCloud, load_settings
from local_cloud.endpoint import EndpointFaults, is_answering
from local_cloud.operations.dlq import dead_letter_queues, find_queue
from local_cloud.operations.dlq import redrive as redrive_dlq
from local_cloud.payment_provider.control import PaymentProviderControl

REPO = Path(__file__).resolve().parents[3]
STACK = "delivery-guarantees"


def stack_name(worker: str | None = None, base: str = STACK) -> str:
    """The stack the app tests deploy on the local cloud: local-cloud.toml's (or `base`, for
    a module's stack of its own), suffixed with the pytest-xdist worker's name where one
    runs the modules (`make test`), so that the stacks of two workers never build the same
    stack's directory at once."""
    worker = os.environ.get("PYTEST_XDIST_WORKER") if worker is None else worker
    return f"{base}-{worker}" if worker else base


TEST_KEY = "sk_test_local_not_a_real_key_0000000000"


@dataclass
class StackUnderTest:
    name: str
    stack_name: str  # CloudFormation's
    endpoint_url: str
    outputs: dict[str, str]
    # (function name, event) -> (payload, Lambda's error object or None)
    invoke_function: Callable[[str, dict[str, Any]], tuple[Any, dict[str, Any] | None]]
    provider_url: str | None
    provider_key: str
    # Where clients come from: boto3 pointed at this endpoint, or (on LocalStack) a
    # localstack_client session, which finds LocalStack as awslocal does.
    new_client: Callable[[str], Any] | None = None
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        """One client per service for the stack's life: the waits below poll through these
        several times a second, and building a boto3 client each time cost 4 ms of CPU
        (16 ms of wall time at load 13) per look. Clients are thread-safe to share."""
        if service not in self._clients:
            self._clients[service] = (
                self.new_client(service)
                if self.new_client is not None
                else boto3.client(service, endpoint_url=self.endpoint_url, region_name="us-east-1")
            )
        return self._clients[service]

    def invoke(self, output_key: str, event: dict[str, Any]) -> dict[str, Any]:
        payload, error = self.invoke_function(self.outputs[output_key], event)
        assert error is None, error
        result: dict[str, Any] = payload
        return result

    def invoke_expecting_error(self, output_key: str, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke a function that must fail; Lambda's error object."""
        _, error = self.invoke_function(self.outputs[output_key], event)
        assert error is not None, "the invocation succeeded"
        return error

    def provider(self) -> PaymentProviderControl:
        """The simulated provider's test hooks (clock, faults); skip where there is none."""
        if self.provider_url is None:
            pytest.skip("set PAYMENT_PROVIDER_URL to drive the payment provider simulator")
        return PaymentProviderControl(self.provider_url)

    def expire_idempotency_records(self) -> int:
        """Move every billing idempotency record past its expiry, as 19+ days would.

        Powertools checks expiry from the stored `expiration` timestamp, not by DynamoDB TTL.
        """
        dynamodb = self.client("dynamodb")
        table = self.outputs["IdempotencyTableName"]
        past = str(int(time.time()) - 60)
        expired = 0
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                dynamodb.update_item(
                    TableName=table,
                    Key={"id": item["id"]},
                    UpdateExpression="SET expiration = :past",
                    ExpressionAttributeValues={":past": {"N": past}},
                )
                expired += 1
        return expired

    def age_journal_row(self, transaction_id: str, hours: float) -> None:
        """Make a ChargesTable row's first attempt `hours` older.

        The function's clock cannot be moved inside its worker process; what billing
        compares with it is this stored timestamp, so moving the timestamp back is the
        same as moving the clock forward for this charge.
        """
        row = self.ledger_row(transaction_id)
        assert row is not None, f"no journal row for {transaction_id}"
        first = datetime.fromisoformat(row["first_attempt_at"]["S"])
        aged = (first - timedelta(hours=hours)).isoformat(timespec="milliseconds")
        self.client("dynamodb").update_item(
            TableName=self.outputs["ChargesTableName"],
            Key={"transaction_id": {"S": transaction_id}},
            UpdateExpression="SET first_attempt_at = :aged",
            ExpressionAttributeValues={":aged": {"S": aged}},
        )

    def redrive(self, dlq_output_key: str, source_output_key: str) -> int:
        """Move every message from a DLQ back to its source, as an operator's redrive does
        (local_cloud.operations.dlq: StartMessageMoveTask where the endpoint has it, a new
        message ID and a fresh retention period). Returns how many moved."""
        sqs = self.client("sqs")
        queue = find_queue(dead_letter_queues(sqs, self.outputs), dlq_output_key)
        source_arn = sqs.get_queue_attributes(
            QueueUrl=self.outputs[source_output_key], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        result = redrive_dlq(sqs, queue, destination_arn=source_arn)
        assert result.ok, result
        return result.moved

    def send(self, output_key: str, body: dict[str, Any]) -> str:
        response = self.client("sqs").send_message(
            QueueUrl=self.outputs[output_key], MessageBody=json.dumps(body)
        )
        return str(response["MessageId"])

    def emails_to(self, address: str) -> list[dict[str, Any]]:
        return observe.emails_to(self.endpoint_url, address)

    def ledger_row(self, transaction_id: str) -> dict[str, Any] | None:
        """The transaction's ChargesTable row in whatever state it is (pending or final)."""
        item = self.client("dynamodb").get_item(
            TableName=self.outputs["ChargesTableName"],
            Key={"transaction_id": {"S": transaction_id}},
            ConsistentRead=True,
        )
        return item.get("Item")

    def settled_row(self, transaction_id: str) -> dict[str, Any] | None:
        """The row once final (succeeded or declined); None while missing or pending."""
        row = self.ledger_row(transaction_id)
        return row if row is not None and row["status"]["S"] != "pending" else None

    def intents_for(self, transaction_id: str) -> list[dict[str, Any]]:
        if self.provider_url is None:
            pytest.skip("set PAYMENT_PROVIDER_URL to check charges at the payment provider")
        return observe.intents_for(self.provider_url, self.provider_key, transaction_id)

    def queue_depth(self, output_key: str) -> tuple[int, int]:
        return observe.queue_depth(self.client("sqs"), self.outputs[output_key])


# How often `eventually` looks again. Each look is a request or two on loopback (a few
# milliseconds); at 0.5 s every wait overran its condition by 0.25 s on average, and many
# tests wait several times.
POLL_SECONDS = 0.2


def eventually(check: Callable[[], Any], timeout: float = 120.0, what: str = "") -> Any:
    """Poll until check() returns something truthy; fail naming what never happened.

    The deadline costs nothing when the condition comes: at load 20 on 2 cores, the first
    charge of a fresh stack (a cold BillingFunction worker) took longer than 60 s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:.0f} s: {what or check}")
        time.sleep(POLL_SECONDS)


def on_local_cloud(name: str) -> Iterator[StackUnderTest]:
    """The app deployed as stack `name` on a LocalCloud of its own, for as long as this runs."""
    settings = load_settings(REPO / "local-cloud.toml").with_overrides(stack=name)
    with LocalCloud(settings, endpoint_port=None, payment_provider_port=None) as cloud:
        assert cloud.endpoint is not None
        assert cloud.payment_provider is not None

        def invoke(function_name: str, event: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
            result = cloud.lambda_service.invoke(function_name, event)
            return result.payload, (
                None if result.error is None else {**result.error, "logs": result.logs}
            )

        yield StackUnderTest(
            name="local cloud",
            stack_name=settings.stack,
            endpoint_url=cloud.endpoint.url,
            outputs=dict(cloud.stack.outputs),
            invoke_function=invoke,
            provider_url=cloud.payment_provider.url,
            provider_key=next(iter(settings.ssm_parameters.values())),
        )


def on_localstack() -> Iterator[StackUnderTest]:
    endpoint_url = os.environ.get("AWS_ENDPOINT_URL", "").rstrip("/")
    how = (
        "deploy the stack to LocalStack (samlocal deploy --stack-name delivery-guarantees) and "
        "run with AWS_ENDPOINT_URL=http://localhost:4566"
    )
    if not endpoint_url:
        pytest.skip(f"LocalStack tests are opt-in: {how}")
    if not is_answering(endpoint_url):
        pytest.skip(f"nothing answers at AWS_ENDPOINT_URL={endpoint_url}: {how}")
    # localstack_client: the session LocalStack's own tools use. It reaches the endpoint
    # AWS_ENDPOINT_URL names (else LOCALSTACK_HOST, else localhost:4566), with LocalStack's
    # test credentials, so this code runs unchanged against any LocalStack setup.
    session = localstack_client.session.Session(region_name="us-east-1")
    cloudformation = session.client("cloudformation")
    try:
        stack = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
    except cloudformation.exceptions.ClientError:
        pytest.skip(f"no stack {STACK} at {endpoint_url}: {how}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    lambda_client = session.client("lambda")

    def invoke(function_name: str, event: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
        response = lambda_client.invoke(FunctionName=function_name, Payload=json.dumps(event))
        payload = json.load(response["Payload"])
        return (None, payload) if "FunctionError" in response else (payload, None)

    yield StackUnderTest(
        name="LocalStack",
        stack_name=STACK,
        endpoint_url=endpoint_url,
        outputs=outputs,
        invoke_function=invoke,
        provider_url=os.environ.get("PAYMENT_PROVIDER_URL"),
        provider_key=os.environ.get("PAYMENT_PROVIDER_KEY", TEST_KEY),
        new_client=session.client,
    )


# The app's queues, each source with its DLQ: what a module may leave messages on.
APP_QUEUES = (
    "BillingQueueUrl",
    "BillingDeadLetterQueueUrl",
    "WelcomeEmailQueueUrl",
    "WelcomeEmailDeadLetterQueueUrl",
)


@pytest.fixture(scope="session", params=["local-cloud", "localstack"])
def shared_stack(request: pytest.FixtureRequest) -> Iterator[StackUnderTest]:
    """One stack for every app module of the process: on the local cloud, one LocalCloud
    per pytest-xdist worker (its stack named by stack_name(), so workers never share a
    build directory); on LocalStack, the one deployed stack. Starting a LocalCloud and
    cold-starting its function workers cost most of an app module's CPU."""
    if request.param == "local-cloud":
        yield from on_local_cloud(stack_name())
    else:
        yield from on_localstack()


def leave_for_the_next_module(stack: StackUnderTest) -> None:
    """Undo what a module may leave behind on the shared stack, as a module sharing an AWS
    account cleans up after itself: faults still pending (endpoint's and provider's), and
    messages on the app's queues and DLQs, in flight ones included (a record that failed
    waits out BillingQueue's 242 s visibility timeout; a poison message stays in its DLQ).
    What else they leave is keyed by IDs of their own (transactions, emails, accounts) or
    read as of a test's own start (alarm states, metrics, the call log)."""
    if stack.name == "local cloud":
        EndpointFaults(stack.endpoint_url).clear()
    if stack.provider_url is not None:
        PaymentProviderControl(stack.provider_url).clear_faults()
    for output_key in APP_QUEUES:
        empty_queue(stack, output_key)


def empty_queue(stack: StackUnderTest, output_key: str) -> None:
    """Delete every message on the queue: those waiting by receiving them, those in flight
    (which cannot be received) with PurgeQueue. SQS allows one purge of a queue a minute,
    so purge only for messages in flight, and wait out the minute if it comes to that."""
    sqs, url = stack.client("sqs"), stack.outputs[output_key]

    def emptied() -> bool:
        visible, in_flight = stack.queue_depth(output_key)
        if in_flight:
            try:
                sqs.purge_queue(QueueUrl=url)
            except sqs.exceptions.PurgeQueueInProgress:
                return False
        elif visible:
            for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
                "Messages", []
            ):
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return stack.queue_depth(output_key) == (0, 0)

    eventually(emptied, timeout=120, what=f"{output_key} emptied after the module")


@pytest.fixture(scope="module")
def stack(shared_stack: StackUnderTest) -> Iterator[StackUnderTest]:
    """The shared stack, for one module: cleaned up after it (leave_for_the_next_module)."""
    yield shared_stack
    leave_for_the_next_module(shared_stack)
