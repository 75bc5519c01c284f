"""The demo's verdicts: each guarantee is judged broken exactly when it is."""

from __future__ import annotations

from collections import Counter

from demo.report import (
    ChargeExpectation,
    LedgerRow,
    at_least_once,
    at_most_once,
    exactly_once,
    render,
)


def figures(report):
    return dict(report.figures)


def test_at_most_once_counts_losses_without_calling_them_violations():
    report = at_most_once(["a@x.io", "b@x.io", "c@x.io"], {"a@x.io": 1, "c@x.io": 1})
    assert figures(report) == {"sent": 3, "delivered": 2, "duplicates": 0, "lost": 1}
    assert report.held


def test_at_most_once_is_broken_by_a_repeated_email():
    report = at_most_once(["a@x.io"], {"a@x.io": 2})
    assert not report.held
    assert "a@x.io received 2 copies" in report.violations[0]


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
        "sent": 3,
        "signup calls, retries included": 5,
        "messages enqueued": 3,
        "delivered": 2,
        "duplicates": 1,
        "dead-lettered": 1,
        "lost": 0,
    }


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
    assert figures(report)["messages enqueued"] == 1
    assert figures(report)["signup calls, retries included"] == 3


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
    assert figures(report)["messages enqueued"] == 2


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
        "charge messages sent": 6,
        "duplicates sent": 3,
        "copies redriven weeks later": 2,
        "charged once": 2,
        "declined, recorded once": 1,
        "settled by reconciliation": 1,
        "double charges": 0,
        "never settled": 0,
        "invalid or conflicting messages charged": 0,
        "payment intents at the provider": 3,
        "ledger rows": 3,
    }


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
    assert figures(report)["double charges"] == 1
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
    assert figures(report)["settled by reconciliation"] == 0


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
    assert figures(report)["never settled"] == 3
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
    assert figures(report)["invalid or conflicting messages charged"] == 1


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
    assert figures(report)["payment intents at the provider"] == 4


def test_render_marks_broken_guarantees():
    broken = at_most_once(["a@x.io"], {"a@x.io": 3})
    text = render([broken])
    assert text.startswith("BROKEN")
    assert "VIOLATION" in text
