"""Drain billing messages through the local cloud, against a raw ceiling in the same run.

1. Ceiling: with no event source mapping running, N charge messages (10% duplicates) are
   put on BillingQueue and drained by one plain loop that makes the calls the billing
   function makes, directly: ReceiveMessage (BatchSize at a time), per record the idempotency
   PutItem (conditional), and for a fresh record the ledger PutItem and the idempotency
   UpdateItem, then DeleteMessageBatch. No Lambda emulation, no payment provider call.
2. The same loop again, also making the payment provider call a fresh record makes (a
   second ceiling, for reference).
2b. The billing function's own code (Powertools idempotency, ledger, stripe SDK) in one
   plain loop with no Lambda emulation: exactly the same calls, so the ratio to it is the
   cost of the emulation itself.
3. Local cloud: N new charge messages (10% duplicates) on the same queue, then the real
   BillingFunction behind the local cloud's SQS event source mapping (its pollers and
   worker processes) drains them; done when every message has been processed once
   (deleted, or left for redelivery: a duplicate caught while its twin is in progress).

Prints messages per second for each and the ratios, and for each run the CPU time it cost
per message, by process (read from /proc: Linux only, else not printed): the endpoint
(moto), the Lambda workers, and this process (the plain loop's client, or the local
cloud's pollers, Lambda service and the simulated payment provider). On a machine with
few cores CPU per message bounds the drain rate. Also prints the time from starting the
local cloud to the first message processed. Asserts nothing.

    .venv/bin/python benchmarks/local_cloud_throughput.py [--messages 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from local_cloud.aws_session import aws_session
from local_cloud.cloud import LocalCloud, load_settings
from local_cloud.endpoint import use_warm_starts
from local_cloud.event_sources import SqsEventSourcePoller

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

ROOT = Path(__file__).resolve().parents[1]


# Every run drains the same messages: the same amounts, accounts and duplicates at the same
# places, in the same order (only the transaction IDs' run prefix is new, so one run's
# idempotency records are not another's duplicates).
SEED = 1


def charges(count: int, duplicate_share: float, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    unique = round(count / (1 + duplicate_share))
    bodies = [
        {
            "transaction_id": f"txn_bench_{run}_{n:05d}",
            "account_id": f"acc_bench_{n % 97}",
            "amount": 100 + n % 900,
            "currency": "usd",
            "payment_method": "pm_card_visa",
        }
        for n in range(unique)
    ]
    bodies += [rng.choice(bodies) for _ in range(count - unique)]
    rng.shuffle(bodies)
    return bodies


def fill(sqs: Any, queue_url: str, bodies: list[dict[str, Any]]) -> None:
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(i), "MessageBody": json.dumps(b)}
            for i, b in enumerate(bodies[start : start + 10])
        ]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)


def drain_in_one_loop(
    sqs: Any,
    queue_url: str,
    count: int,
    batch_size: int,
    handle: Callable[[dict[str, Any]], object],
) -> float:
    """Receive batch_size at a time, handle each message in turn, delete the batch; the
    seconds until count messages were handled."""
    done = 0
    started = time.perf_counter()
    while done < count:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=batch_size, AttributeNames=["All"]
        ).get("Messages", [])
        for message in messages:  # one at a time: a duplicate finds its twin completed
            handle(message)
        if messages:
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )
        done += len(messages)
    return time.perf_counter() - started


def raw_drain(
    clients: dict[str, Any],
    outputs: dict[str, str],
    count: int,
    provider: tuple[str, str] | None,
    batch_size: int,
) -> float:
    """The ceiling: the same receive, DynamoDB and delete calls, in one plain loop."""
    dynamodb = clients["dynamodb"]

    def handle(message: dict[str, Any]) -> None:
        charge = json.loads(message["Body"])
        key = f"ceiling#{charge['transaction_id']}"
        try:
            dynamodb.put_item(
                TableName=outputs["IdempotencyTableName"],
                Item={"id": {"S": key}, "status": {"S": "INPROGRESS"}},
                ConditionExpression="attribute_not_exists(id)",
            )
        except dynamodb.exceptions.ConditionalCheckFailedException:
            return  # a duplicate: one call, like the real guard
        if provider is not None:
            _charge_at_provider(provider, charge)
        dynamodb.put_item(
            TableName=outputs["ChargesTableName"],
            Item={
                "transaction_id": {"S": f"ceiling_{charge['transaction_id']}"},
                "status": {"S": "succeeded"},
            },
            ConditionExpression="attribute_not_exists(transaction_id)",
        )
        dynamodb.update_item(
            TableName=outputs["IdempotencyTableName"],
            Key={"id": {"S": key}},
            UpdateExpression="SET #s = :done",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":done": {"S": "COMPLETED"}},
        )

    return drain_in_one_loop(clients["sqs"], outputs["BillingQueueUrl"], count, batch_size, handle)


def billing_code_drain(
    cloud: LocalCloud, clients: dict[str, Any], count: int, batch_size: int
) -> float:
    """The same calls exactly: the billing function's own code (Powertools idempotency,
    the ledger, the stripe SDK against the simulated provider) in one plain loop, with no
    Lambda emulation: no pollers, no worker processes, no handler wrappers."""
    spec = cloud.stack.function("BillingFunction")
    # The layer's code as the function imports it (its /opt/python), in this process.
    sys.path[:0] = [str(d / "python") for d in spec.layer_dirs]
    from delivery_guarantees.billing import billing_from_settings, parse_charge_request
    from delivery_guarantees.config import BillingSettings

    # the SDK clients the billing code builds itself (SSM) must reach the endpoint too
    os.environ["AWS_ENDPOINT_URL"] = spec.environment["AWS_ENDPOINT_URL"]
    os.environ.setdefault("AWS_DEFAULT_REGION", cloud.stack.region)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "test")  # the endpoint takes any
    billing = billing_from_settings(
        BillingSettings.from_env(spec.environment), dynamodb_client=clients["dynamodb"]
    )
    context = _Context(spec.function_name, spec.timeout_seconds)
    billing.register_lambda_context(cast("LambdaContext", context))
    return drain_in_one_loop(
        clients["sqs"],
        cloud.stack.outputs["BillingQueueUrl"],
        count,
        batch_size,
        lambda message: billing.charge(parse_charge_request(message["Body"])),
    )


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of a live process, from /proc; None where it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _child_pids() -> list[int]:
    """This process's children (the endpoint and the Lambda workers)."""
    me = str(os.getpid())
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[1] == me:  # ppid
            children.append(int(entry.name))
    return children


