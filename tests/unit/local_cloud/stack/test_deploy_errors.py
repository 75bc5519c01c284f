"""A resource the endpoint's CloudFormation cannot create is named, with what to do: the
endpoint answers a ValidationError naming it (cloudformation_errors.py, here on moto in
process), the deployer adds the choices (change it, --skip-resource, report it) and the
endpoint's log; --skip-resource leaves it out. No sockets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError
from moto import mock_aws
from moto.cloudformation import parsing

from local_cloud.cloudformation_errors import name_failing_resources
from local_cloud.stack.deploy import check_memory_sizes, check_skipped
from local_cloud.stack.errors import TemplateError
from local_cloud.stack.lifecycle import create_stack_failure
from local_cloud.stack.template import without_resources

ROLE_WITHOUT_TRUST_POLICY = {"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {}}}}


def create_stack(template: dict[str, Any]) -> None:
    client = boto3.client("cloudformation", region_name="us-east-1")
    client.create_stack(StackName="s", TemplateBody=json.dumps(template))


def test_without_the_patch_moto_fails_with_a_bare_exception(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(parsing, "parse_and_create_resource", parsing.parse_and_create_resource)
    original = getattr(parsing.parse_and_create_resource, "__wrapped__", None)
    if original is not None:  # patched earlier in this process: test moto's own
        monkeypatch.setattr(parsing, "parse_and_create_resource", original)
    with mock_aws(), pytest.raises(KeyError, match="AssumeRolePolicyDocument"):
        create_stack(ROLE_WITHOUT_TRUST_POLICY)


def test_the_endpoint_names_the_resource_it_cannot_create(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parsing, "parse_and_create_resource", parsing.parse_and_create_resource)
    name_failing_resources()
    with mock_aws(), pytest.raises(ClientError) as raised:
        create_stack(ROLE_WITHOUT_TRUST_POLICY)
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert error["Message"] == (
        "Role (AWS::IAM::Role): the endpoint cannot create it: KeyError: 'AssumeRolePolicyDocument'"
    )
    message = create_stack_failure("s", raised.value, Path(".local-cloud/logs/endpoint.log"))
    assert message.startswith("Role (AWS::IAM::Role): the endpoint cannot create it")
    assert "Change Role in the template" in message
    assert "`up --skip-resource Role`" in message
    assert message.endswith("the endpoint's log: .local-cloud/logs/endpoint.log")


def test_moto_s_own_api_errors_pass_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parsing, "parse_and_create_resource", parsing.parse_and_create_resource)
    name_failing_resources()
    template = {"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {}}}}
    with mock_aws():
        create_stack(template)
        with pytest.raises(ClientError, match="AlreadyExistsException"):
            create_stack(template)


def test_another_failure_names_the_stack_and_the_log() -> None:
    error = ResponseParserError("Unable to parse response (syntax error), invalid XML")
    message = create_stack_failure("s", error, Path("endpoint.log"))
    assert message == (
        "CreateStack s failed on the endpoint: Unable to parse response (syntax error), "
        "invalid XML; the endpoint's log: endpoint.log"
    )


def test_skipping_removes_the_resource_and_what_depends_on_it_by_name() -> None:
    template = {
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role"},
            "Fn": {"Type": "AWS::Lambda::Function", "DependsOn": ["Role", "Queue"]},
            "Queue": {"Type": "AWS::SQS::Queue", "DependsOn": "Role"},
        }
    }
    kept = without_resources(template, ["Role"])
    assert set(kept["Resources"]) == {"Fn", "Queue"}
    assert kept["Resources"]["Fn"]["DependsOn"] == ["Queue"]
    assert "DependsOn" not in kept["Resources"]["Queue"]
    assert "Role" in template["Resources"]  # the original is untouched
    check_skipped(template, ["Role"])
    with pytest.raises(TemplateError, match="--skip-resource Rolle: no such resource"):
        check_skipped(template, ["Rolle"])


def function_with_memory(memory: Any) -> dict[str, Any]:
    properties = {"Handler": "app.handler", "Runtime": "python3.13"}
    if memory is not None:
        properties["MemorySize"] = memory
    return {"Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": properties}}}


def resolve_parameters(value: Any) -> Any:
    """References to one parameter, Memory, as the deployer's resolver would give them."""
    return "64" if value == {"Ref": "Memory"} else value


@pytest.mark.parametrize("memory", [None, 128, "1024", 10240, {"Ref": "Other"}])
def test_a_memory_size_lambda_accepts_passes(memory: Any) -> None:
    def resolve(value: Any) -> Any:
        return "512" if value == {"Ref": "Other"} else value

    check_memory_sizes(function_with_memory(memory), resolve)


@pytest.mark.parametrize(
    ("memory", "message"),
    [
        (127, "Fn: 1 validation error detected: Value '127' at 'memorySize' failed to "
              "satisfy constraint: Member must have value greater than or equal to 128"),
        (10241, "Value '10241' at 'memorySize' failed to satisfy constraint: Member must "
                "have value less than or equal to 10240"),
        ({"Ref": "Memory"}, "Value '64' at 'memorySize'"),
        ("lots", "Fn: MemorySize 'lots' is not a whole number of MB"),
    ],
)  # fmt: skip
def test_a_memory_size_lambda_refuses_is_a_template_error_before_anything_is_created(
    memory: Any, message: str
) -> None:
    with pytest.raises(TemplateError) as refused:
        check_memory_sizes(function_with_memory(memory), resolve_parameters)
    assert message in str(refused.value)
