"""A batch's records one after another against the same batch in parallel, in the same run.

Billing: a batch of 10 new charges through the real handler and wiring (Powertools
idempotency and the charge journal on moto DynamoDB), the provider a fake that takes
`--latency` per call (50 ms by default; Stripe's take 300-600 ms). Welcome emails: a
batch of 10 jobs through the real handler, SES a fake sender with the same latency.
Each mode runs in a warm container (one batch first), then `--samples` batches; prints
the median wall time of a batch and its ratio to the sequential one (RECORD_CONCURRENCY=1).
Figures only, no assertions: the machine may be loaded, the ratio is what compares.

    .venv/bin/python benchmarks/parallel_records.py [--samples 7] [--latency 0.05]
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
from collections.abc import Callable
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


def median_seconds(run_batch: Callable[[], Any], samples: int) -> float:
    run_batch()  # a warm container: clients, settings and the pool exist
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        run_batch()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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


def bench_billing(samples: int, latency: float) -> None:
    import boto3
    from moto import mock_aws

    from delivery_guarantees.billing import billing_from_settings
    from delivery_guarantees.config import BILLING_RECORD_CONCURRENCY, BillingSettings
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

    timings: dict[str | None, float] = {}
    with mock_aws(), contextlib.redirect_stdout(io.StringIO()):
        client = boto3.client("dynamodb", region_name="us-east-1")
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
            for setting in (SEQUENTIAL, DEFAULT, WHOLE_BATCH):
                with_concurrency(setting)
                timings[setting] = median_seconds(run_batch, samples)
        finally:
            app.billing.install(None)
            with_concurrency(None)
    report(
        f"billing: a batch of {BATCH} new charges, provider {latency * 1000:.0f} ms a call, "
        "DynamoDB on moto",
        BILLING_RECORD_CONCURRENCY,
        timings,
    )


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

    timings: dict[str | None, float] = {}
    os.environ["DEAD_LETTER_QUEUE_URL"] = WELCOME_EMAIL_ENV["DEAD_LETTER_QUEUE_URL"]
    app.poison_router.cache_clear()
    email_sender = app.email_sender
    app.email_sender = lambda: sender  # type: ignore[assignment]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            for setting in (SEQUENTIAL, DEFAULT):  # the default is the whole batch
                with_concurrency(setting)
                timings[setting] = median_seconds(run_batch, samples)
    finally:
        app.email_sender = email_sender
        with_concurrency(None)
    report(
        f"welcome emails: a batch of {BATCH} jobs, SES {latency * 1000:.0f} ms a send",
        WELCOME_EMAIL_RECORD_CONCURRENCY,
        timings,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=7, help="batches per mode (median)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per call")
    args = parser.parse_args()
    bench_billing(args.samples, args.latency)
    bench_welcome_email(args.samples, args.latency)


if __name__ == "__main__":
    main()
