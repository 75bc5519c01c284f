"""The demo scenario: signups, an SES outage, client retries and duplicate deliveries.

Everything goes through the deployed stack as a user's traffic would: signups are
POST /accounts requests to the stack's HTTP API (served locally), charges are messages
sent to BillingQueue, and the consumers run behind the local cloud's SQS event source
mappings. The verdict comes from what the outside world saw: emails SES accepted,
payment intents at the (simulated) provider, rows in ChargesTable, dead-letter queues.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from demo.report import (
    ChargeExpectation,
    GuaranteeReport,
    at_least_once,
    at_most_once,
    exactly_once,
    render,
)
from demo.timescale import scale_timeouts
from local_cloud.cloud import LocalCloud, load_settings
from local_cloud.stack.deploy import aws_session
from local_cloud.stack.template import load_template

ROOT = Path(__file__).resolve().parents[1]
AT_LEAST_ONCE = "at-least-once"
AT_MOST_ONCE = "at-most-once"
DECLINING_CARD = "pm_card_chargeDeclined"


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


class Demo:
    def __init__(self, cloud: LocalCloud, out: TextIO) -> None:
        self.cloud = cloud
        self.out = out
        stack = cloud.stack
        assert cloud.endpoint is not None
        session = aws_session(stack.region)
        self.sqs = session.client("sqs", endpoint_url=cloud.endpoint.url)
        self.ses = session.client("ses", endpoint_url=cloud.endpoint.url)
        self.dynamodb = session.client("dynamodb", endpoint_url=cloud.endpoint.url)
        self.endpoint_url = cloud.endpoint.url
        self.outputs = stack.outputs
        self.sender = cloud.settings.parameter_overrides["SenderEmailAddress"]
        self.provider_key = next(iter(cloud.settings.ssm_parameters.values()))
        self.signups: list[Signup] = []
        self.direct_charges: dict[str, int] = {}  # transaction ID -> messages sent
        self.rejected: dict[str, str] = {}  # label -> transaction ID it carried
        if cloud.http_api is None:
            raise RuntimeError("the stack's HTTP API is not served: signups need POST /accounts")
        self.api_url = cloud.http_api.url

    def say(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=self.out, flush=True)

    # ------------------------------------------------------------------ traffic

    def sign_up(self, signup: Signup) -> None:
        """POST /accounts on the stack's HTTP API, served locally as API Gateway would."""
        body = json.dumps(
            {
                "email": signup.email,
                "name": signup.name,
                "payment_method": signup.payment_method,
                "welcome_email_delivery": signup.mode,
            }
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - the local HTTP API
            f"{self.api_url}/accounts",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request) as response:  # noqa: S310
                status, answer = response.status, json.load(response)
        except urllib.error.HTTPError as error:
            raise RuntimeError(
                f"signup of {signup.email} answered {error.code}: {error.read().decode()}"
            ) from None
        expected = 201 if signup.calls == 0 else 200  # created, or the same account again
        if status != expected:
            raise RuntimeError(f"signup of {signup.email} answered {status}, not {expected}")
        if signup.calls == 0:
            signup.account_id = answer["account"]["account_id"]
            signup.transaction_id = answer["first_charge_transaction_id"]
            signup.welcome_email = answer["welcome_email"]
            self.signups.append(signup)
        elif answer["account"]["account_id"] != signup.account_id:
            raise RuntimeError(f"a retried signup of {signup.email} created another account")
        signup.calls += 1

    def send_charges(self, bodies: list[dict[str, Any]]) -> None:
        url = self.outputs["BillingQueueUrl"]
        for start in range(0, len(bodies), 10):
            chunk = bodies[start : start + 10]
            entries = [{"Id": str(i), "MessageBody": json.dumps(b)} for i, b in enumerate(chunk)]
            response = self.sqs.send_message_batch(QueueUrl=url, Entries=entries)
            if response.get("Failed"):
                raise RuntimeError(f"SendMessageBatch failed: {response['Failed']}")

    def ses_outage(self, on: bool) -> None:
        if on:
            self.ses.delete_identity(Identity=self.sender)
        else:
            self.ses.verify_email_identity(EmailAddress=self.sender)

    # ------------------------------------------------------------------ observations

    def ses_deliveries(self) -> Counter[str]:
        """Emails SES accepted per recipient, from the endpoint's `/_aws/ses` listing."""
        with urllib.request.urlopen(f"{self.endpoint_url}/_aws/ses") as response:  # noqa: S310
            messages = json.load(response)["messages"]
        delivered: Counter[str] = Counter()
        for message in messages:
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

    def ledger(self) -> dict[str, str]:
        rows: dict[str, str] = {}
        paginator = self.dynamodb.get_paginator("scan")
        for page in paginator.paginate(TableName=self.outputs["ChargesTableName"]):
            for item in page["Items"]:
                rows[item["transaction_id"]["S"]] = item["status"]["S"]
        return rows

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

    def wait_until(self, what: str, done: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return True
            time.sleep(1.0)
        self.say(f"gave up waiting after {timeout:.0f} s: {what}")
        return False

    # ------------------------------------------------------------------ the scenario

    def run(self) -> list[GuaranteeReport]:
        people = [
            ("Ada Lovelace", AT_LEAST_ONCE),
            ("Alan Turing", AT_MOST_ONCE),
            ("Grace Hopper", AT_LEAST_ONCE),
            ("Edsger Dijkstra", AT_MOST_ONCE),
            ("Barbara Liskov", AT_LEAST_ONCE),
            ("Leslie Lamport", AT_MOST_ONCE),
            ("Margaret Hamilton", AT_LEAST_ONCE),
            ("Tony Hoare", AT_MOST_ONCE),
            ("Frances Allen", AT_LEAST_ONCE),
            ("John Backus", AT_MOST_ONCE),
            ("Radia Perlman", AT_LEAST_ONCE),
            ("Ken Thompson", AT_MOST_ONCE),
        ]
        signups = [
            Signup(f"{name.split()[0].lower()}@example.com", name, mode) for name, mode in people
        ]
        signups[4].payment_method = DECLINING_CARD  # Barbara's card is declined

        self.say("1. four signups (welcome emails alternate at-least-once / at-most-once)")
        for signup in signups[:4]:
            self.sign_up(signup)

        self.say("2. SES outage: the sender identity is unverified; four more signups")
        self.ses_outage(True)
        for signup in signups[4:8]:
            self.sign_up(signup)
        mapping = self._mapping_for("WelcomeEmailFunction")
        failed_before = mapping.stats().failed
        self.wait_until(
            "the welcome-email consumer to meet the outage",
            lambda: mapping.stats().failed >= failed_before + 2,
            timeout=15,
        )
        self.say(
            f"   the consumer failed {mapping.stats().failed - failed_before} record(s); "
            "they stay on the queue for redelivery"
        )
        self.ses_outage(False)
        self.say("3. SES is back; four more signups, and three clients retry a signup")
        for signup in signups[8:]:
            self.sign_up(signup)
        for retry in (signups[0], signups[5], signups[6]):
            self.sign_up(retry)

        self.say("4. charges: 20 new transactions delivered twice each, signup charges redelivered")
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
        redelivered = [s for s in signups[:3] if s.payment_method != DECLINING_CARD]
        self.send_charges([self._signup_charge(s) for s in redelivered])
        for s in redelivered:
            self.direct_charges[s.transaction_id] = 1

        self.say("5. bad messages: a malformed charge, and a reused transaction ID")
        malformed = dict(fresh[0], transaction_id="txn_demo_malformed", amount=-100)
        conflicting = dict(fresh[1], amount=fresh[1]["amount"] * 10)
        self.send_charges([malformed, conflicting])
        self.rejected = {
            "malformed charge (amount -100)": "txn_demo_malformed",
            "same transaction ID, ten times the amount": str(conflicting["transaction_id"]),
        }

        expected = self._expected_charges()
        alo = {s.email for s in self.signups if s.mode == AT_LEAST_ONCE}
        self.say("6. waiting for the consumers (redelivery comes after the visibility timeout)")
        self.wait_until(
            "every welcome job delivered and every charge settled",
            lambda: (
                alo <= set(self.ses_deliveries())
                and {c.transaction_id for c in expected} <= set(self.ledger())
                and self.queued("WelcomeEmailQueueUrl") == 0
            ),
            timeout=90,
        )
        time.sleep(2)  # let any straggling duplicate land before counting
        return self._reports(expected)

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
        expected = [
            ChargeExpectation(
                s.transaction_id,
                s.calls + self.direct_charges.get(s.transaction_id, 0),
                declines=s.payment_method == DECLINING_CARD,
            )
            for s in self.signups
        ]
        signup_ids = {s.transaction_id for s in self.signups}
        expected += [
            ChargeExpectation(t, n, declines=False)
            for t, n in self.direct_charges.items()
            if t not in signup_ids
        ]
        return expected

    def _reports(self, expected: list[ChargeExpectation]) -> list[GuaranteeReport]:
        deliveries = self.ses_deliveries()
        intents = self.payment_intents()
        succeeded: Counter[str] = Counter()
        declined: Counter[str] = Counter()
        for intent in intents:
            transaction_id = intent["metadata"].get("transaction_id", "")
            (succeeded if intent["status"] == "succeeded" else declined)[transaction_id] += 1
        jobs = Counter({s.email: s.calls for s in self.signups if s.mode == AT_LEAST_ONCE})
        return [
            at_most_once([s.email for s in self.signups if s.mode == AT_MOST_ONCE], deliveries),
            at_least_once(
                jobs,
                deliveries,
                self.dead_lettered_addresses(),
                still_queued=self.queued("WelcomeEmailQueueUrl"),
            ),
            exactly_once(expected, succeeded, declined, self.ledger(), self.rejected),
        ]

    def still_retrying(self) -> int:
        return self.queued("BillingQueueUrl")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--time-scale",
        type=int,
        default=10,
        help="divide function, batching-window and visibility timeouts by this (default 10)",
    )
    args = parser.parse_args(argv)
    out = __import__("sys").stdout
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
            for unsupported in cloud.stack.unsupported_resources:
                print(f"  not emulated: {unsupported}", file=out)
            if cloud.http_api is not None:
                print(f"HTTP API at {cloud.http_api.url}", file=out)
            demo = Demo(cloud, out)
            reports = demo.run()
            retrying = demo.still_retrying()

    print("", file=out)
    print(render(reports), file=out)
    if retrying:
        print(
            f"{retrying} charge message(s) still on BillingQueue, awaiting redelivery: the two "
            "rejected ones move to BillingDeadLetterQueue after 5 receives; a duplicate that "
            "met its twin in progress is answered from the stored result. Nothing is dropped.",
            file=out,
        )
    print(f"function logs: {log_path}", file=out)
    held = all(report.held for report in reports)
    print(
        f"{'all guarantees held' if held else 'A GUARANTEE WAS BROKEN'} "
        f"({time.perf_counter() - started:.1f} s in all)",
        file=out,
    )
    return 0 if held else 1
