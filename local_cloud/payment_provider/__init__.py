"""A simulated payment provider: the Stripe API subset the billing function uses, with
Stripe's idempotency semantics, a test clock and fault injection, on 127.0.0.1:12111
(stripe-mock's port). Point the SDK at it with
`stripe.StripeClient(key, base_addresses={"api": server.url})`.
"""

from local_cloud.payment_provider.app import PaymentProviderApp
from local_cloud.payment_provider.control import PaymentProviderControl, SimulatorHookError
from local_cloud.payment_provider.faults import Fault, FaultKind, FaultPhase
from local_cloud.payment_provider.server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    PaymentProviderServer,
    PaymentSimulatorError,
    start_payment_provider,
)

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "Fault",
    "FaultKind",
    "FaultPhase",
    "PaymentProviderApp",
    "PaymentProviderControl",
    "PaymentProviderServer",
    "PaymentSimulatorError",
    "SimulatorHookError",
    "start_payment_provider",
]
