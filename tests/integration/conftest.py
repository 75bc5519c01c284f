"""Integration tests talk to the local cloud over loopback, so they may open sockets."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.enable_socket)
            item.add_marker(pytest.mark.integration)
