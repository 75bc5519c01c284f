"""Each rule turns red on a template broken the way people break them.

The rule tests pass on template.yaml; these show that is not because a rule cannot fail:
every rule gets at least one realistic mutation of the real template, re-translated, and
must name what the mutation broke.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.template import rules
from tests.unit.template.cfn_template import Template, Templates, load_sam_template, translate

Mutation = Callable[[Template], None]


def _properties(sam: Template, logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = sam["Resources"][logical_id]["Properties"]
    return properties


def _sqs_event(sam: Template, function_id: str) -> dict[str, Any]:
    events = _properties(sam, function_id)["Events"]
    (event,) = (e for e in events.values() if e["Type"] == "SQS")
    properties: dict[str, Any] = event["Properties"]
    return properties


def _remove_redrive(sam: Template) -> None:
    del _properties(sam, "WelcomeEmailQueue")["RedrivePolicy"]


def _low_max_receive_count(sam: Template) -> None:
    _properties(sam, "BillingQueue")["RedrivePolicy"]["maxReceiveCount"] = 1


def _short_dlq_retention(sam: Template) -> None:
    _properties(sam, "BillingDeadLetterQueue")["MessageRetentionPeriod"] = 345600


def _implicit_source_retention(sam: Template) -> None:
    del _properties(sam, "WelcomeEmailQueue")["MessageRetentionPeriod"]


def _longer_global_timeout(sam: Template) -> None:
    # The consumers take Timeout from Globals: the rule must follow it there.
    sam["Globals"]["Function"]["Timeout"] = 60


def _longer_batching_window(sam: Template) -> None:
    _sqs_event(sam, "WelcomeEmailFunction")["MaximumBatchingWindowInSeconds"] = 60


def _billing_timeout_below_its_budget(sam: Template) -> None:
    # Plausible: "20 s is plenty for five charges", forgetting a hung provider call.
    _properties(sam, "BillingFunction")["Timeout"] = 20


def _welcome_email_timeout_below_its_budget(sam: Template) -> None:
    # Plausible: "an email takes a second; 15 s is plenty for a batch of 10".
    _properties(sam, "WelcomeEmailFunction")["Timeout"] = 15


def _no_partial_batch_response(sam: Template) -> None:
    del _sqs_event(sam, "BillingFunction")["FunctionResponseTypes"]


def _no_concurrency_cap(sam: Template) -> None:
    del _sqs_event(sam, "BillingFunction")["ScalingConfig"]


def _unencrypted_dlq(sam: Template) -> None:
    _properties(sam, "WelcomeEmailDeadLetterQueue")["SqsManagedSseEnabled"] = False


def _function_dlq(sam: Template) -> None:
    _properties(sam, "WelcomeEmailFunction")["DeadLetterQueue"] = {
        "Type": "SQS",
        "TargetArn": {"Fn::GetAtt": ["WelcomeEmailDeadLetterQueue", "Arn"]},
    }


def _idempotency_ttl_renamed(sam: Template) -> None:
    _properties(sam, "IdempotencyTable")["TimeToLiveSpecification"]["AttributeName"] = "ttl"


def _charges_without_backups(sam: Template) -> None:
    del _properties(sam, "ChargesTable")["PointInTimeRecoverySpecification"]


def _idempotency_table_deleted_with_stack(sam: Template) -> None:
    del sam["Resources"]["IdempotencyTable"]["DeletionPolicy"]


def _charges_replaced_empty(sam: Template) -> None:
    sam["Resources"]["ChargesTable"]["UpdateReplacePolicy"] = "Delete"


def _dlq_deleted_with_stack(sam: Template) -> None:
    sam["Resources"]["BillingDeadLetterQueue"]["DeletionPolicy"] = "Delete"


def _role_statement(sam: Template, role_id: str, sid: str) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        statement
        for policy in _properties(sam, role_id)["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if statement.get("Sid") == sid
    ]
    (statement,) = statements
    return statement


def _queue_policy_statement(sam: Template, policy_id: str, sid: str) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        s for s in _properties(sam, policy_id)["PolicyDocument"]["Statement"] if s["Sid"] == sid
    ]
    (statement,) = statements
    return statement


def _managed_full_access(sam: Template) -> None:
    _properties(sam, "SignupFunctionRole")["ManagedPolicyArns"] = [
        "arn:aws:iam::aws:policy/AmazonSQSFullAccess"
    ]


def _sqs_execution_role_back(sam: Template) -> None:
    # The finding of issue #9: SAM's SQS event adds this (receive and delete on every queue).
    _properties(sam, "WelcomeEmailFunctionRole")["ManagedPolicyArns"] = [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
    ]


def _back_to_sam_generated_role(sam: Template) -> None:
    # "SAM can make the role": it then attaches AWSLambdaBasicExecutionRole and X-Ray's
    # managed policy, each on every resource (the generated role keeps the logical ID).
    del _properties(sam, "SignupFunction")["Role"]
    del sam["Resources"]["SignupFunctionRole"]


def _policies_beside_role(sam: Template) -> None:
    _properties(sam, "BillingFunction")["Policies"] = [
        {"SSMParameterReadPolicy": {"ParameterName": "delivery-guarantees/*"}}
    ]


def _shared_role(sam: Template) -> None:
    _properties(sam, "WelcomeEmailFunction")["Role"] = {
        "Fn::GetAtt": ["BillingFunctionRole", "Arn"]
    }


def _receive_from_every_queue(sam: Template) -> None:
    _role_statement(sam, "BillingFunctionRole", "ConsumeBillingQueue")["Resource"] = "*"


def _service_wildcard_statement(sam: Template) -> None:
    _properties(sam, "WelcomeEmailFunctionRole")["Policies"][1]["PolicyDocument"][
        "Statement"
    ].append({"Effect": "Allow", "Action": "ses:*", "Resource": "*"})


def _welcome_email_can_empty_billing_dlq(sam: Template) -> None:
    statement = _role_statement(sam, "WelcomeEmailFunctionRole", "ConsumeWelcomeEmailQueue")
    statement["Resource"] = [
        statement["Resource"],
        {"Fn::GetAtt": ["BillingDeadLetterQueue", "Arn"]},
    ]


def _consumer_cannot_delete(sam: Template) -> None:
    _role_statement(sam, "BillingFunctionRole", "ConsumeBillingQueue")["Action"].remove(
        "sqs:DeleteMessage"
    )


def _ses_without_sender_condition(sam: Template) -> None:
    del _role_statement(sam, "WelcomeEmailFunctionRole", "SendFromSenderIdentity")["Condition"]


def _send_raw_email_back(sam: Template) -> None:
    statement = _role_statement(sam, "SignupFunctionRole", "SendFromSenderIdentity")
    statement["Action"] = ["ses:SendEmail", "ses:SendRawEmail"]


def _dlq_without_tls_policy(sam: Template) -> None:
    del sam["Resources"]["WelcomeEmailDeadLetterQueuePolicy"]


def _tls_deny_on_one_action(sam: Template) -> None:
    _queue_policy_statement(sam, "BillingQueuePolicy", "DenyInsecureTransport")["Action"] = (
        "sqs:SendMessage"
    )


def _billing_queue_open_to_the_account(sam: Template) -> None:
    statements = _properties(sam, "BillingQueuePolicy")["PolicyDocument"]["Statement"]
    statements[:] = [s for s in statements if s["Sid"] != "OnlySignupOrdersCharges"]


def _welcome_email_may_order_charges(sam: Template) -> None:
    condition = _queue_policy_statement(sam, "BillingQueuePolicy", "OnlySignupOrdersCharges")[
        "Condition"
    ]
    condition["ArnNotLike"]["aws:PrincipalArn"] = [
        condition["ArnNotLike"]["aws:PrincipalArn"],
        {"Fn::GetAtt": ["WelcomeEmailFunctionRole", "Arn"]},
    ]


def _sender_deny_blocks_the_poller(sam: Template) -> None:
    # "Deny everything to everyone else": BillingFunctionRole's receive and delete too.
    _queue_policy_statement(sam, "BillingQueuePolicy", "OnlySignupOrdersCharges")["Action"] = (
        "sqs:*"
    )


def _dlq_refuses_poison_copies(sam: Template) -> None:
    statements = _properties(sam, "BillingDeadLetterQueuePolicy")["PolicyDocument"]["Statement"]
    statements.append(
        {
            "Sid": "NoSends",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:SendMessage",
            "Resource": {"Fn::GetAtt": ["BillingDeadLetterQueue", "Arn"]},
        }
    )


def _aws_managed_sns_key(sam: Template) -> None:
    _properties(sam, "AlarmTopic")["KmsMasterKeyId"] = "alias/aws/sns"


def _no_dlq_alarm(sam: Template) -> None:
    del sam["Resources"]["BillingDeadLetterQueueDepthAlarm"]


def _dlq_alarm_tolerates_messages(sam: Template) -> None:
    _properties(sam, "WelcomeEmailDeadLetterQueueDepthAlarm")["Threshold"] = 10


def _no_errors_alarm(sam: Template) -> None:
    del sam["Resources"]["WelcomeEmailFunctionErrorsAlarm"]


def _silent_throttles_alarm(sam: Template) -> None:
    del _properties(sam, "SignupFunctionThrottlesAlarm")["AlarmActions"]


def _default_log_group(sam: Template) -> None:
    del _properties(sam, "BillingFunction")["LoggingConfig"]
    del sam["Resources"]["BillingLogGroup"]


def _x86_function(sam: Template) -> None:
    _properties(sam, "BillingFunction")["Architectures"] = ["x86_64"]


def _old_runtime(sam: Template) -> None:
    sam["Globals"]["Function"]["Runtime"] = "python3.12"


def _env_renamed(sam: Template) -> None:
    variables = _properties(sam, "BillingFunction")["Environment"]["Variables"]
    variables["CHARGES_TABLE"] = variables.pop("CHARGES_TABLE_NAME")


def _secret_in_environment(sam: Template) -> None:
    sam["Parameters"]["PaymentProviderSecretKey"] = {"Type": "String", "NoEcho": True}
    _properties(sam, "BillingFunction")["Environment"]["Variables"][
        "PAYMENT_PROVIDER_SECRET_KEY"
    ] = {"Ref": "PaymentProviderSecretKey"}


def _secret_as_default(sam: Template) -> None:
    sam["Parameters"]["PaymentProviderSecretParameterName"]["Default"] = (
        "sk_test_" + "0" * 24  # shaped like a key, not one
    )


def _extra_output(sam: Template) -> None:
    sam["Outputs"]["ApiUrl"] = {"Value": {"Fn::Sub": "https://${SignupHttpApi}.example"}}


def _output_names_wrong_queue(sam: Template) -> None:
    sam["Outputs"]["BillingQueueUrl"]["Value"] = {"Ref": "BillingDeadLetterQueue"}


# (rule, mutation, a fragment the violations must contain)
BREAKAGES: list[tuple[rules.Rule, Mutation, str]] = [
    (rules.source_queues_have_dead_letter_queues, _remove_redrive, "WelcomeEmailQueue"),
    (rules.source_queues_have_dead_letter_queues, _low_max_receive_count, "maxReceiveCount"),
    (rules.dead_letter_queues_keep_messages_14_days, _short_dlq_retention, "BillingDeadLetter"),
    (rules.dead_letter_queues_keep_messages_14_days, _implicit_source_retention, "explicit"),
    (rules.visibility_timeouts_cover_six_function_timeouts, _longer_global_timeout, "6 x 60"),
    (rules.visibility_timeouts_cover_six_function_timeouts, _longer_batching_window, "60 s"),
    (
        rules.billing_timeout_fits_the_time_budget,
        _billing_timeout_below_its_budget,
        "Timeout is 20 s",
    ),
    (
        rules.welcome_email_timeout_fits_the_time_budget,
        _welcome_email_timeout_below_its_budget,
        "WelcomeEmailFunction Timeout is 15 s",
    ),
    (rules.sqs_event_sources_report_batch_item_failures, _no_partial_batch_response, "Billing"),
    (rules.sqs_event_sources_cap_concurrency, _no_concurrency_cap, "MaximumConcurrency"),
    (rules.queues_are_encrypted, _unencrypted_dlq, "WelcomeEmailDeadLetterQueue"),
    (rules.sqs_consumers_have_no_function_dead_letter_queue, _function_dlq, "WelcomeEmail"),
    (rules.tables_are_keyed_encrypted_and_backed_up, _idempotency_ttl_renamed, "expiration"),
    (rules.tables_are_keyed_encrypted_and_backed_up, _charges_without_backups, "ChargesTable"),
    (rules.data_resources_are_retained, _idempotency_table_deleted_with_stack, "IdempotencyTable"),
    (rules.data_resources_are_retained, _charges_replaced_empty, "UpdateReplacePolicy"),
    (rules.data_resources_are_retained, _dlq_deleted_with_stack, "BillingDeadLetterQueue"),
    (rules.each_function_has_a_role_of_its_own, _policies_beside_role, "ignored by SAM"),
    (rules.each_function_has_a_role_of_its_own, _back_to_sam_generated_role, "has no Role"),
    (rules.each_function_has_a_role_of_its_own, _shared_role, "shared by"),
    (rules.identity_policies_are_least_privilege, _managed_full_access, "AmazonSQSFullAccess"),
    (
        rules.identity_policies_are_least_privilege,
        _sqs_execution_role_back,
        "AWSLambdaSQSQueueExecutionRole",
    ),
    (
        rules.identity_policies_are_least_privilege,
        _back_to_sam_generated_role,
        "AWSLambdaBasicExecutionRole",
    ),
    (rules.identity_policies_are_least_privilege, _receive_from_every_queue, "sqs:ReceiveMessage"),
    (rules.identity_policies_are_least_privilege, _service_wildcard_statement, "ses:*"),
    (rules.no_wildcard_actions_anywhere, _service_wildcard_statement, "ses:*"),
    (
        rules.function_roles_reach_only_their_own_resources,
        _welcome_email_can_empty_billing_dlq,
        "BillingDeadLetterQueue",
    ),
    (rules.function_roles_reach_only_their_own_resources, _consumer_cannot_delete, "DeleteMessage"),
    (
        rules.ses_statements_require_the_sender_address,
        _ses_without_sender_condition,
        "ses:FromAddress",
    ),
    (rules.ses_statements_require_the_sender_address, _send_raw_email_back, "SendRawEmail"),
    (rules.queues_deny_requests_without_tls, _dlq_without_tls_policy, "WelcomeEmailDeadLetter"),
    (rules.queues_deny_requests_without_tls, _tls_deny_on_one_action, "BillingQueue"),
    (
        rules.billing_queue_takes_charges_only_from_signup,
        _billing_queue_open_to_the_account,
        "can order a charge",
    ),
    (
        rules.billing_queue_takes_charges_only_from_signup,
        _welcome_email_may_order_charges,
        "WelcomeEmailFunctionRole",
    ),
    (
        rules.queue_policies_leave_consumers_and_redrive_alone,
        _sender_deny_blocks_the_poller,
        "sqs:ReceiveMessage",
    ),
    (
        rules.queue_policies_leave_consumers_and_redrive_alone,
        _dlq_refuses_poison_copies,
        "BillingDeadLetterQueue",
    ),
    (rules.alarm_topic_is_encrypted_with_a_key_cloudwatch_can_use, _aws_managed_sns_key, "alias"),
    (rules.dead_letter_queues_alarm_when_not_empty, _no_dlq_alarm, "BillingDeadLetterQueue"),
    (rules.dead_letter_queues_alarm_when_not_empty, _dlq_alarm_tolerates_messages, "first"),
    (rules.functions_alarm_on_errors, _no_errors_alarm, "WelcomeEmailFunction has no Errors"),
    (rules.functions_alarm_on_throttles, _silent_throttles_alarm, "must notify AlarmTopic"),
    (
        rules.functions_log_to_their_own_log_group_with_retention,
        _default_log_group,
        "BillingFunction",
    ),
    (rules.functions_run_python313_on_arm64_with_the_shared_layer, _x86_function, "x86_64"),
    (rules.functions_run_python313_on_arm64_with_the_shared_layer, _old_runtime, "python3.12"),
    (rules.function_environments_match_the_design, _env_renamed, "CHARGES_TABLE_NAME"),
    (rules.payment_provider_secret_stays_out_of_the_template, _secret_in_environment, "SECRET"),
    (rules.payment_provider_secret_stays_out_of_the_template, _secret_as_default, "sk_test_"),
    (rules.outputs_are_exactly_the_design_keys, _extra_output, "ApiUrl"),
    (rules.outputs_are_exactly_the_design_keys, _output_names_wrong_queue, "BillingQueueUrl"),
]


@pytest.fixture(scope="module")
def pristine_sam() -> Template:
    return load_sam_template()


@pytest.mark.parametrize(
    ("rule", "mutation", "expected"),
    BREAKAGES,
    ids=[f"{rule.__name__}-{mutation.__name__.lstrip('_')}" for rule, mutation, _ in BREAKAGES],
)
def test_rule_reports_the_breakage(
    pristine_sam: Template, rule: rules.Rule, mutation: Mutation, expected: str
) -> None:
    sam = copy.deepcopy(pristine_sam)
    mutation(sam)
    violations = rule(Templates(sam=sam, cfn=translate(sam)))
    assert any(expected in violation for violation in violations), violations


def test_every_rule_has_a_breakage() -> None:
    broken = {rule.__name__ for rule, _, _ in BREAKAGES}
    assert set(rules.RULES) - broken == set()


@pytest.mark.parametrize("rule", list(rules.RULES.values()), ids=list(rules.RULES))
def test_no_rule_passes_an_empty_template(rule: rules.Rule) -> None:
    empty: Template = {"Transform": "AWS::Serverless-2016-10-31", "Resources": {}}
    assert rule(Templates(sam=empty, cfn=copy.deepcopy(empty))) != []
