"""Serve a WSGI app on loopback in a background thread, one thread per request.

Shared by the simulated payment provider and the local HTTP API: bind first (so a port in
use is an exception here, where werkzeug alone would exit the process), serve from a
daemon thread (a test that forgets stop() must not hang the interpreter), stop on demand.

Every listener of the local cloud (these two and the endpoint) is made by
`bind_loopback`: on a loopback address only, and bound once, so port 0 lets the OS pick
and the port is read from the bound socket (never picked, closed and bound again, which
another process could take in between). The handler refuses a request whose head the
connection cut short (local_cloud/http_guard.py).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from dataclasses import dataclass, field
from typing import Any, Self

from werkzeug.serving import BaseWSGIServer, make_server

from local_cloud.errors import NotLoopback, PortUnavailable
from local_cloud.http_guard import CompleteHeadRequestHandler


def bind_loopback(host: str, port: int | None) -> socket.socket:
    """A listening socket on host:port (None or 0: the OS picks a free port; read it with
    getsockname()). host must be a loopback address; PortUnavailable if the port is taken.
    """
    try:
        loopback = ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        loopback = False  # a name (even localhost: it may resolve to ::1 first), or IPv6
    if not loopback:
        raise NotLoopback(
            f"the local cloud listens on an IPv4 loopback address only (127.0.0.1), not on "
            f"{host!r}: what it serves has no authentication"
        )
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port or 0))
        listener.listen(128)
    except OSError as error:
        listener.close()
        raise PortUnavailable(
            f"cannot listen on {host}:{port}: {error.strerror}; stop what uses the port or "
            "pick another (0 picks a free one)"
        ) from error
    return listener


def _request_handler(logger: logging.Logger, access_level: int | None) -> type:
    class RequestHandler(CompleteHeadRequestHandler):
        """Access lines go to our logger (or nowhere), not to werkzeug's stderr handler."""

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            if access_level is not None:
                logger.log(access_level, '"%s" %s %s', self.requestline, code, size)

        def log_error(self, format: str, *args: Any) -> None:
            logger.warning(format, *args)

    return RequestHandler


@dataclass
class BackgroundServer:
    url: str
    _server: BaseWSGIServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def port(self) -> int:
        return int(self._server.port)

    def stop(self) -> None:
        """Stop accepting requests and close the socket (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()


def serve_in_background(
    app: Any,
    host: str,
    port: int | None,
    *,
    name: str,
    logger: logging.Logger,
    access_level: int | None = logging.DEBUG,
) -> BackgroundServer:
    """Serve app on host:port (None or 0: a free port); raise PortUnavailable if taken."""
    listener = bind_loopback(host, port)
    try:
        server = make_server(
            host,
            listener.getsockname()[1],
            app,
            threaded=True,
            request_handler=_request_handler(logger, access_level),
            fd=listener.fileno(),
        )
    finally:
        listener.close()  # the server holds its own duplicate of the socket
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},
        name=f"{name}-{server.port}",
        daemon=True,
    )
    thread.start()
    return BackgroundServer(url=f"http://{host}:{server.port}", _server=server, _thread=thread)


@dataclass
class ServedApp[AppT]:
    """A running app: `app` gives tests direct access to its state; stop() ends it."""

    app: AppT
    _serving: BackgroundServer = field(repr=False)

    @property
    def url(self) -> str:
        return self._serving.url

    @property
    def port(self) -> int:
        return self._serving.port

    def stop(self) -> None:
        """Stop accepting requests and close the socket (idempotent)."""
        self._serving.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