class CpuMeter:
    """CPU time of one run, by process: the endpoint, the other children (Lambda workers,
    reaped ones included: their time lands in RUSAGE_CHILDREN once waited for), and this
    process. Linux only (/proc); `available` says whether it measures."""

    def __init__(self, endpoint_pid: int) -> None:
        self.endpoint_pid = endpoint_pid
        self.available = _process_cpu(os.getpid()) is not None
        self.last: dict[str, float] = {}

    def _sample(self) -> dict[str, Any]:
        children = {pid: _process_cpu(pid) for pid in _child_pids() if pid != self.endpoint_pid}
        reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "endpoint": _process_cpu(self.endpoint_pid) or 0.0,
            "children": {pid: cpu for pid, cpu in children.items() if cpu is not None},
            "reaped": reaped.ru_utime + reaped.ru_stime,
            "self": own.ru_utime + own.ru_stime,
        }

    def start(self) -> None:
        self._before = self._sample() if self.available else {}

    def stop(self) -> dict[str, float]:
        """CPU seconds since start(): endpoint, workers, this process (also kept in
        `last`)."""
        self.last = {}
        if not self.available:
            return {}
        after, before = self._sample(), self._before
        workers = sum(
            cpu - before["children"].get(pid, 0.0) for pid, cpu in after["children"].items()
        )
        self.last = {
            "endpoint": after["endpoint"] - before["endpoint"],
            "workers": workers + after["reaped"] - before["reaped"],
            "this process": after["self"] - before["self"],
        }
        return self.last


def print_cpu(cpu: dict[str, float], count: int) -> None:
    if not cpu:
        return
    total = sum(cpu.values())
    parts = ", ".join(f"{name} {seconds * 1000 / count:.1f}" for name, seconds in cpu.items())
    print(f"    CPU per message: {total * 1000 / count:.1f} ms ({parts})")


class _Context:
    """What Powertools idempotency reads from a Lambda context."""

    def __init__(self, function_name: str, timeout_seconds: int) -> None:
        self.function_name = function_name
        self.aws_request_id = "benchmark"
        self._deadline = time.monotonic() + 10_000 * timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def _charge_at_provider(provider: tuple[str, str], charge: dict[str, Any]) -> None:
    url, key = provider
    data = (
        f"amount={charge['amount']}&currency={charge['currency']}"
        f"&payment_method={charge['payment_method']}&confirm=true"
        "&automatic_payment_methods[enabled]=true"
        "&automatic_payment_methods[allow_redirects]=never"
        f"&metadata[transaction_id]={charge['transaction_id']}"
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - the local simulator
        f"{url}/v1/payment_intents",
        data=data,
        headers={
            "Authorization": f"Bearer {key}",
            "Idempotency-Key": f"ceiling-{charge['transaction_id']}",
        },
    )
    urllib.request.urlopen(request).close()  # noqa: S310


