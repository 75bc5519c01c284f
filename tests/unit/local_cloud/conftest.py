"""Fixtures shared by the local cloud's unit tests."""

from __future__ import annotations

from typing import Any

import pytest

from local_cloud import cli, cloud
from local_cloud.cloud import Settings
from local_cloud.errors import StartError


class StopUp(StartError):
    """Raised by `up_calls`' stand-in to end `up` once the LocalCloud's options are seen."""


@pytest.fixture
def up_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """`up` with a stand-in for LocalCloud: each LocalCloud made appends its keyword options
    here, and its start raises StopUp (so `cli.main(["up", ...])` returns 2). No process
    starts, pytest's signal handlers stay, and no `up` is taken as running already (a
    developer's `make local` beside the tests does not count)."""
    calls: list[dict[str, Any]] = []

    class RecordingCloud:
        def __init__(self, settings: Settings, **options: Any) -> None:
            calls.append(options)

        def start(self) -> None:
            raise StopUp("stopped by the test")

        def stop(self) -> None:
            pass

    monkeypatch.setattr(cloud, "LocalCloud", RecordingCloud)  # `up` imports it from there
    monkeypatch.setattr(cli, "read_state", lambda settings: None)
    monkeypatch.setattr(cli.signal, "signal", lambda *_: None)
    return calls
