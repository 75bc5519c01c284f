"""The rules template.yaml must keep, each a function returning what breaks it.

A rule returns a list of violations, each naming the resource and what is wrong, and an
empty list when the template complies. Rules read the translated CloudFormation where
that is what gets deployed (Globals applied, event sources turned into mappings, policy
templates expanded), and the SAM source where the author's intent is the point (which
policy templates, which build method). A rule that finds nothing to check reports that
too, so deleting the resources it guards cannot make it pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from delivery_guarantees.billing import DEFAULT_TIME_BUDGET, TimeBudget
from delivery_guarantees.welcome_email import SEND_WORST_CASE_SECONDS
from tests.unit.template.cfn_template import (
    Templates,
    as_list,
    dead_letter_queue_ids,
    if_branches,
    is_allow,
    policy_statements,
    queue_policy_statements,
    referenced_resource,
    references,
    resources_of_type,
    role_statements,
    sqs_event_sources,
)

Rule = Callable[[Templates], list[str]]

MIN_MAX_RECEIVE_COUNT = 5
FOURTEEN_DAYS = 1_209_600
RUNTIME = "python3.13"
ARCHITECTURE = "arm64"
ALARM_TOPIC = "AlarmTopic"

# Defaults AWS applies when a property is left out.
DEFAULT_VISIBILITY_TIMEOUT = 30
DEFAULT_FUNCTION_TIMEOUT = 3
DEFAULT_BATCHING_WINDOW = 0

# docs/design.md, "Outputs (exactly these keys)": key -> the resource it names.
EXPECTED_OUTPUTS = {
    "WelcomeEmailQueueUrl": "WelcomeEmailQueue",
    "WelcomeEmailDeadLetterQueueUrl": "WelcomeEmailDeadLetterQueue",
    "BillingQueueUrl": "BillingQueue",
    "BillingDeadLetterQueueUrl": "BillingDeadLetterQueue",
    "AccountsTableName": "AccountsTable",
    "ChargesTableName": "ChargesTable",
    "IdempotencyTableName": "IdempotencyTable",
    "SignupFunctionName": "SignupFunction",
    "WelcomeEmailFunctionName": "WelcomeEmailFunction",
    "BillingFunctionName": "BillingFunction",
    "AlarmTopicArn": "AlarmTopic",
}

# docs/design.md, "Environment variables": variable -> the resource or parameter it names.
_POWERTOOLS = {
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    # Off: no payload (signup's answer holds personal data) or error message goes to X-Ray.
    "POWERTOOLS_TRACER_CAPTURE_RESPONSE",
    "POWERTOOLS_TRACER_CAPTURE_ERROR",
}
EXPECTED_ENVIRONMENT: dict[str, dict[str, str | None]] = {
    "SignupFunction": {
        "ACCOUNTS_TABLE_NAME": "AccountsTable",
        "WELCOME_EMAIL_QUEUE_URL": "WelcomeEmailQueue",
        "BILLING_QUEUE_URL": "BillingQueue",
        "WELCOME_EMAIL_DELIVERY": "WelcomeEmailDelivery",
        "SIGNUP_CHARGE_AMOUNT": "SignupChargeAmount",
        "SIGNUP_CHARGE_CURRENCY": "SignupChargeCurrency",
        "SENDER_EMAIL_ADDRESS": "SenderEmailAddress",
    },
    "WelcomeEmailFunction": {
        "SENDER_EMAIL_ADDRESS": "SenderEmailAddress",
        "DEAD_LETTER_QUEUE_URL": "WelcomeEmailDeadLetterQueue",
    },
    "BillingFunction": {
        "IDEMPOTENCY_TABLE_NAME": "IdempotencyTable",
        "CHARGES_TABLE_NAME": "ChargesTable",
        "PAYMENT_PROVIDER_SECRET_PARAMETER_NAME": "PaymentProviderSecretParameterName",
        "PAYMENT_PROVIDER_API_BASE": "PaymentProviderApiBase",
        "MAX_CHARGE_AMOUNT": "MaxChargeAmount",
        "DEAD_LETTER_QUEUE_URL": "BillingDeadLetterQueue",
    },
}

# Resources that hold money, identity or undelivered jobs: they must survive a deleted
# stack and a replacement (DeletionPolicy and UpdateReplacePolicy: Retain).
RETAINED_RESOURCES = (
    "AccountsTable",
    "ChargesTable",
    "IdempotencyTable",
    "WelcomeEmailDeadLetterQueue",
    "BillingDeadLetterQueue",
)

# Table -> (partition key, whether it is a ledger that needs point-in-time recovery).
EXPECTED_TABLES = {
    "AccountsTable": ("email", True),
    "ChargesTable": ("transaction_id", True),
    "IdempotencyTable": ("id", False),
}

_SECRET_VALUE = re.compile(r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]+|\bwhsec_[0-9A-Za-z]+")
_SSM_PARAMETER_NAME = re.compile(r"^/[A-Za-z0-9_.\-/]+$")


def _nothing_to_check(what: str) -> list[str]:
    return [f"no {what} found: this rule would pass vacuously"]


def _wildcard_action(action: Any) -> bool:
    return action == "*" or (isinstance(action, str) and action.endswith(":*"))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _fires_on_first(alarm: dict[str, Any]) -> bool:
    """True when one datapoint above zero is enough to alarm."""
    operator, threshold = alarm.get("ComparisonOperator"), alarm.get("Threshold")
    return (operator == "GreaterThanThreshold" and threshold == 0) or (
        operator == "GreaterThanOrEqualToThreshold" and threshold == 1
    )


def _alarm_problems(alarm_id: str, alarm: dict[str, Any]) -> list[str]:
    problems = []
    if not _fires_on_first(alarm):
        problems.append(f"{alarm_id} must fire on the first datapoint above 0")
    if alarm.get("TreatMissingData") != "notBreaching":
        problems.append(f"{alarm_id} must treat missing data as notBreaching")
    if ALARM_TOPIC not in {referenced_resource(a) for a in alarm.get("AlarmActions", [])}:
        problems.append(f"{alarm_id} must notify {ALARM_TOPIC}")
    return problems


def _alarms_on(
    cfn: dict[str, Any], namespace: str, metric: str, dimension: str, target: str
) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for alarm_id, alarm in resources_of_type(cfn, "AWS::CloudWatch::Alarm").items():
        if alarm.get("Namespace") != namespace or alarm.get("MetricName") != metric:
            continue
        for item in alarm.get("Dimensions", []):
            if item.get("Name") == dimension and referenced_resource(item.get("Value")) == target:
                found.append((alarm_id, alarm))
    return found


# ---------------------------------------------------------------------------- queues


def source_queues_have_dead_letter_queues(t: Templates) -> list[str]:
    """Every queue that is not itself a DLQ redrives to one, after >= 5 receives."""
    queues = resources_of_type(t.cfn, "AWS::SQS::Queue")
    dlqs = dead_letter_queue_ids(t.cfn)
    sources = {q: p for q, p in queues.items() if q not in dlqs}
    problems = [] if sources else _nothing_to_check("source queue")
    problems += [
        f"{source.queue_id} is a DLQ but {source.function_id} consumes it"
        for source in sqs_event_sources(t.cfn)
        if source.queue_id in dlqs
    ]
    for queue_id, properties in sources.items():
        redrive = properties.get("RedrivePolicy")
        if not redrive:
            problems.append(f"{queue_id} has no RedrivePolicy: failures are retried forever")
            continue
        if referenced_resource(redrive.get("deadLetterTargetArn")) not in queues:
            problems.append(f"{queue_id} RedrivePolicy must target a queue of this template")
        count = redrive.get("maxReceiveCount")
        if not isinstance(count, int) or count < MIN_MAX_RECEIVE_COUNT:
            problems.append(
                f"{queue_id} maxReceiveCount is {count!r}; below {MIN_MAX_RECEIVE_COUNT},"
                " throttling alone can dead-letter a message"
            )
    return problems


def dead_letter_queues_keep_messages_14_days(t: Templates) -> list[str]:
    queues = resources_of_type(t.cfn, "AWS::SQS::Queue")
    dlqs = dead_letter_queue_ids(t.cfn)
    problems = [] if dlqs else _nothing_to_check("dead-letter queue")
    for queue_id in sorted(dlqs):
        retention = queues[queue_id].get("MessageRetentionPeriod")
        if retention != FOURTEEN_DAYS:
            problems.append(
                f"{queue_id} MessageRetentionPeriod is {retention!r},"
                f" want {FOURTEEN_DAYS} (14 days)"
            )
    for queue_id, properties in queues.items():
        if queue_id in dlqs:
            continue
        retention = properties.get("MessageRetentionPeriod")
        # A dead-lettered message keeps its enqueue time: the DLQ must outlive the source.
        if not isinstance(retention, int) or retention >= FOURTEEN_DAYS:
            problems.append(
                f"{queue_id} MessageRetentionPeriod must be explicit and shorter than its DLQ's,"
                f" got {retention!r}"
            )
    return problems


def visibility_timeouts_cover_six_function_timeouts(t: Templates) -> list[str]:
    """Queue visibility >= 6 x consumer Timeout + batching window (Globals applied)."""
    queues = resources_of_type(t.cfn, "AWS::SQS::Queue")
    functions = resources_of_type(t.cfn, "AWS::Lambda::Function")
    sources = sqs_event_sources(t.cfn)
    problems = [] if sources else _nothing_to_check("SQS event source")
    for source in sources:
        timeout = functions[source.function_id].get("Timeout", DEFAULT_FUNCTION_TIMEOUT)
        window = source.properties.get("MaximumBatchingWindowInSeconds", DEFAULT_BATCHING_WINDOW)
        visibility = queues[source.queue_id].get("VisibilityTimeout", DEFAULT_VISIBILITY_TIMEOUT)
        needed = 6 * timeout + window
        if visibility < needed:
            problems.append(
                f"{source.queue_id} VisibilityTimeout is {visibility} s; {source.function_id}"
                f" needs >= 6 x {timeout} s + {window} s window = {needed} s"
            )
    return problems


BILLING_FUNCTION = "BillingFunction"
# What a billing invocation spends besides the provider call and its recording: a cold
# start (imports, the SSM read of the key), the idempotency record and the journal's
# begin before the call.
BILLING_TIME_MARGIN_SECONDS = 5.0


def billing_timeout_fits_the_time_budget(
    t: Templates, budget: TimeBudget = DEFAULT_TIME_BUDGET
) -> list[str]:
    """BillingFunction's Timeout covers one provider call at its worst case, its recording
    and a margin: the numbers are the code's own (delivery_guarantees.billing.TimeBudget,
    from the provider's and DynamoDB's client timeouts and retries).

    Each record starts a provider call only while that much time is left, so the batch
    never times out: a batch of BatchSize records spends at most this per hung call and
    defers the records it has no time for. Were the Timeout shorter, the guard would have
    to stand aside and one hung call could time out the whole batch again.
    """
    functions = resources_of_type(t.cfn, "AWS::Lambda::Function")
    sources = [s for s in sqs_event_sources(t.cfn) if s.function_id == BILLING_FUNCTION]
    if BILLING_FUNCTION not in functions or not sources:
        return _nothing_to_check(f"{BILLING_FUNCTION} with an SQS event source")
    timeout = functions[BILLING_FUNCTION].get("Timeout", DEFAULT_FUNCTION_TIMEOUT)
    needed = budget.required_seconds + BILLING_TIME_MARGIN_SECONDS
    problems = []
    for source in sources:
        batch_size = source.properties.get("BatchSize", 10)
        if timeout < needed:
            problems.append(
                f"{BILLING_FUNCTION} Timeout is {timeout} s; a provider call needs up to "
                f"{budget.provider_call_seconds:g} s, recording it {budget.after_call_seconds:g}"
                f" s, plus a {BILLING_TIME_MARGIN_SECONDS:g} s margin = {needed:g} s, else one "
                f"hung call can time out a batch of {batch_size} "
                f"({batch_size} x {budget.provider_call_seconds:g} s if every call hangs)"
            )
    return problems


WELCOME_EMAIL_FUNCTION = "WelcomeEmailFunction"
# What a welcome-email invocation spends before its first send: the SES and SQS clients
# built on a cold container's first record, parsing, logs and metrics.
WELCOME_EMAIL_TIME_MARGIN_SECONDS = 3.0


def welcome_email_timeout_fits_the_time_budget(
    t: Templates, send_seconds: float = SEND_WORST_CASE_SECONDS
) -> list[str]:
    """WelcomeEmailFunction's Timeout covers one SES send at its worst case and a margin:
    the figure is the code's own (delivery_guarantees.welcome_email.SEND_WORST_CASE_SECONDS,
    from the SES client's timeouts, attempts and botocore's back-off).

    Each record starts a send only while that much time is left, so the batch never times
    out: a stuck send fails its record and the records it leaves no time for are deferred.
    Were the Timeout shorter, the guard would stand aside and two stuck sends could time
    out the whole batch again.
    """
    functions = resources_of_type(t.cfn, "AWS::Lambda::Function")
    sources = [s for s in sqs_event_sources(t.cfn) if s.function_id == WELCOME_EMAIL_FUNCTION]
    if WELCOME_EMAIL_FUNCTION not in functions or not sources:
        return _nothing_to_check(f"{WELCOME_EMAIL_FUNCTION} with an SQS event source")
    timeout = functions[WELCOME_EMAIL_FUNCTION].get("Timeout", DEFAULT_FUNCTION_TIMEOUT)
    needed = send_seconds + WELCOME_EMAIL_TIME_MARGIN_SECONDS
    problems = []
    for source in sources:
        batch_size = source.properties.get("BatchSize", 10)
        if timeout < needed:
            problems.append(
                f"{WELCOME_EMAIL_FUNCTION} Timeout is {timeout} s; one SES send needs up to "
                f"{send_seconds:g} s plus a {WELCOME_EMAIL_TIME_MARGIN_SECONDS:g} s margin = "
                f"{needed:g} s, else the time guard stands aside and stuck sends can time out "
                f"a batch of {batch_size} ({batch_size} x {send_seconds:g} s if every send "
                "hangs)"
            )
    return problems


def sqs_event_sources_report_batch_item_failures(t: Templates) -> list[str]:
    sources = sqs_event_sources(t.cfn)
    problems = [] if sources else _nothing_to_check("SQS event source")
    problems += [
        f"{s.mapping_id} ({s.queue_id} -> {s.function_id}) lacks"
        " FunctionResponseTypes [ReportBatchItemFailures]: one bad record fails its whole batch"
        for s in sources
        if "ReportBatchItemFailures" not in s.properties.get("FunctionResponseTypes", [])
    ]
    return problems


def sqs_event_sources_cap_concurrency(t: Templates) -> list[str]:
    """ScalingConfig.MaximumConcurrency (2-1000) on every SQS mapping; batch > 10 needs a window."""
    sources = sqs_event_sources(t.cfn)
    problems = [] if sources else _nothing_to_check("SQS event source")
    for s in sources:
        cap = s.properties.get("ScalingConfig", {}).get("MaximumConcurrency")
        if not isinstance(cap, int) or not 2 <= cap <= 1000:
            problems.append(
                f"{s.mapping_id} ScalingConfig.MaximumConcurrency is {cap!r}, want 2-1000"
            )
        if s.properties.get("BatchSize", 10) > 10 and not s.properties.get(
            "MaximumBatchingWindowInSeconds"
        ):
            problems.append(f"{s.mapping_id} BatchSize above 10 needs a batching window >= 1 s")
    return problems


def queues_are_encrypted(t: Templates) -> list[str]:
    queues = resources_of_type(t.cfn, "AWS::SQS::Queue")
    problems = [] if queues else _nothing_to_check("queue")
    problems += [
        f"{queue_id} is not encrypted (SqsManagedSseEnabled: true or KmsMasterKeyId)"
        for queue_id, properties in queues.items()
        if properties.get("SqsManagedSseEnabled") is not True
        and not properties.get("KmsMasterKeyId")
    ]
    return problems


def sqs_consumers_have_no_function_dead_letter_queue(t: Templates) -> list[str]:
    """A function's DeadLetterQueue only catches async invokes, never SQS failures."""
    consumers = {s.function_id for s in sqs_event_sources(t.cfn)}
    problems = [] if consumers else _nothing_to_check("SQS consumer")
    if "DeadLetterQueue" in t.sam.get("Globals", {}).get("Function", {}):
        problems.append("Globals.Function.DeadLetterQueue applies to the SQS consumers")
    functions = resources_of_type(t.cfn, "AWS::Lambda::Function")
    problems += [
        f"{function_id} has a function-level DeadLetterConfig; use the queue's RedrivePolicy"
        for function_id in sorted(consumers)
        if "DeadLetterConfig" in functions[function_id]
    ]
    return problems


