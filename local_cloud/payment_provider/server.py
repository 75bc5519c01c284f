"""Serve the simulated payment provider on loopback, one thread per request."""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from local_cloud.payment_provider.app import PaymentProviderApp

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 12111  # stripe-mock's port, so tools pointed at stripe-mock work unchanged

logger = logging.getLogger("local_cloud.payment_provider")


class PaymentProviderError(RuntimeError):
    pass


class _RequestHandler(WSGIRequestHandler):
    """Access lines go to our logger (DEBUG), not to werkzeug's stderr handler."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug('"%s" %s %s', self.requestline, code, size)

    def log_error(self, format: str, *args: Any) -> None:
        logger.warning(format, *args)


@dataclass
class PaymentProviderServer:
    """A running simulator; `app` gives tests direct access to its state and hooks."""

    url: str
    app: PaymentProviderApp
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

    def __enter__(self) -> PaymentProviderServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_payment_provider(
    host: str = DEFAULT_HOST,
    port: int | None = DEFAULT_PORT,
    *,
    app: PaymentProviderApp | None = None,
) -> PaymentProviderServer:
    """Serve in a background thread; port=None or 0 picks a free port (for tests)."""
    app = app or PaymentProviderApp()
    # Bind first, so a port in use is an exception here (werkzeug would sys.exit).
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port or 0))
        listener.listen(128)
    except OSError as error:
        listener.close()
        raise PaymentProviderError(
            f"cannot listen on {host}:{port}: {error.strerror}; stop what uses the port or "
            "pick another (port=0 picks a free one)"
        ) from error
    try:
        server = make_server(
            host,
            listener.getsockname()[1],
            app,
            threaded=True,
            request_handler=_RequestHandler,
            fd=listener.fileno(),
        )
    finally:
        listener.close()  # the server holds its own duplicate of the socket
    # daemon: a test that forgets stop() must not hang the interpreter at exit
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},
        name=f"payment-provider-{server.port}",
        daemon=True,
    )
    thread.start()
    url = f"http://{host}:{server.port}"
    logger.info("payment provider simulator listening on %s", url)
    return PaymentProviderServer(url=url, app=app, _server=server, _thread=thread)
