"""Each function's role allows exactly the AWS calls its code makes (issue #9, item 2).

On the local cloud every function's worker, and the SQS pollers of its event source
mappings (on AWS a mapping acts with the function's execution role), sign with a key of
their own, `local-cloud-<LogicalId>`, and the endpoint counts their calls (GET
/_local_cloud/calls, local_cloud/call_log.py). This module drives, on its own stack,
every path that makes AWS calls, then holds the calls against each function's role as
the endpoint's IAM holds it (created by CloudFormation from template.yaml):

- every call is allowed: its IAM action (SQS batch operations authorise as their single
  action) on its resource's ARN is matched by an Allow statement (IAM's wildcards in
  actions and ARNs, the ses:FromAddress condition against the email's Source) and by no
  Deny statement;
- every grant is used: each (action, resource) of an Allow statement was matched by some
  call, except the few in UNUSED_GRANTS_ALLOWED, each with its reason;
- each role has inline policies only, no managed policy.

Two grants serve fallbacks only: a GetItem when a failed conditional PutItem comes back
without the stored item (AccountsTable, IdempotencyTable). Those paths are driven with
the endpoint's fault injection (a ConditionalCheckFailedException without the item), so
their grants are checked as used, not excused. So is DeleteItem on IdempotencyTable:
Powertools deletes the in-progress record when the charge raises, which a failing
provider call makes it do.

The last test holds doctored policies (a grant removed, an unused one added) against the
same calls and expects both to be reported: the comparison can fail.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import functools
import json
import re
import urllib.request
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from local_cloud.call_log import CALLS_PATH
from local_cloud.endpoint import EndpointFaults
from local_cloud.operations.dlq import dead_letter_queues, find_queue, list_dead_letters
from tests.integration.app.conftest import (
    StackUnderTest,
    eventually,
    on_local_cloud,
    on_localstack,
    stack_name,
)
from tests.support.events import load_event
from tests.unit.billing.fakes import sqs_event, sqs_record

DEADLINE = 180.0  # CI machines are loaded; every wait is on a condition

# Grants no call through the endpoint can use, each with its reason. Keep it short.
UNUSED_GRANTS_ALLOWED = {
    "logs:CreateLogStream": (
        "Lambda writes the function's output to CloudWatch Logs itself, with the role; "
        "the local cloud keeps logs in process (local_cloud/logs.py), never through the endpoint"
    ),
    "logs:PutLogEvents": "as logs:CreateLogStream",
    "xray:PutTraceSegments": (
        "Lambda's X-Ray daemon sends the segments the SDK hands it over UDP, with the role; "
        "there is no daemon locally, so no X-Ray call reaches the endpoint"
    ),
    "xray:PutTelemetryRecords": "as xray:PutTraceSegments",
}

# IAM authorises an SQS batch as its single action (the SQS developer guide, "batch actions").
BATCH_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}
# Signing name -> IAM service prefix, for the services whose resources are mapped below.
IAM_PREFIXES = {"dynamodb": "dynamodb", "sqs": "sqs", "ssm": "ssm", "ses": "ses"}
STRING_OPERATORS = {
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
}


class PolicyNotEvaluable(AssertionError):
    """A policy uses IAM features this comparison does not evaluate: it says which."""


# ---------------------------------------------------------------- the roles, from IAM


@dataclass(frozen=True)
class Statement:
    function: str
    role: str
    policy: str
    sid: str
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: Mapping[str, Mapping[str, Any]]

    def where(self) -> str:
        return f"{self.role}, policy {self.policy}, statement {self.sid}"


@dataclass(frozen=True)
class Role:
    function: str
    name: str
    arn: str
    statements: tuple[Statement, ...]
    managed_policies: tuple[str, ...]

    @property
    def account(self) -> str:
        return self.arn.split(":")[4]

    @property
    def partition(self) -> str:
        return self.arn.split(":")[1]


def policy_document(raw: Any) -> dict[str, Any]:
    """botocore decodes a policy to a dict; moto's CloudFormation stores an inline policy
    as the str() of the template's dict, which comes back as that text: a Python literal."""
    if isinstance(raw, dict):
        return raw
    try:
        document = json.loads(raw)
    except ValueError:
        document = ast.literal_eval(raw)
    assert isinstance(document, dict), f"not a policy document: {raw!r}"
    return document


