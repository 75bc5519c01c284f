"""Settling a batch: one test per rule of AWS's "Reporting batch item failures"."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local_cloud.event_sources import BatchMessage, settle_batch

BATCH = (
    BatchMessage("m1", "r1"),
    BatchMessage("m2", "r2"),
    BatchMessage("m3", "r3"),
)
ALL_IDS = {"m1", "m2", "m3"}


def _settle(raw_payload: str | None, **options: Any) -> Any:
    settings: dict[str, Any] = {
        "invocation_error": None,
        "report_batch_item_failures": True,
        "fifo": False,
    }
    settings.update(options)
    return settle_batch(BATCH, raw_payload=raw_payload, **settings)


def _failures(*ids: Any) -> str:
    return json.dumps({"batchItemFailures": [{"itemIdentifier": i} for i in ids]})


def test_without_report_batch_item_failures_success_deletes_everything() -> None:
    settlement = _settle(_failures("m1"), report_batch_item_failures=False)

    assert {m.message_id for m in settlement.delete} == ALL_IDS
    assert not settlement.retain


@pytest.mark.parametrize("report", [True, False])
def test_a_function_error_keeps_the_whole_batch(report: bool) -> None:
    error = {"errorType": "RuntimeError", "errorMessage": "boom"}

    settlement = _settle(None, invocation_error=error, report_batch_item_failures=report)

    assert settlement.whole_batch_failed
    assert settlement.retained_ids == ALL_IDS
    assert not settlement.delete


def test_a_throttle_or_timeout_keeps_the_whole_batch() -> None:
    for error_type in ("TooManyRequestsException", "Sandbox.Timedout", "Runtime.ExitError"):
        settlement = _settle(None, invocation_error={"errorType": error_type})
        assert settlement.retained_ids == ALL_IDS, error_type


def test_an_empty_list_is_complete_success() -> None:
    assert _settle(_failures()).retained_ids == frozenset()


def test_a_null_list_is_complete_success() -> None:
    assert _settle('{"batchItemFailures": null}').retained_ids == frozenset()


def test_a_null_response_is_complete_success() -> None:
    assert _settle("null").retained_ids == frozenset()


def test_an_empty_response_is_complete_success() -> None:
    assert _settle("").retained_ids == frozenset()
    assert _settle(None).retained_ids == frozenset()
    assert _settle("{}").retained_ids == frozenset()


def test_invalid_json_fails_the_whole_batch() -> None:
    settlement = _settle('{"batchItemFailures": [')

    assert settlement.whole_batch_failed
    assert settlement.retained_ids == ALL_IDS
    assert "not valid JSON" in settlement.reason


@pytest.mark.parametrize("payload", ['["m1"]', '"m1"', "42", "true"])
def test_a_response_that_is_not_an_object_fails_the_whole_batch(payload: str) -> None:
    assert _settle(payload).retained_ids == ALL_IDS


def test_a_batch_item_failures_that_is_not_a_list_fails_the_whole_batch() -> None:
    assert _settle('{"batchItemFailures": {"itemIdentifier": "m1"}}').retained_ids == ALL_IDS


def test_an_empty_item_identifier_fails_the_whole_batch() -> None:
    assert _settle(_failures("")).retained_ids == ALL_IDS


def test_a_null_item_identifier_fails_the_whole_batch() -> None:
    assert _settle(_failures(None)).retained_ids == ALL_IDS


def test_a_misspelled_item_identifier_key_fails_the_whole_batch() -> None:
    settlement = _settle('{"batchItemFailures": [{"itemIdentifer": "m1"}]}')

    assert settlement.retained_ids == ALL_IDS
    assert "without an itemIdentifier" in settlement.reason


def test_an_identifier_not_in_the_batch_fails_the_whole_batch() -> None:
    settlement = _settle(_failures("m1", "somebody-else"))

    assert settlement.retained_ids == ALL_IDS
    assert "'somebody-else' is not a message of the batch" in settlement.reason


def test_only_the_listed_messages_stay() -> None:
    settlement = _settle(_failures("m2"))

    assert not settlement.whole_batch_failed
    assert settlement.retained_ids == {"m2"}
    assert [m.receipt_handle for m in settlement.delete] == ["r1", "r3"]


def test_listing_a_message_twice_keeps_it_once() -> None:
    assert _settle(_failures("m3", "m3")).retained_ids == {"m3"}


def test_fifo_keeps_the_later_messages_of_a_failed_group_even_if_not_listed() -> None:
    batch = (
        BatchMessage("a1", "ra1", "a"),
        BatchMessage("b1", "rb1", "b"),
        BatchMessage("a2", "ra2", "a"),
        BatchMessage("b2", "rb2", "b"),
        BatchMessage("a3", "ra3", "a"),
    )

    settlement = settle_batch(
        batch,
        invocation_error=None,
        raw_payload=_failures("a2"),
        report_batch_item_failures=True,
        fifo=True,
    )

    assert settlement.retained_ids == {"a2", "a3"}
    assert [m.message_id for m in settlement.delete] == ["a1", "b1", "b2"]
    assert "1 later message(s)" in settlement.reason


def test_a_standard_queue_keeps_only_what_was_listed() -> None:
    batch = (BatchMessage("a1", "r1", None), BatchMessage("a2", "r2", None))

    settlement = settle_batch(
        batch,
        invocation_error=None,
        raw_payload=_failures("a1"),
        report_batch_item_failures=True,
        fifo=False,
    )

    assert settlement.retained_ids == {"a1"}
