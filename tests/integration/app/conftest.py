"""The deployed application, on the local cloud (always) or on LocalStack (opt-in).

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
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from local_cloud.cloud import LocalCloud, load_settings
from local_cloud.endpoint import is_answering

REPO = Path(__file__).resolve().parents[3]
STACK = "delivery-guarantees"
TEST_KEY = "sk_test_local_not_a_real_key_0000000000"


@dataclass
class StackUnderTest:
    name: str
    endpoint_url: str
    outputs: dict[str, str]
    invoke_function: Callable[[str, dict[str, Any]], dict[str, Any]]
    provider_url: str | None
    provider_key: str

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint_url, region_name="us-east-1")

    def invoke(self, output_key: str, event: dict[str, Any]) -> dict[str, Any]:
        return self.invoke_function(self.outputs[output_key], event)

    def send(self, output_key: str, body: dict[str, Any]) -> str:
        response = self.client("sqs").send_message(
            QueueUrl=self.outputs[output_key], MessageBody=json.dumps(body)
        )
        return str(response["MessageId"])

    def emails_to(self, address: str) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.endpoint_url}/_aws/ses") as response:  # noqa: S310
            messages = json.load(response)["messages"]
        return [m for m in messages if address in m.get("Destination", {}).get("ToAddresses", [])]

    def ledger_row(self, transaction_id: str) -> dict[str, Any] | None:
        item = self.client("dynamodb").get_item(
            TableName=self.outputs["ChargesTableName"],
            Key={"transaction_id": {"S": transaction_id}},
            ConsistentRead=True,
        )
        return item.get("Item")

    def intents_for(self, transaction_id: str) -> list[dict[str, Any]]:
        if self.provider_url is None:
            pytest.skip("set PAYMENT_PROVIDER_URL to check charges at the payment provider")
        intents: list[dict[str, Any]] = []
        after = ""
        while True:
            query = urllib.parse.urlencode(
                {"limit": 100, **({"starting_after": after} if after else {})}
            )
            request = urllib.request.Request(  # noqa: S310 - a local simulator
                f"{self.provider_url}/v1/payment_intents?{query}",
                headers={"Authorization": f"Bearer {self.provider_key}"},
            )
            with urllib.request.urlopen(request) as response:  # noqa: S310
                page = json.load(response)
            intents += [
                i for i in page["data"] if i["metadata"].get("transaction_id") == transaction_id
            ]
            if not page["has_more"]:
                return intents
            after = page["data"][-1]["id"]

    def queue_depth(self, output_key: str) -> tuple[int, int]:
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=self.outputs[output_key],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )


def eventually(check: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    """Poll until check() returns something truthy; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:.0f} s: {what or check}")
        time.sleep(0.5)


def _on_local_cloud() -> Iterator[StackUnderTest]:
    settings = load_settings(REPO / "local-cloud.toml")
    with LocalCloud(settings, endpoint_port=None, payment_provider_port=None) as cloud:
        assert cloud.endpoint is not None
        assert cloud.payment_provider is not None

        def invoke(function_name: str, event: dict[str, Any]) -> dict[str, Any]:
            result = cloud.lambda_service.invoke(function_name, event)
            assert result.error is None, result.logs
            payload: dict[str, Any] = result.payload
            return payload

        yield StackUnderTest(
            name="local cloud",
            endpoint_url=cloud.endpoint.url,
            outputs=dict(cloud.stack.outputs),
            invoke_function=invoke,
            provider_url=cloud.payment_provider.url,
            provider_key=next(iter(settings.ssm_parameters.values())),
        )


def _on_localstack() -> Iterator[StackUnderTest]:
    endpoint_url = os.environ.get("AWS_ENDPOINT_URL", "").rstrip("/")
    how = (
        "deploy the stack to LocalStack (samlocal deploy --stack-name delivery-guarantees) and "
        "run with AWS_ENDPOINT_URL=http://localhost:4566"
    )
    if not endpoint_url:
        pytest.skip(f"LocalStack tests are opt-in: {how}")
    if not is_answering(endpoint_url):
        pytest.skip(f"nothing answers at AWS_ENDPOINT_URL={endpoint_url}: {how}")
    cloudformation = boto3.client(
        "cloudformation", endpoint_url=endpoint_url, region_name="us-east-1"
    )
    try:
        stack = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
    except cloudformation.exceptions.ClientError:
        pytest.skip(f"no stack {STACK} at {endpoint_url}: {how}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    lambda_client = boto3.client("lambda", endpoint_url=endpoint_url, region_name="us-east-1")

    def invoke(function_name: str, event: dict[str, Any]) -> dict[str, Any]:
        response = lambda_client.invoke(FunctionName=function_name, Payload=json.dumps(event))
        assert "FunctionError" not in response, response
        payload: dict[str, Any] = json.load(response["Payload"])
        return payload

    yield StackUnderTest(
        name="LocalStack",
        endpoint_url=endpoint_url,
        outputs=outputs,
        invoke_function=invoke,
        provider_url=os.environ.get("PAYMENT_PROVIDER_URL"),
        provider_key=os.environ.get("PAYMENT_PROVIDER_KEY", TEST_KEY),
    )


@pytest.fixture(scope="module", params=["local-cloud", "localstack"])
def stack(request: pytest.FixtureRequest) -> Iterator[StackUnderTest]:
    if request.param == "local-cloud":
        yield from _on_local_cloud()
    else:
        yield from _on_localstack()
