"""How a worker is set up: its import path and its environment (pure functions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_cloud.lambda_runtime.worker import python_sys_path, worker_environment
from local_cloud.model import FunctionSpec


def _spec(**overrides: object) -> FunctionSpec:
    fields: dict[str, object] = {
        "logical_id": "BillingFunction",
        "function_name": "stack-BillingFunction-1",
        "handler": "app.lambda_handler",
        "runtime": "python3.13",
        "code_dir": Path("/build/BillingFunction"),
        "memory_mb": 256,
    }
    fields.update(overrides)
    return FunctionSpec(**fields)  # type: ignore[arg-type]


def test_the_path_is_task_root_then_layers_last_one_first_then_runtime() -> None:
    spec = _spec(layer_dirs=(Path("/layers/first"), Path("/layers/second")))

    assert python_sys_path(spec, Path("/runtime")) == [
        "/build/BillingFunction",
        "/layers/second/python/lib/python3.13/site-packages",
        "/layers/second/python",
        "/layers/first/python/lib/python3.13/site-packages",
        "/layers/first/python",
        "/runtime",
    ]


def test_the_environment_is_built_not_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME_ONLY_SECRET", "x")

    env = worker_environment(
        _spec(environment={"CHARGES_TABLE_NAME": "charges"}),
        endpoint_url="http://127.0.0.1:4566",
        region="eu-west-1",
        runtime_dir=Path("/runtime"),
        stream_name="2026/01/01/[$LATEST]abc",
    )

    assert "HOME_ONLY_SECRET" not in env
    assert env["CHARGES_TABLE_NAME"] == "charges"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["LAMBDA_RUNTIME_DIR"] == "/runtime"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == "2026/01/01/[$LATEST]abc"
    assert env["_HANDLER"] == "app.lambda_handler"


def test_lambdas_reserved_variables_win_over_the_templates() -> None:
    env = worker_environment(
        _spec(environment={"AWS_REGION": "mars-1", "AWS_ACCESS_KEY_ID": "AKIAREAL"}),
        endpoint_url="http://127.0.0.1:4566",
        region="us-east-1",
        runtime_dir=Path("/runtime"),
        stream_name="s",
    )

    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_ACCESS_KEY_ID"] == "local-cloud-BillingFunction"  # its own: call_log.py
