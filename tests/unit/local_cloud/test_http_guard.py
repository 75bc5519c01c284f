"""The one rule for the local cloud's doors (local_cloud/http_guard.py), in-process:
who may ask (Host, Origin) and what may be sent (complete, well-formed, under a limit)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from local_cloud.http_guard import (
    HttpGuard,
    check_request,
    is_loopback_host_header,
    is_loopback_name,
    is_loopback_origin,
)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.0.0.1:4566",
        "127.1.2.3:80",
        "localhost",
        "LOCALHOST:3000",
        "localhost.:3000",
        "bucket.localhost:4566",
        "[::1]:12111",
        "[::1]",
    ],
)
def test_loopback_host_headers_pass(host: str) -> None:
    assert is_loopback_host_header(host)


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:4566",
        "127.0.0.1.evil.example:4566",  # a rebinding name that merely starts like loopback
        "localhost.evil.example",
        "10.0.0.5:4566",
        "0.0.0.0:4566",
        "[::]:4566",
        "127.0.0.1:notaport",
        "127.0.0.1:99999",
        "user@127.0.0.1",
        "127.0.0.1/path",
        "",
    ],
)
def test_other_host_headers_do_not(host: str) -> None:
    assert not is_loopback_host_header(host)


def test_loopback_names() -> None:
    assert is_loopback_name("127.0.0.1")
    assert is_loopback_name("::1")
    assert not is_loopback_name("localhost.localstack.cloud")  # DNS says so, not the name


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1",
        "http://127.0.0.1:3000",
        "http://localhost:5173",
        "https://localhost:8443",
        "http://[::1]:8080",
        "http://app.localhost:3000",
    ],
)
def test_loopback_origins_pass(origin: str) -> None:
    assert is_loopback_origin(origin)


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "https://evil.example:443",
        "http://127.0.0.1.evil.example",
        "http://localhost.evil.example:3000",
        "null",  # sandboxed iframes, file:// pages, some redirects
        "file://",
        "ftp://127.0.0.1",
        "http://127.0.0.1:3000/path",
        "http://user@127.0.0.1",
        "",
    ],
)
def test_other_origins_do_not(origin: str) -> None:
    assert not is_loopback_origin(origin)


def environ(
    *,
    headers: dict[str, str] | None = None,
    body: bytes | io.RawIOBase = b"",
    path: str = "/",
    method: str = "POST",
    input_terminated: bool = False,
) -> dict[str, Any]:
    """An environ as werkzeug's server makes it (wsgi.input the raw stream; for a chunked
    body, wsgi.input_terminated)."""
    built = EnvironBuilder(path=path, method=method, headers=list((headers or {}).items()))
    env = built.get_environ()
    env.pop("CONTENT_LENGTH", None)
    if headers and "Content-Length" in headers:
        env["CONTENT_LENGTH"] = headers["Content-Length"]
    env["wsgi.input"] = io.BytesIO(body) if isinstance(body, bytes) else body
    if input_terminated:
        env["wsgi.input_terminated"] = True
    return env


class CountingStream(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.remaining = size
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.remaining)
        buffer[:count] = b"x" * count
        self.remaining -= count
        self.read_bytes += count
        return count


class Unreadable(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise AssertionError("the body was read")


class BadChunks(io.RawIOBase):
    """What werkzeug's DechunkedInput raises for a malformed chunked body."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise OSError("Invalid chunk header")


def test_a_request_from_another_origin_is_a_403_and_its_body_is_not_read() -> None:
    refusal = check_request(
        environ(
            headers={"Origin": "http://evil.example", "Content-Length": "10"},
            body=Unreadable(),
        ),
        1024,
    )
    assert refusal is not None
    assert refusal.status == 403
    assert "http://evil.example" in refusal.message


def test_a_request_for_another_host_name_is_a_403() -> None:
    refusal = check_request(environ(headers={"Host": "rebound.evil.example:4566"}), 1024)
    assert refusal is not None
    assert refusal.status == 403
    assert "rebound.evil.example" in refusal.message


def test_an_sdk_request_passes_and_its_body_is_put_back() -> None:
    env = environ(
        headers={"Host": "127.0.0.1:4566", "Content-Length": "5", "User-Agent": "Boto3/1"},
        body=b"hello",
    )
    assert check_request(env, 1024) is None
    assert env["CONTENT_LENGTH"] == "5"
    assert env["wsgi.input"].read() == b"hello"


def test_a_page_on_localhost_may_call() -> None:
    env = environ(headers={"Origin": "http://localhost:5173", "Host": "127.0.0.1:3000"})
    assert check_request(env, 1024) is None


