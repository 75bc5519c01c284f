"""template.yaml as the tests see it: the SAM source, and the CloudFormation SAM makes of it.

The SAM source is read with cfn-lint's YAML loader, so short-form intrinsics (`!Ref`,
`!GetAtt`, `!Sub`) become their long forms instead of YAML errors. The translation runs
samtranslator in process, offline: local `CodeUri`/`ContentUri` paths are rewritten to
S3 URIs the way `sam package` would, and the region comes from an explicit session.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from cfnlint.decode import cfn_yaml
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

TEMPLATE_PATH = Path(__file__).resolve().parents[3] / "template.yaml"

# Values for the parameters without a default; the others keep their defaults.
TEST_PARAMETER_VALUES = {"SenderEmailAddress": "no-reply@example.com"}

# SAM looks up managed policies named in `Policies` through IAM; offline, this map
# answers instead. It only matters when a template (wrongly) names one.
_MANAGED_POLICY_ARNS = {
    name: f"arn:aws:iam::aws:policy/{name}"
    for name in ("AmazonSQSFullAccess", "AmazonDynamoDBFullAccess", "AmazonSESFullAccess")
}

Template = dict[str, Any]


@dataclass(frozen=True)
class Templates:
    """One template in both forms, so each rule checks where the truth is."""

    sam: Template  # template.yaml as written (Globals not yet applied)
    cfn: Template  # what CloudFormation deploys after the SAM transform


def load_sam_template(path: Path = TEMPLATE_PATH) -> Template:
    # The JSON round trip turns cfn-lint's positioned node types into plain dicts and strs.
    template: Template = json.loads(json.dumps(cfn_yaml.load(str(path))))
    return template


def translate(sam: Template) -> Template:
    """The CloudFormation template the SAM transform produces for `sam`."""
    packaged = copy.deepcopy(sam)
    for resource in packaged.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str) and "://" not in properties[key]:
                properties[key] = f"s3://artifacts/{properties[key].strip('/')}"
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name="us-east-1"))
    cfn: Template = translator.translate(
        packaged,
        parameter_values=dict(TEST_PARAMETER_VALUES),
        get_managed_policy_map=lambda: _MANAGED_POLICY_ARNS,
    )
    return cfn


def load_templates(sam: Template | None = None) -> Templates:
    sam = load_sam_template() if sam is None else sam
    return Templates(sam=sam, cfn=translate(sam))


def resources_of_type(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    """{logical id: Properties} of every resource of one type."""
    return {
        logical_id: resource.get("Properties", {})
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == resource_type
    }


def referenced_resource(value: Any) -> str | None:
    """The logical ID a `Ref` or `Fn::GetAtt` points at, or None for anything else."""
    if isinstance(value, dict) and len(value) == 1:
        if "Ref" in value and isinstance(value["Ref"], str):
            return value["Ref"]
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            if isinstance(target, list) and target and isinstance(target[0], str):
                return target[0]
            if isinstance(target, str):
                return target.split(".", 1)[0]
    return None


@dataclass(frozen=True)
class SqsEventSource:
    mapping_id: str  # the AWS::Lambda::EventSourceMapping
    queue_id: str
    function_id: str
    properties: dict[str, Any]


def sqs_event_sources(cfn: Template) -> list[SqsEventSource]:
    """Every event source mapping that polls a queue of this template."""
    queues = resources_of_type(cfn, "AWS::SQS::Queue")
    sources = []
    for mapping_id, properties in resources_of_type(cfn, "AWS::Lambda::EventSourceMapping").items():
        queue_id = referenced_resource(properties.get("EventSourceArn"))
        function_id = referenced_resource(properties.get("FunctionName"))
        if queue_id in queues and function_id is not None:
            sources.append(SqsEventSource(mapping_id, queue_id, function_id, properties))
    return sources


def dead_letter_queue_ids(cfn: Template) -> set[str]:
    """Queues that some queue's RedrivePolicy sends its failures to."""
    targets = set()
    for properties in resources_of_type(cfn, "AWS::SQS::Queue").values():
        target = referenced_resource(properties.get("RedrivePolicy", {}).get("deadLetterTargetArn"))
        if target is not None:
            targets.add(target)
    return targets


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class PolicyStatement:
    where: str  # e.g. "BillingFunctionRole policy BillingFunctionRolePolicy2"
    statement: dict[str, Any]
    is_resource_policy: bool  # a key/queue/topic policy, where Resource "*" means "this resource"


