"""template.yaml keeps each rule of docs/design.md and the house style (one test per rule).

A failing test prints the violations: each names the resource and what is wrong.
"""

from __future__ import annotations

from tests.unit.template import rules
from tests.unit.template.cfn_template import Templates


def test_every_source_queue_has_a_dlq_after_at_least_5_receives(templates: Templates) -> None:
    assert rules.source_queues_have_dead_letter_queues(templates) == []


def test_dead_letter_queues_keep_messages_14_days(templates: Templates) -> None:
    assert rules.dead_letter_queues_keep_messages_14_days(templates) == []


def test_visibility_timeout_covers_6_function_timeouts_plus_window(templates: Templates) -> None:
    assert rules.visibility_timeouts_cover_six_function_timeouts(templates) == []


def test_billing_timeout_fits_a_hung_provider_call_and_its_recording(
    templates: Templates,
) -> None:
    assert rules.billing_timeout_fits_the_time_budget(templates) == []


def test_welcome_email_timeout_fits_one_stuck_send(templates: Templates) -> None:
    assert rules.welcome_email_timeout_fits_the_time_budget(templates) == []


def test_every_sqs_event_source_reports_batch_item_failures(templates: Templates) -> None:
    assert rules.sqs_event_sources_report_batch_item_failures(templates) == []


def test_every_sqs_event_source_caps_its_concurrency(templates: Templates) -> None:
    assert rules.sqs_event_sources_cap_concurrency(templates) == []


def test_every_queue_is_encrypted(templates: Templates) -> None:
    assert rules.queues_are_encrypted(templates) == []


def test_sqs_consumers_have_no_function_dead_letter_queue(templates: Templates) -> None:
    assert rules.sqs_consumers_have_no_function_dead_letter_queue(templates) == []


def test_tables_keys_ttl_encryption_and_backups(templates: Templates) -> None:
    assert rules.tables_are_keyed_encrypted_and_backed_up(templates) == []


def test_tables_and_dead_letter_queues_outlive_the_stack(templates: Templates) -> None:
    assert rules.data_resources_are_retained(templates) == []


def test_each_function_has_a_role_of_its_own(templates: Templates) -> None:
    assert rules.each_function_has_a_role_of_its_own(templates) == []


def test_identity_policies_have_no_managed_policy_and_no_unjustified_wildcard(
    templates: Templates,
) -> None:
    assert rules.identity_policies_are_least_privilege(templates) == []


def test_no_wildcard_actions_anywhere(templates: Templates) -> None:
    assert rules.no_wildcard_actions_anywhere(templates) == []


def test_function_roles_reach_only_their_own_resources(templates: Templates) -> None:
    assert rules.function_roles_reach_only_their_own_resources(templates) == []


def test_ses_is_send_email_from_the_sender_address_only(templates: Templates) -> None:
    assert rules.ses_statements_require_the_sender_address(templates) == []


def test_every_queue_denies_requests_without_tls(templates: Templates) -> None:
    assert rules.queues_deny_requests_without_tls(templates) == []


def test_billing_queue_takes_charges_only_from_signup_and_listed_operators(
    templates: Templates,
) -> None:
    assert rules.billing_queue_takes_charges_only_from_signup(templates) == []


def test_queue_policies_leave_consumers_and_poison_copies_alone(templates: Templates) -> None:
    assert rules.queue_policies_leave_consumers_and_redrive_alone(templates) == []


def test_resource_wildcards_are_justified_one_line_each() -> None:
    assert rules.RESOURCE_WILDCARD_ACTIONS
    for action, reason in rules.RESOURCE_WILDCARD_ACTIONS.items():
        assert "*" not in action
        assert reason, action
        assert "\n" not in reason, action


def test_alarm_topic_uses_a_key_cloudwatch_can_publish_with(templates: Templates) -> None:
    assert rules.alarm_topic_is_encrypted_with_a_key_cloudwatch_can_use(templates) == []


def test_every_dead_letter_queue_alarms_when_not_empty(templates: Templates) -> None:
    assert rules.dead_letter_queues_alarm_when_not_empty(templates) == []


def test_every_function_alarms_on_errors(templates: Templates) -> None:
    assert rules.functions_alarm_on_errors(templates) == []


def test_every_function_alarms_on_throttles(templates: Templates) -> None:
    assert rules.functions_alarm_on_throttles(templates) == []


def test_every_function_logs_to_its_own_log_group_with_retention(templates: Templates) -> None:
    assert rules.functions_log_to_their_own_log_group_with_retention(templates) == []


def test_python313_on_arm64_everywhere(templates: Templates) -> None:
    assert rules.functions_run_python313_on_arm64_with_the_shared_layer(templates) == []


def test_function_environments_match_the_design(templates: Templates) -> None:
    assert rules.function_environments_match_the_design(templates) == []


def test_payment_provider_secret_is_never_a_default_or_environment_value(
    templates: Templates,
) -> None:
    assert rules.payment_provider_secret_stays_out_of_the_template(templates) == []


def test_outputs_are_exactly_the_11_design_keys(templates: Templates) -> None:
    assert len(rules.EXPECTED_OUTPUTS) == 11
    assert rules.outputs_are_exactly_the_design_keys(templates) == []


def test_the_billing_budget_rule_reads_the_clients_numbers(templates: Templates) -> None:
    # The timeouts before issue #8 (3.05 s connect, 10 s read, one retry): 26.6 s a call.
    from delivery_guarantees.adapters.payment_provider import call_worst_case_seconds
    from delivery_guarantees.billing import DEFAULT_TIME_BUDGET, TimeBudget

    before = TimeBudget(
        call_worst_case_seconds((3.05, 10.0), 1), DEFAULT_TIME_BUDGET.after_call_seconds
    )
    assert rules.billing_timeout_fits_the_time_budget(templates, before) != []


def test_the_welcome_email_budget_rule_reads_the_clients_numbers(templates: Templates) -> None:
    from delivery_guarantees.adapters.email_sender import send_worst_case_seconds, ses_client_config

    # Two attempts: 2 x (2 s + 5 s) + (1 s + 5 s) = 20 s a send, which 30 s covers.
    two_attempts = send_worst_case_seconds(ses_client_config(total_max_attempts=2))
    assert two_attempts == 20.0
    assert rules.welcome_email_timeout_fits_the_time_budget(templates, two_attempts) == []
    # A minute a send fits no Timeout this template gives the function.
    assert rules.welcome_email_timeout_fits_the_time_budget(templates, 60.0) != []
