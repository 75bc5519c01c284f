"""Integration modules that deploy the same stack into the repository's .local-cloud run in
one pytest-xdist worker (tests/integration/conftest.py): two deploys of one stack name side
by side would empty and refill the same build directory under each other's workers."""

from __future__ import annotations

import re
from pathlib import Path

from tests.integration.conftest import DEFAULT_STACK_GROUP, xdist_group

ROOT = Path(__file__).resolve().parents[2]
INTEGRATION = ROOT / "tests/integration"
# Settings read from local-cloud.toml and kept its stack name (no with_overrides(stack=...)).
DEFAULT_STACK = re.compile(r"load_settings\([^)]*\)(?!\.with_overrides\(\s*stack=)")


def test_every_module_deploying_the_default_stack_is_in_its_group() -> None:
    deploying = sorted(
        path for path in INTEGRATION.rglob("*.py") if DEFAULT_STACK.search(path.read_text())
    )
    assert deploying, "no integration module deploys local-cloud.toml's stack: the scan is stale"
    stray = [
        str(path.relative_to(ROOT))
        for path in deploying
        if xdist_group(path) != DEFAULT_STACK_GROUP
    ]
    assert stray == [], (
        f"{stray} deploy local-cloud.toml's stack but run outside the {DEFAULT_STACK_GROUP} "
        "group: add them to DEFAULT_STACK_MODULES in tests/integration/conftest.py"
    )


def test_other_modules_are_groups_of_their_own() -> None:
    one = INTEGRATION / "local_cloud/stack/test_orders_stack.py"
    other = INTEGRATION / "local_cloud/stack/test_fan_out.py"
    assert xdist_group(one) == "tests/integration/local_cloud/stack/test_orders_stack.py"
    assert xdist_group(one) != xdist_group(other)
    assert xdist_group(INTEGRATION / "app/test_alarms.py") == DEFAULT_STACK_GROUP
