"""Model-based guarantee tests (Hypothesis state machines): the `model` marker.

Registered here so `--strict-markers` accepts it without touching pyproject.toml; it may
move to pyproject.toml's markers list. Settings: `harness.SETTINGS`.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "model: model-based guarantee tests (Hypothesis)")
