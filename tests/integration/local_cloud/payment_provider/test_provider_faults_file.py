"""`up --provider-faults FILE`: the simulator's faults are pending before the stack deploys."""

from __future__ import annotations

import json
from pathlib import Path

from local_cloud.cloud import LocalCloud, Settings
from local_cloud.payment_provider.control import PaymentProviderControl

REPO = Path(__file__).resolve().parents[4]
ORDERS = REPO / "tests/templates/orders_fifo"


def test_faults_from_a_file_are_pending_at_the_simulator_once_the_cloud_is_up(
    tmp_path: Path,
) -> None:
    faults = tmp_path / "provider-faults.json"
    faults.write_text(json.dumps([{"kind": "error", "status": 503, "count": 2}]))
    settings = Settings(
        template=ORDERS / "template.yaml",
        stack="provider-faults-it",
        payment_provider=True,
        state_dir=REPO / ".local-cloud",
    )

    with LocalCloud(
        settings,
        endpoint_port=None,
        payment_provider_port=None,
        start_pollers=False,
        serve_http_apis=False,
        provider_faults=faults,
    ) as cloud:
        assert cloud.payment_provider is not None, "the settings start the payment simulator"
        pending = PaymentProviderControl(cloud.payment_provider.url).pending_faults()

    assert [(f["kind"], f["status"], f["remaining"]) for f in pending] == [("error", 503, 2)]
