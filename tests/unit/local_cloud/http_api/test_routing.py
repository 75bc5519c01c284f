"""Route selection as API Gateway HTTP APIs do it: the most specific match wins."""

from __future__ import annotations

import pytest

from local_cloud.http_api.routing import RouteError, Router
from local_cloud.model import HttpApiSpec, HttpRouteSpec


def router(*routes: tuple[str, str], api: str = "Api") -> Router:
    return Router([HttpApiSpec(api, tuple(HttpRouteSpec(m, p, f"{m}{p}") for m, p in routes))])


def target(r: Router, method: str, path: str) -> tuple[str, dict[str, str]] | None:
    match = r.match(method, path)
    return None if match is None else (match.route.route_key, match.path_parameters)


def test_a_literal_route_matches_its_method_and_path_only() -> None:
    r = router(("POST", "/accounts"))
    assert target(r, "POST", "/accounts") == ("POST /accounts", {})
    assert target(r, "GET", "/accounts") is None
    assert target(r, "POST", "/accounts/1") is None
    assert target(r, "POST", "/account") is None


def test_path_variables_take_one_segment() -> None:
    r = router(("GET", "/accounts/{accountId}/charges/{chargeId}"))
    assert target(r, "GET", "/accounts/a 1/charges/c2") == (
        "GET /accounts/{accountId}/charges/{chargeId}",
        {"accountId": "a 1", "chargeId": "c2"},
    )
    assert target(r, "GET", "/accounts//charges/c2") is None
    assert target(r, "GET", "/accounts/a/b/charges/c2") is None


def test_a_greedy_variable_takes_the_rest_and_needs_something() -> None:
    r = router(("ANY", "/files/{proxy+}"))
    assert target(r, "DELETE", "/files/a/b.txt") == ("ANY /files/{proxy+}", {"proxy": "a/b.txt"})
    assert target(r, "GET", "/files/") is None
    assert target(r, "GET", "/files") is None


def test_the_most_specific_route_wins_and_default_takes_the_rest() -> None:
    r = router(
        ("ANY", "$default"),
        ("ANY", "/{proxy+}"),
        ("GET", "/pets/{id}"),
        ("ANY", "/pets/dog"),
        ("GET", "/pets/dog"),
    )
    assert target(r, "GET", "/pets/dog") == ("GET /pets/dog", {})
    assert target(r, "POST", "/pets/dog") == ("ANY /pets/dog", {})
    assert target(r, "GET", "/pets/cat") == ("GET /pets/{id}", {"id": "cat"})
    assert target(r, "POST", "/pets/cat") == ("ANY /{proxy+}", {"proxy": "pets/cat"})
    assert target(r, "GET", "/") == ("$default", {})


def test_the_first_api_keeps_a_route_key_two_apis_declare() -> None:
    first = HttpApiSpec("First", (HttpRouteSpec("GET", "/x", "F1"),))
    second = HttpApiSpec("Second", (HttpRouteSpec("GET", "/x", "F2"),))
    match = Router([first, second]).match("GET", "/x")
    assert match is not None
    assert (match.api_logical_id, match.route.function_logical_id) == ("First", "F1")


@pytest.mark.parametrize("path", ["/a/{proxy+}/b", "accounts"])
def test_paths_api_gateway_rejects_are_named(path: str) -> None:
    with pytest.raises(RouteError, match="route GET"):
        router(("GET", path))


def test_a_named_stage_serves_under_its_name_and_default_at_the_root() -> None:
    route = HttpRouteSpec("POST", "/", "Fn")
    items = HttpRouteSpec("GET", "/items/{id}", "Fn")
    prod = Router([HttpApiSpec("Api", (route, items), ("ApiStage",), ("prod",))])
    found = prod.match("POST", "/prod/")
    assert found is not None
    assert (found.route.route_key, found.stage) == ("POST /", "prod")
    assert prod.match("POST", "/prod") is not None  # the stage's root, without the slash
    item = prod.match("GET", "/prod/items/7")
    assert item is not None
    assert item.path_parameters == {"id": "7"}
    assert prod.match("POST", "/") is None  # no $default stage: nothing at the root
    assert prod.match("GET", "/items/7") is None
    assert prod.match("POST", "/production/") is None
    both = Router([HttpApiSpec("Api", (route, items), (), ("$default", "prod"))])
    at_root = both.match("GET", "/items/7")
    in_prod = both.match("GET", "/prod/items/7")
    assert at_root is not None
    assert at_root.stage == "$default"
    assert in_prod is not None
    assert in_prod.stage == "prod"


def test_served_paths_name_each_route_under_each_stage_as_a_client_asks_for_it() -> None:
    route = HttpRouteSpec("POST", "/", "Fn")
    items = HttpRouteSpec("GET", "/items/{id}", "Fn")
    fallback = HttpRouteSpec("ANY", "$default", "Fn")
    prod = Router([HttpApiSpec("Api", (route, items, fallback), ("ApiStage",), ("prod",))])
    assert [shown for _, _, shown in prod.served_paths()] == [
        "POST /prod/",
        "GET /prod/items/{id}",
        "ANY /prod/* ($default route)",
    ]
    # every path shown is one the router serves
    assert prod.match("POST", "/prod/") is not None
    assert prod.match("GET", "/prod/items/7") is not None
    both = Router([HttpApiSpec("Api", (items,), (), ("$default", "prod"))])
    assert [(api, shown) for api, _, shown in both.served_paths()] == [
        ("Api", "GET /items/{id}"),
        ("Api", "GET /prod/items/{id}"),
    ]
