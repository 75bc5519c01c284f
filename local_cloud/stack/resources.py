"""What Ref and Fn::GetAtt return for the resources of a stack deployed on the endpoint.

Physical IDs come from DescribeStackResources; attributes are computed the way AWS forms
them, or read from the service when they cannot be computed (a table's stream ARN).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from local_cloud.stack.intrinsics import IntrinsicError


@dataclass(frozen=True)
class DeployedResource:
    logical_id: str
    resource_type: str
    physical_id: str | None


@dataclass
class StackResources:
    """A ResourceLookup over one deployed stack. `client(service)` gives boto3 clients."""

    resources: Mapping[str, DeployedResource]
    region: str
    account_id: str
    client: Callable[[str], Any]

    def ref(self, logical_id: str) -> str:
        return self._physical_id(logical_id)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise IntrinsicError(f"Fn::GetAtt {logical_id}.{attribute}: resource was not created")
        getter = _ATTRIBUTES.get((resource.resource_type, attribute))
        if getter is not None:
            return getter(self, self._physical_id(logical_id))
        physical_id = resource.physical_id or ""
        if attribute == "Arn" and physical_id.startswith("arn:"):
            return physical_id
        raise IntrinsicError(
            f"Fn::GetAtt {logical_id}.{attribute} ({resource.resource_type}) is not supported "
            "by the local cloud's resolver"
        )

    def _physical_id(self, logical_id: str) -> str:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise IntrinsicError(f"Ref {logical_id}: resource was not created on the endpoint")
        if not resource.physical_id:
            raise IntrinsicError(f"Ref {logical_id}: the endpoint reports no physical ID")
        return resource.physical_id

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"

    def _queue_arn(self, url: str) -> str:
        return self._arn("sqs", queue_name(url))

    def _function_arn(self, name: str) -> str:
        return self._arn("lambda", f"function:{name}")

    def _table(self, name: str) -> dict[str, Any]:
        table: dict[str, Any] = self.client("dynamodb").describe_table(TableName=name)["Table"]
        return table

    def _table_stream_arn(self, name: str) -> str:
        arn = self._table(name).get("LatestStreamArn")
        if not arn:
            raise IntrinsicError(f"table {name} has no stream, so no StreamArn")
        return str(arn)

    def _role_arn(self, name: str) -> str:
        return str(self.client("iam").get_role(RoleName=name)["Role"]["Arn"])

    def _role_id(self, name: str) -> str:
        return str(self.client("iam").get_role(RoleName=name)["Role"]["RoleId"])


def queue_name(url_or_arn: str) -> str:
    """The queue name at the end of a queue URL (…/account/name) or ARN (…:account:name)."""
    return url_or_arn.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]


_ATTRIBUTES: dict[tuple[str, str], Callable[[StackResources, str], Any]] = {
    ("AWS::SQS::Queue", "Arn"): StackResources._queue_arn,
    ("AWS::SQS::Queue", "QueueName"): lambda _, url: queue_name(url),
    ("AWS::SQS::Queue", "QueueUrl"): lambda _, url: url,
    ("AWS::Lambda::Function", "Arn"): StackResources._function_arn,
    ("AWS::DynamoDB::Table", "Arn"): lambda self, name: self._table(name)["TableArn"],
    ("AWS::DynamoDB::Table", "StreamArn"): StackResources._table_stream_arn,
    ("AWS::SNS::Topic", "TopicArn"): lambda _, arn: arn,
    ("AWS::SNS::Topic", "TopicName"): lambda _, arn: arn.rsplit(":", 1)[-1],
    ("AWS::IAM::Role", "Arn"): StackResources._role_arn,
    ("AWS::IAM::Role", "RoleId"): StackResources._role_id,
    ("AWS::S3::Bucket", "Arn"): lambda _, name: f"arn:aws:s3:::{name}",
    ("AWS::S3::Bucket", "DomainName"): lambda _, name: f"{name}.s3.amazonaws.com",
    ("AWS::Logs::LogGroup", "Arn"): lambda self, name: self._arn("logs", f"log-group:{name}:*"),
    ("AWS::CloudWatch::Alarm", "Arn"): lambda self, name: self._arn("cloudwatch", f"alarm:{name}"),
    ("AWS::SSM::Parameter", "Type"): lambda self, name: self.client("ssm").get_parameter(Name=name)[
        "Parameter"
    ]["Type"],
    ("AWS::SSM::Parameter", "Value"): lambda self, name: self.client("ssm").get_parameter(
        Name=name
    )["Parameter"]["Value"],
}
