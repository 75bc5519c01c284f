"""Turn what the demo observed into one report per guarantee. Pure functions, no I/O.

Each report has a summary (the rows of the table, the same for every guarantee), its
detailed figures, the faults that fired while it ran, and the violations of its
guarantee; the demo fails if any report has a violation. Every expectation comes from
what the demo did (the jobs each signup answer says it stored, the charge messages it
sent or redrove) and from what the fault plans report as fired, never from a count
written down in advance.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from demo.faults import (
    FiredFault,
    failed_after_executing,
    stopped_before_executing,
    total_fired,
)

AT_MOST_ONCE_EMAIL = "at_most_once_email"
AT_LEAST_ONCE_EMAIL = "at_least_once_email"
EXACTLY_ONCE_CHARGE = "exactly_once_charge"


@dataclass(frozen=True)
class Summary:
    """The table's rows. For emails, one unit is an account's welcome email; for
    charges, a transaction. dead_lettered is None where nothing can be dead-lettered."""

    attempted: int  # emails attempted / welcome emails owed / transactions
    delivered: int  # addresses that got the email / transactions settled exactly once
    duplicates: int  # extra emails / extra payment intents
    lost: int  # addresses that got nothing / transactions never settled
    dead_lettered: int | None
    faults_injected: int  # requests the faults hit


@dataclass(frozen=True)
class Figure:
    key: str  # stable, for --json
    label: str  # for people
    value: int


@dataclass(frozen=True)
class GuaranteeReport:
    key: str  # stable, for --json
    title: str
    column: tuple[str, str]  # the table's two header lines
    summary: Summary
    figures: tuple[Figure, ...]
    faults: tuple[FiredFault, ...] = ()
    violations: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def held(self) -> bool:
        return not self.violations

    @property
    def verdict(self) -> str:
        return "HELD" if self.held else "BROKEN"

    def figure(self, key: str) -> int:
        return next(f.value for f in self.figures if f.key == key)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def at_most_once(
    attempted: Iterable[str],
    deliveries: Mapping[str, int],
    faults: Sequence[FiredFault] = (),
    answered_dropped: int = 0,
) -> GuaranteeReport:
    """attempted: the addresses signup tried once; deliveries: welcome emails SES accepted
    per address (the notice telling an account holder that someone tried the address is
    another email, not counted); faults: what fired on those signups' SendEmail calls (and
    only on them); answered_dropped: signups that answered `"welcome_email": "dropped"`.

    Each signup makes one SendEmail request (no SDK retry). A fault that stopped a
    request before SES executed it must lose that email; one that failed it after SES
    accepted it leaves the email delivered once. Fewer losses than the first kind means
    a stopped email was sent again: a second attempt, which at-most-once forbids.
    """
    addresses = sorted(set(attempted))
    delivered = [a for a in addresses if deliveries.get(a, 0) >= 1]
    repeated = {a: deliveries[a] for a in addresses if deliveries.get(a, 0) > 1}
    lost = len(addresses) - len(delivered)
    stopped = stopped_before_executing(faults)
    accepted_then_failed = failed_after_executing(faults)
    violations = [f"{a} received {n} copies: an email was repeated" for a, n in repeated.items()]
    if lost < stopped:
        violations.append(
            f"{stopped - lost} email(s) stopped by a fault before SES executed the request "
            "arrived anyway: a second attempt was made"
        )
    notes = []
    if min(lost, stopped):
        notes.append(
            f"{_plural(min(lost, stopped), 'email')} lost to the faults: the price of at-most-once"
        )
    if lost:
        missing = ", ".join(a for a in addresses if a not in delivered)
        notes.append(f"never received: {missing}")
    if lost > stopped:
        notes.append(
            f"{lost - stopped} more lost without an injected fault (a real failure, "
            "such as a timeout on a loaded machine)"
        )
    if accepted_then_failed:
        notes.append(
            f"{_plural(accepted_then_failed, 'email')} accepted by SES while signup saw a "
            "failure and answered 'dropped': delivered once, never retried"
        )
    return GuaranteeReport(
        key=AT_MOST_ONCE_EMAIL,
        title="at-most-once welcome email (sent by signup, nothing persisted)",
        column=("at-most-once", "email"),
        summary=Summary(
            attempted=len(addresses),
            delivered=len(delivered),
            duplicates=sum(n - 1 for n in repeated.values()),
            lost=lost,
            dead_lettered=None,
            faults_injected=total_fired(faults),
        ),
        figures=(
            Figure("emails_attempted", "emails attempted, one per signup", len(addresses)),
            Figure("delivered", "delivered", len(delivered)),
            Figure("duplicates", "duplicates", sum(n - 1 for n in repeated.values())),
            Figure("lost", "lost", lost),
            Figure("stopped_by_faults", "requests stopped by a fault (so: lost)", stopped),
            Figure(
                "accepted_then_failed",
                "accepted by SES, then the call failed",
                accepted_then_failed,
            ),
            Figure("answered_dropped", "signups that answered 'dropped'", answered_dropped),
        ),
        faults=tuple(faults),
        violations=tuple(violations),
        notes=tuple(notes),
    )


def at_least_once(
    jobs: Mapping[str, int],
    deliveries: Mapping[str, int],
    dead_lettered: Mapping[str, int],
    still_queued: int,
    signup_calls: int,
    faults: Sequence[FiredFault] = (),
) -> GuaranteeReport:
    """jobs: welcome jobs the signup answers say they stored, per address (0 included);
    dead_lettered: DLQ messages per address; signup_calls: POST /accounts calls for these
    addresses, retries included; faults: what fired on the consumer's SendEmail calls.

    Every signup call the demo counts answers 201 (created, or the first answer replayed
    to a retry with the same Idempotency-Key), so none fails half-way: a job stored by
    more than one call is the account's outbox failing, not crash recovery. A fault that
    failed a send after SES accepted the email must be followed by another send (an SDK
    or SQS retry): at least that many duplicates, unless a job was dead-lettered.
    """
    addresses = sorted(jobs)
    delivered = [a for a in addresses if deliveries.get(a, 0) >= 1]
    in_dlq = [a for a in addresses if a not in delivered and dead_lettered.get(a, 0) >= 1]
    unaccounted = [a for a in addresses if a not in delivered and a not in in_dlq]
    # An address still waiting in the queue is not lost yet; anything beyond that is.
    lost = max(0, len(unaccounted) - still_queued)
    duplicates = sum(max(0, deliveries.get(a, 0) - 1) for a in addresses)
    resend_expected = failed_after_executing(faults)
    violations = [
        f"{a}: welcome job stored {jobs[a]} times; a retried signup must store nothing new"
        for a in addresses
        if jobs[a] > 1
    ]
    if lost:
        violations.append(f"{lost} job(s) neither delivered, dead-lettered nor queued: lost")
    if still_queued:
        violations.append(f"{still_queued} job(s) still queued when the demo ended")
    if duplicates < resend_expected and not in_dlq:
        violations.append(
            f"SES accepted {_plural(resend_expected, 'email')} whose send then failed, yet "
            f"only {_plural(duplicates, 'duplicate')} arrived: a failed send was not retried"
        )
    notes = []
    if duplicates:
        twice = ", ".join(f"{a} x{deliveries[a]}" for a in addresses if deliveries.get(a, 0) > 1)
        notes.append(
            f"{_plural(duplicates, 'duplicate')} ({twice}): an email SES accepted but whose "
            "answer was lost is sent again by the retry, the price of at-least-once"
        )
    return GuaranteeReport(
        key=AT_LEAST_ONCE_EMAIL,
        title="at-least-once welcome email (WelcomeEmailQueue, retried, DLQ)",
        column=("at-least-once", "email"),
        summary=Summary(
            attempted=len(addresses),
            delivered=len(delivered),
            duplicates=duplicates,
            lost=lost,
            dead_lettered=len(in_dlq),
            faults_injected=total_fired(faults),
        ),
        figures=(
            Figure("emails_owed", "welcome emails owed, one per signup", len(addresses)),
            Figure("signup_calls", "signup calls, retries included", signup_calls),
            Figure("messages_enqueued", "messages enqueued", sum(jobs.values())),
            Figure("delivered", "delivered", len(delivered)),
            Figure("duplicates", "duplicates", duplicates),
            Figure(
                "accepted_then_failed",
                "accepted by SES, then the send failed (so: resent)",
                resend_expected,
            ),
            Figure(
                "stopped_by_faults",
                "requests stopped by a fault (retried)",
                stopped_before_executing(faults),
            ),
            Figure("dead_lettered", "dead-lettered", len(in_dlq)),
            Figure("lost", "lost", lost),
        ),
        faults=tuple(faults),
        violations=tuple(violations),
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class ChargeExpectation:
    transaction_id: str
    messages_sent: int  # messages that carried this charge, duplicates and redrives included
    declines: bool  # the payment method is a card that declines
    redriven: int = 0  # of those, copies redriven from the DLQ after every key expired
    reconciled: bool = False  # the provider charged, the answer was lost: must be adopted


@dataclass(frozen=True)
class LedgerRow:
    """A ChargesTable row, as far as the report needs it."""

    status: str  # pending | succeeded | declined
    settled_by: str = ""  # charge | reconciliation, once final


def exactly_once(
    expected: Iterable[ChargeExpectation],
    succeeded_intents: Counter[str],
    declined_intents: Counter[str],
    ledger: Mapping[str, LedgerRow],
    rejected_messages: Mapping[str, str],
    faults: Sequence[FiredFault] = (),
    dead_lettered: int = 0,
) -> GuaranteeReport:
    """succeeded/declined_intents: payment intents at the provider per transaction ID;
    ledger: ChargesTable rows per transaction ID; rejected_messages: label -> the
    transaction ID an invalid or conflicting message carried (it must charge nothing
    more); faults: what fired at the provider and on the journal; dead_lettered: messages
    in BillingDeadLetterQueue at the end.

    Faults change the path a charge takes (a replay, a reconciliation, a redelivery),
    never the expectation: one payment intent per transaction, a final ledger row that
    matches it.
    """
    charges = sorted(expected, key=lambda c: c.transaction_id)
    expected_ids = {c.transaction_id for c in charges}
    violations: list[str] = []
    double = [c.transaction_id for c in charges if succeeded_intents[c.transaction_id] > 1]
    extra_intents = 0
    for c in charges:
        t = c.transaction_id
        intents = succeeded_intents[t] + declined_intents[t]
        extra_intents += max(0, intents - 1)
        if succeeded_intents[t] > 1:
            violations.append(f"{t} charged {succeeded_intents[t]} times")
        elif intents > 1:
            violations.append(f"{t}: {intents} payment intents for one transaction")
    charged_once = [
        c for c in charges if not c.declines and succeeded_intents[c.transaction_id] == 1
    ]
    declined = [
        c
        for c in charges
        if c.declines
        and c.transaction_id in ledger
        and ledger[c.transaction_id].status == "declined"
    ]
    missing = [
        c.transaction_id
        for c in charges
        if (c.declines and c.transaction_id not in ledger)
        or (not c.declines and succeeded_intents[c.transaction_id] == 0)
    ]
    violations += [f"{t} was never settled" for t in missing]
    wrong_ledger = [
        c.transaction_id
        for c in charges
        if c.transaction_id in ledger
        and ledger[c.transaction_id].status != ("declined" if c.declines else "succeeded")
    ]
    violations += [f"{t}: ledger says {ledger[t].status}" for t in wrong_ledger]
    violations += [
        f"{c.transaction_id}: settled by {ledger[c.transaction_id].settled_by or 'nothing'}, "
        "not by reconciliation: the intent of the lost answer was not adopted"
        for c in charges
        if c.reconciled
        and c.transaction_id in ledger
        and ledger[c.transaction_id].settled_by != "reconciliation"
    ]
    rejected_charged = 0
    for label, transaction_id in rejected_messages.items():
        allowed = 1 if transaction_id in expected_ids else 0
        if succeeded_intents[transaction_id] > allowed:
            rejected_charged += 1
            violations.append(f"{label} ({transaction_id}) was charged")
    known_ids = expected_ids | set(rejected_messages.values())
    unknown = sorted(t for t in (succeeded_intents + declined_intents) if t not in known_ids)
    violations += [
        f"a payment intent for {t or '<no transaction_id>'}, never sent" for t in unknown
    ]
    deliveries = sum(c.messages_sent for c in charges)
    # Settled exactly once: one payment intent, and a final ledger row that says the same.
    settled_once = [
        c
        for c in charges
        if succeeded_intents[c.transaction_id] + declined_intents[c.transaction_id] == 1
        and c.transaction_id in ledger
        and ledger[c.transaction_id].status == ("declined" if c.declines else "succeeded")
    ]
    return GuaranteeReport(
        key=EXACTLY_ONCE_CHARGE,
        title="exactly-once charge (BillingQueue, charge journal on transaction_id)",
        column=("exactly-once", "charge"),
        summary=Summary(
            attempted=len(charges),
            delivered=len(settled_once),
            duplicates=extra_intents,
            lost=len(missing),
            dead_lettered=dead_lettered,
            faults_injected=total_fired(faults),
        ),
        figures=(
            Figure("transactions", "transactions", len(charges)),
            Figure("messages_sent", "charge messages sent", deliveries),
            Figure("duplicates_sent", "duplicates sent", deliveries - len(charges)),
            Figure("redriven", "copies redriven weeks later", sum(c.redriven for c in charges)),
            Figure("charged_once", "charged once", len(charged_once)),
            Figure("declined_once", "declined, recorded once", len(declined)),
            Figure(
                "reconciled",
                "settled by reconciliation",
                sum(1 for row in ledger.values() if row.settled_by == "reconciliation"),
            ),
            Figure("double_charges", "double charges", len(double)),
            Figure("never_settled", "never settled", len(missing)),
            Figure("rejected_charged", "invalid or conflicting messages charged", rejected_charged),
            Figure(
                "payment_intents",
                "payment intents at the provider",
                sum(succeeded_intents.values()) + sum(declined_intents.values()),
            ),
            Figure("ledger_rows", "ledger rows", len(ledger)),
            Figure("dead_lettered", "messages in BillingDeadLetterQueue", dead_lettered),
        ),
        faults=tuple(faults),
        violations=tuple(violations),
    )


# ---------------------------------------------------------------- rendering

TABLE_ROWS = (
    ("attempted", "sent / attempted"),
    ("delivered", "delivered / settled"),
    ("duplicates", "duplicates"),
    ("lost", "lost"),
    ("dead_lettered", "dead-lettered"),
    ("faults_injected", "faults injected"),
)
LABEL_WIDTH = 22
COLUMN_WIDTH = 15


def render_table(reports: Sequence[GuaranteeReport]) -> str:
    """The three guarantees side by side: one column each, the same rows for all."""

    def row(label: str, cells: Iterable[str]) -> str:
        return (f"{label:<{LABEL_WIDTH}}" + "".join(f"{c:>{COLUMN_WIDTH}}" for c in cells)).rstrip()

    lines = [
        row("", (r.column[0] for r in reports)),
        row("", (r.column[1] for r in reports)),
    ]
    for key, label in TABLE_ROWS:
        values = (getattr(r.summary, key) for r in reports)
        lines.append(row(label, ("-" if v is None else str(v) for v in values)))
    lines.append(row("verdict", (r.verdict for r in reports)))
    lines.append("")
    lines += [
        "sent: emails attempted / welcome emails owed / transactions",
        "delivered / settled: addresses that got the email / transactions charged or",
        "  declined exactly once; duplicates: extra emails / extra payment intents;",
        "  faults injected: requests the faults hit (listed below)",
    ]
    return "\n".join(lines)


def render_faults(reports: Sequence[GuaranteeReport]) -> str:
    """Each fault under the guarantee it was injected for: requests hit / planned."""
    lines = ["faults injected (requests hit / planned)"]
    for report in reports:
        lines.append(f"  {report.column[0]} {report.column[1]}")
        if not report.faults:
            lines.append("    none")
        for fired in report.faults:
            planned = fired.planned
            lines.append(
                f"    {fired.fired:>2}/{planned.count:<2} {planned.target}: {planned.description}"
            )
    return "\n".join(lines)


def render(reports: Iterable[GuaranteeReport]) -> str:
    """The detailed figures of each guarantee, with its notes and violations."""
    lines: list[str] = []
    for report in reports:
        lines.append(f"{'HELD  ' if report.held else 'BROKEN'}  {report.title}")
        for figure in report.figures:
            lines.append(f"          {figure.label:<52} {figure.value:>5}")
        lines.extend(f"          note: {note}" for note in report.notes)
        lines.extend(f"          VIOLATION: {v}" for v in report.violations)
        lines.append("")
    return "\n".join(lines)


def to_json(
    reports: Sequence[GuaranteeReport],
    *,
    seconds: float,
    time_scale: int,
    charge_messages_still_queued: int = 0,
) -> dict[str, Any]:
    """The result for machines; the keys are documented in the `demo` package docstring."""
    return {
        "held": all(r.held for r in reports),
        "seconds": round(seconds, 1),
        "time_scale": time_scale,
        "guarantees": {
            r.key: {
                "title": r.title,
                "verdict": r.verdict,
                "held": r.held,
                "summary": {
                    "attempted": r.summary.attempted,
                    "delivered": r.summary.delivered,
                    "duplicates": r.summary.duplicates,
                    "lost": r.summary.lost,
                    "dead_lettered": r.summary.dead_lettered,
                    "faults_injected": r.summary.faults_injected,
                },
                "figures": {f.key: f.value for f in r.figures},
                "violations": list(r.violations),
                "notes": list(r.notes),
            }
            for r in reports
        },
        "faults": [f.to_json(r.key) for r in reports for f in r.faults],
        "charge_messages_still_queued": charge_messages_still_queued,
    }
