"""The project's template.yaml, deployed by the local cloud as local-cloud.toml describes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local_cloud.cloud import LocalCloud, load_settings

REPO = Path(__file__).resolve().parents[4]

# docs/design.md: exactly these Outputs
DESIGN_OUTPUTS = {
    "WelcomeEmailQueueUrl",
    "WelcomeEmailDeadLetterQueueUrl",
    "BillingQueueUrl",
    "BillingDeadLetterQueueUrl",
    "AccountsTableName",
    "ChargesTableName",
    "IdempotencyTableName",
    "SignupFunctionName",
    "WelcomeEmailFunctionName",
    "BillingFunctionName",
    "AlarmTopicArn",
}


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    settings = load_settings(REPO / "local-cloud.toml").with_overrides(stack="dg-it")
    # free ports, no pollers: this module checks the deployment, not the consumers
    with LocalCloud(
        settings, endpoint_port=None, payment_provider_port=None, start_pollers=False
    ) as running:
        yield running


def client(cloud: LocalCloud, service: str) -> Any:
    return boto3.client(service, endpoint_url=cloud.stack.endpoint_url, region_name="us-east-1")


def test_outputs_are_the_designed_ones(cloud: LocalCloud) -> None:
    described = client(cloud, "cloudformation").describe_stacks(StackName="dg-it")["Stacks"][0]
    outputs = {item["OutputKey"]: item["OutputValue"] for item in described["Outputs"]}
    assert set(outputs) == DESIGN_OUTPUTS
    assert outputs == cloud.stack.outputs


def test_what_moto_skips_is_handled_locally_and_said_so(cloud: LocalCloud) -> None:
    # moto creates no ApiGatewayV2 resources: the HTTP API is served by the local cloud
    # instead, and the deployment says so by logical ID and type; nothing is left unhandled.
    assert cloud.stack.unsupported_resources == ()
    handled = cloud.deployment.handled_locally if cloud.deployment else ()
    assert cloud.http_api is not None
    served = f"served locally at {cloud.http_api.url}"
    assert {(note.logical_id, note.resource_type) for note in handled if note.how == served} == {
        ("SignupHttpApi", "AWS::ApiGatewayV2::Api"),
        ("SignupHttpApiApiGatewayDefaultStage", "AWS::ApiGatewayV2::Stage"),
    }
    assert any(note.resource_type == "AWS::Lambda::EventSourceMapping" for note in handled)


def test_every_alarm_of_the_template_exists(cloud: LocalCloud) -> None:
    from local_cloud.stack.template import load_template

    template = load_template(REPO / "template.yaml")
    alarm_ids = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    ]
    alarms = client(cloud, "cloudwatch").describe_alarms(MaxRecords=100)["MetricAlarms"]
    names = {alarm["AlarmName"] for alarm in alarms}
    assert alarm_ids
    assert len(alarms) == len(alarm_ids)
    # an alarm without AlarmName is named "<stack>-<logical ID>" by the deployer
    unnamed = {i for i in alarm_ids if "AlarmName" not in template["Resources"][i]["Properties"]}
    assert {f"dg-it-{logical_id}" for logical_id in unnamed} <= names


def test_functions_get_the_shared_layer_and_resolved_environment(cloud: LocalCloud) -> None:
    outputs = cloud.stack.outputs
    billing = cloud.stack.function("BillingFunction")
    assert billing.function_name == outputs["BillingFunctionName"]
    assert billing.environment["CHARGES_TABLE_NAME"] == outputs["ChargesTableName"]
    assert billing.environment["IDEMPOTENCY_TABLE_NAME"] == outputs["IdempotencyTableName"]
    assert cloud.payment_provider is not None, "the settings start the payment simulator"
    assert billing.environment["PAYMENT_PROVIDER_API_BASE"] == cloud.payment_provider.url
    assert billing.environment["AWS_ENDPOINT_URL"] == cloud.stack.endpoint_url
    signup = cloud.stack.function("SignupFunction")
    assert signup.environment["WELCOME_EMAIL_QUEUE_URL"] == outputs["WelcomeEmailQueueUrl"]
    assert signup.environment["SENDER_EMAIL_ADDRESS"] == "welcome@example.com"
    for function in cloud.stack.functions:
        assert function.runtime == "python3.13"
        assert function.architecture == "arm64"
        (layer,) = function.layer_dirs
        assert (layer / "python/delivery_guarantees/__init__.py").is_file()
        assert (layer / "python/aws_lambda_powertools").is_dir()


def test_both_queues_have_their_mapping(cloud: LocalCloud) -> None:
    queues = {
        source.queue_url.rsplit("/", 1)[-1]: source for source in cloud.stack.sqs_event_sources
    }
    outputs = cloud.stack.outputs
    for key, function_key in (
        ("WelcomeEmailQueueUrl", "WelcomeEmailFunctionName"),
        ("BillingQueueUrl", "BillingFunctionName"),
    ):
        source = queues[outputs[key].rsplit("/", 1)[-1]]
        assert source.function_name == outputs[function_key]
        assert source.report_batch_item_failures is True


def test_the_secret_is_seeded_and_the_sender_verified(cloud: LocalCloud) -> None:
    parameter = client(cloud, "ssm").get_parameter(
        Name="/delivery-guarantees/payment-provider-secret-key", WithDecryption=True
    )["Parameter"]
    assert parameter["Type"] == "SecureString"
    assert parameter["Value"].startswith("sk_test_local_")
    identities = client(cloud, "ses").list_identities()["Identities"]
    assert "welcome@example.com" in identities
