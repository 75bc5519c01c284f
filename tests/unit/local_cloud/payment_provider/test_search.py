"""GET /v1/payment_intents/search: the query language subset, results, pages, routing."""

from __future__ import annotations

from typing import Any

import pytest

from local_cloud.payment_provider.errors import ApiError
from local_cloud.payment_provider.search_query import Clause, parse_search_query
from tests.unit.local_cloud.payment_provider.simulator import (
    Simulator,
    body,
    error_of,
)

BY_TXN_1 = "metadata['transaction_id']:'txn_1'"


def ids(response: Any) -> list[str]:
    return [intent["id"] for intent in body(response)["data"]]


def charge_for(sim: Simulator, transaction_id: str, key: str, **changes: Any) -> str:
    """Charge and return the intent's ID (a decline carries it in the error)."""
    answer = body(sim.charge(key=key, metadata={"transaction_id": transaction_id}, **changes))
    intent = answer["error"]["payment_intent"] if "error" in answer else answer
    intent_id: str = intent["id"]
    return intent_id


# -- the query language -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "clauses"),
    [
        (BY_TXN_1, [Clause("metadata", "txn_1", "transaction_id")]),
        ('metadata["transaction_id"]:"txn_1"', [Clause("metadata", "txn_1", "transaction_id")]),
        (
            "  status:'succeeded' AND metadata['transaction_id']:'txn_1'  ",
            [Clause("status", "succeeded"), Clause("metadata", "txn_1", "transaction_id")],
        ),
        (
            'currency:"usd" and status:"succeeded"',  # keywords are case insensitive
            [Clause("currency", "usd"), Clause("status", "succeeded")],
        ),
        (
            "currency:'usd' status:'succeeded'",  # whitespace means AND on Stripe
            [Clause("currency", "usd"), Clause("status", "succeeded")],
        ),
        (r'metadata["note"]:"say \"hi\""', [Clause("metadata", 'say "hi"', "note")]),
        (r"metadata['it\'s']:'ok'", [Clause("metadata", "ok", "it's")]),
    ],
)
def test_supported_queries_parse_into_clauses(query: str, clauses: list[Clause]) -> None:
    assert list(parse_search_query(query).clauses) == clauses


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("", "the query is empty"),
        ("status:'succeeded' OR status:'canceled'", "OR is not supported"),
        ("-status:'succeeded'", "negation ('-') is not supported"),
        ("(status:'succeeded')", "parentheses are not supported"),
        ("metadata['transaction_id']~'txn'", "the operator '~' is not supported"),
        ("amount>1000", "the field 'amount' is not simulated"),
        ("customer:'cus_1'", "the field 'customer' is not simulated"),
        ("email:'ada@example.com'", "'email' is not a PaymentIntent search field"),
        ("status:succeeded", "the value of status must be in quotes"),
        ("metadata['transaction_id']:null", "null (field presence) is not supported"),
        ("metadata.transaction_id:'txn_1'", "'metadata.transaction_id' is not a PaymentIntent"),
        ("metadata[transaction_id]:'txn_1'", "the metadata key must be in quotes"),
        ("metadata[", "the metadata key must be in quotes, at the end"),
        ("metadata['transaction_id':'txn_1'", "expected ']' after the metadata key"),
        ("metadata['transaction_id']:'txn_1", "has no closing '"),
        ("status:'succeeded' AND", "it ends with AND"),
        ("status:'succeeded'AND currency:'usd'", "expected a space or AND"),
        ("status 'succeeded'", "expected ':' after status"),
        (" AND ".join(["status:'succeeded'"] * 11), "more than 10 clauses"),
    ],
)
def test_anything_else_is_a_400_naming_query_and_what_is_unsupported(
    query: str, reason: str
) -> None:
    with pytest.raises(ApiError) as raised:
        parse_search_query(query)

    error = raised.value.body()["error"]
    assert raised.value.status == 400
    assert (error["type"], error["param"]) == ("invalid_request_error", "query")
    assert reason in error["message"]
    assert repr(query) in error["message"]


# -- the endpoint -------------------------------------------------------------------------


def test_search_finds_exactly_the_intents_with_that_transaction_id(sim: Simulator) -> None:
    before_advance = charge_for(sim, "txn_1", key="a")
    sim.advance_clock(25 * 3600)
    charge_for(sim, "txn_2", key="b")
    after_advance = charge_for(sim, "txn_1", key="a")  # the key expired: a second charge

    response = sim.search(BY_TXN_1)

    assert response.status_code == 200
    assert body(response) == {
        "object": "search_result",
        "url": "/v1/payment_intents/search",
        "has_more": False,
        "next_page": None,
        "data": body(response)["data"],
    }
    assert ids(response) == [after_advance, before_advance]  # newest first
    assert {i["metadata"]["transaction_id"] for i in body(response)["data"]} == {"txn_1"}