def local_cloud_drain(cloud: LocalCloud, count: int, meter: CpuMeter) -> float:
    source = next(s for s in cloud.stack.sqs_event_sources if "Billing" in s.logical_id)
    assert cloud.endpoint is not None
    poller = SqsEventSourcePoller(
        source, cloud.lambda_service, endpoint_url=cloud.endpoint.url, region=cloud.stack.region
    )
    started = time.perf_counter()
    poller.start()
    try:
        # Done when every message has had its attempt. A duplicate that arrives while its
        # twin is still being charged fails with IdempotencyAlreadyInProgressError and is
        # redelivered after the visibility timeout (3 minutes): correct, and counted
        # below, but not part of the drain rate.
        while True:
            stats = poller.stats()
            if stats.deleted + stats.failed >= count:
                break
            time.sleep(0.05)
        return time.perf_counter() - started
    finally:
        poller.stop()
        meter.stop()  # before the workers are stopped: their time is read while they live
        stats = poller.stats()
        print(
            f"    most batches at once {stats.peak_concurrency}, batches {stats.batches}, "
            f"deleted {stats.deleted}, "
            f"left for redelivery {stats.failed} (duplicates caught in progress), "
            f"poll errors {stats.poll_errors}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--duplicates", type=float, default=0.10)
    args = parser.parse_args()

    use_warm_starts()  # two local clouds: their endpoints forked from one warm server
    settings = load_settings(ROOT / "local-cloud.toml").with_overrides(stack="bench")
    started = time.perf_counter()
    with LocalCloud(
        settings, endpoint_port=None, payment_provider_port=None, start_pollers=False
    ) as cloud:
        assert cloud.endpoint is not None
        assert cloud.payment_provider is not None
        session = aws_session(cloud.stack.region)
        clients = {
            name: session.client(name, endpoint_url=cloud.endpoint.url)
            for name in ("sqs", "dynamodb")
        }
        outputs = dict(cloud.stack.outputs)
        queue_url = outputs["BillingQueueUrl"]
        provider = (cloud.payment_provider.url, next(iter(settings.ssm_parameters.values())))
        ready = time.perf_counter() - started

        billing = next(s for s in cloud.stack.sqs_event_sources if "Billing" in s.logical_id)
        batch_size = min(10, billing.batch_size)  # the ceiling receives what the mapping does
        print(f"{args.messages} billing messages, {args.duplicates:.0%} duplicates, each run;")
        print(f"receives of {batch_size} (the mapping's BatchSize) in every run")
        print(f"starting at a queue depth of {args.messages} (moto slows as a queue deepens)")
        print("the same messages in every run (seed 1), one endpoint for all of them")
        assert cloud.endpoint.process is not None
        meter = CpuMeter(cloud.endpoint.process.pid)
        figures: dict[str, float] = {}
        for label, via_provider in (("ceiling", None), ("ceiling + provider", provider)):
            fill(clients["sqs"], queue_url, charges(args.messages, args.duplicates, seed=SEED))
            meter.start()
            seconds = raw_drain(clients, outputs, args.messages, via_provider, batch_size)
            cpu = meter.stop()
            figures[label] = args.messages / seconds
            print(f"  {label:<22} {figures[label]:8.1f} msg/s ({seconds:.1f} s)")
            print_cpu(cpu, args.messages)

        fill(clients["sqs"], queue_url, charges(args.messages, args.duplicates, seed=SEED))
        meter.start()
        seconds = billing_code_drain(cloud, clients, args.messages, batch_size)
        cpu = meter.stop()
        label = "billing code, no Lambda"
        figures[label] = args.messages / seconds
        print(f"  {label:<22} {figures[label]:8.1f} msg/s ({seconds:.1f} s)")
        print_cpu(cpu, args.messages)

        fill(clients["sqs"], queue_url, charges(args.messages, args.duplicates, seed=SEED))
        meter.start()
        seconds = local_cloud_drain(cloud, args.messages, meter)
        figures["local cloud"] = args.messages / seconds
        print(f"  {'local cloud':<22} {figures['local cloud']:8.1f} msg/s ({seconds:.1f} s)")
        print_cpu(meter.last, args.messages)
        for baseline in ("ceiling", "ceiling + provider", "billing code, no Lambda"):
            ratio = figures["local cloud"] / figures[baseline]
            print(f"  local cloud / {baseline:<24} {ratio:.2f}")

    # Time to first message: a fresh local cloud, one charge sent as soon as it is ready.
    started = time.perf_counter()
    with LocalCloud(settings, endpoint_port=None, payment_provider_port=None) as cloud:
        assert cloud.endpoint is not None
        up = time.perf_counter() - started
        sqs = aws_session(cloud.stack.region).client("sqs", endpoint_url=cloud.endpoint.url)
        fill(sqs, cloud.stack.outputs["BillingQueueUrl"], charges(1, 0.0, seed=4))
        poller = next(p for p in cloud.pollers if "Billing" in p.spec.logical_id)
        while poller.stats().deleted < 1:
            time.sleep(0.02)
        first = time.perf_counter() - started
    print(f"local cloud ready in {up:.1f} s (first boot in this run: {ready:.1f} s);")
    print(f"first message processed {first:.1f} s after start (cold BillingFunction included)")


if __name__ == "__main__":
    main()
