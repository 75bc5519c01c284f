"""The endpoint lists the resources of a stack the local cloud runs itself as the stack's,
and its served APIs in API Gateway's listings, in moto's own answers (boto3 reads them)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_cloud import stack_resources
from local_cloud.stack_resources import (
    STACK_RESOURCES_PATH,
    RegistrationError,
    StackResources,
    WithStackResources,
    parse_registration,
)

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
TEMPLATE = {
    "Resources": {
        "Queue": {"Type": "AWS::SQS::Queue"},
        # A type moto's CloudFormation has no model for: None in its resource map.
        "Unmodelled": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {"Queues": [{"Ref": "Queue"}], "PolicyDocument": {}},
        },
        "Topic": {"Type": "AWS::SNS::Topic"},
    }
}
REST = {
    "logical_id": "ServerlessRestApi",
    "type": "AWS::ApiGateway::RestApi",
    "physical_id": "abc123defg",
    "name": "orders",
    "description": "the orders API",
    "root_resource_id": "root12345x",
}
HTTP = {
    "logical_id": "HttpApi",
    "type": "AWS::ApiGatewayV2::Api",
    "physical_id": "http123abc",
    "name": "orders",
    "endpoint": "https://http123abc.execute-api.us-east-1.amazonaws.com",
}
STAGE: dict[str, Any] = {
    "logical_id": "ServerlessRestApiProdStage",
    "type": "AWS::ApiGateway::Stage",
    "physical_id": "Prod",
}
MAPPING_UUID = "7f1c8a0e-6a39-5d54-9d5c-2b7b7f3f8a11"
WORKER_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-Worker-1A2B3C"
WORK_QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders-work"
MAPPING: dict[str, Any] = {
    "logical_id": "WorkerQueueEvent",
    "type": "AWS::Lambda::EventSourceMapping",
    "physical_id": MAPPING_UUID,
    "mapping": {
        "arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{MAPPING_UUID}",
        "function_arn": WORKER_ARN,
        "event_source_arn": WORK_QUEUE_ARN,
        "batch_size": 5,
        "maximum_batching_window_seconds": 2,
        "enabled": True,
        "function_response_types": ["ReportBatchItemFailures"],
        "filter_patterns": ['{"body": {"kind": ["order"]}}'],
        "maximum_concurrency": 4,
    },
}


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[StackResources]:
    """moto patched as the endpoint patches it (with this registry), put back afterwards
    (as another test may have left it: endpoint_server.main runs in some tests' process)."""
    from moto.awslambda.responses import LambdaResponse
    from moto.cloudformation.models import CloudFormationBackend, Stack

    monkeypatch.setattr(Stack, "stack_resources", Stack.__dict__["stack_resources"])
    monkeypatch.setattr(CloudFormationBackend, "delete_stack", CloudFormationBackend.delete_stack)
    for name in ("list_event_source_mappings", "get_event_source_mapping"):
        monkeypatch.setattr(LambdaResponse, name, getattr(LambdaResponse, name))
    registry = StackResources()
    with mock_aws():
        stack_resources.list_stack_resources(registry)
        yield registry


def post(app: WithStackResources, body: Any, method: str = "POST") -> tuple[str, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    status: list[str] = []
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": STACK_RESOURCES_PATH,
        "CONTENT_LENGTH": str(len(data)),
        "wsgi.input": io.BytesIO(data),
    }
    answer = b"".join(app(environ, lambda s, _headers: status.append(s)))
    return status[0], json.loads(answer)


def create_stack(name: str = "orders") -> str:
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    return str(
        cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(TEMPLATE))["StackId"]
    )


def registration(stack_id: str, *resources: dict[str, Any]) -> dict[str, Any]:
    return {"account_id": ACCOUNT, "region": REGION, "stack_id": stack_id,
            "resources": list(resources)}  # fmt: skip


