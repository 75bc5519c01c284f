"""The payment provider simulator over real sockets: loopback only; a web page cannot
reset it; a 10 MB body is refused with 413 from its Content-Length, unread."""

from __future__ import annotations

import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from local_cloud.payment_provider import start_payment_provider
from local_cloud.payment_provider.server import PaymentProviderServer
from tests.integration.local_cloud.listening import listening_addresses, needs_proc


@pytest.fixture
def simulator() -> Iterator[PaymentProviderServer]:
    server = start_payment_provider(port=0)
    try:
        yield server
    finally:
        server.stop()


def exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        try:
            conn.sendall(request)
            conn.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while chunk := conn.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        return answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


@needs_proc
def test_it_listens_on_127_0_0_1_only(simulator: PaymentProviderServer) -> None:
    assert listening_addresses(os.getpid(), simulator.port) == {"127.0.0.1"}


def test_a_web_page_cannot_reset_it(simulator: PaymentProviderServer) -> None:
    simulator.app.clock.advance(3600)
    # what a form on http://evil.example posting to the simulator sends
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
        f"{simulator.url}/_simulator/reset",
        data=b"",
        method="POST",
        headers={"Origin": "http://evil.example"},
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    assert raised.value.code == 403
    assert simulator.app.clock.to_json()["offset_seconds"] == 3600


def test_a_10_mb_body_is_a_413_from_its_content_length(simulator: PaymentProviderServer) -> None:
    head = (
        f"POST /_simulator/faults HTTP/1.1\r\nHost: 127.0.0.1:{simulator.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {10 * 1024 * 1024}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    answer = exchange(simulator.port, head)  # the body never comes: it is never waited for
    assert status_of(answer) == 413
    assert b"1048576 bytes" in answer
    assert time.monotonic() - started < 5
    assert simulator.app.faults.pending() == []
