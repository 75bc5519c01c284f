"""The runtime loop's pieces, called in-process: handler loading, marshalling, the context."""

from __future__ import annotations

import decimal
import json
import time
from pathlib import Path
from typing import Any

import pytest

from local_cloud.lambda_runtime.bootstrap import LambdaContext, load_handler, run_invocation


@pytest.fixture
def task_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _request(event: Any = None, *, timeout_ms: int = 3000) -> dict[str, Any]:
    return {
        "request_id": "req-1",
        "event": event if event is not None else {},
        "deadline_ms": int(time.time() * 1000) + timeout_ms,
        "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
    }


def test_a_missing_module_is_an_import_module_error(task_root: Path) -> None:
    handler, error = load_handler("no_such_module_anywhere.handler")

    assert handler is None
    assert error is not None
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"] == (
        "Unable to import module 'no_such_module_anywhere': "
        "No module named 'no_such_module_anywhere'"
    )


def test_a_missing_handler_is_handler_not_found(task_root: Path) -> None:
    (task_root / "h5_no_handler.py").write_text("x = 1\n")

    _, error = load_handler("h5_no_handler.lambda_handler")

    assert error is not None
    assert error["errorType"] == "Runtime.HandlerNotFound"
    assert error["errorMessage"] == "Handler 'lambda_handler' missing on module 'h5_no_handler'"


def test_a_handler_name_without_a_dot_is_malformed() -> None:
    _, error = load_handler("handler")

    assert error is not None
    assert error["errorType"] == "Runtime.MalformedHandlerName"


def test_a_syntax_error_is_a_user_code_syntax_error(task_root: Path) -> None:
    (task_root / "h5_syntax.py").write_text("def handler(:\n")

    _, error = load_handler("h5_syntax.handler")

    assert error is not None
    assert error["errorType"] == "Runtime.UserCodeSyntaxError"


def test_an_exception_during_init_keeps_its_own_type(task_root: Path) -> None:
    (task_root / "h5_init_raises.py").write_text("raise KeyError('SOME_SETTING')\n")

    _, error = load_handler("h5_init_raises.handler")

    assert error is not None
    assert error["errorType"] == "KeyError"
    assert error["stackTrace"]


def test_a_result_is_marshalled_to_json_text() -> None:
    response = run_invocation(lambda event, context: {"echo": event}, _request({"a": 1}))

    assert response["error"] is None
    assert json.loads(response["payload"]) == {"echo": {"a": 1}}


def test_decimals_marshal_as_numbers_as_in_the_python_runtime() -> None:
    response = run_invocation(
        lambda event, context: [decimal.Decimal("1999"), decimal.Decimal("0.5")], _request()
    )

    assert json.loads(response["payload"]) == [1999, 0.5]


def test_an_unserialisable_result_is_a_marshal_error() -> None:
    response = run_invocation(lambda event, context: {1, 2}, _request())

    assert response["payload"] is None
    assert response["error"]["errorType"] == "Runtime.MarshalError"
    assert response["error"]["errorMessage"].startswith("Unable to marshal response:")
    assert response["error"]["requestId"] == "req-1"


def test_an_exception_becomes_lambdas_error_object(capsys: pytest.CaptureFixture[str]) -> None:
    def handler(event: Any, context: Any) -> None:
        raise ValueError("card declined")

    response = run_invocation(handler, _request())

    error = response["error"]
    assert list(error) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert error["errorMessage"] == "card declined"
    assert error["errorType"] == "ValueError"
    assert any("in handler" in line for line in error["stackTrace"])
    assert not any("lambda_runtime/bootstrap.py" in line for line in error["stackTrace"])
    assert "[ERROR] ValueError: card declined" in capsys.readouterr().err


def test_the_context_counts_down_to_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
    context = LambdaContext("req-1", int(time.time() * 1000) + 2000, "arn")

    first = context.get_remaining_time_in_millis()
    time.sleep(0.2)
    second = context.get_remaining_time_in_millis()

    assert 0 < second < first <= 2000
    assert first - second >= 200
    assert context.memory_limit_in_mb == "256"


def test_the_context_never_reports_negative_time() -> None:
    context = LambdaContext("req-1", int(time.time() * 1000) - 5000, "arn")

    assert context.get_remaining_time_in_millis() == 0


def test_every_invocation_gets_its_own_unsampled_trace_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    seen: list[str] = []

    def handler(event: Any, context: Any) -> None:
        import os

        seen.append(os.environ["_X_AMZN_TRACE_ID"])

    run_invocation(handler, _request())
    run_invocation(handler, _request())

    assert len(set(seen)) == 2
    for header in seen:
        root, parent, sampled = header.split(";")
        assert root.startswith("Root=1-")
        assert parent.startswith("Parent=")
        assert sampled == "Sampled=0"


def test_the_root_logger_writes_lambdas_lines_with_the_request_id(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in Lambda's Python runtime: a function that sets the root logger to INFO gets its
    # info records in the log, as "[INFO]\t<UTC time>Z\t<request ID>\t<message>".
    import datetime
    import logging
    import re

    from local_cloud.lambda_runtime.bootstrap import install_log_handler

    monkeypatch.setenv("TZ", "Asia/Kolkata")  # +05:30: a local time would not pass as UTC
    time.tzset()
    root = logging.getLogger()
    level = root.level
    handler = install_log_handler()
    try:

        def function(event: Any, context: Any) -> None:
            logging.getLogger().debug("not shown at INFO")
            logging.getLogger().info("Processing message")

        root.setLevel(logging.INFO)
        run_invocation(function, _request())
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        monkeypatch.delenv("TZ")
        time.tzset()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert re.fullmatch(
        r"\[INFO\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\treq-1\tProcessing message", lines[0]
    )
    logged = datetime.datetime.strptime(lines[0].split("\t")[1], "%Y-%m-%dT%H:%M:%S.%fZ")
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    assert abs((now - logged).total_seconds()) < 600
