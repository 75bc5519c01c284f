"""REST APIs on the local cloud (issue #12): SAM's hello world (an implicit `Events: Api`)
and an explicit AWS::Serverless::Api with a DefinitionBody (plus an HTTP API beside it)
deploy, are reported as served locally, resolve `${ServerlessRestApi}`, `${ItemsApi}` and
`${HttpApi}` in Outputs, and answer over HTTP at the URLs those Outputs give."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_cloud.cloud import LocalCloud, Settings
from local_cloud.http_api.events import api_id

REPO = Path(__file__).resolve().parents[4]

# sam init's hello world (python), its code inline
HELLO = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  HelloWorldFunction:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: index.lambda_handler
      InlineCode: |
        import json
        def lambda_handler(event, context):
            return {"statusCode": 200, "body": json.dumps({"message": "hello world"})}
      Events:
        HelloWorld:
          Type: Api
          Properties:
            Path: /hello
            Method: get
Outputs:
  HelloWorldApi:
    Value: !Sub "https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/hello/"
  HelloWorldApiId:
    Value: !Ref ServerlessRestApi
"""

URI = (
    "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
    "${ItemsFunction.Arn}/invocations"
)
EXPLICIT = f"""
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  ItemsApi:
    Type: AWS::Serverless::Api
    Properties:
      StageName: live
      Variables:
        greeting: hello
      DefinitionBody:
        swagger: "2.0"
        info: {{title: items, version: "1.0"}}
        paths:
          /items/{{id}}:
            get:
              x-amazon-apigateway-integration:
                type: aws_proxy
                httpMethod: POST
                uri: !Sub {URI}
          /files/{{proxy+}}:
            x-amazon-apigateway-any-method:
              x-amazon-apigateway-integration:
                type: aws_proxy
                httpMethod: POST
                uri: !Sub {URI}
  ItemsFunction:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: index.handler
      InlineCode: |
        import json
        def handler(event, context):
            if event["path"].endswith("/broken"):
                return {{"body": "no statusCode"}}
            if event["path"].endswith("/raise"):
                raise RuntimeError("boom")
            return {{"statusCode": 200, "headers": {{"X-Stage": event["requestContext"]["stage"]}},
                    "body": json.dumps(event)}}
      Events:
        Get:
          Type: Api
          Properties: {{RestApiId: !Ref ItemsApi, Path: "/items/{{id}}", Method: get}}
        Files:
          Type: Api
          Properties: {{RestApiId: !Ref ItemsApi, Path: "/files/{{proxy+}}", Method: any}}
  HttpApi:
    Type: AWS::Serverless::HttpApi
  PingFunction:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: index.handler
      InlineCode: |
        def handler(event, context):
            return {{"pong": event["routeKey"]}}
      Events:
        Ping:
          Type: HttpApi
          Properties: {{ApiId: !Ref HttpApi, Path: /ping, Method: get}}
Outputs:
  ItemsUrl:
    Value: !Sub https://${{ItemsApi}}.execute-api.${{AWS::Region}}.amazonaws.com/live
  ItemsRoot:
    Value: !GetAtt ItemsApi.RootResourceId
  HttpUrl:
    Value: !Sub https://${{HttpApi}}.execute-api.${{AWS::Region}}.amazonaws.com/
"""


def start(tmp_path: Path, name: str, text: str) -> LocalCloud:
    template = tmp_path / f"{name}.yaml"
    template.write_text(text)
    settings = Settings(template=template, stack=name, state_dir=REPO / ".local-cloud")
    return LocalCloud(
        settings,
        endpoint_port=None,
        payment_provider_port=None,
        start_pollers=False,
        http_api_port=None,
    ).start()


