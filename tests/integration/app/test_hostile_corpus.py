"""The hostile-input corpus end to end, on a stack of its own on the local cloud.

Signup bodies are POSTed over the locally served HTTP API as raw bytes, as a client sends
them; charge and welcome-email bodies are sent to their queues with SQS, each hostile one
between two good ones, and the event source mapping delivers them to the functions.
Then, from outside: the answers, the payment provider's intents, the ledger, the emails
SES accepted, and what is left on the queues.

Only the corpus cases marked `end_to_end` run here (tests/unit/corpus runs them all): one
or more of each kind, and every one whose path differs end to end (bytes that are not
UTF-8 through the HTTP API, the 10 MB and 6 MB limits, SQS's 1 MiB). The module has its
own stack, so totals (intents, ledger rows, emails, messages in flight) are exact. It
runs on the local cloud only: the HTTP API's limits and the simulated provider are
checked here, which a LocalStack deployment does not offer in the same way.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_cloud.cloud import LocalCloud, load_settings
from local_cloud.observe import sent_emails
from local_cloud.operations.dlq import dead_letter_queues, find_queue, list_dead_letters
from tests.corpus.hostile_inputs import (
    CHARGE,
    HTTP_API_MAX_BODY_BYTES,
    WELCOME_EMAIL,
    HostileInput,
    Target,
    cases_for,
)
from tests.integration.app.conftest import StackUnderTest, eventually

REPO = Path(__file__).resolve().parents[3]
DEADLINE = 90.0


@dataclass
class HostileStack:
    stack: StackUnderTest
    api_url: str

    def post_signup(self, body: bytes) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
            f"{self.api_url}/accounts",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def post_headers_only(self, content_length: int) -> tuple[int, dict[str, Any]]:
        """Announce a body of `content_length` bytes, send none, read the answer."""
        url = urllib.parse.urlsplit(self.api_url)
        connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=60)
        try:
            connection.putrequest("POST", "/accounts")
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(content_length))
            connection.endheaders()
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def accounts(self) -> int:
        table = self.stack.outputs["AccountsTableName"]
        count: int = self.stack.client("dynamodb").scan(TableName=table, Select="COUNT")["Count"]
        return count

    def ledger_ids(self) -> list[str]:
        table = self.stack.outputs["ChargesTableName"]
        items = self.stack.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
        return sorted(item["transaction_id"]["S"] for item in items)

    def emails(self) -> list[dict[str, Any]]:
        return sent_emails(self.stack.endpoint_url)

    def send_raw(self, output_key: str, body: str) -> None:
        self.stack.client("sqs").send_message(
            QueueUrl=self.stack.outputs[output_key], MessageBody=body
        )


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileStack]:
    settings = load_settings(REPO / "local-cloud.toml").with_overrides(stack="dg-hostile-corpus")
    with LocalCloud(
        settings, endpoint_port=None, payment_provider_port=None, http_api_port=None
    ) as cloud:
        assert cloud.endpoint is not None
        assert cloud.payment_provider is not None
        assert cloud.http_api is not None

        def invoke(function_name: str, event: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
            result = cloud.lambda_service.invoke(function_name, event)
            return result.payload, result.error

        stack = StackUnderTest(
            name="local cloud",
            stack_name=settings.stack,
            endpoint_url=cloud.endpoint.url,
            outputs=dict(cloud.stack.outputs),
            invoke_function=invoke,
            provider_url=cloud.payment_provider.url,
            provider_key=next(iter(settings.ssm_parameters.values())),
        )
        yield HostileStack(stack, cloud.http_api.url)


# ---------------------------------------------------------------------- POST /accounts


@pytest.mark.parametrize(
    "case", cases_for(Target.SIGNUP, end_to_end=True), ids=lambda case: case.id
)
def test_a_hostile_signup_over_http_gets_a_4xx_naming_the_problem_and_stores_nothing(
    hostile: HostileStack, case: HostileInput
) -> None:
    if len(case.raw()) > HTTP_API_MAX_BODY_BYTES:
        # Decided from Content-Length alone, as API Gateway does: the body is never read.
        status, answer = hostile.post_headers_only(len(case.raw()))
    else:
        status, answer = hostile.post_signup(case.raw())

    assert status == case.http_status, answer
    if status == 400:
        assert answer["field"] == case.names
        assert case.says in answer["message"]
        for text in case.never_repeated:
            assert text not in answer["message"]
    else:
        assert answer == {"message": case.http_message}
    assert hostile.accounts() == 0


def in_flight_or_dead_lettered(stack: StackUnderTest, queue: str) -> int | None:
    """Messages in flight on the queue plus those in its DLQ; None while any is visible."""
    visible, in_flight = stack.queue_depth(f"{queue}QueueUrl")
    dlq_visible, dlq_in_flight = stack.queue_depth(f"{queue}DeadLetterQueueUrl")
    return None if visible else in_flight + dlq_visible + dlq_in_flight


def assert_dead_lettered_with_reason(stack: StackUnderTest, dlq: str, error_type: str) -> None:
    sqs = stack.client("sqs")
    [listing] = list_dead_letters(sqs, [find_queue(dead_letter_queues(sqs, stack.outputs), dlq)])
    assert listing.messages, f"nothing in {dlq}"
    for letter in listing.messages:
        assert letter.details.get("ErrorType") == error_type, letter.reason


# ---------------------------------------------------------------------- BillingQueue


def test_hostile_charges_between_good_ones_are_never_charged_and_never_lost(
    hostile: HostileStack,
) -> None:
    cases = cases_for(Target.CHARGE, end_to_end=True)
    refused = [case for case in cases if not case.sqs_accepts]
    sent = [case for case in cases if case.sqs_accepts]
    run = uuid.uuid4().hex[:8]
    good = [f"txn_corpus_good_{run}_{n}" for n in range(len(sent) + 1)]

    for case in refused:  # the producer hears of it: refused, never truncated
        with pytest.raises(ClientError, match="InvalidParameterValue"):
            hostile.send_raw("BillingQueueUrl", case.text())
    hostile.stack.send("BillingQueueUrl", {**CHARGE, "transaction_id": good[0]})
    for case, after in zip(sent, good[1:], strict=True):
        hostile.send_raw("BillingQueueUrl", case.text())
        hostile.stack.send("BillingQueueUrl", {**CHARGE, "transaction_id": after})

    for transaction_id in good:
        row = eventually(
            partial(hostile.stack.settled_row, transaction_id), DEADLINE, transaction_id
        )
        assert row["status"]["S"] == "succeeded"
    # Every hostile message is a poison message: copied to BillingDeadLetterQueue at its
    # first failure with its reason, then deleted; one whose copy SQS refuses (a body at
    # the size limit has no room left for the reason) stays in flight, to be redelivered
    # and dead-lettered after maxReceiveCount receives. None is lost.
    eventually(
        lambda: in_flight_or_dead_lettered(hostile.stack, "Billing") == len(sent),
        DEADLINE,
        f"{len(sent)} hostile charges in BillingDeadLetterQueue or in flight, none deleted",
    )
    assert_dead_lettered_with_reason(
        hostile.stack, "BillingDeadLetterQueue", "InvalidChargeMessage"
    )
    # Nothing charged for them: one intent per good charge and no other, one ledger row each.
    assert hostile.ledger_ids() == sorted(good)
    assert hostile.stack.provider().stats()["payment_intents"] == len(good)
    for transaction_id in good:
        assert [i["status"] for i in hostile.stack.intents_for(transaction_id)] == ["succeeded"]


# ---------------------------------------------------------------------- WelcomeEmailQueue


def test_hostile_welcome_jobs_between_good_ones_send_nothing_and_are_never_lost(
    hostile: HostileStack,
) -> None:
    cases = cases_for(Target.WELCOME_EMAIL, end_to_end=True)
    run = uuid.uuid4().hex[:8]
    good = [f"good-{run}-{n}@example.com" for n in range(len(cases) + 1)]
    emails_before = len(hostile.emails())

    hostile.stack.send("WelcomeEmailQueueUrl", {**WELCOME_EMAIL, "email": good[0]})
    for case, after in zip(cases, good[1:], strict=True):
        hostile.send_raw("WelcomeEmailQueueUrl", case.text())
        hostile.stack.send("WelcomeEmailQueueUrl", {**WELCOME_EMAIL, "email": after})

    for address in good:
        eventually(partial(hostile.stack.emails_to, address), DEADLINE, f"an email to {address}")
    eventually(
        lambda: in_flight_or_dead_lettered(hostile.stack, "WelcomeEmail") == len(cases),
        DEADLINE,
        f"{len(cases)} hostile jobs in WelcomeEmailDeadLetterQueue or in flight, none deleted",
    )
    assert_dead_lettered_with_reason(
        hostile.stack, "WelcomeEmailDeadLetterQueue", "InvalidWelcomeEmailJob"
    )
    # One email per good job and no other: none for a hostile job (nor for a signup).
    assert len(hostile.emails()) - emails_before == len(good)
    assert [len(hostile.stack.emails_to(address)) for address in good] == [1] * len(good)