def _listed(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def statements_of(
    function: str, role: str, policy: str, document: Mapping[str, Any]
) -> list[Statement]:
    raw = document.get("Statement", [])
    parsed = []
    for index, statement in enumerate([raw] if isinstance(raw, dict) else raw):
        sid = statement.get("Sid", f"#{index}")
        unsupported = sorted({"NotAction", "NotResource", "Principal"} & set(statement))
        if unsupported:
            raise PolicyNotEvaluable(
                f"{role}, policy {policy}, statement {sid}: {', '.join(unsupported)} is not "
                "evaluated by this test; extend it before using it in an execution role"
            )
        parsed.append(
            Statement(
                function=function,
                role=role,
                policy=policy,
                sid=sid,
                effect=statement["Effect"],
                actions=_listed(statement["Action"]),
                resources=_listed(statement["Resource"]),
                condition=statement.get("Condition", {}),
            )
        )
    return parsed


def read_roles(stack: StackUnderTest) -> dict[str, Role]:
    """Each function's role, by the function's logical ID: the role its Lambda
    configuration names, which must be one of the stack's AWS::IAM::Role resources."""
    resources = stack.client("cloudformation").describe_stack_resources(StackName=stack.stack_name)[
        "StackResources"
    ]
    by_type: dict[str, dict[str, str]] = {}
    for resource in resources:
        kind, physical_id = resource.get("ResourceType"), resource.get("PhysicalResourceId")
        if kind and physical_id:  # moto lists a few entries with neither
            by_type.setdefault(kind, {})[resource["LogicalResourceId"]] = physical_id
    stack_roles = set(by_type.get("AWS::IAM::Role", {}).values())
    lambda_client, iam = stack.client("lambda"), stack.client("iam")
    roles = {}
    for logical_id, function_name in by_type.get("AWS::Lambda::Function", {}).items():
        role_arn = lambda_client.get_function(FunctionName=function_name)["Configuration"]["Role"]
        name = role_arn.rsplit("/", 1)[-1]
        assert name in stack_roles, (
            f"{logical_id} runs with {role_arn}, which is not a role of stack {stack.stack_name} "
            f"(its roles: {sorted(stack_roles)})"
        )
        statements: list[Statement] = []
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
            statements += statements_of(logical_id, name, policy, policy_document(document))
        managed = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        roles[logical_id] = Role(
            function=logical_id,
            name=name,
            arn=role_arn,
            statements=tuple(statements),
            managed_policies=tuple(p["PolicyArn"] for p in managed),
        )
    return roles


# ---------------------------------------------------------------- the calls, as IAM sees them


@dataclass(frozen=True)
class Authorisation:
    """One (action, resource) IAM evaluates for a call, with its condition keys."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)  # condition keys, lower case


@dataclass(frozen=True)
class Call:
    function: str
    service: str
    region: str
    operation: str | None
    resources: tuple[str, ...]
    count: int

    def __str__(self) -> str:
        times = "once" if self.count == 1 else f"{self.count} times"
        on = f" on {', '.join(self.resources)}" if self.resources else ""
        return f"{self.service} {self.operation}{on} ({times})"


class CallNotMappable(AssertionError):
    pass


def authorisations(call: Call, role: Role) -> list[Authorisation]:
    """What IAM checks for `call`: its action on each of its resources' ARNs."""
    prefix = IAM_PREFIXES.get(call.service)
    if prefix is None or call.operation is None:
        raise CallNotMappable(
            f"{call.function}: {call} cannot be mapped to an IAM action and resource here; "
            "add its service to IAM_PREFIXES and authorisations()"
        )
    action = f"{prefix}:{BATCH_ACTIONS.get(call.operation, call.operation)}"
    base = f"arn:{role.partition}:{prefix}:{call.region}:{role.account}"
    if not call.resources:  # an action without a resource type is authorised on "*"
        return [Authorisation(action, "*")]
    found = []
    for name in call.resources:
        if name.startswith("arn:"):
            found.append(Authorisation(action, name))
        elif call.service == "sqs":
            found.append(Authorisation(action, f"{base}:{name}"))
        elif call.service == "dynamodb":
            found.append(Authorisation(action, f"{base}:table/{name}"))
        elif call.service == "ssm":  # "/a/b" is parameter/a/b; "a" is parameter/a
            found.append(Authorisation(action, f"{base}:parameter/{name.lstrip('/')}"))
        else:  # ses: the Source address. SES authorises with the address's identity if it
            # is verified, else its domain's: which one is the account's choice, so the role
            # must allow both (as the template does), each under ses:FromAddress.
            context = {"ses:fromaddress": name}
            domain = name.rsplit("@", 1)[-1]
            found.append(Authorisation(action, f"{base}:identity/{name}", context))
            found.append(Authorisation(action, f"{base}:identity/{domain}", context))
    return found


def read_calls(stack: StackUnderTest) -> list[Call]:
    with urllib.request.urlopen(f"{stack.endpoint_url}{CALLS_PATH}") as response:  # noqa: S310
        listing = json.load(response)
    assert listing["dropped"] == 0, f"the call log dropped {listing['dropped']} calls"
    return [
        Call(
            c["function"],
            c["service"],
            c["region"],
            c["operation"],
            tuple(c["resources"]),
            c["count"],
        )
        for c in listing["calls"]
    ]


# ---------------------------------------------------------------- IAM's matching


def _glob(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    """IAM's wildcards: * any run of characters (':' and '/' included), ? any one."""
    translated = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(translated, re.IGNORECASE if ignore_case else 0)


def action_matches(pattern: str, action: str) -> bool:
    return _glob(pattern, ignore_case=True).fullmatch(action) is not None


def resource_matches(pattern: str, resource: str) -> bool:
    return _glob(pattern, ignore_case=False).fullmatch(resource) is not None


def condition_holds(statement: Statement, context: Mapping[str, str]) -> bool:
    """Every operator block holds (AND); within one, every key (AND); any value (OR)."""
    for operator, block in statement.condition.items():
        if operator not in STRING_OPERATORS:
            raise PolicyNotEvaluable(
                f"{statement.where()}: condition operator {operator} is not evaluated by "
                f"this test (it knows {sorted(STRING_OPERATORS)})"
            )
        negated = "Not" in operator
        for key, values in block.items():
            value = context.get(key.lower())
            if value is None:  # a key absent from the request
                if not negated:
                    return False
                continue
            ignore_case = operator.endswith("IgnoreCase")
            if "Like" in operator:
                hit = any(_glob(v, ignore_case=False).fullmatch(value) for v in _listed(values))
            elif ignore_case:
                hit = any(v.lower() == value.lower() for v in _listed(values))
            else:
                hit = value in _listed(values)
            if hit == negated:
                return False
    return True


def statement_matches(
    statement: Statement, authorisation: Authorisation, action: str, resource: str
) -> bool:
    """The statement's `action` and `resource` patterns match the authorisation, and its
    condition holds for it."""
    return (
        action_matches(action, authorisation.action)
        and resource_matches(resource, authorisation.resource)
        and condition_holds(statement, authorisation.context)
    )


def decision(role: Role, authorisation: Authorisation) -> str | None:
    """None if allowed; else why not."""

    def matching(effect: str) -> list[Statement]:
        return [
            s
            for s in role.statements
            if s.effect == effect
            and any(
                statement_matches(s, authorisation, a, r) for a in s.actions for r in s.resources
            )
        ]

    denied = matching("Deny")
    if denied:
        return f"denied by {denied[0].where()}"
    if not matching("Allow"):
        return "no Allow statement matches"
    return None


# ---------------------------------------------------------------- the comparison


@dataclass(frozen=True)
class Findings:
    not_allowed: list[str]
    unused: list[str]


def compare(calls: Iterable[Call], roles: Mapping[str, Role]) -> Findings:
    calls = list(calls)
    not_allowed: list[str] = []
    checked: dict[str, list[Authorisation]] = {function: [] for function in roles}
    for call in calls:
        role = roles.get(call.function)
        if role is None:
            not_allowed.append(
                f"{call.function}: {call}, but the stack has no function {call.function} "
                f"(its functions: {sorted(roles)})"
            )
            continue
        for authorisation in authorisations(call, role):
            checked[call.function].append(authorisation)
            why = decision(role, authorisation)
            if why is not None:
                condition = (
                    f" (ses:FromAddress {v})"
                    if (v := authorisation.context.get("ses:fromaddress"))
                    else ""
                )
                not_allowed.append(
                    f"{call.function} (role {role.name}): {authorisation.action} on "
                    f"{authorisation.resource}{condition} is not allowed ({why}); "
                    f"the call: {call}"
                )
    unused: list[str] = []
    for function, role in roles.items():
        for statement in role.statements:
            if statement.effect != "Allow":
                continue
            for action in statement.actions:
                if action in UNUSED_GRANTS_ALLOWED:
                    continue
                for resource in statement.resources:
                    if not any(
                        statement_matches(statement, a, action, resource) for a in checked[function]
                    ):
                        condition = (
                            f" if {json.dumps(statement.condition)}" if statement.condition else ""
                        )
                        unused.append(
                            f"{function}: {statement.where()} grants {action} on "
                            f"{resource}{condition}, and no call of {function} used it"
                        )
    return Findings(not_allowed, unused)


def calls_by_function(calls: Iterable[Call]) -> str:
    lines = []
    for call in sorted(calls, key=lambda c: (c.function, c.service, c.operation or "")):
        lines.append(f"  {call.function}: {call}")
    return "\n".join(lines)


# ---------------------------------------------------------------- driving every path


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def signup_event(email: str, mode: str, key: str | None) -> dict[str, Any]:
    event = copy.deepcopy(load_event("signup_at_least_once"))
    if key is not None:
        event["headers"]["idempotency-key"] = key
    event["body"] = json.dumps(
        {
            "email": email,
            "name": "Permission Tester",
            "payment_method": "pm_card_visa",
            "welcome_email_delivery": mode,
        }
    )
    return event


def charge(transaction_id: str, **changes: Any) -> dict[str, Any]:
    body = {
        "transaction_id": transaction_id,
        "account_id": "acc_permissions",
        "amount": 4200,
        "currency": "usd",
        "payment_method": "pm_card_visa",
    }
    return {**body, **changes}


def idle(stack: StackUnderTest, output_key: str) -> None:
    """Nothing waiting and nothing in flight: every message so far handled and deleted."""
    eventually(lambda: stack.queue_depth(output_key) == (0, 0), DEADLINE, f"{output_key} idle")


def dead_lettered(stack: StackUnderTest, dlq: str, marker: str) -> None:
    sqs = stack.client("sqs")
    queue = find_queue(dead_letter_queues(sqs, stack.outputs), dlq)

    def copied() -> bool:
        [listing] = list_dead_letters(sqs, [queue])
        return any(marker in message.body for message in listing.messages)

    eventually(copied, DEADLINE, f"{marker} copied to {dlq}")


def condition_failure_without_item(faults: EndpointFaults, table: str) -> None:
    """The next PutItem on `table` fails its condition and its answer carries no item, as
    from an endpoint that ignores ReturnValuesOnConditionCheckFailure: the code's fallback
    reads the item with GetItem."""
    faults.add(
        service="dynamodb",
        operation="PutItem",
        resource=table,
        error="ConditionalCheckFailedException",
        message="The conditional request failed",
        count=1,
    )


def fired_on(faults: EndpointFaults, table: str) -> bool:
    return any(f.get("resources") == [table] for f in faults.fired())


def drive_every_path(stack: StackUnderTest) -> None:
    faults = EndpointFaults(stack.endpoint_url)
    provider = stack.provider()
    accounts = stack.outputs["AccountsTableName"]
    idempotency = stack.outputs["IdempotencyTableName"]

    # SignupFunction: a new account of each guarantee (PutItem, SendMessage to both queues
    # or SES at once, UpdateItem for the outbox), a retry with the key (replayed from the
    # failed condition's item), a taken address without it (UpdateItem claims the notice,
    # SES sends it), and a retry whose failed condition brings no item (GetItem).
    at_least_once = f"{unique('perm_alo')}@example.com"
    at_most_once = f"{unique('perm_amo')}@example.com"
    alo_key, amo_key = str(uuid.uuid4()), str(uuid.uuid4())
    first = stack.invoke(
        "SignupFunctionName", signup_event(at_least_once, "at-least-once", alo_key)
    )
    second = stack.invoke("SignupFunctionName", signup_event(at_most_once, "at-most-once", amo_key))
    assert (first["statusCode"], second["statusCode"]) == (201, 201), (first, second)
    assert json.loads(second["body"])["welcome_email"] == "sent"
    retry = stack.invoke(
        "SignupFunctionName", signup_event(at_least_once, "at-least-once", alo_key)
    )
    assert retry["headers"]["Idempotent-Replayed"] == "true", retry
    taken = stack.invoke("SignupFunctionName", signup_event(at_least_once, "at-most-once", None))
    assert taken["statusCode"] == 409, taken
    condition_failure_without_item(faults, accounts)
    try:
        read_back = stack.invoke(
            "SignupFunctionName", signup_event(at_most_once, "at-most-once", amo_key)
        )
        assert fired_on(faults, accounts), faults.list()
    finally:
        faults.clear()
    assert read_back["headers"]["Idempotent-Replayed"] == "true", read_back

    # Through the queues: the welcome email and both first charges (pollers receive,
    # delete and read the queue's attributes; BillingFunction reads the provider key from
    # SSM and writes both tables), a poison welcome job and a poison charge (each copied
    # to its DLQ).
    poison_job = unique("acc_poison")
    stack.send("WelcomeEmailQueueUrl", {"account_id": poison_job, "name": "No Address"})
    poison_charge = unique("txn_perm_invalid")
    stack.send("BillingQueueUrl", charge(poison_charge, amount=-1))
    eventually(lambda: stack.emails_to(at_least_once), DEADLINE, "the welcome email")
    for body in (first, second):
        transaction_id: str = json.loads(body["body"])["first_charge_transaction_id"]
        settled_row = functools.partial(stack.settled_row, transaction_id)
        eventually(settled_row, DEADLINE, f"the first charge {transaction_id} settled")
    dead_lettered(stack, "WelcomeEmailDeadLetterQueue", poison_job)
    dead_lettered(stack, "BillingDeadLetterQueue", poison_charge)

    # A charge delivered twice (the second answered from the idempotency record or the
    # journal), then a copy with another card: the idempotency record refuses its payload
    # and the journal is read (GetItem) to say what differs; it is dead-lettered.
    duplicate = unique("txn_perm_dup")
    stack.send("BillingQueueUrl", charge(duplicate))
    eventually(lambda: stack.settled_row(duplicate), DEADLINE, f"{duplicate} settled")
    # Sent again once settled: two copies in flight at once could meet an in-progress
    # record and wait out the visibility timeout (minutes) for their retry.
    stack.send("BillingQueueUrl", charge(duplicate))
    idle(stack, "BillingQueueUrl")
    stack.send("BillingQueueUrl", charge(duplicate, payment_method="pm_card_mastercard"))
    dead_lettered(stack, "BillingDeadLetterQueue", "pm_card_mastercard")
    idle(stack, "BillingQueueUrl")

    # The duplicate once more, its idempotency PutItem failing without the item:
    # Powertools reads the record (GetItem) and answers from it.
    condition_failure_without_item(faults, idempotency)
    try:
        answer = stack.invoke(
            "BillingFunctionName", sqs_event(sqs_record(charge(duplicate), message_id="m-dup"))
        )
        assert fired_on(faults, idempotency), faults.list()
    finally:
        faults.clear()
    assert answer == {"batchItemFailures": []}, answer

    # A charge whose provider call fails (the call and the SDK's retry): the record fails
    # and Powertools deletes its in-progress record (DeleteItem); the redelivery, invoked
    # as the mapping would after the visibility timeout, charges it.
    failing = charge(unique("txn_perm_retried"))
    provider.inject_fault("error", status=500, count=2)
    try:
        failed = stack.invoke(
            "BillingFunctionName", sqs_event(sqs_record(failing, message_id="m-1"))
        )
        assert not provider.pending_faults()
    finally:
        provider.clear_faults()
    assert failed == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}, failed
    retried = stack.invoke(
        "BillingFunctionName",
        sqs_event(sqs_record(failing, message_id="m-1", receive_count=2)),
    )
    assert retried == {"batchItemFailures": []}, retried
    assert (stack.settled_row(failing["transaction_id"]) or {}).get("status") == {"S": "succeeded"}
    # Counted as each request arrives, so every delete is in the log once the queue is idle.
    idle(stack, "WelcomeEmailQueueUrl")


@dataclass(frozen=True)
class Observed:
    calls: list[Call]
    roles: dict[str, Role]


@pytest.fixture(scope="module", params=["local-cloud", "localstack"])
def stack(request: pytest.FixtureRequest) -> Iterator[StackUnderTest]:
    """A stack of its own, not the app modules' shared one: a function's role is checked
    against every call its code made, its cold start's included (the mapping's
    GetQueueAttributes as it starts, BillingFunction's SSM read in a new worker), and each
    grant must be used by a call this module drove, not by another module's."""
    if request.param == "local-cloud":
        yield from on_local_cloud(stack_name(base="dg-calls"))
    else:
        yield from on_localstack()


@pytest.fixture(scope="module")
def observed(stack: StackUnderTest) -> Observed:
    if stack.name != "local cloud":
        pytest.skip(
            "local cloud only: the calls are counted by the local cloud's endpoint (GET "
            f"{CALLS_PATH}), which tells each function's calls apart by its access key "
            "(local-cloud-<LogicalId>); LocalStack counts no calls per function"
        )
    drive_every_path(stack)
    return Observed(read_calls(stack), read_roles(stack))


# ---------------------------------------------------------------- the tests


def test_every_function_was_driven(observed: Observed) -> None:
    driven = {call.function for call in observed.calls}
    assert driven == set(observed.roles), calls_by_function(observed.calls)


def test_no_role_has_a_managed_policy(observed: Observed) -> None:
    attached = {f: r.managed_policies for f, r in observed.roles.items() if r.managed_policies}
    assert attached == {}, f"managed policies attached (inline policies only): {attached}"


def test_every_call_is_allowed_by_its_functions_role(observed: Observed) -> None:
    findings = compare(observed.calls, observed.roles)
    if findings.not_allowed:
        pytest.fail(
            "calls the role does not allow:\n  "
            + "\n  ".join(findings.not_allowed)
            + f"\nevery call seen:\n{calls_by_function(observed.calls)}",
            pytrace=False,
        )


def test_every_grant_is_used_by_some_call(observed: Observed) -> None:
    findings = compare(observed.calls, observed.roles)
    if findings.unused:
        pytest.fail(
            "grants no call used (remove them, drive the path that needs them, or add them "
            "to UNUSED_GRANTS_ALLOWED with the reason):\n  "
            + "\n  ".join(findings.unused)
            + f"\nevery call seen:\n{calls_by_function(observed.calls)}",
            pytrace=False,
        )


def test_every_allow_listed_grant_is_still_granted(observed: Observed) -> None:
    granted = {a for r in observed.roles.values() for s in r.statements for a in s.actions}
    assert set(UNUSED_GRANTS_ALLOWED) <= granted, (
        f"stale UNUSED_GRANTS_ALLOWED entries: {sorted(set(UNUSED_GRANTS_ALLOWED) - granted)}"
    )


def _without(role: Role, action: str) -> Role:
    statements = []
    for s in role.statements:
        kept = tuple(a for a in s.actions if a != action)
        if kept:
            statements.append(dataclasses.replace(s, actions=kept))
    return dataclasses.replace(role, statements=tuple(statements))


def _with_extra(role: Role, action: str, resource: str) -> Role:
    extra = Statement(
        role.function, role.name, "Extra", "Unused", "Allow", (action,), (resource,), {}
    )
    return dataclasses.replace(role, statements=(*role.statements, extra))


def test_the_comparison_reports_a_missing_grant_and_an_unused_one(observed: Observed) -> None:
    """The same calls against doctored roles: BillingFunction without sqs:DeleteMessage
    (its poller's DeleteMessageBatch calls), SignupFunction with ssm:PutParameter."""
    roles = dict(observed.roles)
    roles["BillingFunction"] = _without(roles["BillingFunction"], "sqs:DeleteMessage")
    signup = roles["SignupFunction"]
    parameter = f"arn:{signup.partition}:ssm:us-east-1:{signup.account}:parameter/x"
    roles["SignupFunction"] = _with_extra(signup, "ssm:PutParameter", parameter)

    findings = compare(observed.calls, roles)

    assert any(
        f.startswith("BillingFunction")
        and "sqs:DeleteMessage on arn:aws:sqs:" in f
        and "sqs DeleteMessageBatch" in f
        for f in findings.not_allowed
    ), findings.not_allowed
    assert any("grants ssm:PutParameter on " + parameter in f for f in findings.unused), (
        findings.unused
    )
    # The ses:FromAddress condition is evaluated: another address of the sender's domain
    # matches the domain identity's ARN, and only the condition refuses it.
    [ses] = [c for c in observed.calls if c.function == "SignupFunction" and c.service == "ses"]
    spoofed = dataclasses.replace(ses, resources=("ceo@example.com",))
    refused = compare([spoofed], {"SignupFunction": observed.roles["SignupFunction"]})
    assert any(
        ":identity/example.com (ses:FromAddress ceo@example.com) is not allowed" in f
        for f in refused.not_allowed
    ), refused.not_allowed
