"""What is deployed and what builds it are the sets the tests ran against, hash-checked.

`sam build` installs the SharedLayer from layers/shared/requirements.txt, and the tool
venvs (.tools/sam, .tools/pip-tools) are installed from tools/*.txt, all written by
`make lock` (pip-compile --generate-hashes). These tests need no network: they check the
lock files against constraints.txt (the set `make install` gives the tests) and against
the dependency metadata of what is installed in this venv.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path
from typing import cast

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from local_cloud.stack.build import requirement_lines

REPO = Path(__file__).resolve().parents[3]
LAYER_LOCK = REPO / "layers/shared/requirements.txt"
LAYER_INPUT = REPO / "layers/shared/requirements.in"
TOOL_LOCKS = sorted((REPO / "tools").glob("*.txt"))
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")
# The Lambda runtime the layer is built for (template.yaml: python3.13, arm64).
# default_environment() is a TypedDict whose fields are all str; mypy reads a TypedDict as a
# Mapping[str, object], so the cast says what it holds, for the `| {"extra": ...}` below.
LAMBDA_ENVIRONMENT = cast(dict[str, str], default_environment()) | {
    "python_version": "3.13",
    "python_full_version": "3.13.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "aarch64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


def locked(path: Path) -> dict[str, tuple[str, list[str]]]:
    """{canonical name: (pinned version, hashes)} of a pip-compile lock file."""
    entries: dict[str, tuple[str, list[str]]] = {}
    for entry in requirement_lines(path.read_text()):
        spec = entry.partition(" --hash")[0]
        requirement = Requirement(spec)
        [pin] = list(requirement.specifier)
        assert pin.operator == "==", f"{path.name}: {spec} is not pinned with =="
        entries[canonicalize_name(requirement.name)] = (pin.version, HASH.findall(entry))
    return entries


def inputs(path: Path) -> list[Requirement]:
    return [Requirement(line) for line in requirement_lines(path.read_text())]


def constraints() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in requirement_lines((REPO / "constraints.txt").read_text()):
        requirement = Requirement(line)
        pins[canonicalize_name(requirement.name)] = next(iter(requirement.specifier)).version
    return pins


def closure(roots: list[Requirement], environment: dict[str, str]) -> set[str]:
    """Every distribution `roots` need where `environment` holds, from installed metadata."""
    needed: set[str] = set()
    queue = [(root, frozenset(root.extras)) for root in roots]
    while queue:
        requirement, extras = queue.pop()
        name = canonicalize_name(requirement.name)
        key = f"{name}[{','.join(sorted(extras))}]"
        if key in needed:
            continue
        needed.add(key)
        for text in metadata.requires(requirement.name) or []:
            dependency = Requirement(text)
            if dependency.marker is not None and not any(
                dependency.marker.evaluate(environment | {"extra": extra})
                for extra in (extras or {""})
            ):
                continue
            queue.append((dependency, frozenset(dependency.extras)))
    return {key.split("[", 1)[0] for key in needed}


def test_every_package_of_the_layer_is_pinned_with_hashes() -> None:
    entries = locked(LAYER_LOCK)

    assert entries, "layers/shared/requirements.txt lists nothing"
    unhashed = [name for name, (_, hashes) in entries.items() if not hashes]
    assert unhashed == [], f"without --hash (run make lock): {unhashed}"


def test_the_layer_installs_the_versions_the_tests_ran_against() -> None:
    pins = constraints()

    different = {
        name: (version, pins.get(name))
        for name, (version, _) in locked(LAYER_LOCK).items()
        if pins.get(name) != version
    }

    assert different == {}, f"layer lock vs constraints.txt (run make lock): {different}"


def test_the_layer_lock_holds_exactly_what_its_inputs_need_on_lambda() -> None:
    """A dependency added or dropped upstream, or an input edited without `make lock`,
    shows here: the lock must be the closure of requirements.in for python3.13 arm64."""
    roots = inputs(LAYER_INPUT)
    for root in roots:
        version = locked(LAYER_LOCK)[canonicalize_name(root.name)][0]
        assert root.specifier.contains(version), f"{root} but the lock has {version}"

    needed = closure(roots, LAMBDA_ENVIRONMENT)

    assert set(locked(LAYER_LOCK)) == needed


@pytest.mark.parametrize("lock", TOOL_LOCKS, ids=lambda path: path.name)
def test_each_tool_is_installed_from_a_hashed_lock_of_its_pinned_input(lock: Path) -> None:
    entries = locked(lock)
    unhashed = [name for name, (_, hashes) in entries.items() if not hashes]
    assert unhashed == []
    for root in inputs(lock.with_suffix(".in")):
        assert root.specifier.contains(entries[canonicalize_name(root.name)][0]), root