def test_registered_resources_are_listed_with_the_stacks_own(registry: StackResources) -> None:
    stack_id = create_stack()
    app = WithStackResources(lambda *_: [b"moto"], registry)
    status, answer = post(app, registration(stack_id, REST, STAGE, MAPPING))
    assert (status, answer) == ("200 OK", {"registered": 3})

    cloudformation = boto3.client("cloudformation", region_name=REGION)
    described = cloudformation.describe_stack_resources(StackName="orders")["StackResources"]
    listed = {item["LogicalResourceId"]: item for item in described}
    assert set(listed) == {"Queue", "Topic", "ServerlessRestApi", "ServerlessRestApiProdStage",
                           "WorkerQueueEvent"}  # fmt: skip
    rest = listed["ServerlessRestApi"]
    assert (rest["PhysicalResourceId"], rest["ResourceType"]) == (
        "abc123defg",
        "AWS::ApiGateway::RestApi",
    )
    assert listed["ServerlessRestApi"]["StackId"] == stack_id
    detail = cloudformation.describe_stack_resource(
        StackName="orders", LogicalResourceId="WorkerQueueEvent"
    )["StackResourceDetail"]
    assert (detail["PhysicalResourceId"], detail["ResourceType"]) == (
        MAPPING["physical_id"],
        "AWS::Lambda::EventSourceMapping",
    )
    summaries = cloudformation.list_stack_resources(StackName=stack_id)["StackResourceSummaries"]
    assert {item["LogicalResourceId"]: item["PhysicalResourceId"] for item in summaries}[
        "ServerlessRestApiProdStage"
    ] == "Prod"
    single = cloudformation.describe_stack_resources(
        StackName="orders", LogicalResourceId="ServerlessRestApi"
    )["StackResources"]
    assert [item["PhysicalResourceId"] for item in single] == ["abc123defg"]


def test_an_unknown_logical_id_is_a_validation_error_not_a_500(registry: StackResources) -> None:
    """moto's map holds None for the unmodelled resource; its loop failed on it (500)."""
    create_stack()
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    with pytest.raises(cloudformation.exceptions.ClientError) as raised:
        cloudformation.describe_stack_resource(StackName="orders", LogicalResourceId="Nothing")
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    assert "Resource Nothing does not exist for stack orders" in str(raised.value)
    described = cloudformation.describe_stack_resources(StackName="orders")["StackResources"]
    assert all(item.get("LogicalResourceId") for item in described)


def test_served_apis_are_in_api_gateways_listings(registry: StackResources) -> None:
    stack_id = create_stack()
    app = WithStackResources(lambda *_: [b"moto"], registry)
    assert post(app, registration(stack_id, REST, HTTP))[0] == "200 OK"

    apigateway = boto3.client("apigateway", region_name=REGION)
    [rest] = apigateway.get_rest_apis()["items"]
    assert (rest["id"], rest["name"], rest["description"], rest["rootResourceId"]) == (
        "abc123defg",
        "orders",
        "the orders API",
        "root12345x",
    )
    assert apigateway.get_rest_api(restApiId="abc123defg")["name"] == "orders"
    [root] = apigateway.get_resources(restApiId="abc123defg")["items"]
    assert (root["id"], root["path"]) == ("root12345x", "/")

    apigatewayv2 = boto3.client("apigatewayv2", region_name=REGION)
    [http] = apigatewayv2.get_apis()["Items"]
    assert (http["ApiId"], http["Name"], http["ApiEndpoint"], http["ProtocolType"]) == (
        "http123abc",
        "orders",
        HTTP["endpoint"],
        "HTTP",
    )
    assert apigatewayv2.get_api(ApiId="http123abc")["ApiEndpoint"] == HTTP["endpoint"]


def test_deleting_the_stack_forgets_its_resources_and_apis(registry: StackResources) -> None:
    stack_id = create_stack()
    app = WithStackResources(lambda *_: [b"moto"], registry)
    post(app, registration(stack_id, REST, HTTP, MAPPING))
    boto3.client("cloudformation", region_name=REGION).delete_stack(StackName="orders")
    assert registry.of(stack_id) == ()
    assert boto3.client("apigateway", region_name=REGION).get_rest_apis()["items"] == []
    assert boto3.client("apigatewayv2", region_name=REGION).get_apis()["Items"] == []
    recreated = create_stack()  # a new stack of the same name lists only its own
    described = boto3.client("cloudformation", region_name=REGION).describe_stack_resources(
        StackName=recreated
    )["StackResources"]
    assert {item["LogicalResourceId"] for item in described} == {"Queue", "Topic"}