# ---------------------------------------------------------------------------- tables


def tables_are_keyed_encrypted_and_backed_up(t: Templates) -> list[str]:
    """Each table's key; IdempotencyTable is Powertools' (`id`, TTL on `expiration`)."""
    tables = resources_of_type(t.cfn, "AWS::DynamoDB::Table")
    problems = []
    for table_id, (key, is_ledger) in EXPECTED_TABLES.items():
        table = tables.get(table_id)
        if table is None:
            problems.append(f"{table_id} is missing")
            continue
        if table.get("KeySchema") != [{"AttributeName": key, "KeyType": "HASH"}]:
            problems.append(f"{table_id} must have partition key {key!r} and no sort key")
        if {"AttributeName": key, "AttributeType": "S"} not in table.get(
            "AttributeDefinitions", []
        ):
            problems.append(f"{table_id} key {key!r} must be a string (S)")
        if table.get("BillingMode") != "PAY_PER_REQUEST":
            problems.append(f"{table_id} BillingMode must be PAY_PER_REQUEST")
        if table.get("SSESpecification", {}).get("SSEEnabled") is not True:
            problems.append(f"{table_id} must set SSESpecification.SSEEnabled: true")
        pitr = table.get("PointInTimeRecoverySpecification", {})
        if is_ledger and pitr.get("PointInTimeRecoveryEnabled") is not True:
            problems.append(f"{table_id} is a ledger: enable point-in-time recovery")
    ttl = tables.get("IdempotencyTable", {}).get("TimeToLiveSpecification", {})
    if ttl != {"AttributeName": "expiration", "Enabled": True}:
        problems.append(f"IdempotencyTable TTL must be enabled on 'expiration', got {ttl!r}")
    return problems


