"""A batch's records one after another against the same batch in parallel, in the same run.

Billing: a batch of 10 new charges through the real handler and wiring (Powertools
idempotency and the charge journal on moto DynamoDB), the provider a fake that takes
`--latency` per call (50 ms by default; Stripe's take 300-600 ms). It runs twice:
with moto in this process (its DynamoDB work is CPU under this process's GIL, so the
parallel records also wait for each other's DynamoDB calls) and with DynamoDB on the local
cloud's endpoint, a process of its own, as on AWS, where DynamoDB's work is not the
function's CPU (the endpoint is one process: its calls still queue behind each other).
Welcome emails: a batch of 10 jobs through the real handler, SES a fake sender with the
same latency. Each mode runs one warm-up batch (clients, settings and the pool exist),
then the modes take turns, batch by batch, for `--samples` rounds, so a change in the
machine's load hits them alike; prints the median wall time of a batch and its ratio to
the sequential one (RECORD_CONCURRENCY=1). Figures only, no assertions.

    .venv/bin/python benchmarks/parallel_records.py [--samples 9] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "shared")]

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "DeliveryGuarantees",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "SENDER_EMAIL_ADDRESS": "welcome@example.com",
    }
)

BATCH = 10
# RECORD_CONCURRENCY of each run: one record at a time, the consumer's default, the batch.
SEQUENTIAL, DEFAULT, WHOLE_BATCH = "1", None, str(BATCH)


def median_seconds_in_turns(
    run_batch: Callable[[], Any], settings: Sequence[str | None], samples: int
) -> dict[str | None, float]:
    """The median batch time of each RECORD_CONCURRENCY setting, the settings taking turns."""
    for setting in settings:  # a warm container: clients, settings and the pool exist
        with_concurrency(setting)
        run_batch()
    times: dict[str | None, list[float]] = {setting: [] for setting in settings}
    for _ in range(samples):
        for setting in settings:
            with_concurrency(setting)
            start = time.perf_counter()
            run_batch()
            times[setting].append(time.perf_counter() - start)
    with_concurrency(None)
    return {setting: statistics.median(taken) for setting, taken in times.items()}


def report(title: str, default: int, timings: dict[str | None, float]) -> None:
    print(title)
    baseline = timings[SEQUENTIAL]
    for setting, seconds in timings.items():
        # The default is a setting too: billing's is 1, one record after another.
        name = "sequential" if (setting or str(default)) == SEQUENTIAL else "parallel"
        label = f"{name} (RECORD_CONCURRENCY={setting or f'{default}, the default'})"
        print(f"  {label:<46} {seconds * 1000:7.0f} ms  {seconds / baseline:5.2f}x")


def with_concurrency(setting: str | None) -> None:
    if setting is None:
        os.environ.pop("RECORD_CONCURRENCY", None)
    else:
        os.environ["RECORD_CONCURRENCY"] = setting


@contextlib.contextmanager
def dynamodb_in_process() -> Iterator[Any]:
    """moto's DynamoDB in this process (mock_aws): its CPU shares the handler's GIL."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1")


@contextlib.contextmanager
def dynamodb_in_its_own_process() -> Iterator[Any]:
    """moto's DynamoDB behind the local cloud's endpoint, a process of its own."""
    import boto3

    from local_cloud.endpoint import start_endpoint

    endpoint = start_endpoint(port=None, reuse_from_env=False)
    try:
        yield boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint.url)
    finally:
        endpoint.stop()


def bench_billing(
    samples: int, latency: float, dynamodb: Callable[[], contextlib.AbstractContextManager[Any]]
) -> dict[str | None, float]:
    from delivery_guarantees.billing import billing_from_settings
    from delivery_guarantees.config import BillingSettings
    from functions.billing import app
    from tests.unit.billing.conftest import BILLING_ENV
    from tests.unit.billing.fakes import (
        ConcurrentPaymentProvider,
        FakeLambdaContext,
        charge_body,
        sqs_event,
        sqs_record,
    )

    settings = BillingSettings.from_env(BILLING_ENV)
    numbers = itertools.count()

    def run_batch() -> None:
        records = []
        for _ in range(BATCH):
            n = next(numbers)
            body = charge_body(transaction_id=f"txn_bench_{n}")
            records.append(sqs_record(body, message_id=f"m-{n}"))
        response = app.lambda_handler(sqs_event(*records), FakeLambdaContext())
        assert response == {"batchItemFailures": []}, response

    with dynamodb() as client, contextlib.redirect_stdout(io.StringIO()):
        for name, key in (
            (settings.idempotency_table_name, "id"),
            (settings.charges_table_name, "transaction_id"),
        ):
            client.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        os.environ["DEAD_LETTER_QUEUE_URL"] = BILLING_ENV["DEAD_LETTER_QUEUE_URL"]
        app.poison_router.cache_clear()
        provider = ConcurrentPaymentProvider(latency=latency)
        app.billing.install(
            billing_from_settings(settings, dynamodb_client=client, provider=provider)
        )
        try:
            return median_seconds_in_turns(run_batch, (SEQUENTIAL, DEFAULT, WHOLE_BATCH), samples)
        finally:
            app.billing.install(None)


def bench_welcome_email(samples: int, latency: float) -> None:
    from delivery_guarantees.config import WELCOME_EMAIL_RECORD_CONCURRENCY
    from functions.welcome_email import app
    from tests.support.events import load_event
    from tests.unit.welcome_email.conftest import WELCOME_EMAIL_ENV
    from tests.unit.welcome_email.fakes import ConcurrentEmailSender, FakeLambdaContext

    template = load_event("welcome_email_batch")["Records"][0]

    def job_record(n: int) -> dict[str, Any]:
        body = json.dumps(
            {"account_id": f"acc_bench_{n}", "email": f"p{n}@example.com", "name": "P"}
        )
        return {**template, "messageId": f"m-{n}", "body": body}

    sender = ConcurrentEmailSender(latency=latency)
    numbers = itertools.count()

    def run_batch() -> None:
        event = {"Records": [job_record(next(numbers)) for _ in range(BATCH)]}
        response = app.lambda_handler(event, FakeLambdaContext())
        assert response == {"batchItemFailures": []}, response

    os.environ["DEAD_LETTER_QUEUE_URL"] = WELCOME_EMAIL_ENV["DEAD_LETTER_QUEUE_URL"]
    app.poison_router.cache_clear()
    email_sender = app.email_sender
    app.email_sender = lambda: sender  # type: ignore[assignment]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            # The default is the whole batch.
            timings = median_seconds_in_turns(run_batch, (SEQUENTIAL, DEFAULT), samples)
    finally:
        app.email_sender = email_sender
    report(
        f"welcome emails: a batch of {BATCH} jobs, SES {latency * 1000:.0f} ms a send",
        WELCOME_EMAIL_RECORD_CONCURRENCY,
        timings,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=9, help="batches per mode (median)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per call")
    args = parser.parse_args()
    from delivery_guarantees.config import BILLING_RECORD_CONCURRENCY

    for where, dynamodb in (
        ("DynamoDB on moto in this process", dynamodb_in_process),
        ("DynamoDB on the local cloud's endpoint, its own process", dynamodb_in_its_own_process),
    ):
        report(
            f"billing: a batch of {BATCH} new charges, provider {args.latency * 1000:.0f} ms "
            f"a call, {where}",
            BILLING_RECORD_CONCURRENCY,
            bench_billing(args.samples, args.latency, dynamodb),
        )
    bench_welcome_email(args.samples, args.latency)


if __name__ == "__main__":
    main()
