"""Function logs on the running local cloud: one file per function, what `logs --tail` reads."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import boto3

from local_cloud.cloud import LocalCloud, load_settings
from local_cloud.logs import LogFiles, follow

REPO = Path(__file__).resolve().parents[4]
DEADLINE = 120.0


def test_a_charge_leaves_its_invocation_and_its_own_lines_in_the_billing_log(
    tmp_path: Path,
) -> None:
    # A stack name of its own: modules run side by side must not build one stack at once.
    settings = load_settings(REPO / "local-cloud.toml").with_overrides(stack="dg-logs-it")
    logs = LogFiles(tmp_path)
    transaction_id = f"txn_logs_{uuid.uuid4().hex[:12]}"
    with LocalCloud(
        settings,
        endpoint_port=None,
        payment_provider_port=None,
        serve_http_apis=False,
        log_sink=logs,
    ) as cloud:
        assert cloud.endpoint is not None
        sqs = boto3.client("sqs", endpoint_url=cloud.endpoint.url, region_name="us-east-1")
        sqs.send_message(
            QueueUrl=cloud.stack.outputs["BillingQueueUrl"],
            MessageBody=json.dumps(
                {
                    "transaction_id": transaction_id,
                    "account_id": "acc_logs",
                    "amount": 1999,
                    "currency": "usd",
                    "payment_method": "pm_card_visa",
                }
            ),
        )
        billing_log = logs.directory / "BillingFunction.log"
        deadline = time.monotonic() + DEADLINE
        while not (billing_log.exists() and transaction_id in billing_log.read_text()):
            assert time.monotonic() < deadline, f"no line for {transaction_id} in {billing_log}"
            time.sleep(0.5)
        # The REPORT line follows the function's own lines; wait for it too.
        while "REPORT RequestId" not in billing_log.read_text():
            assert time.monotonic() < deadline, f"no REPORT line in {billing_log}"
            time.sleep(0.5)

    # What `logs BillingFunction --tail` prints: every line so far, then it would wait.
    waited: list[int] = []
    lines = list(follow(billing_log, wait=lambda: waited.append(1), stopped=lambda: bool(waited)))
    assert any(line.startswith("START RequestId") for line in lines)
    assert any(line.startswith("REPORT RequestId") for line in lines)
    settled = [json.loads(line) for line in lines if transaction_id in line]
    assert [entry["message"] for entry in settled] == ["charge settled"]
    assert "BillingFunction" in {function for function, _ in logs.tail()}  # the live view's
