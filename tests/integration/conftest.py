"""Integration tests talk to the local cloud over loopback, so they may open sockets.

They mostly wait (for workers to start, messages to come back, alarms to be evaluated):
at load 10 on 2 cores the whole directory used 243 s of CPU in 846 s of wall time. So
`make test` runs them in pytest-xdist workers with `--dist loadfile`: each module whole in
one worker, as its module-scoped fixtures expect. Modules side by side must not deploy the
same stack name into the repository's .local-cloud, whose build directory
(.local-cloud/build/stacks/<stack>) a deploy may empty and fill again: every module names
a stack of its own, except the app tests, which share one stack per worker (session
scope: tests/integration/app/conftest.py's `shared_stack`, named after the worker; each
module cleans up after itself; checked by tests/unit/test_integration_stacks.py). Two app
modules deploy a stack of their own beside it: test_hostile_corpus (exact totals, the
HTTP API) and test_permissions_match_calls (the calls of cold starts).
`--dist loadgroup` could keep chosen modules in one worker instead, but with pytest 9.2
its xdist_group marks are silently ignored (pytest-xdist issue 1386): tried, the app
modules ran in three workers at once and their deploys broke each other's builds.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.enable_socket)
            item.add_marker(pytest.mark.integration)
