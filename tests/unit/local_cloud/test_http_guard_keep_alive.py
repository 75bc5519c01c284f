"""Keep-alive in the local cloud's request handler (local_cloud/http_guard.py), in-process:
the handler reads requests from an in-memory stream and writes its answers to another,
as it would to a socket; no socket is opened."""

from __future__ import annotations

import io
import json
import os
import re
import socket
from collections.abc import Iterable
from typing import Any

from local_cloud.http_guard import CompleteHeadRequestHandler, HttpGuard


class _CountingWriter(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data: Any) -> int:
        self.writes += 1
        return super().write(data)


class _Listener:
    def fileno(self) -> int:
        return 3  # open: a stopped server's socket says -1


class _Server:
    """What the handler reads of werkzeug's server."""

    server_address = ("127.0.0.1", 4566)
    multithread = True
    multiprocess = False
    passthrough_errors = False
    ssl_context = None

    def __init__(self, app: Any) -> None:
        self.app = app
        self.socket = _Listener()

    def log(self, *args: Any) -> None:
        pass


class _Handler(CompleteHeadRequestHandler):
    protocol_version = "HTTP/1.1"  # what werkzeug's threaded server sets on its handler


class _Connection:
    """Something to select on: a pipe nobody writes to (werkzeug's close path waits on
    the connection for stray bytes before closing)."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        self.shut_down_for_writing = False

    def fileno(self) -> int:
        return self._read

    def shutdown(self, how: int) -> None:
        assert how == socket.SHUT_WR
        self.shut_down_for_writing = True

    def close(self) -> None:
        os.close(self._read)
        os.close(self._write)


def _handler(app: Any, raw: bytes, *, stopped: bool = False) -> tuple[_Handler, _CountingWriter]:
    handler = _Handler.__new__(_Handler)
    server = _Server(app)
    if stopped:
        server.socket.fileno = lambda: -1  # type: ignore[method-assign]
    handler.server = server  # type: ignore[assignment]
    handler.client_address = ("127.0.0.1", 50000)
    handler.rfile = io.BufferedReader(io.BytesIO(raw))
    writer = _CountingWriter()
    handler.wfile = writer
    return handler, writer


_LAST_CONNECTION: list[_Connection] = []


def _serve(app: Any, raw: bytes) -> tuple[list[bytes], int, int]:
    """Run the handler over one connection carrying `raw`: (answers, writes, requests the
    app saw). Each answer is the head and body as written."""
    seen = []

    def counting(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.append(environ["PATH_INFO"])
        return app(environ, start_response)

    handler, writer = _handler(HttpGuard(counting, lambda _path: 100), raw)
    connection = _Connection()
    _LAST_CONNECTION[:] = [connection]
    handler.connection = connection
    try:
        handler.handle()
    finally:
        connection.close()
    answers = [part for part in re.split(rb"(?=HTTP/1\.[01] \d{3} )", writer.getvalue()) if part]
    return answers, writer.writes, len(seen)


def _echo(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    body = environ["wsgi.input"].read()
    answer = json.dumps({"path": environ["PATH_INFO"], "body": body.decode()}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [answer]


def _post(path: str, body: bytes, *, extra: str = "", version: str = "HTTP/1.1") -> bytes:
    head = f"POST {path} {version}\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n{extra}"
    return head.encode() + b"\r\n" + body


def test_requests_one_after_another_are_answered_on_one_connection() -> None:
    answers, _, seen = _serve(_echo, _post("/a", b"one") + _post("/b", b"two"))
    assert seen == 2
    assert len(answers) == 2
    assert answers[0].endswith(b'{"path": "/a", "body": "one"}')
    assert answers[1].endswith(b'{"path": "/b", "body": "two"}')
    for answer in answers:
        assert b"Connection: close" not in answer
        assert b"Content-Length: " in answer


def test_each_answer_is_one_write() -> None:
    answers, writes, _ = _serve(_echo, _post("/a", b"one") + _post("/b", b"two"))
    assert writes == len(answers) == 2


def test_a_refused_request_whose_body_was_not_read_closes_the_connection() -> None:
    # Over the limit (100): the guard answers 413 without reading the body; what follows
    # it is not a request line the handler could find, so nothing more is served.
    big = b"x" * 200
    answers, _, seen = _serve(_echo, _post("/a", big) + _post("/b", b"two"))
    assert seen == 0
    assert len(answers) == 1
    assert answers[0].startswith(b"HTTP/1.1 413")
    assert b"Connection: close" in answers[0]
    # A lingering close: the answer is followed by the end of the stream, and what the
    # client still sends is read and dropped, so closing does not reset the answer away.
    assert _LAST_CONNECTION[0].shut_down_for_writing


def test_a_client_asking_to_close_gets_its_connection_closed() -> None:
    answers, _, seen = _serve(
        _echo, _post("/a", b"one", extra="Connection: close\r\n") + _post("/b", b"two")
    )
    assert seen == 1
    assert b"Connection: close" in answers[0]


def test_http_1_0_is_answered_werkzeugs_way_and_closed() -> None:
    answers, _, seen = _serve(_echo, _post("/a", b"one", version="HTTP/1.0") + _post("/b", b"two"))
    assert seen == 1
    assert len(answers) == 1
    assert b"Connection: close" in answers[0]


def test_an_application_error_is_a_500_and_closes() -> None:
    def broken(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        raise RuntimeError("boom")

    answers, _, seen = _serve(broken, _post("/a", b"one") + _post("/b", b"two"))
    assert seen == 1
    assert answers[0].startswith(b"HTTP/1.1 500")
    assert b"Connection: close" in answers[0]


def test_a_stopped_server_answers_nothing_more_on_an_open_connection() -> None:
    handler, writer = _handler(
        HttpGuard(_echo, lambda _path: 100), _post("/a", b"one"), stopped=True
    )
    handler.handle()
    assert writer.getvalue() == b""