def test_posting_again_replaces_what_was_posted(registry: StackResources) -> None:
    stack_id = create_stack()
    app = WithStackResources(lambda *_: [b"moto"], registry)
    post(app, registration(stack_id, REST, MAPPING))
    post(app, registration(stack_id, HTTP))
    assert [r.logical_resource_id for r in registry.of(stack_id)] == ["HttpApi"]
    assert boto3.client("apigateway", region_name=REGION).get_rest_apis()["items"] == []


def test_an_unknown_stack_is_a_400(registry: StackResources) -> None:
    """As CloudFormation's ValidationError; a 404 would read as an endpoint without the
    route (local_resources.register)."""
    app = WithStackResources(lambda *_: [b"moto"], registry)
    status, answer = post(app, registration("arn:aws:cloudformation:us-east-1:1:stack/x/1", REST))
    assert status == "400 Bad Request"
    assert "no stack arn:aws:cloudformation:us-east-1:1:stack/x/1" in answer["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param([], "the body must be a JSON object, got list", id="not-an-object"),
        pytest.param({**registration("s"), "extra": 1}, "unknown field(s): extra", id="extra"),
        pytest.param(
            {**registration("s"), "resources": {}},
            "resources must be a list",
            id="resources-not-a-list",
        ),
        pytest.param(
            registration("", STAGE), "the body: stack_id must be a non-empty string", id="no-stack"
        ),
        pytest.param(
            registration("s", {**STAGE, "physical_id": 3}),
            "resources[0] (ServerlessRestApiProdStage): physical_id must be a non-empty "
            "string, got 3",
            id="physical-id",
        ),
        pytest.param(
            registration("s", {**STAGE, "type": "Stage"}),
            "type 'Stage' is not a resource type",
            id="type",
        ),
        pytest.param(registration("s", STAGE, STAGE), "listed twice", id="twice"),
        pytest.param(
            registration("s", {k: v for k, v in REST.items() if k != "name"}),
            "(ServerlessRestApi): name must be a non-empty string",
            id="api-name",
        ),
        pytest.param(
            registration("s", {k: v for k, v in HTTP.items() if k != "endpoint"}),
            "(HttpApi): endpoint must be a non-empty string",
            id="http-endpoint",
        ),
        pytest.param(
            registration("s", {**STAGE, "colour": "red"}),
            "unknown field(s): colour",
            id="resource-extra",
        ),
    ],
)
def test_a_bad_registration_is_refused_naming_what_is_wrong(body: Any, message: str) -> None:
    with pytest.raises(RegistrationError) as raised:
        parse_registration(body)
    assert message in str(raised.value)


def test_a_bad_body_is_a_400_and_only_post_is_served() -> None:
    app = WithStackResources(lambda *_: [b"moto"], StackResources())
    status, answer = post(app, b"{not json")
    assert status == "400 Bad Request"
    assert answer["message"]
    status, answer = post(app, {"resources": []})
    assert status == "400 Bad Request"
    assert "account_id must be a non-empty string" in answer["message"]
    assert post(app, b"", method="GET")[0] == "405 Method Not Allowed"


# -- Lambda's ListEventSourceMappings / GetEventSourceMapping -----------------------------

OTHER_UUID = "0b6f3f0e-1111-5222-8333-444455556666"
NOTIFIER_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-Notifier-9Z8Y7X"
OTHER_QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders-notify"
DISABLED_MAPPING: dict[str, Any] = {
    "logical_id": "NotifierQueueEvent",
    "type": "AWS::Lambda::EventSourceMapping",
    "physical_id": OTHER_UUID,
    "mapping": {
        "arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{OTHER_UUID}",
        "function_arn": NOTIFIER_ARN,
        "event_source_arn": OTHER_QUEUE_ARN,
        "batch_size": 10,
        "maximum_batching_window_seconds": 0,
        "enabled": False,
        "function_response_types": [],
        "filter_patterns": [],
        "maximum_concurrency": None,
    },
}


def registered_mappings(registry: StackResources) -> None:
    stack_id = create_stack()
    app = WithStackResources(lambda *_: [b"moto"], registry)
    status, _ = post(app, registration(stack_id, REST, MAPPING, DISABLED_MAPPING))
    assert status == "200 OK"


