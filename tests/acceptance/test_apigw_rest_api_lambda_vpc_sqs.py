"""aws-samples/serverless-patterns apigw-rest-api-lambda-vpc-sqs, unchanged
(apps/apigw_rest_api_lambda_vpc_sqs).

What its README documents: `POST https://{RestApiId}.execute-api.{region}.amazonaws.com/Dev/
sendmessage` with `{"message": "hello world"}` (and an API key) answers 200 with the body
"Message has been sent to SQS Queue", and LambdaToSQS has sent `hello world` to FirstSqsQueue.
The template asks the operator for the function's subnets and security group (VPC
parameters); any well-formed IDs do locally, where there is no VPC. API keys are not checked
locally (the README's list of what the local cloud does not do), so the request carries one
as the README's does, and no test claims a missing key is refused.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from local_cloud.http_api.events import api_id
from tests.acceptance.conftest import RunningApp, deployed

APP = "apigw_rest_api_lambda_vpc_sqs"
PARAMETERS = {
    "Subnets": "subnet-0a1b2c3d4e5f60001,subnet-0a1b2c3d4e5f60002",
    "LambdaSecurityGroupId": "sg-0a1b2c3d4e5f60003",
}


@pytest.fixture(scope="module")
def app() -> Iterator[RunningApp]:
    with deployed(APP, "apigw-rest-api-lambda-vpc-sqs", PARAMETERS) as running:
        yield running


def sendmessage_url(app: RunningApp) -> str:
    # The template has no Output with the URL (the README's "RestApiEndpoint" is not there);
    # on AWS one reads the API ID from the console. Locally the API is served, not created
    # at the endpoint, and its ID is the one `!Ref FirstApi` would resolve to.
    aws_url = f"https://{api_id('FirstApi')}.execute-api.us-east-1.amazonaws.com/Dev/sendmessage"
    return app.cloud.local_api_url(aws_url)


def post(url: str, body: object) -> tuple[int, str]:
    request = urllib.request.Request(  # noqa: S310 - the local cloud's own http URL
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "x-api-key": "api_key"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
        return response.status, response.read().decode()


def test_it_deploys_unchanged_and_serves_the_route(app: RunningApp) -> None:
    # API keys and usage plans are not emulated (README): reported by logical ID, not skipped
    assert sorted(
        (note.logical_id, note.resource_type) for note in app.cloud.stack.unsupported_resources
    ) == [
        ("FirstApiApiKey", "AWS::ApiGateway::ApiKey"),
        ("FirstApiUsagePlan", "AWS::ApiGateway::UsagePlan"),
        ("FirstApiUsagePlanKey", "AWS::ApiGateway::UsagePlanKey"),
    ]
    assert sendmessage_url(app).endswith("/Dev/sendmessage")


def test_a_post_puts_the_message_on_the_queue(app: RunningApp) -> None:
    status, body = post(sendmessage_url(app), {"message": "hello world"})
    assert (status, json.loads(body)) == (200, "Message has been sent to SQS Queue")
    sqs = app.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=app.queue_url("FirstSqsQueue"), MaxNumberOfMessages=10, WaitTimeSeconds=5
    ).get("Messages", [])
    assert [message["Body"] for message in messages] == ["hello world"]
