"""`make test` runs the integration modules side by side (pytest-xdist, a module whole in one
worker). Two modules deploying the same stack name into the repository's .local-cloud at
once would empty and refill one build directory under each other's Lambda workers, so every
module names a stack of its own, and the app tests share one per worker (session scope)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from tests.integration.app.conftest import STACK, stack_name

ROOT = Path(__file__).resolve().parents[2]
INTEGRATION = ROOT / "tests/integration"
# Settings read from local-cloud.toml that keep its stack name (no with_overrides(stack=...)).
DEFAULT_STACK = re.compile(r"load_settings\([^)]*\)(?!\.with_overrides\(\s*stack=)")
# A stack name written out: stack="x", stack_name="x", STACK = "x", stack = "x" in a TOML.
NAMED_STACK = re.compile(r"""\b(?:stack|stack_name|STACK)\s*=\s*\\?["']([A-Za-z0-9-]+)\\?["']""")


def _modules() -> list[Path]:
    return sorted(INTEGRATION.rglob("*.py"))


def test_no_module_deploys_local_cloud_toml_s_stack_under_its_own_name() -> None:
    keeping = [
        str(path.relative_to(ROOT)) for path in _modules() if DEFAULT_STACK.search(path.read_text())
    ]
    assert keeping == [], (
        f"{keeping} deploy local-cloud.toml's stack ({STACK}) under its name, which another "
        "module may deploy at the same time: give it a stack of its own (with_overrides)"
    )


def test_no_stack_name_is_written_in_two_modules() -> None:
    modules_of: dict[str, set[str]] = defaultdict(set)
    for path in _modules():
        for name in NAMED_STACK.findall(path.read_text()):
            modules_of[name].add(str(path.relative_to(ROOT)))
    assert modules_of, "no stack name found in tests/integration: the scan is stale"
    shared = {name: sorted(paths) for name, paths in modules_of.items() if len(paths) > 1}
    assert shared == {}, f"stack names deployed by more than one module: {shared}"


def test_the_app_stack_is_one_per_worker() -> None:
    assert stack_name("") == STACK  # a run without pytest-xdist: local-cloud.toml's name
    assert stack_name("gw0") != stack_name("gw1")
    assert stack_name("gw0").startswith(STACK)
