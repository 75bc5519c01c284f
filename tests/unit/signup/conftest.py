"""Fixtures for the signup tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.welcome_email.conftest import listening_to


@pytest.fixture
def domain_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Records logged by the delivery_guarantees package."""
    caplog.set_level("INFO", logger="delivery_guarantees")
    with listening_to(caplog, "delivery_guarantees"):
        yield caplog
