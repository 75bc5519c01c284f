"""One error tree for what a user can get wrong (local_cloud/errors.py): the tree its
docstring draws is the tree the classes form; every exception the local cloud defines is in
it or is one AWS itself would return; the CLI turns the one base type into one line and
exit status 2, and lets anything else (a bug) keep its traceback."""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import re

import pytest

import local_cloud
from local_cloud import cli, errors
from local_cloud.stack.intrinsics import IntrinsicError

# Exceptions that are not the user's to fix: AWS's own errors, which the emulation reports
# the way AWS does to the caller that would see them there, and internal signals that
# never leave the module that raises them. Each with the reason; a new exception class
# must be placed in the tree or named here.
NOT_USER_ERRORS = {
    "local_cloud.lambda_runtime.service.LambdaServiceError": "Lambda's errors (Throttled...)",
    "local_cloud.lambda_runtime.service.FunctionNotFound": "Lambda's ResourceNotFound",
    "local_cloud.lambda_runtime.service.Throttled": "Lambda's TooManyRequests",
    "local_cloud.lambda_runtime.service.RequestTooLarge": "Lambda's RequestTooLarge",
    "local_cloud.lambda_runtime.worker.WorkerGone": "a worker process died: an invocation error",
    "local_cloud.lambda_runtime.worker.DeadlineExceeded": "a function timed out: Lambda's",
    "local_cloud.lambda_runtime.worker.MemoryExceeded": "over MemorySize: Runtime.OutOfMemory",
    "local_cloud.event_sources.batch_response.InvalidBatchResponse": "settled as AWS does",
    "local_cloud.event_sources.filtering.InvalidFilterCriteria": "raised as a mapping error",
    "local_cloud.endpoint_faults.ConnectionDropped": "an injected fault, by design",
    "local_cloud.payment_provider.app.ConnectionDropped": "an injected fault, by design",
    "local_cloud.payment_provider.errors.ApiError": "Stripe's error answers, over HTTP",
    "local_cloud.payment_provider.clock.ClockAdvanceError": "a 400 answer of the simulator",
    "local_cloud.monitoring.alarm_rules.UnsupportedAlarm": "an alarm left INSUFFICIENT_DATA",
    "local_cloud.monitoring.emf.EmfError": "a log line that is not EMF: not a metric",
    "local_cloud.sqs_move_tasks.MoveTaskError": "SQS's own error answers",
    "local_cloud.http_api.routing.RouteError": "API Gateway's answer to a bad route",
    "local_cloud.http_api.events.MalformedResponse": "API Gateway's 502",
    "local_cloud.http_guard._BodyProblem": "an HTTP 4xx answer",
    "local_cloud.stack_resources.RegistrationError": "the endpoint's 400 to the deployer",
}


def _exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(local_cloud.__path__, "local_cloud."):
        if module_info.name.endswith("__main__"):
            continue
        module = importlib.import_module(module_info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def test_every_exception_is_in_the_tree_or_is_one_aws_returns() -> None:
    outside = sorted(
        name
        for name, cls in _exception_classes().items()
        if not issubclass(cls, errors.LocalCloudError) and name not in NOT_USER_ERRORS
    )
    assert outside == [], "place these under LocalCloudError or name them in NOT_USER_ERRORS"


def test_the_allow_list_names_only_what_exists() -> None:
    assert sorted(set(NOT_USER_ERRORS) - set(_exception_classes())) == []


def _drawn_tree() -> list[tuple[int, str]]:
    """(depth, class name) of each line of the tree in errors.py's docstring."""
    assert errors.__doc__ is not None
    drawn = []
    lines = errors.__doc__.splitlines()
    root = next(line for line in lines if line.strip() == "LocalCloudError")
    indent = len(root) - len(root.lstrip())
    for line in lines[lines.index(root) :]:
        match = re.match(r"^[ │├└─]*?([A-Z]\w+)", line)
        if not match or not line.strip():
            break
        drawn.append(((match.start(1) - indent) // 4, match.group(1)))
    return drawn


def test_the_docstring_draws_the_tree_the_classes_form() -> None:
    where = {"IntrinsicError": IntrinsicError}
    drawn = _drawn_tree()
    assert drawn[0] == (0, "LocalCloudError")
    assert len(drawn) > 10
    parents: list[type[BaseException]] = []
    for depth, name in drawn:
        cls = where.get(name) or getattr(errors, name)
        del parents[depth:]
        if parents:
            assert parents[-1] in cls.__bases__, f"{name} should derive from {parents[-1]}"
        parents.append(cls)
    defined = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, BaseException)
    }
    assert defined <= {name for _, name in drawn}, "every class of errors.py is drawn"


def _main_raising(error: BaseException, monkeypatch: pytest.MonkeyPatch) -> int:
    def handler(args: argparse.Namespace) -> int:
        raise error

    parser = argparse.ArgumentParser()
    parser.set_defaults(handler=handler)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    return cli.main([])


@pytest.mark.parametrize(
    "error",
    [
        errors.CommandError("no queue 'X' in stack s"),
        errors.PortUnavailable("cannot listen on 127.0.0.1:4566: Address already in use"),
        IntrinsicError("Ref Missing: resource not deployed yet"),
        errors.InvalidEventSourceMapping("M (AWS::Lambda::EventSourceMapping): ..."),
    ],
    ids=lambda e: type(e).__name__,
)
def test_the_cli_prints_a_user_error_on_one_line_with_status_2(
    error: errors.LocalCloudError,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _main_raising(error, monkeypatch) == 2
    assert capsys.readouterr().err == f"error: {error}\n"


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(KeyError):
        _main_raising(KeyError("Name"), monkeypatch)