def data_resources_are_retained(t: Templates) -> list[str]:
    """Tables and DLQs keep their data when the stack is deleted or a resource replaced."""
    resources = t.cfn.get("Resources", {})
    problems = []
    for logical_id in RETAINED_RESOURCES:
        resource = resources.get(logical_id)
        if resource is None:
            problems.append(f"{logical_id} is missing")
            continue
        for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
            if resource.get(policy) != "Retain":
                problems.append(
                    f"{logical_id} must set {policy}: Retain (got {resource.get(policy)!r}): "
                    "its data must outlive the stack"
                )
    return problems


# ---------------------------------------------------------------------------- permissions


def _unscoped_resources(resource: Any) -> list[Any]:
    """Resources that are "*" or a literal ARN pattern with a wildcard."""
    return [
        r
        for r in as_list(resource)
        if r == "*" or (isinstance(r, str) and "*" in r) or (isinstance(r, dict) and "*" in str(r))
    ]


def _function_roles(t: Templates) -> dict[str, str]:
    """{function logical ID: its role's logical ID} for each function whose Role is a role
    of this template (the others are reported by each_function_has_a_role_of_its_own)."""
    roles = resources_of_type(t.cfn, "AWS::IAM::Role")
    found = {}
    for function_id, properties in resources_of_type(t.cfn, "AWS::Lambda::Function").items():
        role_id = referenced_resource(properties.get("Role"))
        if role_id in roles:
            found[function_id] = role_id
    return found


