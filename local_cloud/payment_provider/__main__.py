"""`python -m local_cloud.payment_provider [--host H] [--port P]`: serve until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from local_cloud.payment_provider.server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    PaymentSimulatorError,
    start_payment_provider,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_cloud.payment_provider",
        description="Simulated Stripe payment provider (PaymentIntents, idempotency, faults).",
    )
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        server = start_payment_provider(args.host, args.port)
    except PaymentSimulatorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    # The first line on stdout is the URL, so a parent process can read the port.
    print(server.url, flush=True)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
