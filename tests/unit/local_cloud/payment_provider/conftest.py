"""A fresh simulator per test (see simulator.py)."""

from __future__ import annotations

import pytest

from tests.unit.local_cloud.payment_provider.simulator import Simulator


@pytest.fixture
def sim() -> Simulator:
    return Simulator()
