"""Serve the simulated payment provider on loopback, one thread per request."""

from __future__ import annotations

import logging

from local_cloud.errors import PaymentSimulatorError, PortUnavailable
from local_cloud.payment_provider.app import PaymentProviderApp
from local_cloud.serving import ServedApp, serve_in_background

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 12111  # stripe-mock's port, so tools pointed at stripe-mock work unchanged

logger = logging.getLogger("local_cloud.payment_provider")


PaymentProviderServer = ServedApp[PaymentProviderApp]


def start_payment_provider(
    host: str = DEFAULT_HOST,
    port: int | None = DEFAULT_PORT,
    *,
    app: PaymentProviderApp | None = None,
) -> PaymentProviderServer:
    """Serve in a background thread; port=None or 0 picks a free port (for tests)."""
    app = app or PaymentProviderApp()
    try:
        serving = serve_in_background(app, host, port, name="payment-provider", logger=logger)
    except PortUnavailable as error:
        raise PaymentSimulatorError(str(error)) from error
    logger.info("payment provider simulator listening on %s", serving.url)
    return PaymentProviderServer(app=app, _serving=serving)