def test_a_declared_body_over_the_limit_is_a_413_without_reading_it() -> None:
    refusal = check_request(environ(headers={"Content-Length": "1025"}, body=Unreadable()), 1024)
    assert refusal is not None
    assert refusal.status == 413


def test_a_body_at_the_limit_passes() -> None:
    env = environ(headers={"Content-Length": "1024"}, body=b"x" * 1024)
    assert check_request(env, 1024) is None
    assert len(env["wsgi.input"].read()) == 1024


def test_a_chunked_body_over_the_limit_is_a_413_read_one_chunk_past_it_at_most() -> None:
    limit = 1024 * 1024
    stream = CountingStream(100 * limit)
    env = environ(headers={"Transfer-Encoding": "chunked"}, body=stream, input_terminated=True)
    refusal = check_request(env, limit)
    assert refusal is not None
    assert refusal.status == 413
    assert stream.read_bytes == limit + 1


def test_a_chunked_body_under_the_limit_is_read_and_becomes_a_plain_one() -> None:
    env = environ(
        headers={"Transfer-Encoding": "chunked"},
        body=CountingStream(3000),
        input_terminated=True,
    )
    assert check_request(env, 1024 * 1024) is None
    assert env["CONTENT_LENGTH"] == "3000"
    assert "HTTP_TRANSFER_ENCODING" not in env
    assert "wsgi.input_terminated" not in env


def test_a_body_shorter_than_its_content_length_is_a_400() -> None:
    refusal = check_request(environ(headers={"Content-Length": "100"}, body=b"0123456789"), 1024)
    assert refusal is not None
    assert refusal.status == 400
    assert "10 of its 100 bytes" in refusal.message


def test_a_malformed_chunked_body_is_a_400() -> None:
    env = environ(
        headers={"Transfer-Encoding": "chunked"},
        body=BadChunks(),
        input_terminated=True,
    )
    refusal = check_request(env, 1024)
    assert refusal is not None
    assert refusal.status == 400
    assert "chunked" in refusal.message


@pytest.mark.parametrize("length", ["abc", "-5", "3,5", "1e3", " 5", "٣"])
def test_a_content_length_that_is_not_a_number_of_bytes_is_a_400(length: str) -> None:
    refusal = check_request(environ(headers={"Content-Length": length}, body=b"01234"), 1024)
    assert refusal is not None
    assert refusal.status == 400


def test_content_length_with_transfer_encoding_is_a_400() -> None:
    env = environ(
        headers={"Content-Length": "3", "Transfer-Encoding": "chunked"},
        body=b"3\r\nabc\r\n0\r\n\r\n",
        input_terminated=True,
    )
    refusal = check_request(env, 1024)
    assert refusal is not None
    assert refusal.status == 400


def test_a_transfer_coding_other_than_chunked_is_a_501() -> None:
    refusal = check_request(environ(headers={"Transfer-Encoding": "gzip"}, body=b"x"), 1024)
    assert refusal is not None
    assert refusal.status == 501


def test_no_limit_still_reads_the_whole_body_or_refuses_a_short_one() -> None:
    env = environ(headers={"Content-Length": "200000"}, body=b"x" * 200_000)
    assert check_request(env, None) is None
    assert len(env["wsgi.input"].read()) == 200_000
    short = check_request(environ(headers={"Content-Length": "9"}, body=b"x"), None)
    assert short is not None
    assert short.status == 400


def test_the_middleware_answers_json_and_never_calls_the_app_for_a_refusal() -> None:
    calls: list[bytes] = []

    def app(env: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(env["wsgi.input"].read())
        start_response("200 OK", [])
        return [b"ran"]

    guarded = HttpGuard(app, lambda path: 16 if path.startswith("/_hooks") else None)
    refused = [
        environ(path="/_hooks/x", headers={"Origin": "http://evil.example"}),
        environ(path="/_hooks/x", headers={"Content-Length": "17"}, body=b"x" * 17),
        environ(path="/aws", headers={"Content-Length": "17"}, body=b"x" * 3),
    ]
    answers = [run_wsgi_app(guarded, env) for env in refused]
    assert [status for _body, status, _headers in answers] == [
        "403 Forbidden",
        "413 Request Entity Too Large",
        "400 Bad Request",
    ]
    for body, _status, headers in answers:
        assert headers["Content-Type"] == "application/json"
        assert set(json.loads(b"".join(body))) == {"message"}
    assert calls == []
    body, status, _ = run_wsgi_app(
        guarded, environ(path="/aws", headers={"Content-Length": "17"}, body=b"x" * 17)
    )
    assert (status, b"".join(body), calls) == ("200 OK", b"ran", [b"x" * 17])
