"""What the arguments and the files they name alone can refuse, LocalCloud.start() refuses
before it starts any thread or process (LocalCloud._preflight): a missing template, one
that is not YAML, one with no Resources, an invalid endpoint faults file. The message is
the one the later check gave. A good template is parsed once and goes on to the build.
No process is started here: start_endpoint is a stand-in that records its calls."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from local_cloud import cli, cloud
from local_cloud.cloud import LocalCloud, Settings
from local_cloud.endpoint import EndpointError
from local_cloud.errors import StartError, TemplateError
from local_cloud.stack import template as template_module

ORDERS_TEMPLATE = Path(__file__).resolve().parents[3] / "tests/templates/orders_fifo/template.yaml"


class Stop(StartError):
    """Raised by the stand-ins to end a start that got past the preflight."""


@pytest.fixture
def endpoint_starts(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """start_endpoint's stand-in: records each call (and its thread) and raises Stop."""
    calls: list[dict[str, Any]] = []

    def recording_start_endpoint(**options: Any) -> None:
        calls.append({**options, "thread": threading.current_thread().name})
        raise Stop("stopped by the test")

    monkeypatch.setattr(cloud, "start_endpoint", recording_start_endpoint)
    return calls


def start(template: Path, tmp_path: Path, **options: Any) -> None:
    settings = Settings(template=template, stack="preflight", state_dir=tmp_path / ".lc")
    LocalCloud(settings, endpoint_port=None, payment_provider_port=None, **options).start()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "does not exist"),
        ("Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n   Properties: {}\n", "is not valid"),
        ("- just\n- a list\n", "has no Resources section"),
        ("Outputs: {}\n", "has no Resources section"),
    ],
    ids=["missing", "not-yaml", "not-a-mapping", "no-resources"],
)
def test_a_template_mistake_is_refused_before_the_endpoint_starts(
    endpoint_starts: list[dict[str, Any]], tmp_path: Path, text: str | None, message: str
) -> None:
    template = tmp_path / "template.yaml" if text is None else write(tmp_path, "t.yaml", text)
    threads_before = threading.active_count()

    with pytest.raises(TemplateError, match=message) as raised:
        start(template, tmp_path)

    assert f"template {template} " in str(raised.value)
    assert endpoint_starts == []
    assert threading.active_count() == threads_before


def test_an_invalid_endpoint_faults_file_is_refused_before_the_endpoint_starts(
    endpoint_starts: list[dict[str, Any]], tmp_path: Path
) -> None:
    faults = write(tmp_path, "faults.json", json.dumps([{"service": "ses", "status": 302}]))

    with pytest.raises(EndpointError, match=r"invalid endpoint faults: .*faults.json"):
        start(ORDERS_TEMPLATE, tmp_path, endpoint_faults=faults)
    assert endpoint_starts == []


def test_a_good_template_is_parsed_once_and_the_endpoint_starts_beside_the_build(
    endpoint_starts: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses: list[str] = []
    parse = template_module.parse_template

    def counting_parse(text: str) -> Any:
        parses.append(text)
        return parse(text)

    monkeypatch.setattr(template_module, "parse_template", counting_parse)
    prepared: list[Any] = []

    def recording_prepare_stack(options: Any, template: Any = None, check: Any = None) -> None:
        prepared.append(template)
        raise Stop("stopped by the test")

    monkeypatch.setattr(cloud, "prepare_stack", recording_prepare_stack)

    with pytest.raises(Stop):
        start(ORDERS_TEMPLATE, tmp_path)

    assert len(parses) == 1
    assert prepared == [parse(ORDERS_TEMPLATE.read_text())]  # the parsed template, passed on
    assert [call["thread"] for call in endpoint_starts] == ["endpoint-start"]


@pytest.mark.parametrize(
    "command",
    [["up", "--no-view"], ["invoke", "AuditFunction", "--event", "{event}"]],
    ids=lambda command: command[0],
)
def test_the_cli_names_a_missing_template_without_starting_the_endpoint(
    endpoint_starts: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    monkeypatch.setattr(cli, "read_state", lambda settings: None)  # no `up` taken as running
    monkeypatch.setattr(cli.signal, "signal", lambda *_: None)  # pytest's handlers stay
    event = write(tmp_path, "event.json", "{}")
    config = write(tmp_path, "settings.toml", f'state_dir = "{tmp_path / ".lc"}"\n')
    missing = tmp_path / "missing.yaml"
    argv = [part.format(event=event) for part in command]

    status = cli.main([*argv, "--config", str(config), "--template", str(missing)])

    assert status == 2
    assert f"error: template {missing} does not exist" in capsys.readouterr().err
    assert endpoint_starts == []
