"""The faults the demo injects, and what fired, read back from the fault plans.

Every fault goes through a real injection boundary, never through handler code:

- AWS calls: the local cloud endpoint's plan, `POST /_local_cloud/faults` (through
  `EndpointFaults`). Its listing names each request a fault hit ("fired"), by fault id.
- The payment provider: the simulator's plan, `POST /_simulator/faults`. Its listing
  gives each pending fault's `remaining` count; a fault no longer listed has fired
  `count` times.

What the demo expects is derived from what fired (`FiredFault`), never from the plan
alone: a fault that fired on fewer requests than planned counts for what it did.
The functions here are pure, so the report's arithmetic is unit-tested without a cloud.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Boundaries, as the report and the JSON name them.
ENDPOINT = "endpoint"  # the local cloud's AWS endpoint: SES, DynamoDB, SQS, ...
PROVIDER = "provider"  # the simulated payment provider

# Attempts one boto3 call makes in standard retry mode (botocore's default here, and the
# welcome-email consumer's `Config(retries={"mode": "standard"})`): a fault with this
# count fails one whole call, a smaller one is absorbed by the SDK's own retries.
BOTO_ATTEMPTS_PER_CALL = 3
# Requests one billing invocation makes for one charge: the Stripe client's first request
# and its one network retry (DEFAULT_MAX_NETWORK_RETRIES in
# layers/shared/delivery_guarantees/adapters/payment_provider.py).
PROVIDER_REQUESTS_PER_ATTEMPT = 2

DAILY_QUOTA_MESSAGE = "Daily message quota exceeded"


@dataclass(frozen=True)
class PlannedFault:
    """One fault to inject: where, what (`spec`, the boundary's own JSON) and why."""

    boundary: str  # ENDPOINT or PROVIDER
    target: str  # what it hits, for people: "SES SendEmail"
    description: str  # what it does, for people
    spec: Mapping[str, Any]
    # The caller sees a failure (an error, a dropped connection, or latency past its
    # timeout), as opposed to a slow but successful answer.
    fails_call: bool = True
    # A fault that acts after the side effect without a `phase` of its own (a worker
    # killed after a call was answered).
    after_effect: bool = False

    @property
    def count(self) -> int:
        return int(self.spec.get("count", 1))

    @property
    def phase(self) -> str:
        """`before`: nothing executed; `after`: executed, then the answer was lost."""
        raw = str(self.spec.get("phase", "after" if self.after_effect else "before"))
        return "after" if raw in ("after", "after_execution") else "before"


@dataclass(frozen=True)
class FiredFault:
    """A planned fault and how many requests it really hit."""

    planned: PlannedFault
    fired: int

    @property
    def stopped_before_executing(self) -> int:
        """Requests that failed before the service did anything (nothing happened)."""
        return self.fired if self.planned.fails_call and self.planned.phase == "before" else 0

    @property
    def failed_after_executing(self) -> int:
        """Requests the service executed whose caller then saw a failure."""
        return self.fired if self.planned.fails_call and self.planned.phase == "after" else 0

    def to_json(self, guarantee: str) -> dict[str, Any]:
        return {
            "guarantee": guarantee,
            "boundary": self.planned.boundary,
            "target": self.planned.target,
            "description": self.planned.description,
            "phase": self.planned.phase,
            "fails_call": self.planned.fails_call,
            "planned": self.planned.count,
            "fired": self.fired,
            "spec": dict(self.planned.spec),
        }


@dataclass
class FaultLog:
    """What fired, per guarantee, in the order the faults were injected."""

    fired: dict[str, list[FiredFault]] = field(default_factory=dict)

    def record(self, guarantee: str, faults: Iterable[FiredFault]) -> None:
        self.fired.setdefault(guarantee, []).extend(faults)

    def of(self, guarantee: str) -> list[FiredFault]:
        return list(self.fired.get(guarantee, ()))


def total_fired(faults: Iterable[FiredFault]) -> int:
    return sum(f.fired for f in faults)


def stopped_before_executing(faults: Iterable[FiredFault]) -> int:
    return sum(f.stopped_before_executing for f in faults)


def failed_after_executing(faults: Iterable[FiredFault]) -> int:
    return sum(f.failed_after_executing for f in faults)


def endpoint_fired(
    added: Sequence[tuple[PlannedFault, int]], listing: Mapping[str, Any]
) -> list[FiredFault]:
    """What each fault added to the endpoint fired, from `GET /_local_cloud/faults`.

    added: each planned fault with the id the endpoint gave it. The listing's "fired"
    holds one entry per request hit, with the fault's id (the latest 1000 are kept,
    far more than the demo makes).
    """
    hits: dict[int, int] = {}
    for entry in listing.get("fired", []):
        hits[int(entry["id"])] = hits.get(int(entry["id"]), 0) + 1
    return [FiredFault(planned, hits.get(fault_id, 0)) for planned, fault_id in added]


def provider_fired(
    added: Sequence[tuple[PlannedFault, Mapping[str, Any]]], pending: Sequence[Mapping[str, Any]]
) -> list[FiredFault]:
    """What each fault added to the payment simulator fired, from its pending list.

    added: each planned fault with the fault as the simulator echoed it (its JSON with
    defaults filled in). pending: `GET /_simulator/faults` "pending", each entry the
    fault's JSON plus `remaining`. Not pending any more: it fired its whole count.
    """
    left = [dict(entry) for entry in pending]
    fired: list[FiredFault] = []
    for planned, echoed in added:
        remaining = 0
        for entry in left:
            if {k: v for k, v in entry.items() if k != "remaining"} == dict(echoed):
                remaining = int(entry["remaining"])
                left.remove(entry)
                break
        fired.append(FiredFault(planned, planned.count - remaining))
    return fired


# ---------------------------------------------------------------- the demo's fault plans


def ses_faults() -> list[PlannedFault]:
    """SES faults, injected one after another into whichever SendEmail calls come next.

    The same list is injected for the at-most-once signups and then for the at-least-once
    consumer, so the two modes meet the same faults.
    """
    send_email = {"service": "ses", "operation": "SendEmail"}
    return [
        PlannedFault(
            ENDPOINT,
            "SES SendEmail",
            "Throttling: Rate exceeded (a blip, one request)",
            {**send_email, "error": "Throttling", "message": "Rate exceeded", "status": 400},
        ),
        PlannedFault(
            ENDPOINT,
            "SES SendEmail",
            f"Throttling: {DAILY_QUOTA_MESSAGE} (every attempt of one SDK call)",
            {
                **send_email,
                "error": "Throttling",
                "message": DAILY_QUOTA_MESSAGE,
                "status": 400,
                "count": BOTO_ATTEMPTS_PER_CALL,
            },
        ),
        PlannedFault(
            ENDPOINT,
            "SES SendEmail",
            "connection dropped after SES accepted the email",
            {**send_email, "kind": "drop", "phase": "after"},
        ),
    ]


def billing_endpoint_faults(charges_table: str) -> list[PlannedFault]:
    """DynamoDB faults on the charge journal's settle (UpdateItem on ChargesTable).

    A throttled write is refused before DynamoDB applies it, so throttling is phase
    `before` (an `after` throttle would be a write that succeeded and reported
    throttling, which DynamoDB does not do). What does happen after a write is applied
    is a lost answer: a dropped connection, phase `after`.
    """
    update = {"service": "dynamodb", "operation": "UpdateItem", "resource": charges_table}
    return [
        PlannedFault(
            ENDPOINT,
            "DynamoDB UpdateItem ChargesTable",
            "ProvisionedThroughputExceededException (every attempt of one SDK call): the "
            "journal cannot record a charge the provider made",
            {
                **update,
                "error": "ProvisionedThroughputExceededException",
                "message": "The level of configured provisioned throughput for the table was "
                "exceeded. Consider increasing your provisioning level with the UpdateTable API.",
                "status": 400,
                "count": BOTO_ATTEMPTS_PER_CALL,
            },
        ),
        PlannedFault(
            ENDPOINT,
            "DynamoDB UpdateItem ChargesTable",
            "connection dropped after the journal row was settled",
            {**update, "kind": "drop", "phase": "after"},
        ),
    ]


def provider_faults(billing_timeout_seconds: int) -> list[PlannedFault]:
    """Payment provider faults on POST /v1/payment_intents (charges)."""
    slow_ms = (billing_timeout_seconds + 1) * 1000
    return [
        PlannedFault(
            PROVIDER,
            "provider POST /v1/payment_intents",
            "503 before the charge commits (an attempt and its retry)",
            {
                "kind": "error",
                "status": 503,
                "phase": "before_execution",
                "count": PROVIDER_REQUESTS_PER_ATTEMPT,
            },
        ),
        PlannedFault(
            PROVIDER,
            "provider POST /v1/payment_intents",
            "500 after the charge commits: a lost answer (an attempt and its retry)",
            {
                "kind": "error",
                "status": 500,
                "phase": "after_execution",
                "count": PROVIDER_REQUESTS_PER_ATTEMPT,
            },
        ),
        PlannedFault(
            PROVIDER,
            "provider POST /v1/payment_intents",
            f"answer {slow_ms} ms late after the charge commits, past BillingFunction's "
            f"{billing_timeout_seconds} s timeout",
            {"kind": "delay", "delay_ms": slow_ms, "phase": "after_execution", "count": 1},
        ),
    ]


def lost_answer_fault() -> PlannedFault:
    """Weeks later: a charge whose every request of its first delivery loses its answer."""
    return PlannedFault(
        PROVIDER,
        "provider POST /v1/payment_intents",
        "500 after the charge commits, on the lost answer's first delivery (weeks later)",
        {
            "kind": "error",
            "status": 500,
            "phase": "after_execution",
            "count": PROVIDER_REQUESTS_PER_ATTEMPT,
        },
    )


def billing_crash_fault() -> PlannedFault:
    """The worker killed (SIGKILL) once its first provider call got its answer: the
    charge committed, the journal row still pending, the batch lost (a Lambda runtime
    fault, on the endpoint's plan next to the AWS faults)."""
    return PlannedFault(
        ENDPOINT,
        "BillingFunction worker",
        "killed right after the provider answered a charge (Lambda runtime crash)",
        {
            "service": "lambda",
            "function": "BillingFunction",
            "action": "crash",
            "after_calls": 1,
            "call_matching": "/v1/payment_intents",
            "count": 1,
        },
        after_effect=True,
    )