def test_a_registered_mapping_is_listed_in_lambdas_shape(registry: StackResources) -> None:
    registered_mappings(registry)
    mappings = boto3.client("lambda", region_name=REGION).list_event_source_mappings()
    assert "NextMarker" not in mappings
    worker, notifier = mappings["EventSourceMappings"]
    last_modified = worker.pop("LastModified")
    assert last_modified.timestamp() > 0  # a datetime, parsed as the SDK parses Lambda's
    assert worker == {
        "UUID": MAPPING_UUID,
        "EventSourceMappingArn": MAPPING["mapping"]["arn"],
        "EventSourceArn": WORK_QUEUE_ARN,
        "FunctionArn": WORKER_ARN,
        "BatchSize": 5,
        "MaximumBatchingWindowInSeconds": 2,
        "State": "Enabled",
        "StateTransitionReason": "USER_INITIATED",
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "FilterCriteria": {"Filters": [{"Pattern": '{"body": {"kind": ["order"]}}'}]},
        "ScalingConfig": {"MaximumConcurrency": 4},
    }
    assert (notifier["UUID"], notifier["State"], notifier["FunctionResponseTypes"]) == (
        OTHER_UUID,
        "Disabled",
        [],
    )
    assert "FilterCriteria" not in notifier
    assert "ScalingConfig" not in notifier
    other_region = boto3.client("lambda", region_name="eu-west-1")
    assert other_region.list_event_source_mappings()["EventSourceMappings"] == []


@pytest.mark.parametrize(
    ("function_name", "expected"),
    [
        pytest.param("orders-Worker-1A2B3C", [MAPPING_UUID], id="name"),
        pytest.param(WORKER_ARN, [MAPPING_UUID], id="arn"),
        pytest.param(f"{ACCOUNT}:function:orders-Worker-1A2B3C", [MAPPING_UUID], id="partial"),
        pytest.param(NOTIFIER_ARN, [OTHER_UUID], id="the-other"),
        pytest.param(f"{WORKER_ARN}:live", [], id="an-alias-is-another-function"),
        pytest.param("orders-Worker", [], id="a-prefix-is-not-the-name"),
        pytest.param(
            f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:orders-Worker-1A2B3C",
            [],
            id="another-region",
        ),
        pytest.param("210987654321:function:orders-Worker-1A2B3C", [], id="another-account"),
    ],
)
def test_mappings_are_filtered_by_function_name_as_lambda_accepts_it(
    registry: StackResources, function_name: str, expected: list[str]
) -> None:
    registered_mappings(registry)
    listed = boto3.client("lambda", region_name=REGION).list_event_source_mappings(
        FunctionName=function_name
    )["EventSourceMappings"]
    assert [mapping["UUID"] for mapping in listed] == expected


def test_mappings_are_filtered_by_event_source_arn(registry: StackResources) -> None:
    registered_mappings(registry)
    client = boto3.client("lambda", region_name=REGION)
    listed = client.list_event_source_mappings(EventSourceArn=OTHER_QUEUE_ARN)
    assert [mapping["UUID"] for mapping in listed["EventSourceMappings"]] == [OTHER_UUID]
    both = client.list_event_source_mappings(EventSourceArn=WORK_QUEUE_ARN, FunctionName=WORKER_ARN)
    assert [mapping["UUID"] for mapping in both["EventSourceMappings"]] == [MAPPING_UUID]
    none = client.list_event_source_mappings(
        EventSourceArn=WORK_QUEUE_ARN, FunctionName=NOTIFIER_ARN
    )
    assert none["EventSourceMappings"] == []


def test_mappings_are_listed_in_pages_of_max_items(registry: StackResources) -> None:
    registered_mappings(registry)
    client = boto3.client("lambda", region_name=REGION)
    first = client.list_event_source_mappings(MaxItems=1)
    assert [m["UUID"] for m in first["EventSourceMappings"]] == [MAPPING_UUID]
    second = client.list_event_source_mappings(MaxItems=1, Marker=first["NextMarker"])
    assert [m["UUID"] for m in second["EventSourceMappings"]] == [OTHER_UUID]
    assert "NextMarker" not in second
    pages = client.get_paginator("list_event_source_mappings").paginate(
        PaginationConfig={"PageSize": 1}
    )
    assert [[m["UUID"] for m in page["EventSourceMappings"]] for page in pages] == [
        [MAPPING_UUID],
        [OTHER_UUID],
    ]


