"""The demo's verdicts: each guarantee is judged broken exactly when it is, and what it
expects comes from the faults that fired."""

from __future__ import annotations

import json
from collections import Counter

from demo.faults import ENDPOINT, PROVIDER, FiredFault, PlannedFault
from demo.report import (
    AT_LEAST_ONCE_EMAIL,
    AT_MOST_ONCE_EMAIL,
    EXACTLY_ONCE_CHARGE,
    ChargeExpectation,
    LedgerRow,
    at_least_once,
    at_most_once,
    exactly_once,
    render,
    render_faults,
    render_table,
    to_json,
)


def figures(report):
    return {figure.key: figure.value for figure in report.figures}


def ses_fault(fired, *, phase="before", kind="error", count=None):
    spec = {"service": "ses", "operation": "SendEmail", "kind": kind, "phase": phase}
    if kind == "error":
        spec["error"] = "Throttling"
    spec["count"] = fired if count is None else count
    return FiredFault(PlannedFault(ENDPOINT, "SES SendEmail", f"{kind} {phase}", spec), fired)


def test_at_most_once_counts_losses_without_calling_them_violations():
    report = at_most_once(["a@x.io", "b@x.io", "c@x.io"], {"a@x.io": 1, "c@x.io": 1})
    assert figures(report) == {
        "emails_attempted": 3,
        "delivered": 2,
        "duplicates": 0,
        "lost": 1,
        "stopped_by_faults": 0,
        "accepted_then_failed": 0,
        "answered_dropped": 0,
    }
    assert report.held
    assert any("without an injected fault" in note for note in report.notes)


def test_at_most_once_expects_to_lose_what_the_faults_stopped_before_ses():
    # Four requests stopped before SES (lost), one failed after SES accepted (delivered).
    faults = [ses_fault(1), ses_fault(3), ses_fault(1, phase="after", kind="drop")]
    deliveries = {"b@x.io": 1, "c@x.io": 1, "d@x.io": 1, "e@x.io": 1}
    attempted = ["a@x.io", "b@x.io", "c@x.io", "d@x.io", "e@x.io", "f@x.io", "g@x.io", "h@x.io"]
    report = at_most_once(attempted, deliveries, faults, answered_dropped=5)
    assert report.held, report.violations
    assert report.summary.lost == 4
    assert report.summary.delivered == 4
    assert report.summary.faults_injected == 5
    assert report.summary.dead_lettered is None
    assert figures(report)["stopped_by_faults"] == 4
    assert figures(report)["accepted_then_failed"] == 1
    assert not any("without an injected fault" in note for note in report.notes)
    assert "never received: a@x.io, f@x.io, g@x.io, h@x.io" in report.notes


def test_at_most_once_is_broken_when_an_email_a_fault_stopped_arrives_anyway():
    # A fault stopped two requests before SES, yet only one email is missing: one of them
    # was sent by a second attempt.
    report = at_most_once(["a@x.io", "b@x.io"], {"a@x.io": 1}, [ses_fault(2)])
    assert not report.held
    assert "a second attempt was made" in report.violations[0]


def test_at_most_once_is_broken_by_a_repeated_email():
    report = at_most_once(["a@x.io"], {"a@x.io": 2})
    assert not report.held
    assert "a@x.io received 2 copies" in report.violations[0]
    assert report.summary.duplicates == 1


def test_at_least_once_accepts_duplicate_emails_and_dead_letters_and_counts_them():
    report = at_least_once(
        jobs={"a@x.io": 1, "b@x.io": 1, "c@x.io": 1},
        deliveries={"a@x.io": 2, "b@x.io": 1},
        dead_lettered={"c@x.io": 1},
        still_queued=0,
        signup_calls=5,
    )
    assert report.held, report.violations
    assert figures(report) == {
        "emails_owed": 3,
        "signup_calls": 5,
        "messages_enqueued": 3,
        "delivered": 2,
        "duplicates": 1,
        "accepted_then_failed": 0,
        "stopped_by_faults": 0,
        "dead_lettered": 1,
        "lost": 0,
    }
    assert report.summary.dead_lettered == 1


def test_at_least_once_counts_the_jobs_the_answers_listed_not_the_calls():
    # Three calls for a@x.io, one job: retries of a completed signup store nothing.
    report = at_least_once(
        jobs={"a@x.io": 1},
        deliveries={"a@x.io": 1},
        dead_lettered={},
        still_queued=0,
        signup_calls=3,
    )
    assert report.held
    assert figures(report)["messages_enqueued"] == 1
    assert figures(report)["signup_calls"] == 3