def each_function_has_a_role_of_its_own(t: Templates) -> list[str]:
    """Each function runs with an AWS::IAM::Role of this template, written out and its own.

    Not SAM's `Policies`: the role SAM generates always carries managed policies on every
    resource (AWSLambdaBasicExecutionRole, AWSXrayWriteOnlyAccess and, for an SQS consumer,
    AWSLambdaSQSQueueExecutionRole). `Policies` beside a `Role` are silently dropped by SAM.
    """
    functions = resources_of_type(t.sam, "AWS::Serverless::Function")
    problems = [] if functions else _nothing_to_check("function")
    for key in ("Policies", "Role"):
        if key in t.sam.get("Globals", {}).get("Function", {}):
            problems.append(f"Globals.Function.{key} gives every function the same rights")
    for function_id, properties in functions.items():
        if "Role" not in properties:
            problems.append(
                f"{function_id} has no Role: SAM would generate one with managed policies"
            )
        if "Policies" in properties:
            problems.append(
                f"{function_id} Policies are ignored by SAM beside a Role; put them in the role"
            )
    roles = resources_of_type(t.cfn, "AWS::IAM::Role")
    users: dict[str, list[str]] = {}
    for function_id, properties in resources_of_type(t.cfn, "AWS::Lambda::Function").items():
        role_id = referenced_resource(properties.get("Role"))
        if role_id not in roles:
            problems.append(f"{function_id} does not use a role of this template")
            continue
        users.setdefault(role_id, []).append(function_id)
        trust = as_list(roles[role_id].get("AssumeRolePolicyDocument", {}).get("Statement", []))
        trusted = [
            (
                s.get("Effect"),
                as_list(s.get("Principal", {}).get("Service")),
                as_list(s.get("Action")),
            )
            for s in trust
            if isinstance(s.get("Principal"), dict) and set(s["Principal"]) == {"Service"}
        ]
        if len(trust) != 1 or trusted != [("Allow", ["lambda.amazonaws.com"], ["sts:AssumeRole"])]:
            problems.append(
                f"{role_id} ({function_id}) must trust lambda.amazonaws.com (sts:AssumeRole)"
                f" and nothing else, got {trust!r}"
            )
    problems += [
        f"{role_id} is shared by {', '.join(sorted(function_ids))}: each function its own role"
        for role_id, function_ids in users.items()
        if len(function_ids) > 1
    ]
    return problems