def test_a_page_holds_at_most_100_and_a_bad_marker_is_refused() -> None:
    mappings = [{"UUID": str(n), "FunctionArn": WORKER_ARN} for n in range(150)]
    status, _, body = stack_resources.list_event_source_mappings_answer(
        mappings[:120], mappings[120:], {"MaxItems": ["1000"]}
    )
    page = json.loads(body)
    assert (status, len(page["EventSourceMappings"]), page["NextMarker"]) == (200, 100, "100")
    status, _, body = stack_resources.list_event_source_mappings_answer(
        mappings[:120], mappings[120:], {"Marker": ["100"]}
    )
    assert [m["UUID"] for m in json.loads(body)["EventSourceMappings"]] == [
        str(n)
        for n in range(100, 150)  # the registered ones, then moto's own
    ]
    for query in ({"Marker": ["next"]}, {"Marker": ["151"]}, {"MaxItems": ["0"]}):
        status, headers, body = stack_resources.list_event_source_mappings_answer(
            mappings, [], query
        )
        assert (status, headers["x-amzn-errortype"]) == (400, "InvalidParameterValueException")


def test_get_event_source_mapping_describes_a_registered_one(registry: StackResources) -> None:
    registered_mappings(registry)
    client = boto3.client("lambda", region_name=REGION)
    described = client.get_event_source_mapping(UUID=MAPPING_UUID)
    assert (described["UUID"], described["FunctionArn"], described["State"]) == (
        MAPPING_UUID,
        WORKER_ARN,
        "Enabled",
    )
    assert described["ScalingConfig"] == {"MaximumConcurrency": 4}
    assert client.get_event_source_mapping(UUID=OTHER_UUID)["State"] == "Disabled"
    with pytest.raises(client.exceptions.ResourceNotFoundException) as raised:
        client.get_event_source_mapping(UUID="00000000-0000-0000-0000-000000000000")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_deleting_the_stack_forgets_its_mappings(registry: StackResources) -> None:
    registered_mappings(registry)
    boto3.client("cloudformation", region_name=REGION).delete_stack(StackName="orders")
    client = boto3.client("lambda", region_name=REGION)
    assert client.list_event_source_mappings()["EventSourceMappings"] == []
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_event_source_mapping(UUID=MAPPING_UUID)


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        pytest.param(
            {k: v for k, v in MAPPING.items() if k != "mapping"},
            "(WorkerQueueEvent): mapping must be an object",
            id="no-settings",
        ),
        pytest.param(
            {**STAGE, "mapping": MAPPING["mapping"]},
            "mapping is for an AWS::Lambda::EventSourceMapping only",
            id="not-a-mapping",
        ),
        pytest.param(
            {**MAPPING, "mapping": {**MAPPING["mapping"], "batch_size": "5"}},
            "mapping: batch_size must be a non-negative integer",
            id="batch-size",
        ),
        pytest.param(
            {**MAPPING, "mapping": {**MAPPING["mapping"], "enabled": "yes"}},
            "mapping: enabled must be true or false",
            id="enabled",
        ),
        pytest.param(
            {**MAPPING, "mapping": {**MAPPING["mapping"], "function_arn": ""}},
            "mapping: function_arn must be a non-empty string",
            id="function",
        ),
        pytest.param(
            {**MAPPING, "mapping": {**MAPPING["mapping"], "filter_patterns": "{}"}},
            "mapping: filter_patterns must be a list of strings",
            id="patterns",
        ),
        pytest.param(
            {**MAPPING, "mapping": {**MAPPING["mapping"], "starting_position": "x"}},
            "mapping: unknown field(s): starting_position",
            id="extra",
        ),
    ],
)
def test_a_bad_mapping_record_is_refused(resource: dict[str, Any], message: str) -> None:
    with pytest.raises(RegistrationError) as raised:
        parse_registration(registration("s", resource))
    assert message in str(raised.value)
