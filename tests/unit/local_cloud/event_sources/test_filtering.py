"""Event filtering on SQS records, from AWS's documented examples.

Sources: the Lambda developer guide's "Control which events Lambda sends to your function"
(the filter rule syntax table, "Properly filtering Amazon SQS messages" and its body-format
table), "Using event filtering with an Amazon SQS event source" (the RecordNumber /
RequestCode examples) and, for the rule language Lambda shares, EventBridge's "Comparison
operators for use in event patterns in Amazon EventBridge" (anything-but with prefix,
suffix and equals-ignore-case; arrays in events). Records are built by sqs_event's
lambda_record from ReceiveMessage output, as the poller builds them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local_cloud.event_sources import (
    InvalidEventSourceMapping,
    SqsEventSourcePoller,
    mapping_rules,
)
from local_cloud.event_sources.filtering import (
    InvalidFilterCriteria,
    compile_filters,
    filter_patterns,
    matches,
)
from local_cloud.event_sources.sqs_event import lambda_record
from local_cloud.lambda_runtime import InvocationResult
from local_cloud.model import FunctionSpec, SqsEventSourceSpec
from local_cloud.stack.errors import DeploymentError
from local_cloud.stack.specs import sqs_event_source_spec

QUEUE_ARN = "arn:aws:sqs:us-west-2:123456789012:my-queue"


def record(body: Any, **message_attributes: str) -> dict[str, Any]:
    """A record as Lambda sends it; a non-string body is sent as its JSON."""
    message: dict[str, Any] = {
        "MessageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "ReceiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
        "Body": body if isinstance(body, str) else json.dumps(body),
        "MD5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "Attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1545082649183",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1545082649185",
        },
    }
    if message_attributes:
        message["MessageAttributes"] = {
            name: {"DataType": "String", "StringValue": value}
            for name, value in message_attributes.items()
        }
    return lambda_record(message, queue_arn=QUEUE_ARN)


def passes(pattern: Any, rec: dict[str, Any]) -> bool:
    return matches(rec, compile_filters([json.dumps(pattern)]))


# The SQS page's message: {"RecordNumber": 1234, "TimeStamp": ..., "RequestCode": "AAAA"}
DOC_MESSAGE = {"RecordNumber": 1234, "TimeStamp": "yyyy-mm-ddThh:mm:ss", "RequestCode": "AAAA"}


# -- the SQS page's own examples -------------------------------------------------------------


def test_sqs_page_request_code_example() -> None:
    pattern = {"body": {"RequestCode": ["BBBB"]}}
    assert not passes(pattern, record(DOC_MESSAGE))
    assert passes(pattern, record({**DOC_MESSAGE, "RequestCode": "BBBB"}))


def test_sqs_page_record_number_example() -> None:
    pattern = {"body": {"RecordNumber": [{"numeric": [">", 9999]}]}}
    assert not passes(pattern, record(DOC_MESSAGE))
    assert passes(pattern, record({**DOC_MESSAGE, "RecordNumber": 10000}))


def test_the_doc_pattern_string_is_accepted_as_written() -> None:
    criteria = {"Filters": [{"Pattern": '{ "body" : { "RequestCode" : [ "BBBB" ] } }'}]}
    (compiled,) = compile_filters(filter_patterns(criteria))
    assert compiled.index == 0
    assert matches(record({**DOC_MESSAGE, "RequestCode": "BBBB"}), [compiled])


# -- each operator of the filter rule syntax table -------------------------------------------


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        pytest.param([None], None, True, id="null-matches-null"),
        pytest.param([None], "", False, id="null-is-not-empty"),
        pytest.param([""], "", True, id="empty-matches-empty"),
        pytest.param([""], None, False, id="empty-is-not-null"),
        pytest.param(["Alice"], "Alice", True, id="equals"),
        pytest.param(["Alice"], "alice", False, id="equals-is-case-sensitive"),
        pytest.param(["Credit", "Debit"], "Debit", True, id="or-of-values"),
        pytest.param(["Credit", "Debit"], "Cash", False, id="or-of-values-no"),
        pytest.param([{"equals-ignore-case": "alice"}], "ALICE", True, id="equals-ignore-case"),
        pytest.param([{"equals-ignore-case": "alice"}], "Alicia", False, id="ignore-case-no"),
        pytest.param([{"anything-but": ["Raining"]}], "Sunny", True, id="not"),
        pytest.param([{"anything-but": ["Raining"]}], "Raining", False, id="not-excluded"),
        pytest.param([{"anything-but": "Raining"}], "Raining", False, id="not-single-value"),
        pytest.param([{"anything-but": [100, 200]}], 300, True, id="not-numbers"),
        pytest.param([{"anything-but": [100, 200]}], 200, False, id="not-numbers-excluded"),
        pytest.param([{"anything-but": {"prefix": "us-"}}], "eu-west-1", True, id="not-prefix"),
        pytest.param([{"anything-but": {"prefix": "us-"}}], "us-east-1", False, id="not-pre-no"),
        pytest.param([{"anything-but": {"suffix": ".png"}}], "a.jpg", True, id="not-suffix"),
        pytest.param([{"anything-but": {"suffix": ".png"}}], "a.png", False, id="not-suf-no"),
        pytest.param(
            [{"anything-but": {"equals-ignore-case": ["initializing"]}}],
            "INITIALIZING",
            False,
            id="not-ignore-case",
        ),
        pytest.param([{"numeric": ["=", 100]}], 100, True, id="numeric-equals"),
        pytest.param([{"numeric": ["=", 100]}], 100.0, True, id="numeric-equals-is-numeric"),
        pytest.param([{"numeric": ["=", 100]}], "100", False, id="numeric-needs-a-number"),
        pytest.param([{"numeric": [">", 10, "<=", 20]}], 20, True, id="numeric-range-top"),
        pytest.param([{"numeric": [">", 10, "<=", 20]}], 10, False, id="numeric-range-bottom"),
        pytest.param([{"numeric": [">", 10, "<=", 20]}], 15.5, True, id="numeric-range-in"),
        pytest.param([{"numeric": ["<", 0]}], -1, True, id="numeric-less"),
        pytest.param([{"numeric": [">=", 5]}], 5, True, id="numeric-at-least"),
        pytest.param([{"prefix": "us-"}], "us-east-1", True, id="begins-with"),
        pytest.param([{"prefix": "us-"}], "eu-west-1", False, id="begins-with-no"),
        pytest.param([{"suffix": ".png"}], "photo.png", True, id="ends-with"),
        pytest.param([{"suffix": ".png"}], "photo.jpg", False, id="ends-with-no"),
        pytest.param([True], True, True, id="boolean"),
        pytest.param([True], "true", False, id="boolean-is-not-a-string"),
        pytest.param([300], 300, True, id="number-exact"),
        # "300, 300.0, and 3.0e2 are not considered equal": numbers compare as written
        pytest.param([300], 300.0, False, id="number-as-written"),
    ],
)
def test_operator(rule: list[Any], value: Any, expected: bool) -> None:
    assert passes({"body": {"field": rule}}, record({"field": value})) is expected


def test_exists_and_does_not_exist() -> None:
    with_name = record({"ProductName": "Widget"})
    without = record({"Price": 5})
    assert passes({"body": {"ProductName": [{"exists": True}]}}, with_name)
    assert not passes({"body": {"ProductName": [{"exists": True}]}}, without)
    assert passes({"body": {"ProductName": [{"exists": False}]}}, without)
    assert not passes({"body": {"ProductName": [{"exists": False}]}}, with_name)


def test_and_across_keys() -> None:
    pattern = {"body": {"Location": ["New York"], "Day": ["Monday"]}}
    assert passes(pattern, record({"Location": "New York", "Day": "Monday"}))
    assert not passes(pattern, record({"Location": "New York", "Day": "Tuesday"}))


def test_or_across_keys_with_dollar_or() -> None:
    pattern = {"body": {"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]}}
    assert passes(pattern, record({"Location": "New York", "Day": "Friday"}))
    assert passes(pattern, record({"Location": "Boston", "Day": "Monday"}))
    assert not passes(pattern, record({"Location": "Boston", "Day": "Friday"}))


def test_every_field_the_pattern_names_must_be_present() -> None:
    assert not passes({"body": {"Name": [{"anything-but": "Bob"}]}}, record({"Other": 1}))


# -- structure: OR across filters, nesting, arrays, record fields ----------------------------


def test_a_record_passes_if_it_matches_any_filter() -> None:
    filters = compile_filters(
        [
            json.dumps({"body": {"kind": ["charge"]}}),
            json.dumps({"body": {"kind": ["refund"]}}),
        ]
    )
    assert matches(record({"kind": "charge"}), filters)
    assert matches(record({"kind": "refund"}), filters)
    assert not matches(record({"kind": "payout"}), filters)


def test_no_filters_pass_everything() -> None:
    assert matches(record("anything at all"), ())
    assert filter_patterns(None) == ()
    assert filter_patterns({}) == ()


def test_nested_keys_multi_level() -> None:
    pattern = {"body": {"Keys": {"Id": {"N": ["101"]}}}}
    assert passes(pattern, record({"Keys": {"Id": {"N": "101"}}}))
    assert not passes(pattern, record({"Keys": {"Id": {"N": "102"}}}))
    assert not passes(pattern, record({"Keys": "101"}))


def test_an_array_in_the_message_matches_if_any_element_does() -> None:
    pattern = {"body": {"tags": ["urgent"]}}
    assert passes(pattern, record({"tags": ["low", "urgent"]}))
    assert not passes(pattern, record({"tags": ["low", "later"]}))
    assert not passes(pattern, record({"tags": []}))


def test_objects_in_an_array_are_matched_one_element_at_a_time() -> None:
    pattern = {"body": {"items": {"sku": ["A"], "qty": [{"numeric": [">", 1]}]}}}
    assert passes(pattern, record({"items": [{"sku": "B", "qty": 5}, {"sku": "A", "qty": 2}]}))
    # sku A and a qty above 1 exist, but not in the same element
    assert not passes(pattern, record({"items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 5}]}))


def test_message_attributes_and_attributes_are_matched_in_lambdas_shape() -> None:
    rec = record({"kind": "charge"}, source="billing")
    assert passes({"messageAttributes": {"source": {"stringValue": ["billing"]}}}, rec)
    assert not passes({"messageAttributes": {"source": {"stringValue": ["signup"]}}}, rec)
    assert passes({"attributes": {"ApproximateReceiveCount": ["1"]}}, rec)
    assert passes({"eventSource": ["aws:sqs"], "body": {"kind": ["charge"]}}, rec)
    assert not passes({"eventSource": ["aws:sqs"], "body": {"kind": ["refund"]}}, rec)


# -- the body: JSON or plain text ("Properly filtering Amazon SQS messages") -----------------


def test_plain_string_body_and_plain_string_pattern_filter_on_the_text() -> None:
    assert passes({"body": ["hello world"]}, record("hello world"))
    assert passes({"body": [{"prefix": "hello"}]}, record("hello world"))
    assert not passes({"body": ["goodbye"]}, record("hello world"))


def test_plain_string_body_and_json_pattern_drop_the_message() -> None:
    assert not passes({"body": {"kind": ["charge"]}}, record("kind=charge"))
    assert not passes({"body": {"kind": [{"exists": False}]}}, record("kind=charge"))


def test_json_body_and_plain_string_pattern_drop_the_message() -> None:
    body = json.dumps({"kind": "charge"})
    assert not passes({"body": [body]}, record(body))
    assert not passes({"body": [{"anything-but": "x"}]}, record(body))


def test_without_a_body_pattern_only_the_other_fields_count() -> None:
    pattern = {"attributes": {"SenderId": [{"prefix": "AIDA"}]}}
    assert passes(pattern, record("plain text"))
    assert passes(pattern, record({"kind": "charge"}))


# -- validation (CreateEventSourceMapping's InvalidParameterValueException) ------------------


@pytest.mark.parametrize(
    ("pattern", "complaint"),
    [
        pytest.param("{not json", "Filters[0].Pattern is not valid JSON", id="not-json"),
        pytest.param('["body"]', "must be a JSON object", id="not-an-object"),
        pytest.param("{}", "empty object", id="empty"),
        pytest.param('{"body": "charge"}', "body must be an array of rules", id="bare-value"),
        pytest.param('{"body": {"kind": []}}', "body.kind is an empty array", id="empty-array"),
        pytest.param('{"kind": [{"wildcard": "a*"}]}', "unknown operator 'wildcard'", id="op"),
        pytest.param('{"kind": [{"prefix": 1}]}', "prefix takes a string", id="prefix-type"),
        pytest.param('{"kind": [{"exists": "yes"}]}', "exists takes true or false", id="exists"),
        pytest.param('{"n": [{"numeric": [">", "5"]}]}', "numeric > takes a number", id="num"),
        pytest.param('{"n": [{"numeric": ["!=", 5]}]}', '"!=" is not one of', id="num-op"),
        pytest.param('{"n": [{"numeric": [">", 1, ">", 5]}]}', "one lower bound", id="range"),
        pytest.param('{"n": [{"numeric": [">"]}]}', "numeric takes [op, number]", id="short"),
        pytest.param('{"n": [{"anything-but": ["a", 1]}]}', "array of strings or", id="mixed"),
        pytest.param('{"n": [{"anything-but": {"x": 1}}]}', "anything-but takes", id="ab-op"),
        pytest.param('{"$or": [{"a": ["x"]}]}', "$or must be an array of at least 2", id="or"),
        pytest.param('{"n": [{"prefix": "a", "suffix": "b"}]}', "is not a rule", id="two-ops"),
        pytest.param('{"n": [NaN]}', "not valid JSON", id="nan"),
    ],
)
def test_invalid_patterns_are_named(pattern: str, complaint: str) -> None:
    with pytest.raises(InvalidFilterCriteria) as raised:
        compile_filters([pattern])
    assert "FilterCriteria.Filters[0].Pattern" in str(raised.value)
    assert complaint in str(raised.value)


def test_the_second_filter_is_named_when_it_is_the_bad_one() -> None:
    with pytest.raises(InvalidFilterCriteria, match=r"Filters\[1\]\.Pattern"):
        compile_filters(['{"a": ["x"]}', '{"a": "x"}'])


def test_at_most_five_filters_and_4096_characters() -> None:
    compile_filters(['{"a": ["x"]}'] * 5)
    with pytest.raises(InvalidFilterCriteria, match=r"6 filters; .* at most 5"):
        compile_filters(['{"a": ["x"]}'] * 6)
    long = json.dumps({"a": ["x" * 4100]})
    with pytest.raises(InvalidFilterCriteria, match="the limit is 4096"):
        compile_filters([long])


@pytest.mark.parametrize(
    "criteria",
    [
        pytest.param([{"Pattern": "{}"}], id="not-an-object"),
        pytest.param({"Filters": {"Pattern": "{}"}}, id="filters-not-a-list"),
        pytest.param({"Filters": [{"Pattern": {"body": {"a": ["x"]}}}]}, id="pattern-not-string"),
        pytest.param({"Filters": [{}]}, id="no-pattern"),
    ],
)
def test_malformed_filter_criteria_are_refused(criteria: Any) -> None:
    with pytest.raises(InvalidFilterCriteria, match="FilterCriteria"):
        filter_patterns(criteria)


# -- the mapping's spec: read from the template, refused at deploy ---------------------------

PROPERTIES = {"EventSourceArn": "arn:aws:sqs:us-east-1:123456789012:jobs"}


def test_the_spec_carries_the_templates_filter_patterns() -> None:
    pattern = '{"body": {"kind": ["charge"]}}'
    spec = sqs_event_source_spec(
        "Mapping",
        {**PROPERTIES, "FilterCriteria": {"Filters": [{"Pattern": pattern}]}},
        function_name="fn",
        queue_url="http://localhost/q",
    )
    assert spec.filter_patterns == (pattern,)
    mapping_rules.check(spec, function_timeout_seconds=3, visibility_timeout_seconds=30)
    unfiltered = sqs_event_source_spec(
        "Mapping", PROPERTIES, function_name="fn", queue_url="http://localhost/q"
    )
    assert unfiltered.filter_patterns == ()


def test_an_invalid_pattern_fails_the_deploy_like_create_event_source_mapping() -> None:
    spec = SqsEventSourceSpec(
        logical_id="Mapping",
        function_name="fn",
        queue_arn=PROPERTIES["EventSourceArn"],
        queue_url="http://localhost/q",
        filter_patterns=('{"body": {"kind": "charge"}}',),
    )
    with pytest.raises(DeploymentError) as raised:
        mapping_rules.check(spec, function_timeout_seconds=3, visibility_timeout_seconds=30)
    assert str(raised.value).startswith(
        "Mapping (AWS::Lambda::EventSourceMapping): InvalidParameterValueException: "
        "FilterCriteria.Filters[0].Pattern: invalid filter pattern definition: body.kind"
    )


def test_a_malformed_filter_criteria_fails_reading_the_spec() -> None:
    with pytest.raises(DeploymentError, match="InvalidParameterValueException: FilterCriteria"):
        sqs_event_source_spec(
            "Mapping",
            {**PROPERTIES, "FilterCriteria": {"Filters": [{"Pattern": {"a": ["x"]}}]}},
            function_name="fn",
            queue_url="http://localhost/q",
        )


# -- the poller's hook: filtered messages are deleted, never invoked -------------------------


class _Queue:
    """Just enough of an SQS client for one receive and the deletes."""

    def __init__(self, bodies: list[str]) -> None:
        self.messages = [
            {
                "MessageId": f"m{number}",
                "ReceiptHandle": f"r{number}",
                "Body": body,
                "MD5OfBody": "x",
                "Attributes": {"ApproximateReceiveCount": "1"},
            }
            for number, body in enumerate(bodies)
        ]
        self.deleted: list[str] = []

    def receive_message(self, **request: Any) -> dict[str, Any]:
        taken, self.messages = self.messages[:10], self.messages[10:]
        return {"Messages": taken} if taken else {}

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        self.deleted.extend(entry["ReceiptHandle"] for entry in Entries)
        return {"Successful": [], "Failed": []}


class _Lambda:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, function_name_or_logical_id: str, event: Any) -> InvocationResult:
        self.events.append(event)
        return InvocationResult(
            payload=None, error=None, logs="", duration_ms=1.0, cold_start=False, raw_payload=""
        )

    def function(self, name_or_logical_id: str) -> FunctionSpec:
        return FunctionSpec("Fn", "fn", "app.handler", "python3.13", Path("."))

    def concurrency_limit(self, name_or_logical_id: str) -> int:
        return 10


def _filtered_poller(queue: _Queue, lambda_: _Lambda) -> SqsEventSourcePoller:
    spec = SqsEventSourceSpec(
        logical_id="Mapping",
        function_name="fn",
        queue_arn=PROPERTIES["EventSourceArn"],
        queue_url="http://queue",
        filter_patterns=('{"body": {"kind": ["charge"]}}',),
    )
    return SqsEventSourcePoller(
        spec,
        lambda_,
        endpoint_url="http://unused",
        region="us-east-1",
        client_factory=lambda: queue,
    )


def test_the_poller_invokes_only_matching_messages_and_deletes_the_others() -> None:
    queue = _Queue(['{"kind": "charge"}', '{"kind": "refund"}', "kind=charge"])
    lambda_ = _Lambda()
    poller = _filtered_poller(queue, lambda_)

    report = poller.process_next_batch()

    assert report is not None
    assert report.message_ids == ("m0",)
    ((record,),) = [event["Records"] for event in lambda_.events]
    assert record["body"] == '{"kind": "charge"}'
    assert sorted(queue.deleted) == ["r0", "r1", "r2"]  # two filtered, one succeeded
    stats = poller.stats()
    assert (stats.filtered, stats.received, stats.batches, stats.deleted) == (2, 1, 1, 1)


def test_no_invocation_when_no_message_matches() -> None:
    queue = _Queue(['{"kind": "refund"}', "plain"])
    lambda_ = _Lambda()
    poller = _filtered_poller(queue, lambda_)

    assert poller.process_next_batch() is None
    assert lambda_.events == []
    assert sorted(queue.deleted) == ["r0", "r1"]
    assert poller.stats().filtered == 2


def test_the_poller_refuses_an_invalid_pattern() -> None:
    spec = SqsEventSourceSpec(
        logical_id="Mapping",
        function_name="fn",
        queue_arn=PROPERTIES["EventSourceArn"],
        queue_url="http://queue",
        filter_patterns=("{oops",),
    )
    with pytest.raises(InvalidEventSourceMapping, match=r"Mapping .*: FilterCriteria.Filters\[0\]"):
        mapping_rules.check(spec)
