"""`up --payment-provider-port N` reaches the LocalCloud (0: a free port, absent: 12111), and
only where the settings start a simulator; no process is started here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from local_cloud import cli
from local_cloud.cloud import PAYMENT_PROVIDER_PORT, Settings
from local_cloud.errors import CommandError, StartError


class Stop(StartError):
    """Raised by the stand-in to end the start once the arguments are seen."""


def settings_file(tmp_path: Path, *, payment_provider: bool) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(
        f'template = "{tmp_path / "template.yaml"}"\n'
        f"payment_provider = {str(payment_provider).lower()}\n"
        f'state_dir = "{tmp_path / ".local-cloud"}"\n'
    )
    return path


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    options: dict[str, Any] = {}

    class RecordingCloud:
        def __init__(self, settings: Settings, **given: Any) -> None:
            options.update(given)

        def start(self) -> None:
            raise Stop("stopped by the test")

        def stop(self) -> None:
            pass

    monkeypatch.setattr(cli, "LocalCloud", RecordingCloud)
    monkeypatch.setattr(cli.signal, "signal", lambda *_: None)  # keep pytest's handlers
    return options


@pytest.mark.parametrize(
    ("flag", "port"), [([], PAYMENT_PROVIDER_PORT), (["--payment-provider-port", "0"], None)]
)
def test_the_port_reaches_the_local_cloud(
    seen: dict[str, Any], tmp_path: Path, flag: list[str], port: int | None
) -> None:
    config = settings_file(tmp_path, payment_provider=True)
    assert cli.main(["up", "--no-view", "--config", str(config), *flag]) == 2
    assert seen["payment_provider_port"] == port


def test_a_port_for_settings_that_start_no_simulator_is_refused(
    seen: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = settings_file(tmp_path, payment_provider=False)
    argv = ["up", "--no-view", "--config", str(config), "--payment-provider-port", "0"]
    assert cli.main(argv) == 2
    assert "--payment-provider-port: these settings start no payment provider" in (
        capsys.readouterr().err
    )
    assert seen == {}
    assert issubclass(CommandError, cli.LocalCloudError)
