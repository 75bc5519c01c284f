"""Signups and welcome emails in the model: the real handlers on moto, faults, the checks.

- SignupFunction's handler (`functions.signup.app`, an HTTP API payload-2.0 event) with
  its production adapters: AccountsTable on moto, `SqsJobQueue` sending to moto SQS, SES
  on moto. What it enqueues is moved at once from moto's queues into modelled ones
  (`ModelQueue`), so the schedule decides when each job is delivered.
- WelcomeEmailFunction's handler on the modelled WelcomeEmailQueue, sending through moto
  SES; the first charges go to BillingFunction (billing_world.py).
- Faults through botocore hooks on the session the handlers create their clients from
  (boto3's default session, swapped for the example): the signup function killed after
  enqueueing a job and before recording it on the account, SQS down, SES down or
  throttled, the function killed after SES accepted an email.
- Clients send an Idempotency-Key with a signup (or none) and the same key when they
  retry it; someone else signing up with a taken address has no key. SES carries two
  kinds of email: welcome emails (the guarantees count these) and the notice to an
  account holder that someone tried their address (at most one a day per account).
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses import ses_backends

from delivery_guarantees.signup import EMAIL_TAKEN_MESSAGE, SIGNUP_NOTICE_SUBJECT
from functions.signup import app as signup_app
from functions.welcome_email import app as welcome_app
from tests.model.billing_world import BillingWorld
from tests.model.harness import (
    REGION,
    WELCOME_BATCH_SIZE,
    WELCOME_VISIBILITY_TIMEOUT,
    ConsumerDeadLetterQueue,
    ModelQueue,
    Schedule,
    VirtualClock,
    apply_invocation,
    broken,
    invoke_consumer,
    send_message_hooks,
    session,
    sqs_event,
)
from tests.support.events import load_event
from tests.unit.billing.fakes import FunctionKilled
from tests.unit.welcome_email.fakes import FakeLambdaContext

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

SENDER = "welcome@delivery-guarantees.example.com"
ACCOUNTS_TABLE = "model-AccountsTable"

# People who sign up: (email, name, payment method). Grace's card declines.
PEOPLE: dict[str, tuple[str, str, str]] = {
    "ada": ("ada@example.com", "Ada Lovelace", "pm_card_visa"),
    "grace": ("grace@example.com", "Grace Hopper", "pm_card_chargeDeclined"),
    "katherine": ("katherine@example.com", "Katherine Johnson", "pm_card_visa"),
}
# "default": no welcome_email_delivery in the request, the parameter's (at-least-once).
DELIVERIES = ("default", "at-least-once", "at-most-once")

SignupFault = Literal[
    "none",
    "killed before recording the charge",
    "killed before recording the welcome job",
    "SQS down",
    "SES down",
    "killed after SES accepted",
]
SIGNUP_FAULTS: tuple[SignupFault, ...] = (
    "none",
    "killed before recording the charge",  # the charge is on BillingQueue, not on the row
    "killed before recording the welcome job",  # the job is on WelcomeEmailQueue, not on the row
    "SQS down",  # the first SendMessage fails: API Gateway answers 500
    "SES down",  # the at-most-once attempt fails: that email is dropped
    "killed after SES accepted",  # at-most-once: sent, then the function dies unanswered
)
WelcomeFault = Literal["none", "SES throttled", "killed after SES accepted"]
WELCOME_FAULTS: tuple[WelcomeFault, ...] = (
    "none",
    "SES throttled",  # every SendEmail of the delivery, after the SDK's retries
    "killed after SES accepted",  # the first email is sent, then the function dies
)


class HandlerFaults:
    """One fault armed for one invocation, raised from botocore hooks on `events`.

    WelcomeEmailFunction sends a batch's emails in parallel (delivery_guarantees.batch),
    so its hooks run on several threads at once: a fault that fires once is taken under
    a lock, so one send and only one is struck.
    """

    def __init__(self, events: Any) -> None:
        self.armed: str = "none"
        self.fired: list[str] = []
        self._failed_before = 0
        self._lock = threading.Lock()
        events.register("before-parameter-build.dynamodb.UpdateItem", self._before_recording)
        events.register("before-call.ses.SendEmail", self._before_send_email)
        events.register("after-call.ses.SendEmail", self._after_send_email)

    def arm(self, fault: str) -> None:
        self.armed, self.fired = fault, []
        self._failed_before = send_message_hooks().failed
        send_message_hooks().fail = fault == "SQS down"  # every SendMessage, see harness

    def disarm(self) -> list[str]:
        """Disarm; the faults that fired."""
        hooks = send_message_hooks()
        if hooks.fail and hooks.failed > self._failed_before:
            self.fired.append("SQS down")
        hooks.fail = False
        fired, self.armed, self.fired = self.fired, "none", []
        return fired

    def _fire(self, *kinds: str, once: bool = True) -> bool:
        """Whether the armed fault is one of `kinds`: then it fired (and, `once`, is spent)."""
        with self._lock:
            if self.armed not in kinds:
                return False
            self.fired.append(self.armed)
            if once:
                self.armed = "none"
            return True

    def _before_recording(self, params: dict[str, Any], **_: Any) -> None:
        job = params.get("ExpressionAttributeNames", {}).get("#job")
        kind = {
            "outbox_first_charge": "killed before recording the charge",
            "outbox_welcome_email": "killed before recording the welcome job",
        }.get(job)
        if kind is not None and self._fire(kind):
            raise FunctionKilled(f"killed before recording {job}")

    def _before_send_email(self, **_: Any) -> None:
        if self._fire("SES down", "SES throttled", once=False):
            raise ClientError(
                {"Error": {"Code": "Throttling", "Message": "Maximum sending rate exceeded."}},
                "SendEmail",
            )

    def _after_send_email(self, **_: Any) -> None:
        if self._fire("killed after SES accepted"):
            raise FunctionKilled("killed after SES accepted the email")


_HANDLER_FAULTS: HandlerFaults | None = None


def handler_faults() -> HandlerFaults:
    """The hooks on session("handlers"), registered once for every example."""
    global _HANDLER_FAULTS
    if _HANDLER_FAULTS is None:
        _HANDLER_FAULTS = HandlerFaults(session("handlers").events)
    return _HANDLER_FAULTS


class SignupWorld:
    """SignupFunction and WelcomeEmailFunction on moto; their first charges go to `billing`."""

    QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:delivery-guarantees-welcome-email"

    def __init__(self, clock: VirtualClock, schedule: Schedule, billing: BillingWorld) -> None:
        self.clock = clock
        self.schedule = schedule
        self.billing = billing
        self.faults = handler_faults()
        model = session()
        self.dynamodb: DynamoDBClient = model.client("dynamodb")
        self.sqs: SQSClient = model.client("sqs")
        self.dynamodb.create_table(
            TableName=ACCOUNTS_TABLE,
            KeySchema=[{"AttributeName": "email", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "email", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.billing_queue_url = self.sqs.create_queue(QueueName="model-billing")["QueueUrl"]
        self.welcome_queue_url = self.sqs.create_queue(QueueName="model-welcome-email")["QueueUrl"]
        model.client("ses").verify_email_identity(EmailAddress=SENDER)
        env = {
            "ACCOUNTS_TABLE_NAME": ACCOUNTS_TABLE,
            "WELCOME_EMAIL_QUEUE_URL": self.welcome_queue_url,
            "BILLING_QUEUE_URL": self.billing_queue_url,
            "SENDER_EMAIL_ADDRESS": SENDER,
            "WELCOME_EMAIL_DELIVERY": "at-least-once",
            "SIGNUP_CHARGE_AMOUNT": "1999",
            "SIGNUP_CHARGE_CURRENCY": "usd",
        }
        self._saved_env = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        self._saved_session = boto3.DEFAULT_SESSION
        boto3.DEFAULT_SESSION = session("handlers")
        signup_app.adapters.cache_clear()
        welcome_app.email_sender.cache_clear()
        self.dead_letter_queue = ConsumerDeadLetterQueue(
            welcome_app, "model-WelcomeEmailDeadLetterQueue"
        )
        self.welcome_queue = ModelQueue(
            "WelcomeEmailQueue", visibility_timeout=WELCOME_VISIBILITY_TIMEOUT
        )
        self.context = FakeLambdaContext()
        # By client, (email, name): its last request with the Idempotency-Key it sent (or
        # None), and one it still retries (no answer or a 500). Someone else's signup with
        # the same email is another client.
        self.last_request: dict[tuple[str, str], tuple[dict[str, Any], str | None]] = {}
        self.unanswered: dict[tuple[str, str], tuple[dict[str, Any], str | None]] = {}
        self._keys = 0
        # Each signup notice SES accepted: (address, when), in order.
        self.notices: list[tuple[str, float]] = []
        # Answers that gave an account to a request whose details are not the account's.
        self.revealed: list[str] = []
        self.welcome_jobs: Counter[str] = Counter()  # by email
        self.charges: Counter[str] = Counter()  # by email
        # by email: kills between enqueueing a job and recording it (a duplicate allowed)
        self.unrecorded: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._welcome_sends = 0

    def close(self) -> None:
        self.dead_letter_queue.close()
        signup_app.adapters.cache_clear()
        welcome_app.email_sender.cache_clear()
        boto3.DEFAULT_SESSION = self._saved_session
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    # -- SignupFunction

    def request(self, person: str, delivery: str, *, name: str | None = None) -> dict[str, Any]:
        email, own_name, payment_method = PEOPLE[person]
        body: dict[str, Any] = {
            "email": email,
            "name": name or own_name,
            "payment_method": payment_method,
        }
        if delivery != "default":
            body["welcome_email_delivery"] = delivery
        return body

    def new_key(self, person: str) -> str:
        """A new Idempotency-Key, as a client makes one for each new signup (a UUID in life)."""
        self._keys += 1
        return f"key-{person}-{self._keys}"

    def post(
        self, body: dict[str, Any], fault: SignupFault = "none", key: str | None = None
    ) -> tuple[str, int | None]:
        """POST /accounts through the real handler; (what happened, HTTP status or None)."""
        email = body["email"]
        client = (email, body["name"])
        self.last_request[client] = (body, key)
        event = load_event("signup_at_least_once") | {"body": json.dumps(body)}
        if key is not None:
            event["headers"] = event["headers"] | {"idempotency-key": key}
        self.faults.arm(fault)
        sent_before = len(self.sent_emails())
        enqueued_before = send_message_hooks().sent
        status: int | None
        try:
            response = signup_app.lambda_handler(event, self.context)
            status = response["statusCode"]
            answer = json.loads(response["body"])
        except FunctionKilled:
            status, answer = None, {}
        except Exception as error:  # API Gateway answers 500; the client may retry
            status, answer = 500, {"error": type(error).__name__}
        finally:
            fired = self.faults.disarm()
        for kind in fired:
            if kind.startswith("killed before recording"):
                self.unrecorded[email][kind.removeprefix("killed before recording the ")] += 1
        if status is None or status >= 500:
            self.unanswered[client] = (body, key)
        else:
            self.unanswered.pop(client, None)
        self._check_answer(body, key, status, answer)
        new_emails = self.sent_emails()[sent_before:]
        self.notices += [
            (address, self.clock.now())
            for m in new_emails
            if m.subject == SIGNUP_NOTICE_SUBJECT
            for address in m.destinations["ToAddresses"]
        ]
        jobs = (
            self._move_enqueued_jobs(email, body["name"])
            if send_message_hooks().sent > enqueued_before
            else []
        )
        parts = [f"killed ({fired[0]})" if status is None else f"HTTP {status}"]
        if "welcome_email" in answer:
            parts.append(f"welcome email {answer['welcome_email']}")
        if fired and status is not None:
            parts.append(f"{fired[0]}")
        if jobs:
            parts.append("enqueued " + ", ".join(jobs))
        notices = sum(1 for m in new_emails if m.subject == SIGNUP_NOTICE_SUBJECT)
        if len(new_emails) - notices:
            parts.append(f"{len(new_emails) - notices} welcome email(s) sent")
        if notices:
            parts.append(f"{notices} signup notice(s) sent")
        return ", ".join(parts), status

    def _check_answer(
        self, body: dict[str, Any], key: str | None, status: int | None, answer: dict[str, Any]
    ) -> None:
        """No answer gives an account to someone else; every 409 is the one 409."""
        if status == 409 and answer != {"message": EMAIL_TAKEN_MESSAGE, "field": "email"}:
            self.revealed.append(f"{body['email']} ({body['name']}): a 409 that says {answer}")
        account = answer.get("account")
        if isinstance(account, dict) and (
            account.get("name") != body["name"]
            or account.get("payment_method") != body["payment_method"]
        ):
            self.revealed.append(
                f"{body['email']} ({body['name']}, key {key}): HTTP {status} gave the account "
                f"of {account.get('name')} ({account.get('payment_method')})"
            )

    def _move_enqueued_jobs(self, email: str, name: str) -> list[str]:
        """Move what the function put on moto's queues to the modelled ones."""
        person = name.split()[0].lower()  # who asked: "ada", or "someone" for Someone Else
        moved = []
        for url in (self.billing_queue_url, self.welcome_queue_url):
            while True:
                got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
                if not got.get("Messages"):
                    break
                for message in got["Messages"]:
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    if url == self.billing_queue_url:
                        self.charges[email] += 1
                        self.billing.send(message["Body"], f"charge {person}")
                        moved.append("charge")
                    else:
                        self.welcome_jobs[email] += 1
                        self.welcome_queue.send(
                            message["Body"], f"welcome {person}", self._welcome_sends
                        )
                        self._welcome_sends += 1
                        moved.append("welcome job")
        return moved

    def retry_unanswered(self) -> int:
        """Clients retry every signup that got no answer (or a 500) until one comes."""
        retries = 0
        for _ in range(5):  # without faults one round answers all; a bug may need more
            for body, key in list(self.unanswered.values()):
                self.post(body, key=key)
                retries += 1
        return retries

    # -- WelcomeEmailFunction

    def deliver(self, batch_size: int, fault: WelcomeFault) -> tuple[str, str]:
        if not self.welcome_queue.waiting:
            return "deliver welcome emails", "WelcomeEmailQueue is empty: nothing to do"
        next_visible = self.welcome_queue.next_visible_at()
        waited = self.clock.wait_until(next_visible) if next_visible is not None else 0.0
        messages = self.welcome_queue.receive(batch_size, self.clock.now())
        sent_before = len(self.sent_emails())
        self.faults.arm(fault)
        try:
            invocation = invoke_consumer(
                welcome_app.lambda_handler,
                welcome_app.processor,
                sqs_event(messages, self.QUEUE_ARN),
                self.context,
            )
        finally:
            self.faults.disarm()
        copies = self.dead_letter_queue.collect()
        outcomes = apply_invocation(self.welcome_queue, messages, invocation, copies)
        what = ", ".join(m.label for m in messages) + ("" if fault == "none" else f" ({fault})")
        what = (f"wait {waited / 60:.0f} min, " if waited else "") + f"deliver {what}"
        sent = len(self.sent_emails()) - sent_before
        happened = [f"{sent} email(s) sent"]
        if invocation.killed:
            happened.append("function killed, the batch returns")
        happened += outcomes
        return what, "; ".join(happened)

    def drain(self, fault: WelcomeFault = "none") -> int:
        """Deliver full batches until the queue is empty, `fault` striking every delivery."""
        deliveries = 0
        while self.welcome_queue.waiting:
            self.deliver(WELCOME_BATCH_SIZE, fault)
            deliveries += 1
        return deliveries

    def outage(self, fault: WelcomeFault) -> tuple[str, str]:
        """`drain` as a schedule step."""
        if not self.welcome_queue.waiting:
            return "deliver until WelcomeEmailQueue is empty", "it is empty: nothing to do"
        sent_before = len(self.sent_emails())
        processed_before = len(self.welcome_queue.processed)
        dead_before = len(self.welcome_queue.dead)
        deliveries = self.drain(fault)
        what = "deliver until WelcomeEmailQueue is empty" + (
            "" if fault == "none" else f" ({fault})"
        )
        processed = [m.label for m in self.welcome_queue.processed[processed_before:]]
        dead = [m.label for m in self.welcome_queue.dead[dead_before:]]
        parts = [
            f"{deliveries} deliver{'y' if deliveries == 1 else 'ies'}",
            f"{len(self.sent_emails()) - sent_before} email(s) sent",
        ]
        if processed:
            parts.append("processed " + ", ".join(processed))
        if dead:
            parts.append("dead-lettered " + ", ".join(dead))
        return what, "; ".join(parts)

    def redrive(self) -> tuple[str, str]:
        if not self.welcome_queue.dead:
            return "redrive welcome emails", "WelcomeEmailDeadLetterQueue is empty: nothing to do"
        copies = self.welcome_queue.redrive()
        return f"redrive WelcomeEmailDeadLetterQueue ({len(copies)})", ", ".join(
            m.label for m in copies
        )

    # -- what the outside world saw

    @staticmethod
    def sent_emails() -> list[Any]:
        messages: list[Any] = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
        return messages

    def emails_to(self, *, welcome_only: bool = True) -> Counter[str]:
        """Emails SES accepted per address: welcome emails, or every email."""
        return Counter(
            a
            for m in self.sent_emails()
            if not (welcome_only and m.subject == SIGNUP_NOTICE_SUBJECT)
            for a in m.destinations["ToAddresses"]
        )

    def accounts(self) -> dict[str, dict[str, Any]]:
        """AccountsTable by email (a scan: the model's view, not the function's calls)."""
        items = self.dynamodb.scan(TableName=ACCOUNTS_TABLE, ConsistentRead=True)["Items"]
        return {item["email"]["S"]: item for item in items}


