"""template.yaml's signup API served by the local cloud, called over HTTP like a client would."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_cloud.cloud import LocalCloud, load_settings

REPO = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    settings = load_settings(REPO / "local-cloud.toml").with_overrides(stack="dg-http-it")
    # free ports; no pollers: the queued jobs are not what this module checks
    with LocalCloud(
        settings,
        endpoint_port=None,
        payment_provider_port=None,
        start_pollers=False,
        http_api_port=None,
    ) as running:
        yield running


def post(
    url: str,
    body: bytes,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, Any]:
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
        url, data=body, method="POST", headers={"Content-Type": content_type, **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


def signup(email: str) -> bytes:
    return json.dumps(
        {"email": email, "name": "Ada Lovelace", "payment_method": "pm_card_visa"}
    ).encode()


def test_the_api_is_served_and_reported_as_handled_locally(cloud: LocalCloud) -> None:
    assert cloud.http_api is not None
    assert cloud.deployment is not None
    assert not any(
        "ApiGatewayV2" in note.resource_type for note in cloud.stack.unsupported_resources
    )
    served = [note for note in cloud.deployment.handled_locally if "served locally" in note.how]
    assert sorted(note.logical_id for note in served) == [
        "SignupHttpApi",
        "SignupHttpApiApiGatewayDefaultStage",
    ]
    assert all(note.how == f"served locally at {cloud.http_api.url}" for note in served)


def test_a_signup_is_created_then_replayed_to_its_key_and_refused_without_it(
    cloud: LocalCloud,
) -> None:
    """Headers reach the function through the local API: the retry's Idempotency-Key
    replays the first answer; the same body without the key gets the one 409."""
    assert cloud.http_api is not None
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    key = {"Idempotency-Key": uuid.uuid4().hex}
    status, headers, created = post(f"{cloud.http_api.url}/accounts", signup(email), headers=key)
    assert status == 201, created
    assert headers["Content-Type"] == "application/json"
    assert headers["apigw-requestid"]
    assert created["account"]["email"] == email
    status, headers, again = post(f"{cloud.http_api.url}/accounts", signup(email), headers=key)
    assert status == 201, again
    assert headers["Idempotent-Replayed"] == "true"
    assert again["account"]["account_id"] == created["account"]["account_id"]
    status, _, refused = post(f"{cloud.http_api.url}/accounts", signup(email))
    assert (status, refused["field"]) == (409, "email")
    assert "account" not in refused
    assert again["first_charge_transaction_id"] == created["first_charge_transaction_id"]


def test_an_invalid_email_is_a_400_naming_the_field(cloud: LocalCloud) -> None:
    assert cloud.http_api is not None
    status, _, body = post(f"{cloud.http_api.url}/accounts", signup("not-an-email"))
    assert status == 400
    assert body["field"] == "email"


def test_an_unknown_route_is_a_404_and_no_invocation(cloud: LocalCloud) -> None:
    assert cloud.http_api is not None
    before = cloud.lambda_service.stats()["SignupFunction"].invocations
    status, _, body = post(f"{cloud.http_api.url}/nowhere", b"{}")
    assert (status, body) == (404, {"message": "Not Found"})
    status, _, body = post(f"{cloud.http_api.url}/accounts/extra", b"{}")
    assert status == 404
    assert cloud.lambda_service.stats()["SignupFunction"].invocations == before