@pytest.fixture(scope="module")
def hello(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    cloud = start(tmp_path_factory.mktemp("hello"), "rest-hello-it", HELLO)
    try:
        yield cloud
    finally:
        cloud.stop()


@pytest.fixture(scope="module")
def explicit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    cloud = start(tmp_path_factory.mktemp("explicit"), "rest-explicit-it", EXPLICIT)
    try:
        yield cloud
    finally:
        cloud.stop()


def call(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(url, data=body, method=method)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_hello_world_deploys_served_locally_with_its_output_resolved(hello: LocalCloud) -> None:
    assert hello.deployment is not None
    assert hello.http_api is not None
    assert hello.stack.unsupported_resources == ()
    served = sorted(
        note.resource_type
        for note in hello.deployment.handled_locally
        if note.how == f"served locally at {hello.http_api.url}"
    )
    assert served == [
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGateway::Stage",
    ]
    identifier = api_id("ServerlessRestApi")
    assert hello.stack.outputs == {
        "HelloWorldApi": f"https://{identifier}.execute-api.us-east-1.amazonaws.com/Prod/hello/",
        "HelloWorldApiId": identifier,
    }


def test_hello_world_answers_at_its_output_url(hello: LocalCloud) -> None:
    url = hello.local_api_url(hello.stack.outputs["HelloWorldApi"])
    assert hello.http_api is not None
    assert url == f"{hello.http_api.url}/Prod/hello/"
    status, headers, body = call(url)
    assert status == 200, body
    assert json.loads(body) == {"message": "hello world"}
    assert headers["Content-Type"] == "application/json"
    assert headers["x-amzn-RequestId"]
    status, _, body = call(url.replace("/hello/", "/nothing"))
    assert (status, json.loads(body)) == (403, {"message": "Missing Authentication Token"})
    status, _, body = call(url, method="POST", body=b"{}")
    assert status == 403


def test_the_explicit_api_and_the_http_api_resolve_in_outputs(explicit: LocalCloud) -> None:
    assert explicit.deployment is not None
    assert explicit.stack.unsupported_resources == ()
    assert explicit.deployment.warnings == ()
    items, http = api_id("ItemsApi"), api_id("HttpApi")
    assert explicit.stack.outputs == {
        "ItemsUrl": f"https://{items}.execute-api.us-east-1.amazonaws.com/live",
        "ItemsRoot": api_id("ItemsApi/"),
        "HttpUrl": f"https://{http}.execute-api.us-east-1.amazonaws.com/",
    }


def test_the_explicit_api_passes_path_query_and_stage_variables(explicit: LocalCloud) -> None:
    base = explicit.local_api_url(explicit.stack.outputs["ItemsUrl"])
    status, headers, body = call(f"{base}/items/42?tag=a&tag=b")
    assert status == 200, body
    assert headers["X-Stage"] == "live"
    event = json.loads(body)
    assert event["resource"] == "/items/{id}"
    assert event["path"] == "/items/42"
    assert event["pathParameters"] == {"id": "42"}
    assert event["queryStringParameters"] == {"tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"]}
    assert event["stageVariables"] == {"greeting": "hello"}
    assert event["requestContext"]["apiId"] == api_id("ItemsApi")
    assert event["requestContext"]["path"] == "/live/items/42"
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"

    status, _, body = call(f"{base}/files/a/b.txt", method="PUT", body=b"text body")
    assert status == 200, body
    event = json.loads(body)
    assert (event["resource"], event["httpMethod"]) == ("/files/{proxy+}", "PUT")
    assert event["pathParameters"] == {"proxy": "a/b.txt"}
    assert (event["body"], event["isBase64Encoded"]) == ("text body", False)


def test_api_gateways_own_answers(explicit: LocalCloud) -> None:
    base = explicit.local_api_url(explicit.stack.outputs["ItemsUrl"])
    for path in ("/files/broken", "/files/raise"):
        status, _, body = call(base + path)
        assert (status, json.loads(body)) == (502, {"message": "Internal server error"}), path
    status, _, body = call(base + "/nothing")
    assert (status, json.loads(body)) == (403, {"message": "Missing Authentication Token"})
    # A path under no REST stage belongs to the HTTP API served at the root: its 404
    status, _, body = call(base.replace("/live", "/Prod") + "/items/1")
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})


def test_the_http_api_beside_answers_at_its_output_url(explicit: LocalCloud) -> None:
    url = explicit.local_api_url(explicit.stack.outputs["HttpUrl"]) + "ping"
    status, headers, body = call(url)
    assert status == 200, body
    assert json.loads(body) == {"pong": "GET /ping"}
    assert headers["apigw-requestid"]
