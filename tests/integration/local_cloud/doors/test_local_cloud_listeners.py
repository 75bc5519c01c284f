"""Every listener the local cloud starts (the endpoint, the payment provider simulator,
the stack's HTTP API) is bound to 127.0.0.1 and nothing else, as the kernel reports it."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from local_cloud.cloud import LocalCloud, load_settings
from tests.integration.local_cloud.listening import listening_addresses, needs_proc

REPO = Path(__file__).resolve().parents[4]


@needs_proc
def test_the_endpoint_simulator_and_http_api_listen_on_127_0_0_1_only() -> None:
    settings = load_settings(REPO / "local-cloud.toml").with_overrides(stack="dg-doors-it")
    with LocalCloud(
        settings,
        endpoint_port=None,
        payment_provider_port=None,
        start_pollers=False,
        http_api_port=None,
    ) as cloud:
        assert cloud.endpoint is not None
        assert cloud.endpoint.process is not None
        assert cloud.payment_provider is not None
        assert cloud.http_api is not None
        endpoint_port = urlsplit(cloud.endpoint.url).port
        assert endpoint_port is not None
        listeners = {
            "endpoint": listening_addresses(cloud.endpoint.process.pid, endpoint_port),
            "payment provider": listening_addresses(os.getpid(), cloud.payment_provider.port),
            "HTTP API": listening_addresses(os.getpid(), cloud.http_api.port),
        }
    assert listeners == {
        "endpoint": {"127.0.0.1"},
        "payment provider": {"127.0.0.1"},
        "HTTP API": {"127.0.0.1"},
    }
