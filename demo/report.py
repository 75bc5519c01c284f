"""Turn what the demo observed into one report per guarantee. Pure functions, no I/O.

Each report lists its figures and the violations of its guarantee; the demo fails if any
report has a violation. Every expectation comes from what the demo did (the jobs each
signup answer says it stored, the charge messages it sent or redrove), never from a
count written down in advance.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GuaranteeReport:
    title: str
    figures: tuple[tuple[str, int], ...]
    violations: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def held(self) -> bool:
        return not self.violations


def at_most_once(attempted: Iterable[str], deliveries: Mapping[str, int]) -> GuaranteeReport:
    """attempted: the addresses signup tried once; deliveries: emails SES accepted per address."""
    addresses = sorted(set(attempted))
    delivered = [a for a in addresses if deliveries.get(a, 0) >= 1]
    repeated = {a: deliveries[a] for a in addresses if deliveries.get(a, 0) > 1}
    lost = len(addresses) - len(delivered)
    return GuaranteeReport(
        title="at-most-once welcome email (sent by signup, nothing persisted)",
        figures=(
            ("sent", len(addresses)),
            ("delivered", len(delivered)),
            ("duplicates", sum(n - 1 for n in repeated.values())),
            ("lost", lost),
        ),
        violations=tuple(
            f"{a} received {n} copies: an email was repeated" for a, n in repeated.items()
        ),
        notes=(f"{lost} lost to the outage: the price of at-most-once",) if lost else (),
    )


def at_least_once(
    jobs: Mapping[str, int],
    deliveries: Mapping[str, int],
    dead_lettered: Mapping[str, int],
    still_queued: int,
    signup_calls: int,
) -> GuaranteeReport:
    """jobs: welcome jobs the signup answers say they stored, per address (0 included);
    dead_lettered: DLQ messages per address; signup_calls: POST /accounts calls for these
    addresses, retries included.

    Every signup call the demo makes answers 2xx, so none fails half-way: a job stored by
    more than one call is the account's outbox failing, not crash recovery.
    """
    addresses = sorted(jobs)
    delivered = [a for a in addresses if deliveries.get(a, 0) >= 1]
    in_dlq = [a for a in addresses if a not in delivered and dead_lettered.get(a, 0) >= 1]
    unaccounted = [a for a in addresses if a not in delivered and a not in in_dlq]
    # An address still waiting in the queue is not lost yet; anything beyond that is.
    lost = max(0, len(unaccounted) - still_queued)
    violations = [
        f"{a}: welcome job stored {jobs[a]} times; a retried signup must store nothing new"
        for a in addresses
        if jobs[a] > 1
    ]
    if lost:
        violations.append(f"{lost} job(s) neither delivered, dead-lettered nor queued: lost")
    if still_queued:
        violations.append(f"{still_queued} job(s) still queued when the demo ended")
    return GuaranteeReport(
        title="at-least-once welcome email (WelcomeEmailQueue, retried, DLQ)",
        figures=(
            ("sent", len(addresses)),
            ("signup calls, retries included", signup_calls),
            ("messages enqueued", sum(jobs.values())),
            ("delivered", len(delivered)),
            ("duplicates", sum(max(0, deliveries.get(a, 0) - 1) for a in addresses)),
            ("dead-lettered", len(in_dlq)),
            ("lost", lost),
        ),
        violations=tuple(violations),
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
) -> GuaranteeReport:
    """succeeded/declined_intents: payment intents at the provider per transaction ID;
    ledger: ChargesTable rows per transaction ID; rejected_messages: label -> the
    transaction ID an invalid or conflicting message carried (it must charge nothing more)."""
    charges = sorted(expected, key=lambda c: c.transaction_id)
    expected_ids = {c.transaction_id for c in charges}
    violations: list[str] = []
    double = [c.transaction_id for c in charges if succeeded_intents[c.transaction_id] > 1]
    for c in charges:
        t = c.transaction_id
        intents = succeeded_intents[t] + declined_intents[t]
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
    return GuaranteeReport(
        title="exactly-once charge (BillingQueue, charge journal on transaction_id)",
        figures=(
            ("transactions", len(charges)),
            ("charge messages sent", deliveries),
            ("duplicates sent", deliveries - len(charges)),
            ("copies redriven weeks later", sum(c.redriven for c in charges)),
            ("charged once", len(charged_once)),
            ("declined, recorded once", len(declined)),
            (
                "settled by reconciliation",
                sum(1 for row in ledger.values() if row.settled_by == "reconciliation"),
            ),
            ("double charges", len(double)),
            ("never settled", len(missing)),
            ("invalid or conflicting messages charged", rejected_charged),
            (
                "payment intents at the provider",
                sum(succeeded_intents.values()) + sum(declined_intents.values()),
            ),
            ("ledger rows", len(ledger)),
        ),
        violations=tuple(violations),
    )


def render(reports: Iterable[GuaranteeReport]) -> str:
    lines: list[str] = []
    for report in reports:
        lines.append(f"{'HELD  ' if report.held else 'BROKEN'}  {report.title}")
        for name, value in report.figures:
            lines.append(f"          {name:<42} {value:>5}")
        lines.extend(f"          note: {note}" for note in report.notes)
        lines.extend(f"          VIOLATION: {v}" for v in report.violations)
        lines.append("")
    return "\n".join(lines)