def test_at_least_once_is_broken_by_a_retried_signup_storing_its_job_again():
    report = at_least_once(
        jobs={"a@x.io": 2},
        deliveries={"a@x.io": 2},
        dead_lettered={},
        still_queued=0,
        signup_calls=2,
    )
    assert not report.held
    assert "a@x.io: welcome job stored 2 times" in report.violations[0]
    assert figures(report)["messages_enqueued"] == 2


def test_at_least_once_is_broken_by_a_lost_job():
    report = at_least_once(
        jobs={"a@x.io": 1, "b@x.io": 1},
        deliveries={"a@x.io": 1},
        dead_lettered={},
        still_queued=0,
        signup_calls=2,
    )
    assert not report.held
    assert figures(report)["lost"] == 1


def test_at_least_once_is_broken_when_a_signup_stored_no_job_at_all():
    # The answer said at-least-once but listed no welcome_email job: nothing can arrive.
    report = at_least_once(
        jobs={"a@x.io": 0}, deliveries={}, dead_lettered={}, still_queued=0, signup_calls=1
    )
    assert not report.held
    assert figures(report)["lost"] == 1


def test_at_least_once_does_not_pass_while_jobs_are_still_queued():
    report = at_least_once(
        jobs={"a@x.io": 1}, deliveries={}, dead_lettered={}, still_queued=1, signup_calls=1
    )
    assert figures(report)["lost"] == 0
    assert not report.held


def test_at_least_once_shows_the_duplicate_of_an_email_accepted_then_failed():
    faults = [ses_fault(1), ses_fault(3), ses_fault(1, phase="after", kind="drop")]
    report = at_least_once(
        jobs={"a@x.io": 1, "b@x.io": 1, "c@x.io": 1},
        deliveries={"a@x.io": 1, "b@x.io": 1, "c@x.io": 2},
        dead_lettered={},
        still_queued=0,
        signup_calls=3,
        faults=faults,
    )
    assert report.held, report.violations
    assert (report.summary.duplicates, report.summary.lost) == (1, 0)
    assert report.summary.faults_injected == 5
    assert figures(report)["accepted_then_failed"] == 1
    assert figures(report)["stopped_by_faults"] == 4
    assert any("(c@x.io x2)" in note for note in report.notes)


def test_at_least_once_is_broken_when_an_email_accepted_then_failed_is_not_sent_again():
    report = at_least_once(
        jobs={"a@x.io": 1},
        deliveries={"a@x.io": 1},
        dead_lettered={},
        still_queued=0,
        signup_calls=1,
        faults=[ses_fault(1, phase="after", kind="drop")],
    )
    assert not report.held
    assert "a failed send was not retried" in report.violations[0]


def test_at_least_once_does_not_demand_the_resend_of_a_dead_lettered_job():
    report = at_least_once(
        jobs={"a@x.io": 1, "b@x.io": 1},
        deliveries={"a@x.io": 1},
        dead_lettered={"b@x.io": 1},
        still_queued=0,
        signup_calls=2,
        faults=[ses_fault(1, phase="after", kind="drop")],
    )
    assert report.held, report.violations


def expectations():
    return [
        ChargeExpectation("t1", messages_sent=3, declines=False, redriven=1),
        ChargeExpectation("t2", messages_sent=2, declines=True, redriven=1),
        ChargeExpectation("t3", messages_sent=1, declines=False, reconciled=True),
    ]


def healthy_ledger():
    return {
        "t1": LedgerRow("succeeded", "charge"),
        "t2": LedgerRow("declined", "charge"),
        "t3": LedgerRow("succeeded", "reconciliation"),
    }


def test_exactly_once_holds_with_one_intent_per_transaction():
    report = exactly_once(
        expectations(),
        succeeded_intents=Counter({"t1": 1, "t3": 1}),
        declined_intents=Counter({"t2": 1}),
        ledger=healthy_ledger(),
        rejected_messages={"bad": "t_bad", "conflict": "t1"},
    )
    assert report.held, report.violations
    assert figures(report) == {
        "transactions": 3,
        "messages_sent": 6,
        "duplicates_sent": 3,
        "redriven": 2,
        "charged_once": 2,
        "declined_once": 1,
        "reconciled": 1,
        "double_charges": 0,
        "never_settled": 0,
        "rejected_charged": 0,
        "payment_intents": 3,
        "ledger_rows": 3,
        "dead_lettered": 0,
    }
    assert (report.summary.attempted, report.summary.delivered) == (3, 3)
    assert (report.summary.duplicates, report.summary.lost) == (0, 0)