# Identity-policy actions allowed on Resource "*", each because AWS defines no resource type
# for it (Service Authorization Reference), so that no narrower Resource exists.
RESOURCE_WILDCARD_ACTIONS = {
    "xray:PutTraceSegments": "X-Ray has no resource types; Tracing: Active uploads segments",
    "xray:PutTelemetryRecords": "X-Ray has no resource types; the tracing daemon's telemetry",
}


def identity_policies_are_least_privilege(t: Templates) -> list[str]:
    """Every identity policy the stack deploys: no managed policy on a role, exact actions,
    and a Resource "*" only where every action is in RESOURCE_WILDCARD_ACTIONS."""
    roles = resources_of_type(t.cfn, "AWS::IAM::Role")
    statements = [s for s in policy_statements(t.cfn) if not s.is_resource_policy]
    problems = [] if roles and statements else _nothing_to_check("role or identity policy")
    for role_id, properties in roles.items():
        managed = properties.get("ManagedPolicyArns")
        if managed:
            problems.append(
                f"{role_id} attaches managed policies {[str(a) for a in as_list(managed)]}:"
                " grant the function's own resources in inline policies instead"
            )
    for s in statements:
        sid = s.statement.get("Sid", "?")
        if not is_allow(s.statement):
            continue
        if "NotAction" in s.statement or "NotResource" in s.statement:
            problems.append(f"{s.where} {sid}: NotAction/NotResource grants everything else")
        actions = [str(a) for a in as_list(s.statement.get("Action", []))]
        wildcards = [a for a in actions if "*" in a]
        if not actions or wildcards:
            problems.append(f"{s.where} {sid}: wildcard or missing action(s) {wildcards}")
        resource = s.statement.get("Resource")
        if resource is None:
            problems.append(f"{s.where} {sid}: no Resource")
            continue
        unscoped = _unscoped_resources(resource)
        not_allowed = sorted(set(actions) - set(RESOURCE_WILDCARD_ACTIONS))
        if unscoped and (unscoped != ["*"] or not_allowed):
            problems.append(
                f"{s.where} {sid}: Resource {unscoped} for {not_allowed or actions}; only"
                f" {sorted(RESOURCE_WILDCARD_ACTIONS)} may have '*' (no resource type exists)"
            )
    return problems


def no_wildcard_actions_anywhere(t: Templates) -> list[str]:
    """No `*` or `service:*` action allowed by any policy, identity or resource.

    A Deny may use one (a queue refusing every action over plain HTTP): it takes away.
    """
    statements = list(policy_statements(t.cfn))
    problems = [] if statements else _nothing_to_check("policy statement")
    for s in statements:
        if not is_allow(s.statement):
            continue
        if "NotAction" in s.statement:
            problems.append(f"{s.where}: NotAction grants everything else")
        wildcards = [a for a in as_list(s.statement.get("Action", [])) if _wildcard_action(a)]
        if wildcards:
            problems.append(f"{s.where}: wildcard action(s) {wildcards}")
    return problems


# What Lambda's SQS event source mapping calls with the function's role (Lambda developer
# guide, "Execution role permissions" for Amazon SQS): the poller's, on the polled queue.
SQS_POLLER_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
# Actions that take messages away from a queue's consumer: only on the queue it polls.
_SQS_CONSUMING_ACTIONS = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:PurgeQueue",
    "sqs:StartMessageMoveTask",
}


def function_roles_reach_only_their_own_resources(t: Templates) -> list[str]:
    """A function's role names only what the function is configured with: its log group,
    the queues it polls, and the resources and parameters of its environment; it consumes
    (receive, delete, ...) only from the queues it polls, and every polled queue gets the
    poller's three actions."""
    functions = resources_of_type(t.cfn, "AWS::Lambda::Function")
    function_roles = _function_roles(t)
    problems = [] if function_roles else _nothing_to_check("function with a role")
    for function_id, role_id in sorted(function_roles.items()):
        properties = functions[function_id]
        polled = {s.queue_id for s in sqs_event_sources(t.cfn) if s.function_id == function_id}
        own = set(polled)
        own |= references(properties.get("LoggingConfig", {}).get("LogGroup"))
        own |= references(properties.get("Environment", {}).get("Variables", {}))
        granted: dict[str, set[str]] = {}
        for policy_name, statement in role_statements(t.cfn, role_id):
            if not is_allow(statement):
                continue
            sid = statement.get("Sid", "?")
            actions = {str(a) for a in as_list(statement.get("Action", []))}
            named = references(statement.get("Resource"))
            problems += [
                f"{role_id} {policy_name} {sid} reaches {name}, which {function_id} is not"
                " configured with (log group, polled queue or environment)"
                for name in sorted(named - own)
            ]
            consuming = sorted(actions & _SQS_CONSUMING_ACTIONS)
            problems += [
                f"{role_id} {policy_name} {sid} lets {function_id} {consuming} on {name},"
                " a queue it does not poll"
                for name in sorted(named - polled)
                if consuming and name in resources_of_type(t.cfn, "AWS::SQS::Queue")
            ]
            for name in named:
                granted.setdefault(name, set()).update(actions)
        for queue_id in sorted(polled):
            missing = SQS_POLLER_ACTIONS - granted.get(queue_id, set())
            if missing:
                problems.append(
                    f"{role_id} lacks {sorted(missing)} on {queue_id}: {function_id}'s event"
                    " source mapping cannot poll it"
                )
    return problems


SENDER_PARAMETER = "SenderEmailAddress"
# What the code calls (delivery_guarantees/adapters/email_sender.py: SES v1 SendEmail).
SES_ACTIONS_CALLED = {"ses:SendEmail"}


