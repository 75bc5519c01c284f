"""The served HTTP API's doors, in process: browser requests from other sites and
incomplete or malformed bodies never invoke the function."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from werkzeug.test import Client, EnvironBuilder, run_wsgi_app

from local_cloud.http_api import HttpApiApp
from local_cloud.http_guard import RequestBody
from tests.unit.local_cloud.http_api.test_app import SIGNUP_API, FakeLambda

BODY = b'{"email": "a@example.com", "name": "Ada", "payment_method": "pm_card_visa"}'


def app(fake: FakeLambda) -> HttpApiApp:
    return HttpApiApp([SIGNUP_API], fake)


def test_a_page_of_another_site_cannot_call_the_api() -> None:
    fake = FakeLambda()
    response = Client(app(fake)).post(
        "/accounts", data=BODY, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert response.json == {"message": "Forbidden"}
    assert fake.calls == []


def test_a_rebound_host_name_is_refused() -> None:
    fake = FakeLambda()
    response = Client(app(fake)).get("/accounts/1", headers={"Host": "rebound.example:3000"})
    assert response.status_code == 403
    assert fake.calls == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Host": "127.0.0.1:3000"},
        {"Host": "localhost:3000", "Origin": "http://localhost:5173"},
        {"Origin": "http://127.0.0.1:3000"},
    ],
)
def test_clients_on_this_machine_and_local_pages_pass(headers: dict[str, str]) -> None:
    fake = FakeLambda()
    response = Client(app(fake)).post("/accounts", data=BODY, headers=headers)
    assert response.status_code == 204
    assert len(fake.calls) == 1


def post_raw(fake: FakeLambda, headers: dict[str, str], stream: RequestBody, **env: Any) -> int:
    built = EnvironBuilder(path="/accounts", method="POST", headers=list(headers.items()))
    environ = built.get_environ()
    environ.pop("CONTENT_LENGTH", None)
    if "Content-Length" in headers:
        environ["CONTENT_LENGTH"] = headers["Content-Length"]
    environ |= {"wsgi.input": stream, **env}
    body, status, _ = run_wsgi_app(app(fake), environ)
    answer = json.loads(b"".join(body))
    code = int(status.split()[0])
    assert answer == {"message": {400: "Bad Request", 501: "Not Implemented"}[code]}
    return code


def test_a_body_shorter_than_its_content_length_never_invokes() -> None:
    fake = FakeLambda()
    status = post_raw(fake, {"Content-Length": "100"}, io.BytesIO(b"0123456789"))
    assert (status, fake.calls) == (400, [])


class BadChunks(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise OSError("Invalid chunk header")  # what werkzeug's DechunkedInput raises


def test_a_malformed_chunked_body_is_a_400_not_a_traceback() -> None:
    fake = FakeLambda()
    status = post_raw(
        fake, {"Transfer-Encoding": "chunked"}, BadChunks(), **{"wsgi.input_terminated": True}
    )
    assert (status, fake.calls) == (400, [])


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Length": "abc"},
        {"Content-Length": "-5"},
        {"Content-Length": "3,5"},  # two differing Content-Length headers, as WSGI joins them
        {"Content-Length": "3", "Transfer-Encoding": "chunked"},
    ],
)
def test_a_malformed_content_length_is_a_400(headers: dict[str, str]) -> None:
    fake = FakeLambda()
    assert post_raw(fake, headers, io.BytesIO(b"01234")) == 400
    assert fake.calls == []


def test_a_transfer_coding_other_than_chunked_is_a_501() -> None:
    fake = FakeLambda()
    assert post_raw(fake, {"Transfer-Encoding": "gzip"}, io.BytesIO(b"x")) == 501
    assert fake.calls == []
