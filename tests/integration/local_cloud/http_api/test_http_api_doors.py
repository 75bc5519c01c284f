"""The served HTTP API over raw sockets: a request cut off, malformed or from a page of
another site never invokes the function; malformed HTTP is a 400, not a traceback."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator

import pytest

from local_cloud.http_api import start_http_api
from local_cloud.http_api.server import HttpApiServer
from tests.integration.local_cloud.listening import listening_addresses, needs_proc
from tests.unit.local_cloud.http_api.test_app import SIGNUP_API, FakeLambda


@pytest.fixture
def served() -> Iterator[tuple[HttpApiServer, FakeLambda]]:
    fake = FakeLambda()
    server = start_http_api([SIGNUP_API], fake, port=0)
    try:
        yield server, fake
    finally:
        server.stop()


def exchange(port: int, request: bytes) -> bytes:
    """Send the bytes, close our side (the client is gone), read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        try:
            while chunk := conn.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    time.sleep(0.05)  # the handler thread finishes after the socket closes
    return answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


HEAD = "POST /accounts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


@needs_proc
def test_it_listens_on_127_0_0_1_only(served: tuple[HttpApiServer, FakeLambda]) -> None:
    server, _fake = served
    assert listening_addresses(os.getpid(), server.port) == {"127.0.0.1"}


def test_a_body_shorter_than_its_content_length_never_invokes(
    served: tuple[HttpApiServer, FakeLambda],
) -> None:
    server, fake = served
    answer = exchange(server.port, f"{HEAD}Content-Length: 100\r\n\r\n0123456789".encode())
    assert status_of(answer) == 400
    assert fake.calls == []


@pytest.mark.parametrize(
    "request_bytes",
    [
        f"{HEAD}Content-Le",  # cut inside a header
        f"{HEAD}Content-Length: 0\r\n",  # cut before the blank line ending the head
        "POST /accounts HTTP/1.1\r\n",  # the request line only
    ],
)
def test_a_cut_off_head_never_invokes(
    served: tuple[HttpApiServer, FakeLambda], request_bytes: str
) -> None:
    server, fake = served
    answer = exchange(server.port, request_bytes.encode())
    assert answer == b"" or status_of(answer) == 400
    assert fake.calls == []


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ("Transfer-Encoding: chunked\r\n", "ZZ\r\nabc\r\n0\r\n\r\n"),  # a chunk size not hex
        ("Transfer-Encoding: chunked\r\n", "5\r\nab"),  # cut inside a chunk
        ("Transfer-Encoding: chunked\r\n", "-5\r\nabc\r\n0\r\n\r\n"),
        ("Content-Length: abc\r\n", "0123456789"),
        ("Content-Length: -5\r\n", "0123456789"),
        ("Content-Length: 3\r\nContent-Length: 5\r\n", "01234"),
        ("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\n\r\n"),
    ],
)
def test_malformed_http_is_a_400_and_never_invokes(
    served: tuple[HttpApiServer, FakeLambda],
    headers: str,
    body: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, fake = served
    with caplog.at_level(logging.WARNING):
        answer = exchange(server.port, f"{HEAD}{headers}\r\n{body}".encode())
    assert status_of(answer) == 400
    assert fake.calls == []
    assert "Traceback" not in caplog.text


def test_a_complete_chunked_body_invokes(served: tuple[HttpApiServer, FakeLambda]) -> None:
    server, fake = served
    body = '{"email": "a@example.com"}'
    chunked = f"{len(body):x}\r\n{body}\r\n0\r\n\r\n"
    answer = exchange(server.port, f"{HEAD}Transfer-Encoding: chunked\r\n\r\n{chunked}".encode())
    assert status_of(answer) == 204
    [(_function, event)] = fake.calls
    assert event["body"] == body


def test_a_page_of_another_site_is_refused(served: tuple[HttpApiServer, FakeLambda]) -> None:
    server, fake = served
    body = '{"email": "a@example.com"}'
    answer = exchange(
        server.port,
        f"{HEAD}Origin: http://evil.example\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode(),
    )
    assert status_of(answer) == 403
    assert fake.calls == []


def test_a_rebound_host_name_is_refused(served: tuple[HttpApiServer, FakeLambda]) -> None:
    server, fake = served
    answer = exchange(server.port, b"GET /accounts/1 HTTP/1.1\r\nHost: rebound.example\r\n\r\n")
    assert status_of(answer) == 403
    assert fake.calls == []