# ---------------------------------------------------------------------------- checks


def check_at_most_once(world: SignupWorld) -> None:
    """At every step: an account created at-most-once never gets a second welcome email."""
    sent = world.emails_to()
    if not any(n > 1 for n in sent.values()):
        return
    problems = [
        f"{email}: {sent[email]} welcome emails, at-most-once allows 1"
        for email, item in world.accounts().items()
        if item.get("welcome_email_delivery", {}).get("S") == "at-most-once" and sent[email] > 1
    ]
    if problems:
        raise broken(world.schedule, "AT-MOST-ONCE WELCOME EMAIL SENT TWICE", problems)


def check_at_least_once(world: SignupWorld) -> None:
    """After settling: every at-least-once account got its welcome email (maybe twice)."""
    sent = world.emails_to()
    problems = [
        f"{email}: no welcome email (account {item['account_id']['S']}, at-least-once)"
        for email, item in world.accounts().items()
        if item.get("welcome_email_delivery", {}).get("S", "at-least-once") == "at-least-once"
        and sent[email] == 0
    ]
    if problems:
        raise broken(world.schedule, "AT-LEAST-ONCE WELCOME EMAIL LOST", problems)


def check_emails_only_to_accounts(world: SignupWorld) -> None:
    """After settling: no email (welcome or notice) to an address without an account."""
    accounts = world.accounts()
    problems = [
        f"{email}: {n} email(s) sent, but no account has this address"
        for email, n in world.emails_to(welcome_only=False).items()
        if email not in accounts
    ]
    if problems:
        raise broken(world.schedule, "EMAIL WITHOUT AN ACCOUNT", problems)


