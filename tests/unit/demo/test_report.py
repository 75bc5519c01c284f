"""The demo's verdicts: each guarantee is judged broken exactly when it is."""

from __future__ import annotations

from collections import Counter

from demo.report import ChargeExpectation, at_least_once, at_most_once, exactly_once, render


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


def test_at_least_once_accepts_duplicates_and_dead_letters():
    report = at_least_once(
        jobs={"a@x.io": 2, "b@x.io": 1, "c@x.io": 1},
        deliveries={"a@x.io": 2, "b@x.io": 1},
        dead_lettered={"c@x.io": 1},
        still_queued=0,
    )
    assert report.held
    assert figures(report)["duplicates"] == 1
    assert figures(report)["dead-lettered"] == 1
    assert figures(report)["lost"] == 0


def test_at_least_once_is_broken_by_a_lost_job():
    report = at_least_once(
        jobs={"a@x.io": 1, "b@x.io": 1}, deliveries={"a@x.io": 1}, dead_lettered={}, still_queued=0
    )
    assert not report.held
    assert figures(report)["lost"] == 1


def test_at_least_once_does_not_pass_while_jobs_are_still_queued():
    report = at_least_once(jobs={"a@x.io": 1}, deliveries={}, dead_lettered={}, still_queued=1)
    assert figures(report)["lost"] == 0
    assert not report.held


def expectations():
    return [
        ChargeExpectation("t1", messages_sent=2, declines=False),
        ChargeExpectation("t2", messages_sent=1, declines=True),
    ]


def test_exactly_once_holds_with_one_intent_per_transaction():
    report = exactly_once(
        expectations(),
        succeeded_intents=Counter({"t1": 1}),
        declined_intents=Counter({"t2": 1}),
        ledger={"t1": "succeeded", "t2": "declined"},
        rejected_messages={"bad": "t_bad", "conflict": "t1"},
    )
    assert report.held, report.violations
    assert figures(report)["duplicates sent"] == 1
    assert figures(report)["double charges"] == 0


def test_exactly_once_is_broken_by_a_double_charge():
    report = exactly_once(
        expectations(),
        succeeded_intents=Counter({"t1": 2}),
        declined_intents=Counter({"t2": 1}),
        ledger={"t1": "succeeded", "t2": "declined"},
        rejected_messages={},
    )
    assert not report.held
    assert figures(report)["double charges"] == 1


def test_exactly_once_is_broken_by_a_missing_charge_or_ledger_row():
    report = exactly_once(
        expectations(),
        succeeded_intents=Counter(),
        declined_intents=Counter(),
        ledger={},
        rejected_messages={},
    )
    assert figures(report)["never settled"] == 2
    assert not report.held


def test_exactly_once_is_broken_when_an_invalid_message_charges():
    report = exactly_once(
        expectations(),
        succeeded_intents=Counter({"t1": 1, "t_bad": 1}),
        declined_intents=Counter({"t2": 1}),
        ledger={"t1": "succeeded", "t2": "declined"},
        rejected_messages={"malformed": "t_bad"},
    )
    assert not report.held
    assert "malformed (t_bad) was charged" in report.violations


def test_render_marks_broken_guarantees():
    broken = at_most_once(["a@x.io"], {"a@x.io": 3})
    text = render([broken])
    assert text.startswith("BROKEN")
    assert "VIOLATION" in text
