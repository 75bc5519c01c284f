"""local_cloud/endpoint_dynamodb.py: moto's DynamoDB answers the same with the parses cached.

Each test runs the same requests on a fresh moto twice, as moto is and with the changes
installed, and compares every answer (the response, or the error code and message) and
the tables' contents afterwards. monkeypatch puts moto's own methods back after each test.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local_cloud import endpoint_dynamodb

Request = tuple[str, dict[str, Any]]


@pytest.fixture
def restore_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing.ast_nodes import (  # type: ignore[attr-defined]
        DepthFirstTraverser,
    )
    from moto.dynamodb.parsing.expressions import (  # type: ignore[attr-defined]
        UpdateExpressionParser,
    )

    monkeypatch.setattr(ConditionExpressionParser, "parse", ConditionExpressionParser.parse)
    monkeypatch.setattr(DepthFirstTraverser, "traverse", DepthFirstTraverser.traverse)
    monkeypatch.setattr(
        UpdateExpressionParser, "make", UpdateExpressionParser.__dict__["make"], raising=True
    )


def _answer(call: Callable[..., dict[str, Any]], request: dict[str, Any]) -> object:
    try:
        response = call(**request)
    except ClientError as error:
        return ("error", error.response["Error"].get("Code"), error.response["Error"]["Message"])
    except Exception as error:  # moto failing in a way the SDK did not map
        return ("raised", type(error).__name__, str(error))
    response.pop("ResponseMetadata", None)
    return response


def run(requests: list[Request]) -> list[object]:
    """Every answer, then every table's items, on a fresh moto."""
    with mock_aws():
        client = boto3.client(
            "dynamodb",
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        client.create_table(
            TableName="Idempotency",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.create_table(
            TableName="Ledger",
            KeySchema=[
                {"AttributeName": "account", "KeyType": "HASH"},
                {"AttributeName": "txn", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "account", "AttributeType": "S"},
                {"AttributeName": "txn", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        answers = [_answer(getattr(client, operation), request) for operation, request in requests]
        for table in ("Idempotency", "Ledger"):
            items = client.scan(TableName=table)["Items"]
            answers.append(sorted(items, key=repr))
    return answers


def as_moto_and_changed(requests: list[Request]) -> tuple[list[object], list[object]]:
    before = run(requests)
    endpoint_dynamodb.speed_up_dynamodb()
    return before, run(requests)


POWERTOOLS_PUT = (
    "attribute_not_exists(#id) OR #expiry < :now OR (#status = :inprogress AND "
    "attribute_exists(#in_progress_expiry) AND #in_progress_expiry < :now_in_millis)"
)
POWERTOOLS_NAMES = {
    "#id": "id",
    "#expiry": "expiry",
    "#status": "status",
    "#in_progress_expiry": "in_progress_expiry",
}


def powertools_put(key: str, now: int, **extra: Any) -> Request:
    return (
        "put_item",
        {
            "TableName": "Idempotency",
            "Item": {
                "id": {"S": key},
                "expiry": {"N": str(now + 3600)},
                "in_progress_expiry": {"N": str(now * 1000 + 30_000)},
                "status": {"S": "INPROGRESS"},
            },
            "ConditionExpression": POWERTOOLS_PUT,
            "ExpressionAttributeNames": POWERTOOLS_NAMES,
            "ExpressionAttributeValues": {
                ":now": {"N": str(now)},
                ":now_in_millis": {"N": str(now * 1000)},
                ":inprogress": {"S": "INPROGRESS"},
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            **extra,
        },
    )


def update(
    key: str, expression: str, names: dict[str, str], values: dict[str, Any], **extra: Any
) -> Request:
    request: dict[str, Any] = {
        "TableName": "Idempotency",
        "Key": {"id": {"S": key}},
        "UpdateExpression": expression,
        **extra,
    }
    if names:
        request["ExpressionAttributeNames"] = names
    if values:
        request["ExpressionAttributeValues"] = values
    return ("update_item", request)


def test_the_billing_calls_answer_as_moto_does_successes_and_failed_conditions(
    restore_moto: None,
) -> None:
    done = {
        ":expiry": {"N": "99"},
        ":response_data": {"S": '{"ok": 1}'},
        ":status": {"S": "COMPLETED"},
    }
    set_done = "SET #response_data = :response_data, #expiry = :expiry, #status = :status"
    done_names = {"#expiry": "expiry", "#response_data": "data", "#status": "status"}
    requests: list[Request] = []
    for n in range(3):  # the same expressions again and again, new values each time
        key = f"txn_{n}"
        requests += [
            powertools_put(key, 1_000 + n),
            powertools_put(key, 1_001 + n),  # in progress, not expired: fails, ALL_OLD item
            powertools_put(key, 10_000_000 + n),  # expired by then: succeeds
            update(key, set_done, done_names, done),
            powertools_put(key, 2_000 + n),  # completed, not expired: fails
            update(
                key,
                "SET #status = :status, settled_at = :at",
                {"#status": "status"},
                {":status": {"S": "succeeded"}, ":pending": {"S": "pending"}, ":at": {"S": "t"}},
                ConditionExpression="#status = :pending",  # fails: COMPLETED
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            ),
            update(
                key,
                "SET counter = if_not_exists(counter, :zero) + :one, "
                "tags = list_append(if_not_exists(tags, :empty), :tag)",
                {},
                {
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                    ":empty": {"L": []},
                    ":tag": {"L": [{"S": f"t{n}"}]},
                },
                ReturnValues="ALL_NEW",
            ),
            update(key, "REMOVE settled_at", {}, {}, ReturnValues="UPDATED_OLD"),
            update(key, "ADD visits :one", {}, {":one": {"N": "1"}}, ReturnValues="UPDATED_NEW"),
            (
                "delete_item",
                {
                    "TableName": "Idempotency",
                    "Key": {"id": {"S": key}},
                    "ConditionExpression": "attribute_exists(id) AND visits > :limit",
                    "ExpressionAttributeValues": {":limit": {"N": str(n)}},
                },
            ),
        ]
    before, after = as_moto_and_changed(requests)
    assert after == before
    assert any(isinstance(a, tuple) and a[1] == "ConditionalCheckFailedException" for a in before)


def test_invalid_expressions_fail_as_moto_fails(restore_moto: None) -> None:
    names = {"#s": "status"}
    value = {":v": {"S": "x"}}
    bad_conditions: list[tuple[str, dict[str, str], dict[str, Any]]] = [
        ("#s = :missing", names, value),  # a value not given
        ("#missing = :v", names, value),  # a name not given
        ("#s = :v", {}, value),  # no names at all
        ("#s = :v", names, {}),  # no values at all
        ("#s = :v", {**names, "#unused": "u"}, value),  # a name not used
        ("#s = :v", names, {**value, ":unused": {"S": "u"}}),  # a value not used
        ("#s = = :v", names, value),  # a syntax error
        ("((#s = :v))", names, value),  # redundant parentheses
        ("#s = :v AND", names, value),
        ("attribute_exists(#s, :v)", names, value),  # wrong number of arguments
        ("size = :v", names, value),  # a function name as an operand
        ("status = :v", names, value),  # a reserved word
        ("#s IN (:v, :missing)", names, value),
        ("#s BETWEEN :v AND :missing", names, value),
        ("begins_with(#s, :v) AND :missing = #s", names, value),
        ("#s.#missing[1] = :v", names, value),
        ("#s = :v ) (", names, value),
        ("#s ~ :v", names, value),  # a character the lexer does not know
        ("#missing = = :v", names, value),  # moto looks the name up before the syntax fails
    ]
    requests: list[Request] = [powertools_put("k", 1)]
    for _ in range(2):  # the second time through the cache
        for expression, expression_names, values in bad_conditions:
            request: dict[str, Any] = {
                "TableName": "Idempotency",
                "Item": {"id": {"S": "k2"}, "status": {"S": "x"}},
                "ConditionExpression": expression,
            }
            if expression_names:
                request["ExpressionAttributeNames"] = expression_names
            if values:
                request["ExpressionAttributeValues"] = values
            requests.append(("put_item", request))
        for expression, expression_names, values in [
            ("SET #s = :missing", names, value),
            ("SET #s = :v, #s = :v", names, value),  # overlapping paths
            ("SET id = :v", {}, value),  # the key
            ("SET #s :v", names, value),  # a syntax error
            ("DELETE #s", names, {}),
            ("SET a = b", {}, {}),  # an attribute that does not exist
            ("SET #s = :v REMOVE #s", names, value),
            ("SET l[0] = :v", {}, value),
        ]:
            requests.append(update("k", expression, expression_names, values))
    before, after = as_moto_and_changed(requests)
    assert after == before
    errors = [a for a in before if isinstance(a, tuple)]
    assert len(errors) >= 2 * 20  # they did fail, both times through


def test_generated_conditions_answer_as_moto_does(restore_moto: None) -> None:
    """Conditions made from a small grammar, seeded: comparisons, functions, IN, BETWEEN,
    AND/OR/NOT, parentheses, names and values sometimes missing."""
    rng = random.Random(10)
    paths = ["#a", "#b", "plain", "#a.nested", "#l[0]", "#m.#a"]
    value_names = [":x", ":y", ":n", ":missing"]

    def operand() -> str:
        return rng.choice(paths + value_names + ["size(#a)"])

    def condition(depth: int) -> str:
        choice = rng.randrange(8 if depth < 3 else 4)
        if choice == 0:
            return f"{operand()} {rng.choice(['=', '<>', '<', '<=', '>', '>='])} {operand()}"
        if choice == 1:
            return (
                f"{rng.choice(['attribute_exists', 'attribute_not_exists'])}({rng.choice(paths)})"
            )
        if choice == 2:
            return f"{rng.choice(['begins_with', 'contains'])}({rng.choice(paths)}, {operand()})"
        if choice == 3:
            return f"{operand()} BETWEEN {operand()} AND {operand()}"
        if choice == 4:
            return f"{operand()} IN ({operand()}, {operand()})"
        if choice == 5:
            return f"NOT {condition(depth + 1)}"
        if choice == 6:
            return f"({condition(depth + 1)}) {rng.choice(['AND', 'OR'])} {condition(depth + 1)}"
        return f"{condition(depth + 1)} {rng.choice(['AND', 'OR'])} {condition(depth + 1)}"

    names = {"#a": "a", "#b": "b", "#l": "l", "#m": "m"}
    requests: list[Request] = [
        (
            "put_item",
            {
                "TableName": "Idempotency",
                "Item": {
                    "id": {"S": "k"},
                    "a": {"S": "apple"},
                    "b": {"N": "5"},
                    "plain": {"S": "p"},
                    "l": {"L": [{"S": "apple"}]},
                    "m": {"M": {"a": {"S": "apple"}}},
                },
            },
        )
    ]
    expressions = [condition(0) for _ in range(120)]
    for expression in expressions * 2:  # the second round through the cache
        used = {name: names[name] for name in names if name in expression}
        values = {
            ":x": {"S": rng.choice(["apple", "b", "z"])},
            ":y": {"N": str(rng.randrange(10))},
            ":n": {"S": "a"},
        }
        values = {name: v for name, v in values.items() if name in expression}
        request: dict[str, Any] = {
            "TableName": "Idempotency",
            "Key": {"id": {"S": "k"}},
            "UpdateExpression": "SET hits = :one",
            "ConditionExpression": expression,
            "ExpressionAttributeValues": {":one": {"N": "1"}, **values},
        }
        if used:
            request["ExpressionAttributeNames"] = used
        requests.append(("update_item", request))
    before, after = as_moto_and_changed(requests)
    assert after == before
    outcomes = {a[1] if isinstance(a, tuple) else "ok" for a in before}
    # In-process moto lets its own errors through: a value missing (KeyError), a syntax
    # error (ValueError); the endpoint answers them as a 500 either way.
    assert {"ok", "ConditionalCheckFailedException", "KeyError", "ValueError"} <= outcomes


def test_queries_and_scans_filter_as_moto_does(restore_moto: None) -> None:
    requests: list[Request] = [
        (
            "put_item",
            {
                "TableName": "Ledger",
                "Item": {"account": {"S": "acc"}, "txn": {"S": f"t{n}"}, "amount": {"N": str(n)}},
            },
        )
        for n in range(6)
    ]
    for limit in ("2", "4", "9"):
        requests += [
            (
                "query",
                {
                    "TableName": "Ledger",
                    "KeyConditionExpression": "account = :a AND begins_with(txn, :t)",
                    "FilterExpression": "amount >= :min",
                    "ExpressionAttributeValues": {
                        ":a": {"S": "acc"},
                        ":t": {"S": "t"},
                        ":min": {"N": limit},
                    },
                },
            ),
            (
                "scan",
                {
                    "TableName": "Ledger",
                    "FilterExpression": "amount < :max OR attribute_not_exists(amount)",
                    "ExpressionAttributeValues": {":max": {"N": limit}},
                },
            ),
        ]
    before, after = as_moto_and_changed(requests)
    assert after == before


def test_an_update_expression_is_parsed_once_and_never_changed(restore_moto: None) -> None:
    from moto.dynamodb.parsing.expressions import (  # type: ignore[attr-defined]
        UpdateExpressionParser,
    )

    endpoint_dynamodb.speed_up_dynamodb()
    endpoint_dynamodb.speed_up_dynamodb()  # twice: not wrapped twice
    first = UpdateExpressionParser.make("SET a = :v")
    assert UpdateExpressionParser.make("SET a = :v") is first
    shape = repr(first)
    run([update("k", "SET a = :v", {}, {":v": {"S": "x"}}) for _ in range(3)])
    assert repr(UpdateExpressionParser.make("SET a = :v")) == shape


def test_a_value_that_is_not_a_string_goes_to_moto(restore_moto: None) -> None:
    """The cache is keyed by the expression string; anything else is moto's to refuse."""
    from moto.dynamodb.parsing.expressions import (  # type: ignore[attr-defined]
        UpdateExpressionParser,
    )

    with pytest.raises(Exception) as moto_error:  # noqa: PT011
        UpdateExpressionParser.make(["SET a = :v"])
    endpoint_dynamodb.speed_up_dynamodb()
    with pytest.raises(Exception) as ours:  # noqa: PT011
        UpdateExpressionParser.make(["SET a = :v"])
    assert (type(ours.value), str(ours.value)) == (type(moto_error.value), str(moto_error.value))


def test_a_traverser_that_chooses_its_nodes_itself_keeps_moto_s_walk(restore_moto: None) -> None:
    from moto.dynamodb.parsing.ast_nodes import (  # type: ignore[attr-defined]
        DepthFirstTraverser,
    )
    from moto.dynamodb.parsing.expressions import (  # type: ignore[attr-defined]
        UpdateExpressionParser,
    )

    class Counting(DepthFirstTraverser):
        def __init__(self) -> None:
            self.seen: list[str] = []

        def _processing_map(self) -> dict[type, Callable[[Any], Any]]:
            return {object: self.note}

        def nodes_to_be_processed(self) -> tuple[type, ...]:
            return (object,)  # every node, which the map alone would not say

        def process(self, node: Any) -> Any:
            self.seen.append(type(node).__name__)
            return node

        def note(self, node: Any) -> Any:
            raise AssertionError("process() is overridden: never called")

    tree = UpdateExpressionParser.make("SET a = :v, b = if_not_exists(b, :w)")
    moto_walk = Counting()
    moto_walk.traverse(tree)
    endpoint_dynamodb.speed_up_dynamodb()
    ours = Counting()
    ours.traverse(tree)
    assert ours.seen == moto_walk.seen
    assert len(moto_walk.seen) > 5