def ses_statements_require_the_sender_address(t: Templates) -> list[str]:
    """Every SES grant is SendEmail only, with ses:FromAddress = SenderEmailAddress."""
    ses = [
        s
        for s in policy_statements(t.cfn)
        if not s.is_resource_policy
        and is_allow(s.statement)
        and any(str(a).lower().startswith("ses:") for a in as_list(s.statement.get("Action")))
    ]
    problems = [] if ses else _nothing_to_check("SES statement")
    for s in ses:
        sid = s.statement.get("Sid", "?")
        extra = sorted({str(a) for a in as_list(s.statement["Action"])} - SES_ACTIONS_CALLED)
        if extra:
            problems.append(f"{s.where} {sid}: {extra} not called by the code; SendEmail only")
        condition = s.statement.get("Condition", {}).get("StringEquals", {})
        if condition.get("ses:FromAddress") != {"Ref": SENDER_PARAMETER}:
            problems.append(
                f"{s.where} {sid}: needs Condition StringEquals ses:FromAddress:"
                f" !Ref {SENDER_PARAMETER}, got {s.statement.get('Condition')!r}"
            )
    return problems


def _denies_every_action(statement: dict[str, Any]) -> bool:
    return any(a in ("*", "sqs:*") for a in as_list(statement.get("Action")))


def _is_everyone(principal: Any) -> bool:
    return principal == "*" or principal == {"AWS": "*"}


def _only_without_tls(statement: dict[str, Any]) -> bool:
    """The statement's Condition is exactly aws:SecureTransport false."""
    condition = statement.get("Condition", {})
    return (
        set(condition) == {"Bool"}
        and str(condition["Bool"].get("aws:SecureTransport")).lower() == "false"
        and set(condition["Bool"]) == {"aws:SecureTransport"}
    )


def queues_deny_requests_without_tls(t: Templates) -> list[str]:
    """Every queue's policy denies all of sqs to everyone when aws:SecureTransport is false."""
    queues = resources_of_type(t.cfn, "AWS::SQS::Queue")
    statements = queue_policy_statements(t.cfn)
    problems = [] if queues else _nothing_to_check("queue")
    for queue_id in sorted(queues):
        if not any(
            s.get("Effect") == "Deny"
            and _is_everyone(s.get("Principal"))
            and _denies_every_action(s)
            and _only_without_tls(s)
            and queue_id in (references(s.get("Resource")) or {queue_id})
            for _, s in statements.get(queue_id, [])
        ):
            problems.append(
                f"{queue_id} has no queue policy statement denying sqs:* to everyone when"
                " aws:SecureTransport is false"
            )
    return problems


BILLING_QUEUE = "BillingQueue"
SIGNUP_FUNCTION = "SignupFunction"
BILLING_QUEUE_SENDERS_PARAMETER = "BillingQueueSenderArns"
_NEGATED_OPERATORS = {"ArnNotLike", "ArnNotEquals", "StringNotLike", "StringNotEquals"}


def billing_queue_takes_charges_only_from_signup(t: Templates) -> list[str]:
    """BillingQueue's policy denies sqs:SendMessage to every principal but SignupFunction's
    role and the BillingQueueSenderArns parameter (aws:PrincipalArn, negated operators).

    In the queue's own account an identity policy's Allow suffices to send, so only an
    explicit Deny keeps other principals from ordering charges.
    """
    statements = queue_policy_statements(t.cfn).get(BILLING_QUEUE, [])
    signup_role = _function_roles(t).get(SIGNUP_FUNCTION)
    if not statements or signup_role is None:
        return _nothing_to_check(f"{BILLING_QUEUE} policy and {SIGNUP_FUNCTION} role")
    parameter = t.cfn.get("Parameters", {}).get(BILLING_QUEUE_SENDERS_PARAMETER, {})
    problems = []
    if parameter.get("Type") != "CommaDelimitedList" or parameter.get("Default") != "":
        problems.append(
            f"parameter {BILLING_QUEUE_SENDERS_PARAMETER} must be a CommaDelimitedList"
            " defaulting to empty"
        )
    allowed = {signup_role, BILLING_QUEUE_SENDERS_PARAMETER}
    for policy_id, s in statements:
        actions = {str(a) for a in as_list(s.get("Action"))}
        if (
            s.get("Effect") != "Deny"
            or not _is_everyone(s.get("Principal"))
            or "sqs:SendMessage" not in actions
        ):
            continue
        condition = s.get("Condition", {})
        exempt: set[str] = set()
        shape_ok = bool(condition) and set(condition) <= _NEGATED_OPERATORS
        for operator in condition.values():
            shape_ok = shape_ok and set(operator) == {"aws:PrincipalArn"}
            for branch in if_branches(operator.get("aws:PrincipalArn")):
                exempt |= references(branch)
        if not shape_ok:
            problems.append(
                f"{policy_id} {s.get('Sid', '?')}: the SendMessage deny must be conditioned on"
                f" aws:PrincipalArn alone, with {sorted(_NEGATED_OPERATORS)}"
            )
        if signup_role not in exempt:
            problems.append(f"{policy_id} {s.get('Sid', '?')} denies {signup_role} too")
        problems += [
            f"{policy_id} {s.get('Sid', '?')} also lets {name} send to {BILLING_QUEUE}"
            for name in sorted(exempt - allowed)
        ]
        return problems
    return [
        *problems,
        f"{BILLING_QUEUE} has no Deny of sqs:SendMessage to every principal but {signup_role}:"
        " any principal of the account allowed sqs:SendMessage can order a charge",
    ]


