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
    that has several Content-Length headers.

    http.server stops reading headers at an empty line or at the end of the stream
    alike, so a request cut off mid-head would otherwise run with the headers it got.
    """

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