def test_exactly_once_under_faults_expects_the_same_one_charge_and_counts_them():
    provider_fault = PlannedFault(
        PROVIDER, "provider", "500 after", {"kind": "error", "status": 500, "count": 2}
    )
    report = exactly_once(
        expectations(),
        succeeded_intents=Counter({"t1": 1, "t3": 1}),
        declined_intents=Counter({"t2": 1}),
        ledger=healthy_ledger(),
        rejected_messages={},
        faults=[FiredFault(provider_fault, 2), ses_fault(3)],
        dead_lettered=1,
    )
    assert report.held, report.violations
    assert report.summary.faults_injected == 5
    assert report.summary.dead_lettered == 1


def test_exactly_once_is_broken_by_a_second_intent_for_a_redriven_copy():
    report = exactly_once(
        expectations(),
        succeeded_intents=Counter({"t1": 2, "t3": 1}),
        declined_intents=Counter({"t2": 1}),
        ledger=healthy_ledger(),
        rejected_messages={},
    )
    assert not report.held
    assert "t1 charged 2 times" in report.violations
    assert figures(report)["double_charges"] == 1
    assert report.summary.duplicates == 1
    assert report.summary.delivered == 2
    assert "BROKEN" in render([report])


def test_exactly_once_is_broken_by_a_declined_charge_attempted_again():
    report = exactly_once(
        expectations(),
        succeeded_intents=Counter({"t1": 1, "t3": 1}),
        declined_intents=Counter({"t2": 2}),
        ledger=healthy_ledger(),
        rejected_messages={},
    )
    assert not report.held
    assert "t2: 2 payment intents for one transaction" in report.violations


def test_exactly_once_is_broken_when_a_lost_answer_is_charged_again_not_adopted():
    report = exactly_once(
        expectations(),
        succeeded_intents=Counter({"t1": 1, "t3": 2}),
        declined_intents=Counter({"t2": 1}),
        ledger={**healthy_ledger(), "t3": LedgerRow("succeeded", "charge")},
        rejected_messages={},
    )
    assert not report.held
    assert "t3 charged 2 times" in report.violations
    assert any("t3: settled by charge, not by reconciliation" in v for v in report.violations)
    assert figures(report)["reconciled"] == 0


def test_exactly_once_is_broken_by_a_row_left_pending():
    report = exactly_once(
        expectations(),
        succeeded_intents=Counter({"t1": 1, "t3": 1}),
        declined_intents=Counter({"t2": 1}),
        ledger={**healthy_ledger(), "t3": LedgerRow("pending")},
        rejected_messages={},
    )
    assert not report.held
    assert "t3: ledger says pending" in report.violations


def test_exactly_once_is_broken_by_a_missing_charge_or_ledger_row():
    report = exactly_once(
        expectations(),
        succeeded_intents=Counter(),
        declined_intents=Counter(),
        ledger={},
        rejected_messages={},
    )
    assert figures(report)["never_settled"] == 3
    assert (report.summary.lost, report.summary.delivered) == (3, 0)
    assert not report.held


def test_exactly_once_is_broken_when_an_invalid_message_charges():
    report = exactly_once(
        expectations(),
        succeeded_intents=Counter({"t1": 1, "t3": 1, "t_bad": 1}),
        declined_intents=Counter({"t2": 1}),
        ledger=healthy_ledger(),
        rejected_messages={"malformed": "t_bad"},
    )
    assert not report.held
    assert "malformed (t_bad) was charged" in report.violations
    assert figures(report)["rejected_charged"] == 1


def test_exactly_once_is_broken_by_an_intent_for_a_transaction_never_sent():
    report = exactly_once(
        expectations(),
        succeeded_intents=Counter({"t1": 1, "t3": 1, "t_other": 1}),
        declined_intents=Counter({"t2": 1}),
        ledger=healthy_ledger(),
        rejected_messages={},
    )
    assert not report.held
    assert "a payment intent for t_other, never sent" in report.violations
    assert figures(report)["payment_intents"] == 4


def test_render_marks_broken_guarantees():
    broken = at_most_once(["a@x.io"], {"a@x.io": 3})
    text = render([broken])
    assert text.startswith("BROKEN")
    assert "VIOLATION" in text


