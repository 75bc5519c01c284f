"""The rules every local cloud server applies before it runs anything for a request.

The endpoint, the payment provider simulator and the served HTTP APIs listen on loopback
only, but a browser on this machine can still reach them: any page may POST a form to
http://127.0.0.1:12111/_simulator/reset, and a page whose host name an attacker rebinds
to 127.0.0.1 (DNS rebinding) may even read the answers. So, as LocalStack's CorsEnforcer
does for its gateway:

- a request whose `Host` is not a loopback name (127.0.0.0/8, ::1, localhost or a name
  under .localhost, which browsers keep on loopback) is refused with 403: that is what a
  rebound page sends;
- a request with an `Origin` that is not a loopback origin (http or https, one of those
  hosts, any port) is refused with 403: browsers send Origin with every cross-origin
  fetch and every form POST. SDKs (boto3, stripe) send no Origin, so they pass.

Then the body is read completely before the application sees it, so a request is run
whole or not at all:

- a Content-Length that is not a number, several differing ones, or Content-Length with
  Transfer-Encoding is a 400; a transfer coding other than chunked is a 501;
- a declared length over the server's limit is a 413 without reading the body; a chunked
  body is read no further than one byte past the limit, then 413;
- a body shorter than its Content-Length (the connection closed early) or a malformed
  chunked body is a 400, and the application never runs.

`CompleteHeadRequestHandler` adds the checks that need the connection itself: a request
whose head was cut off (the connection closed before the blank line ending the headers),
or with more than one Content-Length header (WSGI keeps only one), is answered 400
before any application sees it.
"""

from __future__ import annotations

import io
import ipaddress
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, cast
from urllib.parse import urlsplit

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.serving import WSGIRequestHandler

logger = logging.getLogger("local_cloud.http_guard")

# Test hooks and control routes (/_simulator/*, /_local_cloud/*, /_aws/ses, /moto-api/*)
# take small JSON documents; 1 MiB is far above any of them.
HOOK_BODY_LIMIT = 1024 * 1024

_DIGITS = re.compile(r"[0-9]+")
_READ_SIZE = 64 * 1024

StartResponse = Callable[..., Any]


class RequestBody(Protocol):
    """What the guard reads wsgi.input through. werkzeug gives the socket's file for a body
    with a Content-Length, but its de-chunker (an io.RawIOBase, whose read may return None)
    for a chunked one; an empty or None read is the body's end."""

    def read(self, size: int = -1, /) -> bytes | None: ...


WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


# ---------------------------------------------------------------- who may ask


def is_loopback_name(name: str) -> bool:
    """127.0.0.0/8, ::1 (with or without brackets), localhost and *.localhost.

    RFC 6761 keeps localhost and the names under it on loopback, and browsers resolve
    them so without asking DNS: no one else can serve a page from such a name.
    """
    name = name.strip().rstrip(".").lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_loopback_host_header(value: str) -> bool:
    """A Host header naming a loopback host, with or without a valid port."""
    if not value or any(char in value for char in "@/?#\\ \t"):
        return False
    parts = urlsplit(f"//{value}")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return False
    return parts.hostname is not None and is_loopback_name(parts.hostname)


