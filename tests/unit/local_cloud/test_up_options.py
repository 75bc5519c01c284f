"""What `up` hands its LocalCloud, and what it refuses before making one:
`--payment-provider-port N` (0: a free port, absent: 12111) only where the settings start a
simulator; a second `up` of a stack already running from the same state directory. No
process is started here (conftest.up_calls)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from local_cloud import cli
from local_cloud.cloud import PAYMENT_PROVIDER_PORT
from local_cloud.errors import CommandError


def settings_file(tmp_path: Path, *, payment_provider: bool) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(
        f'template = "{tmp_path / "template.yaml"}"\n'
        f"payment_provider = {str(payment_provider).lower()}\n"
        f'state_dir = "{tmp_path / ".local-cloud"}"\n'
    )
    return path


@pytest.mark.parametrize(
    ("flag", "port"), [([], PAYMENT_PROVIDER_PORT), (["--payment-provider-port", "0"], None)]
)
def test_the_port_reaches_the_local_cloud(
    up_calls: list[dict[str, Any]], tmp_path: Path, flag: list[str], port: int | None
) -> None:
    config = settings_file(tmp_path, payment_provider=True)
    assert cli.main(["up", "--no-view", "--config", str(config), *flag]) == 2
    assert up_calls[-1]["payment_provider_port"] == port


def test_a_port_for_settings_that_start_no_simulator_is_refused(
    up_calls: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = settings_file(tmp_path, payment_provider=False)
    argv = ["up", "--no-view", "--config", str(config), "--payment-provider-port", "0"]
    assert cli.main(argv) == 2
    assert "--payment-provider-port: these settings start no payment provider" in (
        capsys.readouterr().err
    )
    assert up_calls == []
    assert issubclass(CommandError, cli.LocalCloudError)


def test_a_second_up_of_a_running_stack_is_refused_before_anything_starts(
    up_calls: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = settings_file(tmp_path, payment_provider=False)
    live = {"pid": 4242, "endpoint_url": "http://127.0.0.1:4566"}
    monkeypatch.setattr(cli, "read_state", lambda settings: live)
    assert cli.main(["up", "--no-view", "--config", str(config)]) == 2
    assert up_calls == []  # no LocalCloud was made
    error = capsys.readouterr().err
    assert "is already running from" in error
    assert "PID 4242, endpoint http://127.0.0.1:4566" in error
    assert "--stack NAME" in error
    # Once that up has gone (no live state), up starts as before.
    monkeypatch.setattr(cli, "read_state", lambda settings: None)
    assert cli.main(["up", "--no-view", "--config", str(config)]) == 2  # the stand-in's Stop
    assert len(up_calls) == 1