def policy_statements(cfn: Template) -> Iterator[PolicyStatement]:
    """Every statement of every policy document the stack creates."""
    for logical_id, resource in cfn.get("Resources", {}).items():
        resource_type = resource.get("Type")
        properties = resource.get("Properties", {})
        documents: list[tuple[str, Any, bool]] = []
        if resource_type == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                name = policy.get("PolicyName", "?")
                documents.append((f"{logical_id} policy {name}", policy["PolicyDocument"], False))
        elif resource_type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append((logical_id, properties.get("PolicyDocument", {}), False))
        elif resource_type == "AWS::KMS::Key":
            documents.append((logical_id, properties.get("KeyPolicy", {}), True))
        elif resource_type in ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
            documents.append((logical_id, properties.get("PolicyDocument", {}), True))
        for where, document, is_resource_policy in documents:
            for statement in as_list(document.get("Statement", [])):
                yield PolicyStatement(where, statement, is_resource_policy)


def is_allow(statement: dict[str, Any]) -> bool:
    return statement.get("Effect") == "Allow"


def role_statements(cfn: Template, role_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(policy name, statement) of every inline policy of one AWS::IAM::Role."""
    role = cfn.get("Resources", {}).get(role_id, {})
    for policy in role.get("Properties", {}).get("Policies", []):
        for statement in as_list(policy.get("PolicyDocument", {}).get("Statement", [])):
            yield policy.get("PolicyName", "?"), statement


def queue_policy_statements(cfn: Template) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """{queue logical ID: [(AWS::SQS::QueuePolicy logical ID, statement)]} for every queue
    an AWS::SQS::QueuePolicy of the template names in its Queues."""
    statements: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for policy_id, properties in resources_of_type(cfn, "AWS::SQS::QueuePolicy").items():
        document = properties.get("PolicyDocument", {})
        for queue in as_list(properties.get("Queues", [])):
            queue_id = referenced_resource(queue)
            if queue_id is None:
                continue
            for statement in as_list(document.get("Statement", [])):
                statements.setdefault(queue_id, []).append((policy_id, statement))
    return statements


_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


def references(value: Any) -> set[str]:
    """Every logical ID or parameter `value` names through Ref, Fn::GetAtt or Fn::Sub
    (pseudo parameters such as AWS::Region left out), however deeply nested."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item)
    elif isinstance(value, dict):
        target = referenced_resource(value)
        if target is not None:
            found.add(target)
        elif "Fn::Sub" in value and len(value) == 1:
            template: Any = value["Fn::Sub"]
            variables: dict[str, Any] = {}
            if isinstance(template, list):
                template, variables = template[0], dict(template[1]) if len(template) > 1 else {}
            for name in _SUB_VARIABLE.findall(str(template)):
                if name.split(".", 1)[0] not in variables:
                    found.add(name.split(".", 1)[0])
            found |= references(list(variables.values()))
        else:
            for item in value.values():
                found |= references(item)
    return {name for name in found if not name.startswith("AWS::")}


def if_branches(value: Any) -> list[Any]:
    """The values an `Fn::If` can take (each branch, recursively), or [value] for others."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        condition_and_branches = value["Fn::If"]
        if isinstance(condition_and_branches, list) and len(condition_and_branches) == 3:
            return if_branches(condition_and_branches[1]) + if_branches(condition_and_branches[2])
    return [value]