def test_both_quote_styles_and_any_case_find_the_same_intents(sim: Simulator) -> None:
    created = charge_for(sim, "txn_1", key="a")
    charge_for(sim, "txn_10", key="b")  # a prefix is not a match

    assert ids(sim.search(BY_TXN_1)) == [created]
    assert ids(sim.search('metadata["transaction_id"]:"txn_1"')) == [created]
    assert ids(sim.search("metadata['transaction_id']:'TXN_1'")) == [created]  # as on Stripe
    assert ids(sim.search("metadata['order_id']:'txn_1'")) == []


def test_clauses_joined_by_and_must_all_match(sim: Simulator) -> None:
    succeeded = charge_for(sim, "txn_1", key="a")
    declined = charge_for(sim, "txn_1", key="b", payment_method="pm_card_chargeDeclined")

    assert ids(sim.search(BY_TXN_1)) == [declined, succeeded]
    assert ids(sim.search(f"{BY_TXN_1} AND status:'succeeded'")) == [succeeded]
    assert ids(sim.search(f"{BY_TXN_1} AND status:'requires_payment_method'")) == [declined]
    assert ids(sim.search(f"{BY_TXN_1} AND currency:'eur'")) == []


def test_pages_follow_next_page_newest_first_skipping_non_matches(sim: Simulator) -> None:
    matching = []
    for n in range(5):
        matching.append(charge_for(sim, "txn_1", key=f"m{n}"))
        charge_for(sim, "txn_other", key=f"o{n}")

    pages = [body(sim.search(BY_TXN_1, limit=2))]
    while pages[-1]["has_more"]:
        pages.append(body(sim.search(BY_TXN_1, limit=2, page=pages[-1]["next_page"])))

    assert [[i["id"] for i in page["data"]] for page in pages] == [
        matching[::-1][0:2],
        matching[::-1][2:4],
        matching[::-1][4:5],
    ]
    assert [page["has_more"] for page in pages] == [True, True, False]
    assert all(isinstance(page["next_page"], str) for page in pages[:2])
    assert pages[-1]["next_page"] is None


def test_the_default_limit_is_10(sim: Simulator) -> None:
    for n in range(11):
        charge_for(sim, "txn_1", key=f"k{n}")

    first = body(sim.search(BY_TXN_1))

    assert (len(first["data"]), first["has_more"]) == (10, True)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"query": BY_TXN_1, "limit": "0"}, "limit"),
        ({"query": BY_TXN_1, "limit": "101"}, "limit"),
        ({"query": BY_TXN_1, "page": "not-a-cursor"}, "page"),
        ({"query": BY_TXN_1, "starting_after": "pi_1"}, "starting_after"),
        ({"query": "status:succeeded"}, "query"),
        ({}, "query"),
    ],
)
def test_bad_parameters_are_400s_naming_the_parameter(
    sim: Simulator, params: dict[str, str], param: str
) -> None:
    response = sim.get("/v1/payment_intents/search", **params)

    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_request_error"
    assert error_of(response)["param"] == param


def test_a_cursor_from_before_a_reset_is_refused(sim: Simulator) -> None:
    charge_for(sim, "txn_1", key="a")
    charge_for(sim, "txn_1", key="b")
    cursor = body(sim.search(BY_TXN_1, limit=1))["next_page"]
    sim.client.post("/_simulator/reset")

    response = sim.search(BY_TXN_1, page=cursor)

    assert response.status_code == 400
    assert error_of(response)["param"] == "page"
    assert "no longer exists" in error_of(response)["message"]


def test_search_is_not_taken_for_an_intent_id_and_retrieve_still_works(sim: Simulator) -> None:
    created = charge_for(sim, "txn_1", key="a")

    searched = sim.get("/v1/payment_intents/search", query=BY_TXN_1)
    unqueried = sim.get("/v1/payment_intents/search")
    retrieved = sim.get(f"/v1/payment_intents/{created}")
    posted = sim.client.post(
        "/v1/payment_intents/search", headers={"Authorization": "Bearer sk_test_x"}
    )

    assert body(searched)["object"] == "search_result"
    assert error_of(unqueried)["code"] == "parameter_missing"  # not "No such payment_intent"
    assert (body(retrieved)["object"], body(retrieved)["id"]) == ("payment_intent", created)
    assert posted.status_code == 404
    assert "GET /v1/payment_intents/search" in error_of(posted)["message"]


def test_search_needs_an_api_key(sim: Simulator) -> None:
    response = sim.client.get("/v1/payment_intents/search", query_string={"query": BY_TXN_1})

    assert response.status_code == 401