def is_loopback_origin(origin: str) -> bool:
    """http(s)://<loopback host>[:port], nothing else (`null` and file:// included)."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or parts.path or parts.query or parts.fragment:
        return False
    if "@" in parts.netloc:
        return False
    return is_loopback_host_header(parts.netloc)


def refusal_reason(environ: dict[str, Any]) -> str | None:
    """Why this request is refused with 403 (a browser's, from elsewhere), or None.

    No Host at all (HTTP/1.0) is let through: browsers always send one.
    """
    host = environ.get("HTTP_HOST")
    if host is not None and not is_loopback_host_header(host):
        return (
            f"Host {host!r} is not a loopback name: the local cloud answers requests "
            "addressed to 127.0.0.1, [::1] or localhost only"
        )
    origin = environ.get("HTTP_ORIGIN")
    if origin is not None and not is_loopback_origin(origin):
        return (
            f"Origin {origin!r} is not a loopback origin: the local cloud refuses browser "
            "requests from pages of other sites"
        )
    return None


# ---------------------------------------------------------------- what they may send


@dataclass(frozen=True)
class Refusal:
    """The answer a guarded server gives instead of running the request."""

    status: int
    message: str

    @property
    def status_line(self) -> str:
        return f"{self.status} {HTTP_STATUS_CODES[self.status]}"


class _BodyProblem(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def read_body(environ: dict[str, Any], limit: int | None) -> bytes:
    """Read the whole body (never more than limit + 1 bytes) and put it back in the
    environ as a plain stream with its Content-Length, chunked or not.

    Raises _BodyProblem for a malformed, incomplete or over-limit body.
    """
    encoding = environ.get("HTTP_TRANSFER_ENCODING")
    declared = environ.get("CONTENT_LENGTH") or None
    chunked = bool(environ.get("wsgi.input_terminated"))
    if encoding is not None:
        if declared is not None:
            raise _BodyProblem(400, "a request may not have both Content-Length and "
                                    "Transfer-Encoding")  # fmt: skip
        if encoding.strip().lower() != "chunked":
            raise _BodyProblem(501, f"Transfer-Encoding {encoding!r} is not supported: "
                                    "chunked only")  # fmt: skip
        chunked = True
    stream = cast(RequestBody, environ.get("wsgi.input") or io.BytesIO())
    if declared is not None:
        if not _DIGITS.fullmatch(declared):
            raise _BodyProblem(400, f"Content-Length {declared!r} is not a number of bytes")
        length = int(declared)
        if limit is not None and length > limit:
            raise _BodyProblem(413, _too_large(limit))
        body = _read_exactly(stream, length)
    elif chunked:
        body = _read_to_end(stream, limit)
    else:
        body = b""  # RFC 9112: a request without either header has no body
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("wsgi.input_terminated", None)
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return body


def _too_large(limit: int) -> str:
    return f"the request body is over this server's limit of {limit} bytes"


def _read_exactly(stream: RequestBody, length: int) -> bytes:
    parts: list[bytes] = []
    remaining = length
    while remaining:
        try:
            part = stream.read(min(remaining, _READ_SIZE))
        except (OSError, ValueError) as error:
            raise _BodyProblem(400, f"the body could not be read: {error}") from None
        if not part:
            raise _BodyProblem(
                400,
                f"the body ended after {length - remaining} of its {length} bytes "
                "(Content-Length): the request is not run",
            )
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def _read_to_end(stream: RequestBody, limit: int | None) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        want = _READ_SIZE if limit is None else min(_READ_SIZE, limit + 1 - size)
        try:
            part = stream.read(want)
        except (OSError, ValueError) as error:  # werkzeug's de-chunker: bad or cut chunks
            raise _BodyProblem(400, f"malformed chunked body: {error}") from None
        if not part:
            return b"".join(parts)
        parts.append(part)
        size += len(part)
        if limit is not None and size > limit:
            raise _BodyProblem(413, _too_large(limit))


def check_request(environ: dict[str, Any], body_limit: int | None) -> Refusal | None:
    """Apply every rule: None if the request may run (its body then read completely and
    in the environ), else the refusal to answer instead. Nothing of the body is read for
    a 403 or for a declared length over the limit."""
    reason = refusal_reason(environ)
    if reason is not None:
        logger.warning(
            "refused %s %s: %s",
            environ.get("REQUEST_METHOD"),
            environ.get("PATH_INFO"),
            reason,
        )
        return Refusal(403, reason)
    try:
        read_body(environ, body_limit)
    except _BodyProblem as problem:
        logger.info(
            "refused %s %s: %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), problem
        )
        return Refusal(problem.status, str(problem))
    return None


class HttpGuard:
    """WSGI middleware applying check_request; a refusal is a JSON {"message": ...}.

    body_limit gives the limit for a path (None: no limit, the body is still read whole).
    """

    def __init__(self, app: WsgiApp, body_limit: Callable[[str], int | None]) -> None:
        self.app = app
        self.body_limit = body_limit

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        refusal = check_request(environ, self.body_limit(environ.get("PATH_INFO", "")))
        if refusal is None:
            return self.app(environ, start_response)
        return json_refusal(refusal, start_response)


def json_refusal(refusal: Refusal, start_response: StartResponse) -> list[bytes]:
    body = json.dumps({"message": refusal.message}).encode()
    start_response(
        refusal.status_line,
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


# ---------------------------------------------------------------- the connection


class _HeadReader:
    """The connection's reader while the head is parsed: remembers hitting its end."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.ended = False

    def readline(self, size: int = -1) -> bytes:
        line = self.raw.readline(size)
        if not line:
            self.ended = True
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


class CompleteHeadRequestHandler(WSGIRequestHandler):
    """werkzeug's handler, refusing a request whose head the connection cut short, or
    that has several Content-Length headers, and keeping HTTP/1.1 connections open.

    http.server stops reading headers at an empty line or at the end of the stream
    alike, so a request cut off mid-head would otherwise run with the headers it got.

    Keep-alive: werkzeug answers every request with `Connection: close`, because
    http.server cannot find the next request line behind a body nobody read. So every
    SDK call was a new TCP connection and a new server thread, and werkzeug then waited
    10 ms on the closing socket for stray bytes. Measured against the endpoint, 300
    conditional PutItems one after another took 3.4 s with this (mean of 6 runs, 2.5-4.2)
    against 4.7 s (3.9-6.5) without; the endpoint's CPU time per message barely moved.
    Here a request whose body length is known
    (Content-Length, or none) is answered on a connection that stays open when the
    application read that body exactly (the guard reads it whole): the next request
    starts right behind it. Anything else (chunked bodies, HTTP/1.0, `Expect`, a client
    asking to close, a body left unread by a refusal, an error) goes werkzeug's way or
    closes the connection after the answer. The answer is written with one write, head
    and body together.
    """

    def run_wsgi(self) -> None:
        if self.server.socket.fileno() == -1:
            # The server was stopped while this connection stayed open: no answer, as
            # a stopped server gives none (the client sees the connection close).
            self.close_connection = True
            return
        if not self._may_keep_alive():
            super().run_wsgi()
            return
        length = int(self.headers.get("Content-Length") or 0)
        environ = self.environ = self.make_environ()
        body = _CountingInput(cast(BinaryIO, self.rfile), length)
        environ["wsgi.input"] = body
        answer: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            if exc_info and answer:
                raise exc_info[1].with_traceback(exc_info[2])
            answer[:] = [status, headers]
            return _no_write

        try:
            iterable = self.server.app(environ, start_response)
            try:
                payload = b"".join(iterable)
            finally:
                close = getattr(iterable, "close", None)
                if close is not None:
                    close()
        except (ConnectionError, TimeoutError) as error:  # a drop fault, a client gone
            self.close_connection = True
            self.connection_dropped(error, environ)
            return
        except Exception:
            logger.exception("error on %s %s", self.command, self.path)
            payload = b"Internal Server Error"
            answer[:] = ["500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")]]
            self.close_connection = True
        if not answer:
            answer[:] = ["500 INTERNAL SERVER ERROR", [("Content-Length", "0")]]
            payload, self.close_connection = b"", True
        # A body left unread (a refusal before reading it): the next request line is
        # somewhere behind it, so this connection ends with this answer.
        if body.remaining:
            self.close_connection = True
        try:
            self._send(str(answer[0]), answer[1], payload)
            if body.remaining:
                _discard_pending(self.connection, self.rfile)
        except (ConnectionError, TimeoutError) as error:
            self.close_connection = True
            self.connection_dropped(error, environ)

    def _may_keep_alive(self) -> bool:
        headers = self.headers
        length = headers.get("Content-Length")
        return (
            self.request_version == "HTTP/1.1"
            and not self.close_connection  # http.server: the client's Connection header
            and getattr(self.server, "ssl_context", None) is None
            and "Transfer-Encoding" not in headers
            and "Expect" not in headers
            and (length is None or _DIGITS.fullmatch(length) is not None)
        )

    def _send(self, status: str, headers: list[tuple[str, str]], payload: bytes) -> None:
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        self.send_response(code, reason)
        names = set()
        for name, value in headers:
            self.send_header(name, value)  # `Connection: close` sets close_connection
            names.add(name.lower())
        bodyless = self.command == "HEAD" or 100 <= code < 200 or code in (204, 304)
        if bodyless:
            payload = b""
        elif "content-length" not in names:
            self.send_header("Content-Length", str(len(payload)))
        if self.close_connection and "connection" not in names:
            self.send_header("Connection", "close")
        # end_headers() would write the head alone and the body in a second write: one
        # write, so the client wakes once (http.server keeps the head in _headers_buffer).
        self._headers_buffer.append(b"\r\n" + payload)
        self.flush_headers()

    def parse_request(self) -> bool:
        reader = _HeadReader(cast(BinaryIO, self.rfile))
        self.rfile = cast(Any, reader)
        try:
            parsed = super().parse_request()
        finally:
            self.rfile = cast(Any, reader.raw)
        if not parsed:
            return False
        if reader.ended:
            self.send_error(
                400, "Bad Request", "the connection ended before the end of the request head"
            )
            return False
        if len(self.headers.get_all("Content-Length") or ()) > 1:
            # WSGI keeps one of them: which body length the client meant is unknowable
            self.send_error(400, "Bad Request", "more than one Content-Length header")
            return False
        return True