def queue_policies_leave_consumers_and_redrive_alone(t: Templates) -> list[str]:
    """No queue policy denies the poller's actions on a polled queue, nor SendMessage on a
    dead-letter queue, except to requests without TLS: Lambda polls with the function's
    role, and the consumers copy poison messages to their DLQ."""
    statements = queue_policy_statements(t.cfn)
    sources = sqs_event_sources(t.cfn)
    problems = [] if statements and sources else _nothing_to_check("queue policy or consumer")
    polled = {s.queue_id for s in sources}
    dlqs = dead_letter_queue_ids(t.cfn)
    for queue_id, queue_statements in sorted(statements.items()):
        for policy_id, s in queue_statements:
            if s.get("Effect") != "Deny" or _only_without_tls(s):
                continue
            actions = {str(a) for a in as_list(s.get("Action"))}
            if "*" in actions or "sqs:*" in actions:
                actions |= SQS_POLLER_ACTIONS | {"sqs:SendMessage"}
            if queue_id in polled and actions & SQS_POLLER_ACTIONS:
                problems.append(
                    f"{policy_id} {s.get('Sid', '?')} denies {sorted(actions & SQS_POLLER_ACTIONS)}"
                    f" on {queue_id}, which an event source mapping polls"
                )
            if queue_id in dlqs and "sqs:SendMessage" in actions:
                problems.append(
                    f"{policy_id} {s.get('Sid', '?')} denies sqs:SendMessage on the DLQ"
                    f" {queue_id}, where the consumers copy poison messages"
                )
    return problems


# ---------------------------------------------------------------------------- alarms


def alarm_topic_is_encrypted_with_a_key_cloudwatch_can_use(t: Templates) -> list[str]:
    topic = resources_of_type(t.cfn, "AWS::SNS::Topic").get(ALARM_TOPIC)
    if topic is None:
        return [f"{ALARM_TOPIC} (AWS::SNS::Topic) is missing"]
    key_id = referenced_resource(topic.get("KmsMasterKeyId"))
    key = resources_of_type(t.cfn, "AWS::KMS::Key").get(key_id or "")
    if key is None:
        return [
            f"{ALARM_TOPIC} KmsMasterKeyId must be a customer managed key of this template, got"
            f" {topic.get('KmsMasterKeyId')!r} (alarms cannot publish under alias/aws/sns)"
        ]
    for statement in as_list(key.get("KeyPolicy", {}).get("Statement", [])):
        services = as_list(statement.get("Principal", {}).get("Service", []))
        actions = set(as_list(statement.get("Action", [])))
        if (
            statement.get("Effect") == "Allow"
            and "cloudwatch.amazonaws.com" in services
            and {"kms:Decrypt"} <= actions
            and actions & {"kms:GenerateDataKey", "kms:GenerateDataKey*"}
        ):
            return []
    return [f"{key_id} key policy must let cloudwatch.amazonaws.com Decrypt and GenerateDataKey"]


def dead_letter_queues_alarm_when_not_empty(t: Templates) -> list[str]:
    dlqs = dead_letter_queue_ids(t.cfn)
    problems = [] if dlqs else _nothing_to_check("dead-letter queue")
    for queue_id in sorted(dlqs):
        alarms = _alarms_on(
            t.cfn, "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue_id
        )
        if not alarms:
            problems.append(f"{queue_id} has no ApproximateNumberOfMessagesVisible alarm")
        for alarm_id, alarm in alarms:
            problems += _alarm_problems(alarm_id, alarm)
    return problems


def _every_function_alarms_on(t: Templates, metric: str) -> list[str]:
    functions = resources_of_type(t.cfn, "AWS::Lambda::Function")
    problems = [] if functions else _nothing_to_check("function")
    for function_id in sorted(functions):
        alarms = _alarms_on(t.cfn, "AWS/Lambda", metric, "FunctionName", function_id)
        if not alarms:
            problems.append(f"{function_id} has no {metric} alarm")
        for alarm_id, alarm in alarms:
            problems += _alarm_problems(alarm_id, alarm)
    return problems


def functions_alarm_on_errors(t: Templates) -> list[str]:
    return _every_function_alarms_on(t, "Errors")


def functions_alarm_on_throttles(t: Templates) -> list[str]:
    return _every_function_alarms_on(t, "Throttles")


# ---------------------------------------------------------------------------- functions


def functions_log_to_their_own_log_group_with_retention(t: Templates) -> list[str]:
    functions = resources_of_type(t.cfn, "AWS::Lambda::Function")
    log_groups = resources_of_type(t.cfn, "AWS::Logs::LogGroup")
    problems = [] if functions else _nothing_to_check("function")
    owners: dict[str, str] = {}
    for function_id, properties in sorted(functions.items()):
        group_id = referenced_resource(properties.get("LoggingConfig", {}).get("LogGroup"))
        if group_id not in log_groups:
            problems.append(
                f"{function_id} LoggingConfig.LogGroup must reference an AWS::Logs::LogGroup of"
                " this template (else Lambda creates one that keeps logs forever)"
            )
            continue
        if "RetentionInDays" not in log_groups[group_id]:
            problems.append(f"{group_id} ({function_id}) has no RetentionInDays")
        if group_id in owners:
            problems.append(f"{function_id} shares log group {group_id} with {owners[group_id]}")
        owners[group_id] = function_id
    return problems


