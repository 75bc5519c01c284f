"""How the other commands find the stack a running `up` serves.

`up` writes .local-cloud/state/<stack>.json while it runs (its PID, the endpoint's URL, the
queues, the deployed stack); `invoke`, `send`, `logs`, `dlq` and `redrive` read it to reach
that stack, and take it as gone when the PID has exited or the endpoint does not answer.
Which stack a command means comes from its flags and the settings file (settings_from_args).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local_cloud.model import DeployedStack, FunctionSpec, ResourceNote, SqsEventSourceSpec
from local_cloud.settings import (
    DEFAULT_SETTINGS_FILE,
    Settings,
    load_settings,
    parse_parameter_overrides,
)

if TYPE_CHECKING:  # the commands that only read the state never import the deployer
    from local_cloud.cloud import LocalCloud


def settings_from_args(args: argparse.Namespace) -> Settings:
    config = args.config
    if config is not None:
        settings = load_settings(config)
    elif DEFAULT_SETTINGS_FILE.is_file():
        settings = load_settings(DEFAULT_SETTINGS_FILE)
    else:
        settings = Settings()
    overrides = parse_parameter_overrides(getattr(args, "parameter_overrides", None) or [])
    return settings.with_overrides(
        template=getattr(args, "template", None), stack=args.stack, parameter_overrides=overrides
    )


def state_path(settings: Settings) -> Path:
    return settings.state_dir / "state" / f"{settings.stack}.json"


def write_state(cloud: LocalCloud) -> Path:
    assert cloud.deployment is not None
    assert cloud.endpoint is not None
    path = state_path(cloud.settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "pid": os.getpid(),
        "endpoint_url": cloud.endpoint.url,
        "runtime_dir": str(cloud.deployment.runtime_dir),
        "queue_urls": dict(cloud.deployment.queue_urls),
        "stack": asdict(cloud.stack),
    }
    staging = path.with_suffix(".json.staging")
    staging.write_text(json.dumps(state, indent=2, default=str))
    staging.replace(path)
    return path


def read_state(settings: Settings) -> dict[str, Any] | None:
    """The state of a live `up` for this stack, or None (absent or stale)."""
    path = state_path(settings)
    if not path.is_file():
        return None
    from local_cloud.endpoint import is_answering  # only where there is a state to check

    state: dict[str, Any] = json.loads(path.read_text())
    if not _pid_alive(int(state["pid"])) or not is_answering(state["endpoint_url"]):
        return None
    return state


def stack_from_state(state: dict[str, Any]) -> DeployedStack:
    raw = state["stack"]
    functions = tuple(
        FunctionSpec(
            **{
                **item,
                "code_dir": Path(item["code_dir"]),
                "layer_dirs": tuple(Path(p) for p in item["layer_dirs"]),
            }
        )
        for item in raw["functions"]
    )
    sources = tuple(
        SqsEventSourceSpec(**{**item, "filter_patterns": tuple(item.get("filter_patterns", ()))})
        for item in raw["sqs_event_sources"]
    )
    return DeployedStack(
        **{
            **raw,
            "functions": functions,
            "sqs_event_sources": sources,
            "unsupported_resources": tuple(
                ResourceNote(**item) for item in raw["unsupported_resources"]
            ),
        }
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