def check_jobs_stored_once(world: SignupWorld) -> None:
    """After settling: each account's jobs were enqueued once, however often it signed up.

    One more copy is allowed per kill between enqueueing a job and recording it on the
    account (the retry cannot know the job reached its queue): a duplicate the consumers
    absorb, never a lost job.
    """
    problems = []
    for email, item in world.accounts().items():
        mode = item.get("welcome_email_delivery", {}).get("S", "at-least-once")
        kills = world.unrecorded[email]
        expected_jobs = (1, 1 + kills["welcome job"]) if mode == "at-least-once" else (0, 0)
        for what, found, (low, high) in (
            ("welcome jobs", world.welcome_jobs[email], expected_jobs),
            ("first charges", world.charges[email], (1, 1 + kills["charge"])),
        ):
            if not low <= found <= high:
                problems.append(
                    f"{email} ({mode}): {found} {what} enqueued, expected "
                    + (f"{low}" if low == high else f"{low} to {high}")
                )
    if problems:
        raise broken(world.schedule, "SIGNUP JOBS NOT STORED EXACTLY ONCE", problems)


NOTICE_INTERVAL_SECONDS = 24 * 60 * 60


def check_no_account_oracle(world: SignupWorld) -> None:
    """At every step: no signup answer gave an account's details to a request that did
    not send them, and every 409 is the same answer."""
    if world.revealed:
        raise broken(world.schedule, "SIGNUP ANSWER REVEALED AN ACCOUNT", world.revealed)


def check_notices_at_most_daily(world: SignupWorld) -> None:
    """At every step: at most one signup notice per account in any 24 hours."""
    last: dict[str, float] = {}
    problems = []
    for address, when in world.notices:
        if address in last and when - last[address] < NOTICE_INTERVAL_SECONDS:
            problems.append(
                f"{address}: two signup notices {(when - last[address]) / 3600:.1f} h apart"
            )
        last[address] = when
    if problems:
        raise broken(world.schedule, "SIGNUP NOTICE SENT TWICE IN 24 HOURS", problems)
