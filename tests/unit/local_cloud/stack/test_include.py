"""AWS::Include of a local file, expanded before translation as `sam deploy` and
CloudFormation do it (files under pytest's tmp_path; no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_cloud.stack.errors import TemplateError
from local_cloud.stack.include import expand_includes

API_YAML = """\
openapi: "3.0.1"
paths:
  /:
    post:
      x-amazon-apigateway-integration:
        credentials:
          Fn::GetAtt: [MyAPiRole, Arn]
        requestParameters:
          QueueUrl:
            Ref: MySQSQueue
"""


def include(location: str) -> dict[str, object]:
    return {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": location}}}


def test_a_definition_body_is_replaced_by_the_files_content(tmp_path: Path) -> None:
    (tmp_path / "api.yaml").write_text(API_YAML)
    template = {"Resources": {"MyAPI": {"Properties": {"DefinitionBody": include("api.yaml")}}}}
    body = expand_includes(template, tmp_path)["Resources"]["MyAPI"]["Properties"]["DefinitionBody"]
    integration = body["paths"]["/"]["post"]["x-amazon-apigateway-integration"]
    assert integration == {
        "credentials": {"Fn::GetAtt": ["MyAPiRole", "Arn"]},
        "requestParameters": {"QueueUrl": {"Ref": "MySQSQueue"}},
    }
    assert template["Resources"]["MyAPI"]["Properties"]["DefinitionBody"] == include("api.yaml")


def test_next_to_other_keys_a_mapping_is_merged_and_a_clash_refused(tmp_path: Path) -> None:
    (tmp_path / "queues.json").write_text('{"Queue": {"Type": "AWS::SQS::Queue"}}')
    (tmp_path / "nested.yaml").write_text(
        "Fn::Transform:\n  Name: AWS::Include\n  Parameters:\n    Location: queues.json\n"
    )
    resources = {"Fn::Transform": include("nested.yaml")["Fn::Transform"], "Other": {}}
    assert expand_includes({"Resources": resources}, tmp_path) == {
        "Resources": {"Other": {}, "Queue": {"Type": "AWS::SQS::Queue"}}
    }
    clash = {**resources, "Queue": {}}
    with pytest.raises(TemplateError, match="defines Queue, which the template defines"):
        expand_includes({"Resources": clash}, tmp_path)


@pytest.mark.parametrize(
    ("location", "content", "named"),
    [
        ("s3://bucket/api.yaml", None, "includes local files"),
        ("missing.yaml", None, "no file"),
        ("short.yaml", "QueueUrl: !Ref MySQSQueue\n", "in full \\(Ref:, Fn::GetAtt:\\)"),
        ("broken.yaml", "a: [b\n", "not YAML or JSON"),
    ],
)
def test_an_include_that_cannot_be_read_is_named(
    tmp_path: Path, location: str, content: str | None, named: str
) -> None:
    if content is not None:
        (tmp_path / location).write_text(content)
    with pytest.raises(TemplateError, match=named):
        expand_includes({"Resources": {"A": {"Properties": {"Body": include(location)}}}}, tmp_path)


def test_other_transforms_are_left_for_the_translator(tmp_path: Path) -> None:
    template = {"Resources": {"Fn::Transform": {"Name": "AWS::LanguageExtensions"}}}
    assert expand_includes(template, tmp_path) == template
