"""Listeners are refused on anything but an IPv4 loopback address, before any socket is
made (the endpoint, the simulator and the HTTP API share bind_loopback)."""

from __future__ import annotations

import pytest

from local_cloud import endpoint_server
from local_cloud.http_api import start_http_api
from local_cloud.http_api.server import HttpApiError
from local_cloud.payment_provider import start_payment_provider
from local_cloud.payment_provider.server import PaymentSimulatorError
from local_cloud.serving import NotLoopback, bind_loopback
from tests.unit.local_cloud.http_api.test_app import SIGNUP_API, FakeLambda

ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - what must be refused


@pytest.mark.parametrize("host", [ALL_INTERFACES, "", "192.168.1.10", "localhost", "::1", "::"])
def test_only_an_ipv4_loopback_address_may_be_bound(host: str) -> None:
    with pytest.raises(NotLoopback, match="loopback"):
        bind_loopback(host, 0)


def test_the_simulator_and_the_http_api_refuse_other_addresses() -> None:
    with pytest.raises(PaymentSimulatorError, match="loopback"):
        start_payment_provider(ALL_INTERFACES, 0)
    with pytest.raises(HttpApiError, match="loopback"):
        start_http_api([SIGNUP_API], FakeLambda(), host=ALL_INTERFACES, port=0)


def test_the_endpoint_process_refuses_other_addresses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(endpoint_server.signal, "signal", lambda *_: None)  # pytest's stay
    # main() patches moto for the endpoint process before it binds; in this process those
    # patches would outlive the test (moto's method names cached before a later test adds a
    # method to a response class made that test fail), and they are not what is tested here.
    for patch in ("share_region_lookups", "name_failing_resources", "speed_up_moto"):
        monkeypatch.setattr(endpoint_server, patch, lambda: None)
    with pytest.raises(SystemExit) as exited:
        endpoint_server.main(["-H", ALL_INTERFACES, "-p", "0", "--monitoring-interval", "0"])
    assert exited.value.code == 2
    assert "loopback" in capsys.readouterr().err