def functions_run_python313_on_arm64_with_the_shared_layer(t: Templates) -> list[str]:
    functions = resources_of_type(t.cfn, "AWS::Lambda::Function")
    layers = resources_of_type(t.cfn, "AWS::Lambda::LayerVersion")
    problems = [] if functions and layers else _nothing_to_check("function or layer")
    for function_id, properties in functions.items():
        if properties.get("Runtime") != RUNTIME:
            problems.append(f"{function_id} Runtime is {properties.get('Runtime')!r}")
        if properties.get("Architectures") != [ARCHITECTURE]:
            problems.append(f"{function_id} Architectures is {properties.get('Architectures')!r}")
        if not {referenced_resource(r) for r in properties.get("Layers", [])} & set(layers):
            problems.append(f"{function_id} does not use the shared layer")
    for layer_id, properties in layers.items():
        if properties.get("CompatibleRuntimes") != [RUNTIME]:
            problems.append(f"{layer_id} CompatibleRuntimes must be [{RUNTIME}]")
        if properties.get("CompatibleArchitectures") != [ARCHITECTURE]:
            problems.append(f"{layer_id} CompatibleArchitectures must be [{ARCHITECTURE}]")
    for layer_id, resource in t.sam.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::LayerVersion":
            continue
        metadata = resource.get("Metadata", {})
        if metadata.get("BuildMethod") not in (RUNTIME, "makefile"):
            problems.append(f"{layer_id} Metadata.BuildMethod must be {RUNTIME} or makefile")
        if metadata.get("BuildArchitecture", ARCHITECTURE) != ARCHITECTURE:
            problems.append(f"{layer_id} Metadata.BuildArchitecture must be {ARCHITECTURE}")
    return problems


def function_environments_match_the_design(t: Templates) -> list[str]:
    functions = resources_of_type(t.cfn, "AWS::Lambda::Function")
    problems = []
    for function_id, expected in EXPECTED_ENVIRONMENT.items():
        if function_id not in functions:
            problems.append(f"{function_id} is missing")
            continue
        variables = functions[function_id].get("Environment", {}).get("Variables", {})
        missing = (set(expected) | _POWERTOOLS) - set(variables)
        unexpected = set(variables) - set(expected) - _POWERTOOLS
        if missing or unexpected:
            problems.append(
                f"{function_id} environment: missing {sorted(missing)},"
                f" unexpected {sorted(unexpected)}"
            )
        for name, target in expected.items():
            if name in variables and referenced_resource(variables[name]) != target:
                problems.append(
                    f"{function_id} {name} must reference {target}, got {variables[name]!r}"
                )
        if variables.get("POWERTOOLS_METRICS_NAMESPACE") != "DeliveryGuarantees":
            problems.append(
                f"{function_id} POWERTOOLS_METRICS_NAMESPACE must be DeliveryGuarantees"
            )
    return problems


def payment_provider_secret_stays_out_of_the_template(t: Templates) -> list[str]:
    """Only the SSM parameter's name travels; the key is read at run time."""
    parameters = t.sam.get("Parameters", {})
    name_parameter = parameters.get("PaymentProviderSecretParameterName", {})
    problems = []
    if not _SSM_PARAMETER_NAME.match(str(name_parameter.get("Default", ""))):
        problems.append(
            "PaymentProviderSecretParameterName must default to an SSM parameter name ('/...'),"
            f" got {name_parameter.get('Default')!r}"
        )
    problems += [
        f"a secret value is written in the template: {value[:12]}..."
        for value in _strings(t.sam)
        if _SECRET_VALUE.search(value)
    ]
    problems += [
        f"parameter {name} looks like it carries a secret; pass the SSM parameter name instead"
        for name in parameters
        if re.search(r"secret|apikey|api_key|password|token", name, re.IGNORECASE)
        and not name.endswith("ParameterName")
    ]
    for function_id, properties in resources_of_type(t.cfn, "AWS::Lambda::Function").items():
        for name in properties.get("Environment", {}).get("Variables", {}):
            if re.search(r"SECRET|API_KEY|PASSWORD|TOKEN", name) and not name.endswith(
                "_PARAMETER_NAME"
            ):
                problems.append(f"{function_id} environment variable {name} carries a secret")
    return problems


def outputs_are_exactly_the_design_keys(t: Templates) -> list[str]:
    outputs = t.sam.get("Outputs", {})
    problems = []
    if set(outputs) != set(EXPECTED_OUTPUTS):
        problems.append(
            f"Outputs: missing {sorted(set(EXPECTED_OUTPUTS) - set(outputs))},"
            f" unexpected {sorted(set(outputs) - set(EXPECTED_OUTPUTS))}"
        )
    for key, resource_id in EXPECTED_OUTPUTS.items():
        if key in outputs and referenced_resource(outputs[key].get("Value")) != resource_id:
            problems.append(
                f"Output {key} must name {resource_id}, got {outputs[key].get('Value')!r}"
            )
    return problems


RULES: dict[str, Rule] = {
    rule.__name__: rule
    for rule in (
        source_queues_have_dead_letter_queues,
        dead_letter_queues_keep_messages_14_days,
        visibility_timeouts_cover_six_function_timeouts,
        billing_timeout_fits_the_time_budget,
        welcome_email_timeout_fits_the_time_budget,
        sqs_event_sources_report_batch_item_failures,
        sqs_event_sources_cap_concurrency,
        queues_are_encrypted,
        sqs_consumers_have_no_function_dead_letter_queue,
        tables_are_keyed_encrypted_and_backed_up,
        each_function_has_a_role_of_its_own,
        identity_policies_are_least_privilege,
        no_wildcard_actions_anywhere,
        function_roles_reach_only_their_own_resources,
        ses_statements_require_the_sender_address,
        queues_deny_requests_without_tls,
        billing_queue_takes_charges_only_from_signup,
        queue_policies_leave_consumers_and_redrive_alone,
        alarm_topic_is_encrypted_with_a_key_cloudwatch_can_use,
        dead_letter_queues_alarm_when_not_empty,
        functions_alarm_on_errors,
        functions_alarm_on_throttles,
        functions_log_to_their_own_log_group_with_retention,
        functions_run_python313_on_arm64_with_the_shared_layer,
        function_environments_match_the_design,
        payment_provider_secret_stays_out_of_the_template,
        outputs_are_exactly_the_design_keys,
    )
}
