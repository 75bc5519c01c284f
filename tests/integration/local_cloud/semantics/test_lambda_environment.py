"""What a function sees inside its execution environment: imports, environment, context."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from local_cloud.lambda_runtime import Throttled
from local_cloud.model import FunctionSpec
from tests.integration.local_cloud.semantics.conftest import Cloud, error_of

PROBE_LAYER = Path(__file__).resolve().parent / "layers" / "probe_layer"


def _probe(cloud: Cloud, **function_options: Any) -> tuple[FunctionSpec, dict[str, Any]]:
    function = cloud.function(**function_options)
    service = cloud.service(function)
    event = {"Records": [{"messageId": "m1", "body": '{"probe": true}'}]}
    result = service.invoke(function.function_name, event)
    assert result.error is None, result.error
    return function, result.payload


def test_the_function_imports_only_what_lambda_would_give_it(cloud: Cloud) -> None:
    _, seen = _probe(cloud, layers=(PROBE_LAYER,))

    assert seen["importable"] == {
        "boto3": True,  # from the runtime directory, as from /var/runtime
        "layer_probe": True,  # from the layer's python/
        "moto": False,  # only in our virtualenv
        "pytest": False,
        "local_cloud": False,
    }


def test_the_import_path_is_task_root_then_layers_then_runtime_then_stdlib(
    cloud: Cloud, runtime_dir: Path
) -> None:
    function, seen = _probe(cloud, layers=(PROBE_LAYER,))
    layer_python = PROBE_LAYER / "python"

    assert seen["sys_path"][:4] == [
        str(function.code_dir),
        str(layer_python / "lib" / "python3.13" / "site-packages"),
        str(layer_python),
        str(runtime_dir),
    ]
    assert not any("site-packages" in p for p in seen["sys_path"][4:])


def test_the_environment_has_lambdas_variables_and_not_ours(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONLY_IN_THE_TEST_PROCESS", "1")
    function, seen = _probe(cloud, environment={"FROM_TEMPLATE": "yes"})
    environ = seen["environ"]

    assert "ONLY_IN_THE_TEST_PROCESS" not in environ
    assert environ["FROM_TEMPLATE"] == "yes"
    assert environ["AWS_LAMBDA_FUNCTION_NAME"] == function.function_name
    assert environ["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert environ["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{function.function_name}"
    assert "[$LATEST]" in environ["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert environ["AWS_REGION"] == environ["AWS_DEFAULT_REGION"] == "us-east-1"
    assert environ["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.13"
    assert environ["LAMBDA_TASK_ROOT"] == str(function.code_dir)
    assert environ["_HANDLER"] == "app.handler"
    assert environ["TZ"] == ":UTC"
    assert environ["AWS_ENDPOINT_URL"] == cloud.endpoint_url
    for credential in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        assert environ[credential]
    assert os.environ.get("ONLY_IN_THE_TEST_PROCESS") == "1"


def test_the_context_describes_the_function_and_counts_down_in_real_time(cloud: Cloud) -> None:
    function, seen = _probe(cloud, timeout=3)
    context = seen["context"]

    assert context["function_name"] == function.function_name
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"].endswith(f":function:{function.function_name}")
    assert context["memory_limit_in_mb"] == "128"  # a string, as in the python runtime
    assert context["aws_request_id"]
    first, second = seen["remaining_ms"]
    assert 0 < second < first <= 3000
    assert first - second >= 500  # the probe slept 0.5 s between the two readings


def test_a_module_that_fails_to_import_is_an_import_module_error(cloud: Cloud) -> None:
    function = cloud.function("broken_import")
    service = cloud.service(function)

    result = service.invoke(function.function_name, {})

    assert error_of(result)["errorType"] == "Runtime.ImportModuleError"
    assert (
        "Unable to import module 'app': No module named 'pytest'"
        in error_of(result)["errorMessage"]
    )
    assert result.cold_start
    assert service.stats()[function.logical_id].warm_workers == 0


def test_an_invocation_beyond_reserved_concurrency_is_throttled(cloud: Cloud) -> None:
    function = cloud.function(reserved=0)
    service = cloud.service(function)

    with pytest.raises(Throttled) as raised:
        service.invoke(function.function_name, {"Records": []})

    assert raised.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert service.stats()[function.logical_id].throttles == 1