class _CountingInput:
    """The request body as the application reads it: at most `length` bytes, counted."""

    def __init__(self, stream: BinaryIO, length: int) -> None:
        self._stream = stream
        self.remaining = length

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        data = self._stream.read(size) if size else b""
        self.remaining -= len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        data = self._stream.readline(size) if size else b""
        self.remaining -= len(data)
        return data

    def __iter__(self) -> Iterable[bytes]:
        while line := self.readline():
            yield line


def _no_write(data: bytes) -> None:
    raise RuntimeError("the local cloud's servers take the response iterable, not write()")


_LINGER_SECONDS = 5.0
_LINGER_BYTES = 64 * 1024 * 1024


def _discard_pending(connection: Any, rfile: Any) -> None:
    """A lingering close, after an answer to a request whose body was left unread: stop
    writing (the client gets the answer, then the end of the stream), then read and drop
    what the client still sends, up to 64 MiB, waiting up to 1 s for each next piece and
    5 s in all. Closing a socket with unread bytes in it resets the connection, and the
    reset can destroy the answer before the client has read it: werkzeug's own discard
    (10 MB at most, 10 ms per wait) lost the 413 to a client still sending 10 MiB on a
    busy machine (CI: ENOTCONN on the client's shutdown)."""
    import selectors
    import socket
    import time

    try:
        connection.shutdown(socket.SHUT_WR)
    except OSError:
        return  # the client is gone already
    deadline = time.monotonic() + _LINGER_SECONDS
    total = 0
    with selectors.DefaultSelector() as selector:
        selector.register(connection, selectors.EVENT_READ)
        while total < _LINGER_BYTES:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(timeout=min(1.0, left)):
                break
            try:
                data = rfile.read1(65536) if hasattr(rfile, "read1") else rfile.read(65536)
            except OSError:
                break
            if not data:
                break
            total += len(data)
