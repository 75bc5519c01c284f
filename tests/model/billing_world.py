"""Billing in the model: BillingFunction's real handler on moto, the provider, the checks.

- The handler is wired as in production (`billing_from_settings`: IdempotencyTable and
  ChargesTable on moto, the same adapters) with the Stripe-like fake from
  tests/unit/billing/fakes.py (keys forgotten after 24 h, search by transaction ID),
  extended here by composition (`ModelProvider`): a fault armed for one delivery, what
  every payment intent was charged for, and calls made for a charge already settled.
- Faults at the boundaries, never in handler code: the provider times out before
  charging, charges and loses its answer, or is down; the function is killed after the
  provider charged (`FunctionKilled`, a BaseException), or right after Powertools saved a
  record's in-progress idempotency record; the provider's search lags; once
  the provider answered, a DynamoDB table's writes are throttled, or applied and then
  their answer lost or the function killed (botocore hooks on the function's own client);
  the copy of a poison message to the DLQ fails; the invocation is nearly out of time.
- The checks (`check_*`) each raise from their own line, so Hypothesis tells distinct
  guarantee violations apart, reports each and shrinks each to its own smallest schedule.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.exceptions import ClientError, ReadTimeoutError

from delivery_guarantees.adapters.payment_provider import PaymentProviderUnavailable
from delivery_guarantees.billing import billing_from_settings
from delivery_guarantees.config import BillingSettings
from delivery_guarantees.models import ChargeOutcome, ChargeRequest
from functions.billing import app as billing_app
from tests.model.harness import (
    BILLING_BATCH_SIZE,
    BILLING_VISIBILITY_TIMEOUT,
    ConsumerDeadLetterQueue,
    Invocation,
    ModelQueue,
    QueuedMessage,
    Schedule,
    VirtualClock,
    apply_invocation,
    broken,
    invoke_consumer,
    send_message_hooks,
    session,
    sqs_event,
)
from tests.unit.billing.fakes import FakeLambdaContext, FakePaymentProvider, FunctionKilled

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BILLING_ENV = {
    "IDEMPOTENCY_TABLE_NAME": "model-IdempotencyTable",
    "CHARGES_TABLE_NAME": "model-ChargesTable",
    "PAYMENT_PROVIDER_SECRET_PARAMETER_NAME": "/delivery-guarantees/payment-provider-secret-key",
    "PAYMENT_PROVIDER_API_BASE": "http://127.0.0.1:12111",
    "MAX_CHARGE_AMOUNT": "99999999",
}

BillingFault = Literal[
    "none",
    "provider times out",
    "answer lost",
    "kill after charge",
    "kill after in-progress record",
    "search lags an hour",
    "provider down",
    "journal write throttled",
    "journal write's answer lost",
    "kill after journal write",
    "idempotency write throttled",
    "DLQ copy fails",
    "nearly out of time",
]
# One fault per delivery; "once the provider answered" means after a charge, a replay of
# its key or a search returned, in this delivery.
BILLING_FAULTS: tuple[BillingFault, ...] = (
    "none",  # first: Hypothesis shrinks towards it
    "provider times out",  # before the request reaches the provider: nothing charged
    "answer lost",  # the provider charged, the answer is lost (a read timeout)
    "kill after charge",  # the provider charged, then the function dies (FunctionKilled)
    # Powertools saved a record's IN_PROGRESS idempotency record, then the function dies
    # before the journal: the record blocks its transaction until its in-progress expiry.
    "kill after in-progress record",
    "search lags an hour",  # the provider's search misses intents created in the last hour
    "provider down",  # every provider call of the delivery fails (charge and search)
    "journal write throttled",  # ChargesTable writes fail once the provider answered
    "journal write's answer lost",  # ... are applied, then the connection drops
    "kill after journal write",  # ... are applied, then the function dies
    "idempotency write throttled",  # IdempotencyTable writes fail once the provider answered
    "DLQ copy fails",  # copying a poison message to BillingDeadLetterQueue fails (SQS down)
    "nearly out of time",  # 30 s left at the start, 10 s at any later look (time budget)
)

# What defines a charge (billing's CHARGE_FIELDS): a transaction ID reused with any other
# value is another charge.
Details = tuple[str, int, str, str]


def details_of(request: ChargeRequest) -> Details:
    return (request.account_id, request.amount, request.currency, request.payment_method)


@dataclass(frozen=True)
class ChargeSend:
    """One charge message a producer sent (its redriven copies are the same send)."""

    number: int
    label: str
    transaction_id: str | None
    details: Details | None  # None: not a valid charge


class ModelProvider:
    """The Stripe-like fake (keys forgotten after 24 h, search by transaction ID), composed.

    Adds what the model needs: a fault armed for one delivery, what each intent was
    charged for (all four defining fields), whether this delivery reached the provider,
    and every call made for a transaction the journal already holds as final (the design
    says a final row answers without the provider: docs/design.md, the charge journal).

    The records of a batch run in parallel (delivery_guarantees.batch), so calls come
    from several threads at once. The provider answers one request at a time (`_lock`),
    as Stripe's server is atomic per request, and the model's bookkeeping depends on it:
    `charge` reads which intents its own call created by the intents' count before and
    after (another thread's intent would be booked to this request), the fake numbers
    intents by that count (two at once would share an ID), a fault armed for "the next
    call" must strike one call, and a lagging search hides the recent intents from
    `fake.intents` while it runs (a charge meanwhile would append to the hidden list and
    be lost when it is put back).
    """

    def __init__(self, row_status: Callable[[str], str | None]) -> None:
        self.fake = FakePaymentProvider()
        self.requests_by_intent: dict[str, ChargeRequest] = {}
        self.calls_for_settled: list[str] = []
        self.reached = False  # the provider answered (a charge, a replay, a search) this delivery
        self._down = False
        self._search_lag = 0.0  # seconds: intents younger than this are not found yet
        self._row_status = row_status
        self._lock = threading.Lock()  # one request at a time (see the class docstring)

    @property
    def intents(self) -> list[dict[str, Any]]:
        return self.fake.intents

    def arm(self, fault: BillingFault) -> None:
        self.reached = False
        if fault == "provider times out":
            self.fake.time_out_next()
        elif fault == "answer lost":
            self.fake.lose_response_next()
        elif fault == "kill after charge":
            self.fake.kill_after_charge_next()
        elif fault == "provider down":
            self._down = True
        elif fault == "search lags an hour":
            self._search_lag = 3600.0

    def disarm(self) -> None:
        self.fake.timeouts_to_simulate = 0
        self.fake.lost_responses_to_simulate = 0
        self.fake.kills_to_simulate = 0
        self._down = False
        self._search_lag = 0.0
        self.reached = False

    def _called(self, what: str, transaction_id: str) -> None:
        if self._down:
            raise PaymentProviderUnavailable(transaction_id, "HTTP 503 (simulated outage)")
        status = self._row_status(transaction_id)
        call = f"{what} for {transaction_id} (journal row {status})"
        if status in ("succeeded", "declined") and call not in self.calls_for_settled:
            self.calls_for_settled.append(call)

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        with self._lock:
            self._called("a charge", request.transaction_id)
            before = len(self.fake.intents)
            timeouts = self.fake.timeouts_to_simulate
            try:
                return self.fake.charge(request)
            finally:
                for intent in self.fake.intents[before:]:
                    self.requests_by_intent[intent["id"]] = request
                if self.fake.timeouts_to_simulate == timeouts:  # it reached the provider
                    self.reached = True

    def find_charge(self, request: ChargeRequest) -> ChargeOutcome | None:
        with self._lock:
            self._called("a search", request.transaction_id)
            self.reached = True
            if not self._search_lag:
                return self.fake.find_charge(request)
            # Stripe's search may lag writes: what it has not indexed yet is not found.
            indexed_before = self.fake.clock() - self._search_lag
            everything = self.fake.intents
            self.fake.intents = [i for i in everything if i["created"] <= indexed_before]
            try:
                return self.fake.find_charge(request)
            finally:
                self.fake.intents = everything

    def intents_by_transaction(self) -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for intent in self.fake.intents:
            grouped[intent["metadata"]["transaction_id"]].append(intent)
        return grouped


class DynamoDbWriteFaults:
    """Faults on one table's writes once the provider has answered, for one delivery.

    botocore hooks on the billing function's own client: "throttled" raises the error
    the SDK raises once its retries are spent, before the request is sent (nothing is
    written); "answer lost" and "kill" let the write happen, then raise a read timeout
    or kill the function (`FunctionKilled`) before the adapter sees the answer.

    The records of a batch run in parallel on one client, so its calls overlap: the
    write in flight between the two hooks is the calling thread's (botocore runs both
    hooks of a call on the thread that makes it), not one slot shared by every thread,
    where another record's call would clear it (its answer not lost) or find it (a read
    failing as the write should). `fired` counts under a lock; a kill strikes one write.
    """

    WRITES = ("PutItem", "UpdateItem", "DeleteItem")

    def __init__(self, client: DynamoDBClient, provider: ModelProvider) -> None:
        self.table: str | None = None
        self.mode: Literal["throttled", "answer lost", "kill"] = "throttled"
        self.fired = 0
        self._provider = provider
        self._lock = threading.Lock()
        self._thread = threading.local()  # .writing: the table of this thread's write in flight
        client.meta.events.register("provide-client-params.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def arm(self, table: str | None, mode: Literal["throttled", "answer lost", "kill"]) -> None:
        self.table, self.mode = table, mode

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self._thread.writing = None
        if not (
            self.table is not None
            and model.name in self.WRITES
            and params.get("TableName") == self.table
            and self._provider.reached
        ):
            return
        if self.mode != "throttled":
            self._thread.writing = self.table
            return
        with self._lock:
            self.fired += 1
        raise ClientError(
            {
                "Error": {
                    "Code": "ProvisionedThroughputExceededException",
                    "Message": "The level of configured provisioned throughput for the "
                    "table was exceeded (simulated, after the SDK's retries)",
                }
            },
            model.name,
        )

    def _after(self, model: Any, **_: Any) -> None:
        writing = getattr(self._thread, "writing", None)
        if writing is None:
            return
        self._thread.writing = None
        with self._lock:
            if self.mode == "kill":
                if self.table != writing:  # another record's write was the one killed
                    return
                self.table = None
            self.fired += 1
        if self.mode == "kill":
            raise FunctionKilled(f"killed after {model.name} on the journal")
        raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com/")


class InProgressRecordKill:
    """Kills the function right after an IN_PROGRESS idempotency record was saved.

    A botocore hook on the billing function's own client, armed for one delivery: the
    first PutItem on IdempotencyTable that succeeds (Powertools' `save_inprogress`; a
    conditional put that fails saved nothing) is applied, then `FunctionKilled` is raised
    on that record's thread, before the record reaches the journal or the provider. The
    record stays IN_PROGRESS until its in-progress expiry (the invocation's remaining time).
    """

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.armed = False
        self.fired = 0
        self._table = table
        self._lock = threading.Lock()
        self._thread = threading.local()  # .saving: this thread's PutItem is on the table
        client.meta.events.register("provide-client-params.dynamodb.PutItem", self._before)
        client.meta.events.register("after-call.dynamodb.PutItem", self._after)

    def _before(self, params: dict[str, Any], **_: Any) -> None:
        self._thread.saving = self.armed and params.get("TableName") == self._table

    def _after(self, http_response: Any, **_: Any) -> None:
        if not getattr(self._thread, "saving", False) or http_response.status_code != 200:
            return
        self._thread.saving = False
        with self._lock:
            if not self.armed:  # another record's save was the one killed
                return
            self.armed = False
            self.fired += 1
        raise FunctionKilled("killed after saving an in-progress idempotency record")


class BillingContext(FakeLambdaContext):
    """BillingFunction's context, 30 s left; "nearly out of time": 10 s after the first look
    (billing decides at registration whether its time budget applies, then checks it)."""

    def __init__(self) -> None:
        self._looks = 0
        self._nearly_out_of_time = False
        self._lock = threading.Lock()  # records in parallel look at once

    def reset(self, *, nearly_out_of_time: bool = False) -> None:
        self._looks, self._nearly_out_of_time = 0, nearly_out_of_time

    def get_remaining_time_in_millis(self) -> int:
        with self._lock:
            self._looks += 1
            looks = self._looks
        return 10_000 if self._nearly_out_of_time and looks > 1 else 30_000


class BillingWorld:
    """BillingFunction's real handler on moto with the fake provider and a modelled queue."""

    QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:delivery-guarantees-billing"

    def __init__(self, clock: VirtualClock, schedule: Schedule) -> None:
        self.clock = clock
        self.schedule = schedule
        self.settings = BillingSettings.from_env(BILLING_ENV)
        self.dynamodb: DynamoDBClient = session().client("dynamodb")
        # A second client for the model's own reads: never throttled, never counted.
        self.reader: DynamoDBClient = session().client("dynamodb")
        for name, key in (
            (self.settings.idempotency_table_name, "id"),
            (self.settings.charges_table_name, "transaction_id"),
        ):
            self.dynamodb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        self.provider = ModelProvider(self._row_status)
        self.write_faults = DynamoDbWriteFaults(self.dynamodb, self.provider)
        self.in_progress_kill = InProgressRecordKill(
            self.dynamodb, self.settings.idempotency_table_name
        )
        billing_app.billing.install(
            billing_from_settings(
                self.settings, dynamodb_client=self.dynamodb, provider=self.provider
            )
        )
        self.queue = ModelQueue("BillingQueue", visibility_timeout=BILLING_VISIBILITY_TIMEOUT)
        self.sends: list[ChargeSend] = []
        # Every copy the function made to its DLQ: (the send it is a copy of, its reason).
        self.poisoned: list[tuple[int, str]] = []
        self.context = BillingContext()
        # The function's own clients (its poison router's SQS client) come from boto3's
        # default session: the one with the model's SendMessage hooks, for this example.
        self._saved_session = boto3.DEFAULT_SESSION
        boto3.DEFAULT_SESSION = session("handlers")
        self.dead_letter_queue = ConsumerDeadLetterQueue(
            billing_app, "model-BillingDeadLetterQueue"
        )

    def close(self) -> None:
        self.dead_letter_queue.close()
        boto3.DEFAULT_SESSION = self._saved_session
        billing_app.billing.install(None)

    # -- the producer side

    def send(self, body: dict[str, Any] | str, label: str) -> ChargeSend:
        text = body if isinstance(body, str) else json.dumps(body)
        try:
            request = ChargeRequest.model_validate_json(text)
            valid = request.amount <= int(BILLING_ENV["MAX_CHARGE_AMOUNT"])
        except ValueError:
            request, valid = None, False
        transaction_id = body.get("transaction_id") if isinstance(body, dict) else None
        send = ChargeSend(
            number=len(self.sends),
            label=label,
            transaction_id=transaction_id if isinstance(transaction_id, str) else None,
            details=details_of(request) if request is not None and valid else None,
        )
        self.sends.append(send)
        self.queue.send(text, label, send.number)
        return send

    # -- the consumer side

    def deliver(self, batch_size: int, fault: BillingFault) -> tuple[str, str]:
        """One receive and one invocation; (what was delivered, what happened)."""
        if not self.queue.waiting:
            return "deliver", "BillingQueue is empty: nothing to do"
        waited = self._wait_for_visible()
        messages = self.queue.receive(batch_size, self.clock.now())
        self.provider.arm(fault)
        charges, records = self.settings.charges_table_name, self.settings.idempotency_table_name
        self.write_faults.arm(
            *{
                "journal write throttled": (charges, "throttled"),
                "journal write's answer lost": (charges, "answer lost"),
                "kill after journal write": (charges, "kill"),
                "idempotency write throttled": (records, "throttled"),
            }.get(fault, (None, "throttled"))
        )
        self.in_progress_kill.armed = fault == "kill after in-progress record"
        intents_before = len(self.provider.intents)
        write_faults_before = self.write_faults.fired
        send_message_hooks().fail = fault == "DLQ copy fails"
        self.context.reset(nearly_out_of_time=fault == "nearly out of time")
        try:
            invocation = invoke_consumer(
                billing_app.lambda_handler,
                billing_app.processor,
                sqs_event(messages, self.QUEUE_ARN),
                self.context,
            )
        finally:
            self.provider.disarm()
            self.write_faults.arm(None, "throttled")
            self.in_progress_kill.armed = False
            send_message_hooks().fail = False
            self.context.reset()
        what = ", ".join(m.label for m in messages)
        if fault != "none":
            what += f" ({fault})"
        what = f"wait {waited / 60:.0f} min, deliver {what}" if waited else f"deliver {what}"
        return what, self._settle_batch(messages, invocation, intents_before, write_faults_before)

    def _wait_for_visible(self) -> float:
        next_visible = self.queue.next_visible_at()
        return self.clock.wait_until(next_visible) if next_visible is not None else 0.0

    def _settle_batch(
        self,
        messages: list[QueuedMessage],
        invocation: Invocation,
        intents_before: int,
        write_faults_before: int,
    ) -> str:
        parts = []
        new_intents = self.provider.intents[intents_before:]
        if new_intents:
            parts.append(
                "charged "
                + ", ".join(
                    f"{i['id']} for {i['metadata']['transaction_id']}"
                    + (" (declined)" if i["status"] != "succeeded" else "")
                    for i in new_intents
                )
            )
        if self.write_faults.fired > write_faults_before:
            parts.append(f"{self.write_faults.fired - write_faults_before} write fault(s)")
        if invocation.killed:
            parts.append("function killed, the batch returns")
        if invocation.crashed:
            parts.append(f"handler raised {invocation.crashed}")
        copies = self.dead_letter_queue.collect()
        self.poisoned += [
            (m.send, copies[m.message_id][1]) for m in messages if m.message_id in copies
        ]
        outcomes = apply_invocation(self.queue, messages, invocation, copies)
        if not invocation.killed:
            parts.append("; ".join(outcomes))
        elif any("dead-lettered" in o for o in outcomes):
            parts.append("; ".join(o for o in outcomes if "dead-lettered" in o))
        return "; ".join(parts)

    def redrive(self) -> tuple[str, str]:
        if not self.queue.dead:
            return "redrive", "BillingDeadLetterQueue is empty: nothing to do"
        copies = self.queue.redrive()
        return (
            f"redrive BillingDeadLetterQueue ({len(copies)})",
            ", ".join(f"{m.label} as {m.message_id}" for m in copies),
        )

    def drain(self, fault: BillingFault = "none") -> int:
        """Deliver full batches until the queue is empty (processed or dead-lettered),
        `fault` striking every delivery (an outage); the number of deliveries."""
        deliveries = 0
        while self.queue.waiting:
            self.deliver(BILLING_BATCH_SIZE, fault)
            deliveries += 1
        return deliveries

    def outage(self, fault: BillingFault) -> tuple[str, str]:
        """`drain` as a schedule step: what each message came to."""
        if not self.queue.waiting:
            return "deliver until BillingQueue is empty", "it is empty: nothing to do"
        intents_before = len(self.provider.intents)
        processed_before = len(self.queue.processed)
        dead_before = len(self.queue.dead)
        deliveries = self.drain(fault)
        what = "deliver until BillingQueue is empty" + ("" if fault == "none" else f" ({fault})")
        charged = [
            f"{i['id']} for {i['metadata']['transaction_id']}"
            for i in self.provider.intents[intents_before:]
        ]
        processed = [m.label for m in self.queue.processed[processed_before:]]
        dead = [m.label for m in self.queue.dead[dead_before:]]
        parts = [f"{deliveries} deliver{'y' if deliveries == 1 else 'ies'}"]
        if charged:
            parts.append("charged " + ", ".join(charged))
        if processed:
            parts.append("processed " + ", ".join(processed))
        if dead:
            parts.append("dead-lettered " + ", ".join(dead))
        return what, "; ".join(parts)

    # -- the model's view of ChargesTable

    def _row_status(self, transaction_id: str) -> str | None:
        item = self.reader.get_item(
            TableName=self.settings.charges_table_name,
            Key={"transaction_id": {"S": transaction_id}},
            ConsistentRead=True,
        ).get("Item")
        return item["status"]["S"] if item and "status" in item else None

    def rows(self) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {"TableName": self.settings.charges_table_name}
        while True:
            page = self.reader.scan(**kwargs)
            for item in page["Items"]:
                rows[item["transaction_id"]["S"]] = item
            if "LastEvaluatedKey" not in page:
                return rows
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# ---------------------------------------------------------------------------- checks


def check_no_double_charge(world: BillingWorld) -> None:
    """At every step: at most one payment intent per transaction ID (succeeded or declined)."""
    problems = [
        f"{txn}: {len(intents)} payment intents at the provider "
        f"({', '.join(i['id'] for i in intents)}): charged more than once"
        for txn, intents in world.provider.intents_by_transaction().items()
        if len(intents) > 1
    ]
    if problems:
        raise broken(world.schedule, "DOUBLE CHARGE", problems)


def check_invalid_never_charged(world: BillingWorld) -> None:
    """At every step: a transaction ID only ever sent in invalid messages is never charged."""
    valid = {s.transaction_id for s in world.sends if s.details is not None}
    problems = [
        f"{txn}: charged ({', '.join(i['id'] for i in intents)}) though no valid charge "
        "carried this ID"
        for txn, intents in world.provider.intents_by_transaction().items()
        if txn not in valid
    ]
    if problems:
        raise broken(world.schedule, "INVALID MESSAGE CHARGED", problems)


def check_final_rows_answer_without_the_provider(world: BillingWorld) -> None:
    """At every step: no provider call for a transaction the journal holds as final.

    docs/design.md (the charge journal): "a final row: answers from it; provider calls:
    none". A stricter check than counting intents: it catches a missing guard that
    another guard happens to mask (a replayed key, a search that finds the intent).
    """
    if world.provider.calls_for_settled:
        raise broken(
            world.schedule,
            "PROVIDER CALLED FOR A SETTLED CHARGE",
            world.provider.calls_for_settled[:5],
        )


def check_exactly_one_charge(world: BillingWorld) -> None:
    """After settling: one intent per transaction ID a valid charge carried."""
    intents = world.provider.intents_by_transaction()
    problems = []
    for txn in sorted({s.transaction_id for s in world.sends if s.details and s.transaction_id}):
        found = intents.get(txn, [])
        if len(found) != 1:
            problems.append(
                f"{txn}: {len(found)} payment intents at the provider, expected exactly 1"
            )
    if problems:
        raise broken(world.schedule, "NOT EXACTLY ONE CHARGE PER VALID TRANSACTION", problems)


INTENT_STATUS_OF_ROW = {"succeeded": "succeeded", "declined": "requires_payment_method"}


def check_journal_matches_provider(world: BillingWorld) -> None:
    """After settling: ChargesTable and the provider agree row for row."""
    rows = world.rows()
    intents = world.provider.intents_by_transaction()
    problems = []
    for txn in sorted(set(rows) | set(intents)):
        row, found = rows.get(txn), intents.get(txn, [])
        if row is None:
            problems.append(f"{txn}: charged at the provider, no ChargesTable row")
            continue
        status = row["status"]["S"]
        if not found:
            problems.append(f"{txn}: ChargesTable says {status}, the provider holds no intent")
            continue
        intent = found[-1]
        recorded_intent = row.get("payment_intent_id", {}).get("S")
        if INTENT_STATUS_OF_ROW.get(status) != intent["status"]:
            problems.append(f"{txn}: ChargesTable says {status}, intent is {intent['status']}")
        if recorded_intent != intent["id"]:
            problems.append(f"{txn}: ChargesTable names {recorded_intent}, provider {intent['id']}")
        charged = details_of(world.provider.requests_by_intent[intent["id"]])
        stored = (
            row["account_id"]["S"],
            int(row["amount"]["N"]),
            row["currency"]["S"],
            row.get("payment_method", {}).get("S", charged[3]),
        )
        if stored != charged:
            problems.append(f"{txn}: ChargesTable records {stored}, the provider charged {charged}")
    if problems:
        raise broken(world.schedule, "CHARGESTABLE DOES NOT MATCH THE PROVIDER", problems)


def check_message_fates(world: BillingWorld) -> None:
    """After settling: a message is acknowledged only if it is the charge that was made.

    A valid message for the charge the provider holds is processed; one that reuses the
    transaction ID with other details, or is not a valid charge, ends in the DLQ (a human
    decides), never acknowledged as if charged.
    """
    fates = world.queue.fates()
    intents = world.provider.intents_by_transaction()
    problems = []
    for send in world.sends:
        fate = fates.get(send.number)
        found = intents.get(send.transaction_id or "", [])
        if send.details is None:
            if fate == "processed":
                problems.append(f"{send.label}: not a valid charge, yet acknowledged")
        elif len(found) == 1:
            charged = details_of(world.provider.requests_by_intent[found[0]["id"]])
            if send.details == charged and fate != "processed":
                problems.append(f"{send.label}: the charge made, but its message is {fate}")
            if send.details != charged and fate == "processed":
                problems.append(
                    f"{send.label}: reuses {send.transaction_id} with other details "
                    f"({', '.join(_differences(send.details, charged))}), yet acknowledged"
                )
    if problems:
        raise broken(world.schedule, "MESSAGE ACKNOWLEDGED WRONGLY OR NEVER SETTLED", problems)


def check_conflicts_are_real(world: BillingWorld) -> None:
    """After settling: a charge is dead-lettered as conflicting only if it conflicts.

    `ConflictingCharge` is for a transaction ID the journal holds for another charge: a
    message carrying the charge that was made is never refused as one, whatever held the
    idempotency record when it arrived (a conflicting copy in progress, or killed with
    its record IN_PROGRESS, makes it wait for a redelivery, not a human).
    """
    intents = world.provider.intents_by_transaction()
    problems = []
    for number, reason in world.poisoned:
        send = world.sends[number]
        found = intents.get(send.transaction_id or "", [])
        if reason != "ConflictingCharge" or send.details is None or len(found) != 1:
            continue
        if send.details == details_of(world.provider.requests_by_intent[found[0]["id"]]):
            problems.append(
                f"{send.label}: dead-lettered as ConflictingCharge, yet it is the charge made"
            )
    if problems:
        raise broken(world.schedule, "A VALID CHARGE REFUSED AS CONFLICTING", problems)


def _differences(given: Details, charged: Details) -> list[str]:
    names = ("account_id", "amount", "currency", "payment_method")
    return [
        f"{n} {c!r} charged, {g!r} given"
        for n, g, c in zip(names, given, charged, strict=False)
        if g != c
    ]
