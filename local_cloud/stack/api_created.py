"""Resources the endpoint's CloudFormation skips, created through the endpoint's own APIs the
way CloudFormation would create them.

moto's CloudFormation creates no AWS::CloudWatch::Alarm, AWS::SQS::QueuePolicy,
AWS::SNS::Subscription or AWS::SecretsManager::Secret (it skips them with a warning). Left
out, an SNS-to-SQS fan-out delivers nothing and a function reading its secret fails; so the
deployer makes each with the call CloudFormation's resource handler makes (PutMetricAlarm,
SetQueueAttributes, Subscribe, CreateSecret), once the rest of the stack exists, and says so
in a ResourceNote. What each returns for Ref is recorded, so references to it resolve.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from local_cloud.model import ResourceNote
from local_cloud.stack.errors import DeploymentError
from local_cloud.stack.resources import queue_name
from local_cloud.stack.specs import ALARM, QUEUE_POLICY, alarm_request

SNS_SUBSCRIPTION = "AWS::SNS::Subscription"
SECRETS_MANAGER_SECRET = "AWS::SecretsManager::Secret"  # noqa: S105 - a type name  # nosec B105

Clients = Callable[[str], Any]


@dataclass(frozen=True)
class Created:
    note: ResourceNote
    physical_id: str | None = None  # what Ref returns, when the resource has one


def create(
    logical_id: str,
    resource_type: str,
    properties: Mapping[str, Any],
    clients: Clients,
    stack_name: str,
) -> Created:
    """Create one skipped resource (its properties resolved) through the endpoint's API. A
    refusal from the endpoint is a DeploymentError naming the resource."""
    maker = _MAKERS[resource_type]
    try:
        physical_id, how = maker(logical_id, properties, clients, stack_name)
    except KeyError as error:
        raise DeploymentError(
            f"{logical_id} ({resource_type}): required property {error.args[0]} is missing"
        ) from None
    except (ClientError, BotoCoreError) as error:
        raise DeploymentError(
            f"{logical_id} ({resource_type}): the endpoint refused it: {error}"
        ) from error
    return Created(ResourceNote(logical_id, resource_type, how), physical_id)


def _alarm(
    logical_id: str, properties: Mapping[str, Any], clients: Clients, stack_name: str
) -> tuple[str, str]:
    request = alarm_request(logical_id, properties, stack_name)
    clients("cloudwatch").put_metric_alarm(**request)
    # A new alarm starts in INSUFFICIENT_DATA on AWS (moto starts it in OK), so its first
    # evaluation is a change of state, with the OK actions that brings.
    clients("cloudwatch").set_alarm_state(
        AlarmName=request["AlarmName"],
        StateValue="INSUFFICIENT_DATA",
        StateReason="Unchecked: Initial alarm creation",
    )
    return request["AlarmName"], f"created with PutMetricAlarm as {request['AlarmName']}"


def _queue_policy(
    logical_id: str, properties: Mapping[str, Any], clients: Clients, stack_name: str
) -> tuple[str | None, str]:
    policy = json.dumps(properties["PolicyDocument"])
    for queue_url in properties["Queues"]:
        clients("sqs").set_queue_attributes(QueueUrl=str(queue_url), Attributes={"Policy": policy})
    queues = ", ".join(map(queue_name, properties["Queues"]))
    return None, (
        f"set with SetQueueAttributes (Policy) on {queues}; stored, not enforced: the "
        "endpoint evaluates no access policy"
    )


# AWS::SNS::Subscription properties that are subscription attributes (SetSubscriptionAttributes).
_SUBSCRIPTION_ATTRIBUTES = (
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "ReplayPolicy",
    "SubscriptionRoleArn",
)


def subscription_attributes(properties: Mapping[str, Any]) -> dict[str, str]:
    """The Subscribe call's Attributes: strings, a policy given as an object in JSON, a
    boolean as `true`/`false` (CloudFormation takes either form in the template)."""
    attributes = {}
    for name in _SUBSCRIPTION_ATTRIBUTES:
        if name not in properties:
            continue
        value = properties[name]
        if isinstance(value, bool):
            attributes[name] = "true" if value else "false"
        elif isinstance(value, Mapping | list):
            attributes[name] = json.dumps(value)
        else:
            attributes[name] = str(value)
    return attributes


def _subscription(
    logical_id: str, properties: Mapping[str, Any], clients: Clients, stack_name: str
) -> tuple[str, str]:
    topic_arn = str(properties["TopicArn"])
    protocol = str(properties["Protocol"])
    request: dict[str, Any] = {
        "TopicArn": topic_arn,
        "Protocol": protocol,
        "ReturnSubscriptionArn": True,
    }
    if "Endpoint" in properties:
        request["Endpoint"] = str(properties["Endpoint"])
    attributes = subscription_attributes(properties)
    if attributes:
        request["Attributes"] = attributes
    arn = str(clients("sns").subscribe(**request)["SubscriptionArn"])
    target = request.get("Endpoint", "")
    return arn, (
        f"created with Subscribe: {protocol} {target} to {topic_arn.rsplit(':', 1)[-1]}"
        + (f" ({', '.join(sorted(attributes))})" if attributes else "")
    )


def _secret(
    logical_id: str, properties: Mapping[str, Any], clients: Clients, stack_name: str
) -> tuple[str, str]:
    secrets = clients("secretsmanager")
    # CloudFormation names an unnamed secret after its logical ID and a random suffix.
    name = str(properties.get("Name") or f"{logical_id}-{_suffix(stack_name, logical_id)}")
    request: dict[str, Any] = {"Name": name}
    if "Description" in properties:
        request["Description"] = str(properties["Description"])
    if "Tags" in properties:
        request["Tags"] = list(properties["Tags"])
    if "SecretString" in properties:
        request["SecretString"] = str(properties["SecretString"])
        how = "created with CreateSecret"
    elif "GenerateSecretString" in properties:
        request["SecretString"] = generated_secret(
            properties["GenerateSecretString"], secrets.get_random_password
        )
        how = "created with CreateSecret, its value from GetRandomPassword"
    else:
        # CloudFormation generates a 32-character password when neither is given.
        request["SecretString"] = secrets.get_random_password(PasswordLength=32)["RandomPassword"]
        how = "created with CreateSecret, a generated 32-character value"
    arn = str(secrets.create_secret(**request)["ARN"])
    return arn, f"{how} as {name}"


def generated_secret(spec: Mapping[str, Any], random_password: Callable[..., Any]) -> str:
    """GenerateSecretString: a password with its options, alone or placed in the JSON of
    SecretStringTemplate under GenerateStringKey (both or neither, as CloudFormation asks)."""
    options = {
        name: spec[name]
        for name in (
            "PasswordLength",
            "ExcludeCharacters",
            "ExcludeNumbers",
            "ExcludePunctuation",
            "ExcludeUppercase",
            "ExcludeLowercase",
            "IncludeSpace",
            "RequireEachIncludedType",
        )
        if name in spec
    }
    for name in ("ExcludeNumbers", "ExcludePunctuation", "ExcludeUppercase", "ExcludeLowercase",
                 "IncludeSpace", "RequireEachIncludedType"):  # fmt: skip
        if name in options and isinstance(options[name], str):
            options[name] = options[name].lower() == "true"
    if "PasswordLength" in options:
        options["PasswordLength"] = int(options["PasswordLength"])
    password = str(random_password(**options)["RandomPassword"])
    template, key = spec.get("SecretStringTemplate"), spec.get("GenerateStringKey")
    if (template is None) != (key is None):
        raise DeploymentError(
            "GenerateSecretString: SecretStringTemplate and GenerateStringKey go together"
        )
    if template is None:
        return password
    document = json.loads(str(template))
    if not isinstance(document, dict):
        raise DeploymentError("GenerateSecretString: SecretStringTemplate is not a JSON object")
    document[str(key)] = password
    return json.dumps(document)


def _suffix(stack_name: str, logical_id: str) -> str:
    """A stable stand-in for CloudFormation's random suffix: the same stack, the same name."""
    return hashlib.sha256(f"{stack_name}/{logical_id}".encode()).hexdigest()[:12]


def creates(resource_type: str) -> bool:
    """Whether this module creates resources of this type."""
    return resource_type in _MAKERS


_MAKERS: dict[str, Callable[[str, Mapping[str, Any], Clients, str], tuple[str | None, str]]] = {
    ALARM: _alarm,
    QUEUE_POLICY: _queue_policy,
    SNS_SUBSCRIPTION: _subscription,
    SECRETS_MANAGER_SECRET: _secret,
}
