"""Integration tests talk to the local cloud over loopback, so they may open sockets.

They mostly wait (for workers to start, messages to come back, alarms to be evaluated):
at load 10 on 2 cores the whole directory used 243 s of CPU in 846 s of wall time. So
`make test` runs them in pytest-xdist workers (`--dist loadgroup`), each module whole in
one worker, as its module-scoped stack expects. Modules that deploy the same stack name
into the repository's .local-cloud share its build directory
(.local-cloud/build/stacks/<stack>), which a deploy may empty and fill again: those go
to one worker together, one after another (`xdist_group`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Where the stack named in local-cloud.toml (delivery-guarantees) is deployed into the
# repository's .local-cloud: the app tests' `stack` fixture and the billing log test.
DEFAULT_STACK_GROUP = "stack-delivery-guarantees"
DEFAULT_STACK_MODULES = (
    "tests/integration/app/",
    "tests/integration/local_cloud/cli/test_logs.py",
)


def xdist_group(path: Path) -> str:
    """The pytest-xdist group of a test module: its own path, unless it shares a stack."""
    relative = path.resolve().relative_to(ROOT).as_posix()
    if any(relative.startswith(prefix) for prefix in DEFAULT_STACK_MODULES):
        return DEFAULT_STACK_GROUP
    return relative


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.enable_socket)
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.xdist_group(xdist_group(item.path)))