def three_reports(*, break_one: str | None = None):
    faults = [ses_fault(1), ses_fault(1, phase="after", kind="drop")]
    amo = at_most_once(
        ["a@x.io", "b@x.io", "c@x.io"],
        {"b@x.io": 2 if break_one == AT_MOST_ONCE_EMAIL else 1, "c@x.io": 1},
        faults,
        answered_dropped=2,
    )
    alo = at_least_once(
        jobs={"d@x.io": 1, "e@x.io": 1},
        deliveries={"d@x.io": 2}
        if break_one == AT_LEAST_ONCE_EMAIL
        else {"d@x.io": 2, "e@x.io": 1},
        dead_lettered={},
        still_queued=0,
        signup_calls=2,
        faults=faults,
    )
    eoc = exactly_once(
        expectations(),
        succeeded_intents=Counter({"t1": 2 if break_one == EXACTLY_ONCE_CHARGE else 1, "t3": 1}),
        declined_intents=Counter({"t2": 1}),
        ledger=healthy_ledger(),
        rejected_messages={},
    )
    return [amo, alo, eoc]


def table_rows(text):
    return {line[:22].strip(): line[22:].split() for line in text.splitlines() if line[:22].strip()}


def test_the_table_shows_each_guarantee_in_its_own_column():
    text = render_table(three_reports())
    header = text.splitlines()[:2]
    assert header[0].split() == ["at-most-once", "at-least-once", "exactly-once"]
    assert header[1].split() == ["email", "email", "charge"]
    rows = table_rows(text)
    assert rows["sent / attempted"] == ["3", "2", "3"]
    assert rows["delivered / settled"] == ["2", "2", "3"]
    assert rows["duplicates"] == ["0", "1", "0"]
    assert rows["lost"] == ["1", "0", "0"]
    assert rows["dead-lettered"] == ["-", "0", "0"]
    assert rows["faults injected"] == ["2", "2", "0"]
    assert rows["verdict"] == ["HELD", "HELD", "HELD"]


def test_the_table_marks_the_broken_guarantee_in_its_column():
    for position, key in enumerate((AT_MOST_ONCE_EMAIL, AT_LEAST_ONCE_EMAIL, EXACTLY_ONCE_CHARGE)):
        verdicts = table_rows(render_table(three_reports(break_one=key)))["verdict"]
        expected = ["HELD"] * 3
        expected[position] = "BROKEN"
        assert verdicts == expected, key


def test_the_fault_listing_shows_hits_against_the_plan():
    text = render_faults(three_reports())
    assert "1/1  SES SendEmail: error before" in text
    assert text.count("none") == 1  # the charge column had no faults


def test_json_has_stable_keys_and_says_what_broke():
    result = to_json(
        three_reports(break_one=AT_LEAST_ONCE_EMAIL),
        seconds=61.26,
        time_scale=10,
        charge_messages_still_queued=2,
    )
    json.dumps(result)  # plain JSON
    assert set(result) == {
        "held",
        "seconds",
        "time_scale",
        "guarantees",
        "faults",
        "charge_messages_still_queued",
    }
    assert result["held"] is False
    assert result["seconds"] == 61.3
    assert list(result["guarantees"]) == [
        AT_MOST_ONCE_EMAIL,
        AT_LEAST_ONCE_EMAIL,
        EXACTLY_ONCE_CHARGE,
    ]
    broken = result["guarantees"][AT_LEAST_ONCE_EMAIL]
    assert (broken["verdict"], broken["held"]) == ("BROKEN", False)
    assert broken["summary"] == {
        "attempted": 2,
        "delivered": 1,
        "duplicates": 1,
        "lost": 1,
        "dead_lettered": 0,
        "faults_injected": 2,
    }
    assert broken["violations"]
    assert result["guarantees"][AT_MOST_ONCE_EMAIL]["summary"]["dead_lettered"] is None
    assert result["guarantees"][EXACTLY_ONCE_CHARGE]["verdict"] == "HELD"
    assert len(result["faults"]) == 4
    assert result["faults"][0] == {
        "guarantee": AT_MOST_ONCE_EMAIL,
        "boundary": "endpoint",
        "target": "SES SendEmail",
        "description": "error before",
        "phase": "before",
        "fails_call": True,
        "planned": 1,
        "fired": 1,
        "spec": {
            "service": "ses",
            "operation": "SendEmail",
            "kind": "error",
            "phase": "before",
            "error": "Throttling",
            "count": 1,
        },
    }
