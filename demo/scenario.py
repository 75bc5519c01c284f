"""The demo scenario: signups and charges under injected faults, client retries,
duplicate deliveries, and the same charges again weeks later.

Everything goes through the deployed stack as a user's traffic would: signups are
POST /accounts requests to the stack's HTTP API (served locally), charges are messages
sent to BillingQueue, and the consumers run behind the local cloud's SQS event source
mappings. Faults go through the real injection boundaries, never through handler code:
the endpoint's `/_local_cloud/faults` for AWS calls (SES, DynamoDB) and the payment
simulator's `/_simulator/faults`. The verdict comes from what the outside world saw:
emails SES accepted, payment intents at the (simulated) provider, rows in ChargesTable,
dead-letter queues. What the demo expects comes from what it did (the jobs each signup
answer says it stored, `jobs_enqueued`; the charge messages it sent; the copies it
redrove) and from what the fault plans report as fired.

Every signup client sends an `Idempotency-Key` (a UUID per signup) and the same key when
it retries, so a retry is answered with the first answer (201, `Idempotent-Replayed`).
Someone without the key who tries a taken address gets the same 409 whatever details
they send, and the account holder a notice email: the demo checks both, and counts
welcome emails apart from notices.

SES calls carry no resource a fault could match, so the same SES faults are injected
twice, one window each: first while only at-most-once signups send email (the welcome
consumer is idle), then while only the at-least-once consumer does. Each window's
firings belong to one guarantee.

"Weeks later" moves time where each clock lives, since the functions' own clock cannot
be moved: the idempotency records' stored expiry, the simulated provider's test clock
(it forgets idempotency keys after 24 hours, as Stripe may), and the first-attempt time
stored on a pending ChargesTable row.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from demo.faults import (
    FaultLog,
    FiredFault,
    PlannedFault,
    billing_crash_fault,
    billing_endpoint_faults,
    endpoint_fired,
    lost_answer_fault,
    provider_faults,
    provider_fired,
    ses_faults,
)
from demo.report import (
    AT_LEAST_ONCE_EMAIL,
    AT_MOST_ONCE_EMAIL,
    EXACTLY_ONCE_CHARGE,
    ChargeExpectation,
    GuaranteeReport,
    LedgerRow,
    at_least_once,
    at_most_once,
    exactly_once,
    render,
    render_faults,
    render_table,
    to_json,
)
from demo.timescale import scale_timeouts
from local_cloud.aws_session import aws_session
from local_cloud.cloud import LocalCloud, load_settings
from local_cloud.endpoint import EndpointFaults
from local_cloud.operations.dlq import (
    dead_letter_queues,
    find_queue,
    list_dead_letters,
    sendable_attributes,
)
from local_cloud.operations.dlq import redrive as redrive_dlq
from local_cloud.payment_provider.control import PaymentProviderControl
from local_cloud.stack.template import load_template

ROOT = Path(__file__).resolve().parents[1]
AT_LEAST_ONCE = "at-least-once"
AT_MOST_ONCE = "at-most-once"
DECLINING_CARD = "pm_card_chargeDeclined"
# The jobs a signup answer lists in `jobs_enqueued`.
FIRST_CHARGE = "first_charge"
WELCOME_EMAIL = "welcome_email"
# The subject of the email telling an account holder that someone tried their address
# (delivery_guarantees.signup.SIGNUP_NOTICE_SUBJECT; tests/unit/demo checks they agree).
# The guarantees count welcome emails only.
SIGNUP_NOTICE_SUBJECT = "Someone tried to sign up with your email address"
TAKEN_ANSWER = {"message": "an account with this email address already exists", "field": "email"}
# How far "weeks later" moves the clocks that can be moved: past the provider's 24-hour
# idempotency-key window and past billing's 23-hour reconciliation threshold.
LATER = timedelta(hours=25)
# Generous deadlines for what the demo waits on (a loaded CI machine is slow); each wait
# ends as soon as its condition is observed.
SETTLE_TIMEOUT = 120.0
STEP_TIMEOUT = 30.0
# How often the waits look again (a few requests on loopback each time).
POLL_SECONDS = 0.25
# A failed delivery's visibility timeout is fast-forwarded (unless --real-time) no sooner
# than its function's timeout plus batching window plus this after the demo saw it fail:
# by then whatever the failed invocation started has ended or expired (an idempotency
# record in progress expires at the invocation's deadline), so the redelivery meets what
# it would meet after the full visibility timeout (25 s at the default time scale).
FAST_FORWARD_MARGIN_SECONDS = 1.0


@dataclass
class Signup:
    email: str
    name: str
    mode: str
    payment_method: str = "pm_card_visa"
    account_id: str = ""
    transaction_id: str = ""
    calls: int = 0  # 1 + client retries
    welcome_email: str = ""  # what the first call did with the email
    # What the answers say was stored, over every call: job name -> times enqueued.
    jobs: Counter[str] = field(default_factory=Counter)
    # Sent with the first call and every retry of it: the client's secret for its answer.
    idempotency_key: str = field(default_factory=lambda: str(uuid.uuid4()))


class Demo:
    def __init__(self, cloud: LocalCloud, out: TextIO, *, real_time: bool = False) -> None:
        self.cloud = cloud
        self.out = out
        self.real_time = real_time  # wait out every visibility timeout, none fast-forwarded
        self.retained_seen: dict[str, float] = {}  # receipt handle -> when first seen failed
        self.fast_forwarded: set[str] = set()  # receipt handles made visible again
        self.clock: Callable[[], float] = time.monotonic  # what fast-forwarding waits on
        stack = cloud.stack
        assert cloud.endpoint is not None
        session = aws_session(stack.region)
        self.sqs = session.client("sqs", endpoint_url=cloud.endpoint.url)
        self.dynamodb = session.client("dynamodb", endpoint_url=cloud.endpoint.url)
        self.endpoint_url = cloud.endpoint.url
        self.endpoint_faults = EndpointFaults(cloud.endpoint.url)
        self.faults = FaultLog()
        self.outputs = stack.outputs
        self.sender = cloud.settings.parameter_overrides["SenderEmailAddress"]
        self.provider_key = next(iter(cloud.settings.ssm_parameters.values()))
        self.signups: list[Signup] = []
        self.direct_charges: dict[str, int] = {}  # transaction ID -> messages sent
        self.redriven: Counter[str] = Counter()  # transaction ID -> copies redriven
        self.reconciled: set[str] = set()  # lost answers the journal must adopt
        self.rejected: dict[str, str] = {}  # label -> transaction ID it carried
        self.rejected_bodies: list[str] = []  # poison: copied to BillingDeadLetterQueue at once
        self.billing_deleted: set[str] = set()  # message IDs BillingFunction processed
        self.billing_retained: set[str] = set()  # message IDs it failed at least once
        if cloud.payment_provider is None:
            raise RuntimeError("no payment provider simulator: the demo counts its intents")
        self.provider = PaymentProviderControl(cloud.payment_provider.url)
        if cloud.http_api is None:
            raise RuntimeError("the stack's HTTP API is not served: signups need POST /accounts")
        self.api_url = cloud.http_api.url

    def say(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=self.out, flush=True)

    # ------------------------------------------------------------------ traffic

    def post_signup(
        self, details: dict[str, str], idempotency_key: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        """POST /accounts on the stack's HTTP API, served locally as API Gateway would.

        Returns the status, the headers (names in lower case) and the body's bytes,
        whatever the status.
        """
        headers = {"Content-Type": "application/json"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        request = urllib.request.Request(  # noqa: S310 - the local HTTP API
            f"{self.api_url}/accounts",
            data=json.dumps(details).encode(),
            headers=headers,
            method="POST",
        )
        try:
            with urllib.request.urlopen(request) as response:  # noqa: S310
                status, raw = response.status, response.read()
                received = list(response.headers.items())
        except urllib.error.HTTPError as error:
            status, raw, received = error.code, error.read(), list(error.headers.items())
        return status, {name.lower(): value for name, value in received}, raw

    def sign_up(self, signup: Signup) -> list[str]:
        """The signup's client: its first call, or a retry with the same Idempotency-Key.

        Returns the jobs this call stored, as its answer lists them (`jobs_enqueued`).
        """
        status, headers, raw = self.post_signup(
            {
                "email": signup.email,
                "name": signup.name,
                "payment_method": signup.payment_method,
                "welcome_email_delivery": signup.mode,
            },
            signup.idempotency_key,
        )
        if status != 201:  # created, or the first answer replayed to a retry
            raise RuntimeError(f"signup of {signup.email} answered {status}: {raw.decode()}")
        replayed = headers.get("idempotent-replayed") == "true"
        if replayed != (signup.calls > 0):
            raise RuntimeError(
                f"signup call {signup.calls + 1} of {signup.email} answered "
                f"Idempotent-Replayed {headers.get('idempotent-replayed')!r}"
            )
        answer = json.loads(raw)
        if signup.calls == 0:
            signup.account_id = answer["account"]["account_id"]
            signup.transaction_id = answer["first_charge_transaction_id"]
            signup.welcome_email = answer["welcome_email"]
            self.signups.append(signup)
        elif answer["account"]["account_id"] != signup.account_id:
            raise RuntimeError(f"a retried signup of {signup.email} created another account")
        jobs = answer.get("jobs_enqueued")
        if not isinstance(jobs, list) or not all(isinstance(job, str) for job in jobs):
            raise RuntimeError(f"signup of {signup.email} answered without jobs_enqueued: {answer}")
        signup.jobs.update(jobs)
        signup.calls += 1
        return jobs

    def send_charges(
        self, bodies: list[dict[str, Any]], output_key: str = "BillingQueueUrl"
    ) -> list[str]:
        """Send each body as a message; their message IDs, in order."""
        url = self.outputs[output_key]
        message_ids: list[str] = []
        for start in range(0, len(bodies), 10):
            chunk = bodies[start : start + 10]
            entries = [{"Id": str(i), "MessageBody": json.dumps(b)} for i, b in enumerate(chunk)]
            response = self.sqs.send_message_batch(QueueUrl=url, Entries=entries)
            if response.get("Failed"):
                raise RuntimeError(f"SendMessageBatch failed: {response['Failed']}")
            by_entry = {entry["Id"]: entry["MessageId"] for entry in response["Successful"]}
            message_ids += [by_entry[str(i)] for i in range(len(chunk))]
        return message_ids

    def redrive(self, bodies: list[str]) -> list[str]:
        """Move these bodies from BillingDeadLetterQueue back to BillingQueue.

        What an operator's redrive does (local_cloud.operations.dlq, its send-then-delete
        loop, which reports the new message IDs that StartMessageMoveTask does not). The
        DLQ must hold exactly these bodies: the rejected (poison) messages, whose cause
        nobody fixed, are set aside first and put back after. Redriven with the rest, each
        would fail again and be copied straight back while the loop still runs, and the
        loop would chase them. Returns the new message IDs.
        """
        queue = find_queue(dead_letter_queues(self.sqs, self.outputs), "BillingDeadLetterQueue")
        aside = self._take_rejected(queue.url)
        try:
            result = redrive_dlq(self.sqs, queue, use_move_task=False)
        finally:
            for message in aside:  # back where they were, with their reason
                self.sqs.send_message(
                    QueueUrl=queue.url,
                    MessageBody=message["Body"],
                    MessageAttributes=sendable_attributes(message["MessageAttributes"]),
                )
        moved = Counter(message.body for message in result.messages)
        if moved != Counter(bodies):
            raise RuntimeError(f"redrive: moved {sum(moved.values())}, expected {len(bodies)}")
        return [message.new_message_id for message in result.messages]

    def _take_rejected(self, dlq_url: str) -> list[dict[str, Any]]:
        """Receive the rejected messages from the DLQ and delete them, returning them whole."""
        taken: list[dict[str, Any]] = []
        for _ in range(20):
            batch = self.sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=5,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            for message in batch:
                if message["Body"] in self.rejected_bodies:
                    taken.append(message)
                    self.sqs.delete_message(
                        QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"]
                    )
                else:
                    self.sqs.change_message_visibility(
                        QueueUrl=dlq_url,
                        ReceiptHandle=message["ReceiptHandle"],
                        VisibilityTimeout=0,
                    )
            if len(taken) == len(self.rejected_bodies) or not batch:
                break
        return taken

    def expire_idempotency_records(self) -> int:
        """Move every billing idempotency record past its expiry, as 19 days would.

        Powertools decides expiry from the stored `expiration` timestamp (DynamoDB's TTL
        deletes expired items only eventually), so a past timestamp is an expired record.
        """
        table = self.outputs["IdempotencyTableName"]
        past = str(int(time.time()) - 60)
        expired = 0
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                self.dynamodb.update_item(
                    TableName=table,
                    Key={"id": item["id"]},
                    UpdateExpression="SET expiration = :past",
                    ExpressionAttributeValues={":past": {"N": past}},
                )
                expired += 1
        return expired

    def age_pending_charge(self, transaction_id: str, by: timedelta) -> bool:
        """Move a pending ChargesTable row's first attempt `by` earlier; False if not pending.

        The billing function's clock cannot be moved: it runs in its own worker process
        on real time. What billing compares that clock with is this stored timestamp, so
        moving the timestamp back is moving time forward for this one charge.
        """
        table = self.outputs["ChargesTableName"]
        key = {"transaction_id": {"S": transaction_id}}
        item = self.dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        if item is None or item["status"]["S"] != "pending":
            return False
        stored = item["first_attempt_at"]["S"]
        aged = (datetime.fromisoformat(stored) - by).isoformat(timespec="milliseconds")
        try:
            self.dynamodb.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET first_attempt_at = :aged",
                ConditionExpression="#status = :pending AND first_attempt_at = :stored",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":aged": {"S": aged},
                    ":pending": {"S": "pending"},
                    ":stored": {"S": stored},
                },
            )
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            return False  # settled meanwhile
        return True

    # ------------------------------------------------------------------ faults

    def inject_endpoint(self, planned: list[PlannedFault]) -> list[tuple[PlannedFault, int]]:
        """Add faults to the endpoint's plan (all or none); each with the id it was given."""
        added = self.endpoint_faults.add_all([dict(p.spec) for p in planned])
        return [(p, int(a["id"])) for p, a in zip(planned, added, strict=True)]

    def endpoint_pending(self, added: list[tuple[PlannedFault, int]]) -> bool:
        ids = {fault_id for _, fault_id in added}
        return any(int(entry["id"]) in ids for entry in self.endpoint_faults.pending())

    def collect_endpoint(self, added: list[tuple[PlannedFault, int]]) -> list[FiredFault]:
        """What these faults fired, from the endpoint's listing; then clear its plan.

        Clearing forgets the firings too, so each window's listing holds its own only.
        """
        fired = endpoint_fired(added, self.endpoint_faults.list())
        self.endpoint_faults.clear()
        return fired

    def inject_provider(
        self, planned: list[PlannedFault]
    ) -> list[tuple[PlannedFault, dict[str, Any]]]:
        """Add faults to the payment simulator's plan; each with the fault as it echoed it."""
        added: list[tuple[PlannedFault, dict[str, Any]]] = []
        for p in planned:
            spec = dict(p.spec)
            kind = str(spec.pop("kind"))
            added.append((p, self.provider.inject_fault(kind, **spec)["fault"]))
        return added

    def collect_provider(
        self, added: list[tuple[PlannedFault, dict[str, Any]]]
    ) -> list[FiredFault]:
        """What these faults fired (count minus what is still pending); then clear them."""
        fired = provider_fired(added, self.provider.pending_faults())
        self.provider.clear_faults()
        return fired

    def say_fired(self, fired: list[FiredFault]) -> None:
        for f in fired:
            self.say(
                f"   {f.fired}/{f.planned.count} request(s) hit: {f.planned.target}, "
                f"{f.planned.description}"
            )

    # ------------------------------------------------------------------ observations

    def ses_deliveries(self, *, notices: bool = False) -> Counter[str]:
        """Welcome emails (or, `notices`, signup notices) SES accepted per recipient, from
        the endpoint's `/_aws/ses` listing."""
        with urllib.request.urlopen(f"{self.endpoint_url}/_aws/ses") as response:  # noqa: S310
            messages = json.load(response)["messages"]
        delivered: Counter[str] = Counter()
        for message in messages:
            if (message.get("Subject") == SIGNUP_NOTICE_SUBJECT) != notices:
                continue
            for address in message.get("Destination", {}).get("ToAddresses", []):
                delivered[address] += 1
        return delivered

    def payment_intents(self) -> list[dict[str, Any]]:
        assert self.cloud.payment_provider is not None
        intents: list[dict[str, Any]] = []
        after = ""
        while True:
            query = {"limit": "100", **({"starting_after": after} if after else {})}
            request = urllib.request.Request(  # noqa: S310 - the local simulator
                f"{self.cloud.payment_provider.url}/v1/payment_intents?"
                + urllib.parse.urlencode(query),
                headers={"Authorization": f"Bearer {self.provider_key}"},
            )
            with urllib.request.urlopen(request) as response:  # noqa: S310
                page = json.load(response)
            intents.extend(page["data"])
            if not page["has_more"]:
                return intents
            after = page["data"][-1]["id"]

    def intents_for(self, transaction_id: str) -> int:
        return sum(
            1
            for intent in self.payment_intents()
            if intent["metadata"].get("transaction_id") == transaction_id
        )

    def ledger(self) -> dict[str, LedgerRow]:
        rows: dict[str, LedgerRow] = {}
        paginator = self.dynamodb.get_paginator("scan")
        for page in paginator.paginate(TableName=self.outputs["ChargesTableName"]):
            for item in page["Items"]:
                rows[item["transaction_id"]["S"]] = LedgerRow(
                    item["status"]["S"], item.get("settled_by", {}).get("S", "")
                )
        return rows

    def settled(self, transaction_ids: set[str]) -> bool:
        """Every one of these has a final ChargesTable row (not `pending`)."""
        ledger = self.ledger()
        return all(t in ledger and ledger[t].status != "pending" for t in transaction_ids)

    def billing_handled(self, message_ids: set[str]) -> bool:
        """BillingFunction's event source deleted every one of these messages (processed).

        Reads the mapping's recent batches, as one would read its logs, and keeps what it
        saw: which messages were deleted, which were failed and left for redelivery.
        """
        for batch in self._mapping_for("BillingFunction").recent_batches():
            self.billing_deleted.update(m.message_id for m in batch.settlement.delete)
            self.billing_retained.update(m.message_id for m in batch.settlement.retain)
        return message_ids <= self.billing_deleted

    def queued(self, output_key: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.outputs[output_key],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def dead_lettered_addresses(self) -> Counter[str]:
        found: Counter[str] = Counter()
        for message in self._peek(self.outputs["WelcomeEmailDeadLetterQueueUrl"]):
            try:
                found[json.loads(message["Body"])["email"]] += 1
            except (ValueError, KeyError, TypeError):
                found["<unparseable>"] += 1
        return found

    def _peek(self, url: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60
            ).get("Messages", [])
            if not batch:
                return messages
            messages.extend(batch)

    def wait_until(
        self,
        what: str,
        done: Callable[[], bool],
        timeout: float,
        interval: float = POLL_SECONDS,
        meanwhile: Callable[[], object] | None = None,
    ) -> bool:
        """Poll `done` until it holds (True) or `timeout` seconds pass (False, said);
        `meanwhile` runs before each look."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if meanwhile is not None:
                meanwhile()
            if done():
                return True
            time.sleep(interval)
        self.say(f"gave up waiting after {timeout:.0f} s: {what}")
        return False

    def fast_forward_redeliveries(self) -> int:
        """Move the visibility clock of failed deliveries to its end; how many moved now.

        SQS redelivers a message the consumer failed once its visibility timeout lapses;
        the demo has nothing else to do meanwhile, so it lapses it: ChangeMessageVisibility
        to 0 on the receipt handle the mapping failed the message with, as the clock would
        after the full timeout. The mapping then receives the message again for real (its
        receive count goes up; maxReceiveCount still applies). Only a failure the mapping
        reported last for that message, only once per receipt handle, and only after the
        function's timeout + batching window + FAST_FORWARD_MARGIN_SECONDS since the demo
        first saw it (see there). With --real-time nothing is moved.
        """
        if self.real_time:
            return 0
        moved = 0
        now = self.clock()
        for logical_id, queue_key in (
            ("BillingFunction", "BillingQueueUrl"),
            ("WelcomeEmailFunction", "WelcomeEmailQueueUrl"),
        ):
            mapping = self._mapping_for(logical_id)
            hold = (
                self.cloud.stack.function(logical_id).timeout_seconds
                + mapping.spec.maximum_batching_window_seconds
                + FAST_FORWARD_MARGIN_SECONDS
            )
            reports = mapping.recent_batches()
            last_batch = {m: i for i, report in enumerate(reports) for m in report.message_ids}
            for i, report in enumerate(reports):
                for message in report.settlement.retain:
                    handle = message.receipt_handle
                    if handle in self.fast_forwarded or last_batch[message.message_id] != i:
                        continue  # moved already, or received again since
                    if now - self.retained_seen.setdefault(handle, now) < hold:
                        continue
                    self.fast_forwarded.add(handle)
                    try:
                        self.sqs.change_message_visibility(
                            QueueUrl=self.outputs[queue_key],
                            ReceiptHandle=handle,
                            VisibilityTimeout=0,
                        )
                    except self.sqs.exceptions.ReceiptHandleIsInvalid:
                        continue  # deleted meanwhile: nothing left to redeliver
                    moved += 1
        return moved

    def say_redelivery(self, output_key: str) -> str:
        """How the wait for redeliveries goes, in words."""
        visibility = self.sqs.get_queue_attributes(
            QueueUrl=self.outputs[output_key], AttributeNames=["VisibilityTimeout"]
        )["Attributes"]["VisibilityTimeout"]
        if self.real_time:
            return f"after the queue's {visibility} s visibility timeout"
        return (
            f"its {visibility} s visibility timeout fast-forwarded once the failed "
            "invocation's own timeout passed (--real-time: waited out)"
        )

    # ------------------------------------------------------------------ the scenario

    def run(self) -> list[GuaranteeReport]:
        at_most = [
            Signup(f"{name.split()[0].lower()}@example.com", name, AT_MOST_ONCE)
            for name in (
                "Alan Turing",
                "Edsger Dijkstra",
                "Leslie Lamport",
                "Tony Hoare",
                "John Backus",
                "Ken Thompson",
                "Niklaus Wirth",
                "Donald Knuth",
            )
        ]
        at_least = [
            Signup(f"{name.split()[0].lower()}@example.com", name, AT_LEAST_ONCE)
            for name in (
                "Ada Lovelace",
                "Grace Hopper",
                "Barbara Liskov",
                "Margaret Hamilton",
                "Frances Allen",
                "Radia Perlman",
                "Adele Goldberg",
                "Jean Sammet",
            )
        ]
        at_least[2].payment_method = DECLINING_CARD  # Barbara's card is declined

        self.at_most_once_under_ses_faults(at_most)
        self.at_least_once_under_ses_faults(at_least)

        self.say(
            "3. three clients retry a signup (same details, same Idempotency-Key): the first "
            "answer again, nothing sent or stored again"
        )
        for retry in (at_most[0], at_least[0], at_least[2]):
            stored = self.sign_up(retry)
            self.say(f"   {retry.email} ({retry.mode}): 201 replayed, jobs stored {stored}")
        self.someone_else_tries([at_most[1], at_least[1]])

        fresh = self.charges_under_faults(at_most + at_least)

        alo = {s.email for s in self.signups if s.mode == AT_LEAST_ONCE}
        charges = {c.transaction_id for c in self._expected_charges()}
        self.say(
            "6. waiting for the consumers: every failed delivery comes back, "
            + self.say_redelivery("BillingQueueUrl")
        )
        self.wait_until(
            "every welcome job delivered and every charge settled",
            lambda: (
                alo <= set(self.ses_deliveries())
                and self.settled(charges)
                and self.queued("WelcomeEmailQueueUrl") == 0
                and self.queued("BillingDeadLetterQueueUrl") >= len(self.rejected_bodies)
            ),
            timeout=SETTLE_TIMEOUT,
            meanwhile=self.fast_forward_redeliveries,
        )
        if self.fast_forwarded:
            self.say(f"   {len(self.fast_forwarded)} failed deliveries came back fast-forwarded")
        self.say_poison()
        self.record_charge_faults()

        settled_copies = [
            self._signup_charge(at_most[0]),  # charged, and redelivered in step 4
            self._signup_charge(at_least[2]),  # declined: must stay declined, not be retried
            fresh[0],
            fresh[1],  # its conflicting twin was refused in step 5
            fresh[12],
        ]
        self.weeks_later(
            settled_copies, retries=[at_least[0], at_most[1], at_least[2]], payer=at_least[3]
        )
        return self._reports(self._expected_charges())

    def someone_else_tries(self, taken: list[Signup]) -> None:
        """Step 3, continued: no account oracle. Without the key, the same 409 for the
        right details and the wrong ones; the account holder gets one notice, by email."""
        self.say(
            "   someone without the key tries these addresses with the right details, "
            "another name and another card"
        )
        notices_before = self.ses_deliveries(notices=True)
        for signup in taken:
            right = {
                "email": signup.email,
                "name": signup.name,
                "payment_method": signup.payment_method,
            }
            attempts = [
                right,
                right | {"name": "Mallory Example"},
                right | {"payment_method": "pm_card_amex"},
            ]
            answers = [self.post_signup(details, None) for details in attempts]
            answers.append(self.post_signup(right, str(uuid.uuid4())))  # another key
            statuses = {status for status, _, _ in answers}
            bodies = {raw for _, _, raw in answers}
            if statuses != {409} or len(bodies) != 1 or json.loads(bodies.pop()) != TAKEN_ANSWER:
                raise RuntimeError(
                    f"attempts on {signup.email} without its key were answered differently: "
                    f"{[(status, raw.decode()) for status, _, raw in answers]}"
                )
            notices = self.ses_deliveries(notices=True)[signup.email]
            notices -= notices_before[signup.email]
            if notices != 1:
                raise RuntimeError(f"{signup.email}: {notices} signup notices for 4 attempts")
            self.say(
                f"   {signup.email}: 4 attempts, the same 409 bytes each time; "
                "1 notice to the account holder"
            )

    def at_most_once_under_ses_faults(self, people: list[Signup]) -> None:
        """Step 1: the SES faults, one after another, on at-most-once signups.

        Signup makes one SendEmail request per account, synchronously, with no SDK retry,
        and nothing else sends email yet (no at-least-once job exists): each request a
        fault hits is one of these signups'.
        """
        self.say(
            f"1. {len(people)} at-most-once signups (signup sends the email itself, once) "
            "under SES faults on the endpoint"
        )
        queue = list(people)
        added_all: list[tuple[PlannedFault, int]] = []
        for planned in ses_faults():
            added = self.inject_endpoint([planned])
            added_all += added
            hit: list[str] = []
            while queue and self.endpoint_pending(added):
                signup = queue.pop(0)
                self.sign_up(signup)
                hit.append(f"{signup.email} '{signup.welcome_email}'")
            self.say(f"   {planned.description}: {', '.join(hit) or 'no signup left'}")
        for signup in queue:
            self.sign_up(signup)
        self.say(
            f"   no fault: {', '.join(f'{s.email} {s.welcome_email!r}' for s in queue) or '-'}"
        )
        fired = self.collect_endpoint(added_all)
        self.faults.record(AT_MOST_ONCE_EMAIL, fired)

    def at_least_once_under_ses_faults(self, people: list[Signup]) -> None:
        """Step 2: the same SES faults, one after another, on the at-least-once consumer.

        Each fault is added, then a signup enqueues a job; the next fault is added once
        this one has fired in full and the consumer's batch that met it has finished (so
        that batch's own retries do not take the next fault). Signup sends nothing itself
        in this mode: every SendEmail request now is the consumer's.
        """
        self.say(
            f"2. {len(people)} at-least-once signups (a job on WelcomeEmailQueue, sent by "
            "the consumer with retries) under the same SES faults"
        )
        mapping = self._mapping_for("WelcomeEmailFunction")
        queue = list(people)
        added_all: list[tuple[PlannedFault, int]] = []
        for planned in ses_faults():
            added = self.inject_endpoint([planned])
            added_all += added
            used: list[str] = []
            deadline = time.monotonic() + SETTLE_TIMEOUT
            while self.endpoint_pending(added) and time.monotonic() < deadline:
                finished = self._batch_finished(mapping)
                if queue:
                    signup = queue.pop(0)
                    self.sign_up(signup)
                    used.append(signup.email)
                # Without a new job, a redelivery (after the visibility timeout) meets it.
                self.wait_until(
                    "the welcome-email consumer to finish a batch",
                    finished,
                    timeout=STEP_TIMEOUT if queue else SETTLE_TIMEOUT,
                    interval=0.1,
                )
            self.say(f"   {planned.description}: met by the job(s) of {', '.join(used) or '-'}")
        for signup in queue:
            self.sign_up(signup)
        fired = self.collect_endpoint(added_all)
        self.faults.record(AT_LEAST_ONCE_EMAIL, fired)
        self.say(
            f"   {len(queue)} more signups without faults; "
            f"{mapping.stats().failed} record(s) failed so far, back on the queue for redelivery"
        )

    @staticmethod
    def _batch_finished(mapping: Any) -> Callable[[], bool]:
        """A condition: the mapping finished a batch after this call."""
        before = mapping.stats().batches
        return lambda: bool(mapping.stats().batches > before)

    def charges_under_faults(self, signups: list[Signup]) -> list[dict[str, Any]]:
        """Steps 4 and 5: duplicate charges and bad messages under provider and journal
        faults. Returns the fresh charges' bodies."""
        self.say(
            "4. charges: 20 new transactions delivered twice each, signup charges "
            "redelivered, under faults at the payment provider and on ChargesTable"
        )
        billing = self.cloud.stack.function("BillingFunction")
        self.billing_stats_before = self._mapping_for("BillingFunction").stats()
        self.provider_added = self.inject_provider(provider_faults(billing.timeout_seconds))
        planned = billing_endpoint_faults(self.outputs["ChargesTableName"])
        planned.append(billing_crash_fault())
        self.endpoint_added = self.inject_endpoint(planned)
        for p, _ in [*self.provider_added, *self.endpoint_added]:
            self.say(f"   fault: {p.target}, {p.description}")

        fresh: list[dict[str, Any]] = [
            {
                "transaction_id": f"txn_demo_{n:04d}",
                "account_id": signups[n % len(signups)].account_id,
                "amount": 500 + n,
                "currency": "eur" if n % 3 == 0 else "usd",
                "payment_method": "pm_card_mastercard" if n % 2 else "pm_card_visa",
            }
            for n in range(1, 21)
        ]
        for body in fresh:
            self.direct_charges[body["transaction_id"]] = 2
        self.send_charges(fresh[:10] + fresh[:10])  # duplicates inside one batch
        self.send_charges(fresh[10:])
        self.send_charges(fresh[10:])  # duplicates across batches
        # Redelivered first charges: each account's signup already enqueued its own.
        redelivered = [s for s in signups[:3] if s.payment_method != DECLINING_CARD]
        self.send_charges([self._signup_charge(s) for s in redelivered])
        for s in redelivered:
            self.direct_charges[s.transaction_id] = 1

        self.say("5. bad messages: a malformed charge, and a reused transaction ID")
        malformed = dict(fresh[0], transaction_id="txn_demo_malformed", amount=-100)
        conflicting = dict(fresh[1], amount=fresh[1]["amount"] * 10)
        self.send_charges([malformed, conflicting])
        self.rejected_bodies = [json.dumps(malformed), json.dumps(conflicting)]
        self.rejected = {
            "malformed charge (amount -100)": "txn_demo_malformed",
            "same transaction ID, ten times the amount": str(conflicting["transaction_id"]),
        }
        return fresh

    def say_poison(self) -> None:
        """The rejected charges: in BillingDeadLetterQueue at their first failure, with why."""
        queue = find_queue(dead_letter_queues(self.sqs, self.outputs), "BillingDeadLetterQueue")
        for message in list_dead_letters(self.sqs, [queue])[0].messages:
            if message.body in self.rejected_bodies:
                self.say(f"   dead-lettered at once: {message.reason[:110]}")

    def record_charge_faults(self) -> None:
        """What the charge faults fired, once every charge settled; then clear them.

        Settled means no charge request or journal write is left to hit, and nothing
        pending may touch the weeks-later phase (which ages a ChargesTable row itself).
        """
        fired = self.collect_provider(self.provider_added) + self.collect_endpoint(
            self.endpoint_added
        )
        self.faults.record(EXACTLY_ONCE_CHARGE, fired)
        self.say_fired(fired)
        before, now = self.billing_stats_before, self._mapping_for("BillingFunction").stats()
        self.say(
            f"   BillingFunction left {now.failed - before.failed} deliveries for redelivery "
            f"(not the two bad messages: copied to the DLQ, then acknowledged); "
            f"{now.invocation_errors - before.invocation_errors}"
            " invocation(s) failed whole (timed out or killed); every charge settled"
        )

    def weeks_later(
        self, copies: list[dict[str, Any]], retries: list[Signup], payer: Signup
    ) -> None:
        """Phase 7: a lost answer, every record and key expired, copies redriven, retries."""
        self.say(
            "7. weeks later. First a new charge whose answer is lost: the provider charges, "
            "then answers 500 to each request of its first delivery"
        )
        transaction_id = "txn_demo_lost_answer"
        lost = {
            "transaction_id": transaction_id,
            "account_id": payer.account_id,
            "amount": 4200,
            "currency": "usd",
            "payment_method": "pm_card_visa",
        }
        # Every request of the first delivery's invocation charges (or replays the charge
        # under its key) and then loses the answer. Faults match POST /v1/payment_intents
        # only, and nothing else creates intents now: every other charge is settled.
        added = self.inject_provider([lost_answer_fault()])
        [message_id] = self.send_charges([lost])
        self.direct_charges[transaction_id] = 1
        self.wait_until(
            f"the first delivery of {transaction_id} to be handled",
            lambda: self.billing_handled({message_id}) or message_id in self.billing_retained,
            timeout=60,
        )
        # What the first delivery's requests met; the rest is cleared, unused.
        self.faults.record(EXACTLY_ONCE_CHARGE, self.collect_provider(added))
        # Age the pending row before the provider forgets the key, so that at no moment
        # does billing see a young pending row whose key the provider has forgotten.
        aged = self.age_pending_charge(transaction_id, LATER)
        intents = self.intents_for(transaction_id)
        if aged and intents:
            # The journal knows nothing of the charge the provider made: the redelivery
            # must find it by search and adopt it, not charge again.
            self.reconciled.add(transaction_id)
            self.say(
                f"   {transaction_id}: {intents} payment intent at the provider, the delivery "
                f"failed, its journal row is pending; the row's first attempt moved "
                f"{LATER.total_seconds() / 3600:.0f} h back"
            )
        else:  # a slow machine can make the first attempt time out before the provider call
            self.say(
                f"   {transaction_id}: the fault did not leave a charge behind a pending row "
                f"(row {self.ledger().get(transaction_id)}, {intents} intent(s)); "
                "no reconciliation is expected"
            )
        expired = self.expire_idempotency_records()
        clock = self.provider.advance_clock(LATER.total_seconds())
        self.say(
            f"   {expired} idempotency records expired; the provider's clock moved "
            f"{clock['offset_seconds'] / 3600:.0f} h on: it has forgotten every key"
        )

        # Copies of settled charges where SQS puts a message after its last failed receive,
        # then redriven as an operator would; new message IDs, so only the transaction ID
        # says they are duplicates.
        self.send_charges(copies, output_key="BillingDeadLetterQueueUrl")
        redriven = self.redrive([json.dumps(body) for body in copies])
        self.redriven.update(str(body["transaction_id"]) for body in copies)
        stored = [job for signup in retries for job in self.sign_up(signup)]
        self.say(
            f"   {len(redriven)} copies of settled charges redriven from "
            f"BillingDeadLetterQueue (new message IDs); {len(retries)} signups retried with "
            f"the same details and key, {len(stored)} job(s) stored"
        )

        self.say(
            f"8. waiting for the redriven copies, and for {transaction_id}'s redelivery "
            f"({self.say_redelivery('BillingQueueUrl')})"
        )
        before = len(self.fast_forwarded)
        self.wait_until(
            "every redriven copy handled and the lost answer settled",
            lambda: (
                self.billing_handled({message_id, *redriven})
                and self.settled({transaction_id})
                and self.queued("WelcomeEmailQueueUrl") == 0
                # the rejected ones, set aside during the redrive, are back with their reason
                and self.queued("BillingDeadLetterQueueUrl") >= len(self.rejected_bodies)
            ),
            timeout=SETTLE_TIMEOUT,
            meanwhile=self.fast_forward_redeliveries,
        )
        if len(self.fast_forwarded) > before:
            self.say(
                f"   {len(self.fast_forwarded) - before} failed deliveries came back fast-forwarded"
            )

    def _mapping_for(self, logical_id: str) -> Any:
        name = self.cloud.stack.function(logical_id).function_name
        for poller in self.cloud.pollers:
            if poller.spec.function_name == name:
                return poller
        raise LookupError(f"no SQS event source for {logical_id}")

    def _signup_charge(self, signup: Signup) -> dict[str, Any]:
        return {
            "transaction_id": signup.transaction_id,
            "account_id": signup.account_id,
            "amount": int(self.cloud.settings.parameter_overrides.get("SignupChargeAmount", 1999)),
            "currency": self.cloud.settings.parameter_overrides.get("SignupChargeCurrency", "usd"),
            "payment_method": signup.payment_method,
        }

    def _expected_charges(self) -> list[ChargeExpectation]:
        return expected_charges(self.signups, self.direct_charges, self.redriven, self.reconciled)

    def _reports(self, expected: list[ChargeExpectation]) -> list[GuaranteeReport]:
        deliveries = self.ses_deliveries()
        intents = self.payment_intents()
        succeeded: Counter[str] = Counter()
        declined: Counter[str] = Counter()
        for intent in intents:
            transaction_id = intent["metadata"].get("transaction_id", "")
            (succeeded if intent["status"] == "succeeded" else declined)[transaction_id] += 1
        at_least_once_signups = [s for s in self.signups if s.mode == AT_LEAST_ONCE]
        at_most_once_signups = [s for s in self.signups if s.mode == AT_MOST_ONCE]
        return [
            at_most_once(
                [s.email for s in at_most_once_signups],
                deliveries,
                self.faults.of(AT_MOST_ONCE_EMAIL),
                answered_dropped=sum(
                    1 for s in at_most_once_signups if s.welcome_email == "dropped"
                ),
            ),
            at_least_once(
                {s.email: s.jobs[WELCOME_EMAIL] for s in at_least_once_signups},
                deliveries,
                self.dead_lettered_addresses(),
                still_queued=self.queued("WelcomeEmailQueueUrl"),
                signup_calls=sum(s.calls for s in at_least_once_signups),
                faults=self.faults.of(AT_LEAST_ONCE_EMAIL),
            ),
            exactly_once(
                expected,
                succeeded,
                declined,
                self.ledger(),
                self.rejected,
                faults=self.faults.of(EXACTLY_ONCE_CHARGE),
                dead_lettered=self.queued("BillingDeadLetterQueueUrl"),
            ),
        ]

    def still_retrying(self) -> int:
        return self.queued("BillingQueueUrl")


def expected_charges(
    signups: list[Signup],
    direct_charges: Mapping[str, int],
    redriven: Mapping[str, int],
    reconciled: set[str],
) -> list[ChargeExpectation]:
    """One expectation per transaction, with every message the demo sent for it.

    A signup's charge messages are the ones its answers say they stored (`jobs_enqueued`),
    plus those the demo sent itself: `direct_charges` (transaction ID -> messages sent to
    BillingQueue) and `redriven` (copies redriven from the DLQ weeks later).
    """
    expected = [
        ChargeExpectation(
            s.transaction_id,
            s.jobs[FIRST_CHARGE]
            + direct_charges.get(s.transaction_id, 0)
            + redriven.get(s.transaction_id, 0),
            declines=s.payment_method == DECLINING_CARD,
            redriven=redriven.get(s.transaction_id, 0),
        )
        for s in signups
    ]
    signup_ids = {s.transaction_id for s in signups}
    expected += [
        ChargeExpectation(
            t,
            direct_charges.get(t, 0) + redriven.get(t, 0),
            declines=False,
            redriven=redriven.get(t, 0),
            reconciled=t in reconciled,
        )
        for t in sorted((set(direct_charges) | set(redriven)) - signup_ids)
    ]
    return expected


def main(argv: list[str] | None = None) -> int:
    import demo as package

    assert package.__doc__ is not None
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description=package.__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--time-scale",
        type=int,
        default=10,
        help="divide function, batching-window and visibility timeouts by this (default 10)",
    )
    parser.add_argument(
        "--real-time",
        action="store_true",
        help="wait out every visibility timeout; by default the demo fast-forwards a failed "
        "delivery's, once its invocation's timeout has passed",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the result as JSON on stdout (progress goes to stderr); keys in the "
        "`demo` package docstring",
    )
    args = parser.parse_args(argv)
    # With --json, stdout carries the JSON only.
    out = sys.stderr if args.json else sys.stdout
    started = time.perf_counter()

    settings = load_settings(ROOT / "local-cloud.toml")
    demo_dir = settings.state_dir / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    scaled_template, changes = scale_timeouts(
        load_template(settings.template), settings.template.parent, args.time_scale
    )
    template_path = demo_dir / "template.json"
    template_path.write_text(json.dumps(scaled_template, indent=2))
    settings = replace(settings, template=template_path)
    print(f"delivery-guarantees demo: {settings.stack} on the local cloud (no Docker)", file=out)
    print(f"timeouts divided by {args.time_scale} so that SQS redelivery fits the demo:", file=out)
    for change in changes:
        print(
            f"  {change.resource}.{change.setting}: {change.original} -> {change.scaled} s",
            file=out,
        )

    log_path = demo_dir / "functions.log"
    with log_path.open("w") as log:

        def log_sink(function: str, line: str) -> None:
            log.write(f"{function} {line}\n")

        with LocalCloud(
            settings, endpoint_port=None, payment_provider_port=None, log_sink=log_sink
        ) as cloud:
            endpoint = cloud.endpoint.url if cloud.endpoint else "?"
            print(f"local cloud ready in {cloud.ready_seconds:.1f} s at {endpoint}", file=out)
            for note in cloud.stack.unsupported_resources:
                print(f"  not emulated: {note.logical_id} ({note.resource_type})", file=out)
            if cloud.http_api is not None:
                print(f"HTTP API at {cloud.http_api.url}", file=out)
            demo = Demo(cloud, out, real_time=args.real_time)
            reports = demo.run()
            retrying = demo.still_retrying()

    held = all(report.held for report in reports)
    seconds = time.perf_counter() - started
    if args.json:
        result = to_json(
            reports,
            seconds=seconds,
            time_scale=args.time_scale,
            charge_messages_still_queued=retrying,
        )
        print(json.dumps(result, indent=2), file=sys.stdout)
    else:
        print("", file=out)
        print(render_table(reports), file=out)
        print("", file=out)
        print(render_faults(reports), file=out)
        print("", file=out)
        print(render(reports), file=out)
        if retrying:
            print(
                f"{retrying} charge message(s) still on BillingQueue, awaiting redelivery: a "
                "duplicate that met its twin in progress is answered from the stored result "
                "(the two rejected ones are in BillingDeadLetterQueue already). Nothing is "
                "dropped.",
                file=out,
            )
        print(f"function logs: {log_path}", file=out)
    print(
        f"{'all guarantees held' if held else 'A GUARANTEE WAS BROKEN'} ({seconds:.1f} s in all)",
        file=out,
    )
    return 0 if held else 1
