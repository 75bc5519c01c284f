"""The import graph, read from the source (ast; nothing imported): deployed code never
imports the local cloud; the local cloud never imports the demo, the benchmarks or the
tests; and no module of the local cloud imports one that (directly or not) imports it back,
counting a package's __init__ as a module (`from local_cloud.x import y` runs x/__init__,
which may import the module that asked)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The modules path.py names in its imports: `import a.b` names a.b; `from a.b import c`
    names a.b (its __init__ runs) and a.b.c when that is a module. The packages on the way
    are not counted: Python has them in sys.modules already when a sibling imports a sibling.
    """
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _top_level(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _imports(path)}


def _graph(package: str) -> dict[str, set[str]]:
    paths = {_module_name(path): path for path in (ROOT / package).rglob("*.py")}
    return {
        module: {name for name in _imports(path) if name in paths and name != module}
        for module, path in paths.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_local_cloud_has_no_import_cycles() -> None:
    assert _cycles(_graph("local_cloud")) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("deployed", ["functions", "layers"])
def test_deployed_code_never_imports_the_local_cloud(deployed: str) -> None:
    offenders = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / deployed).rglob("*.py")
        if ".aws-sam" not in path.parts and "local_cloud" in _top_level(path)
    )
    assert offenders == []


def test_the_local_cloud_never_imports_upward() -> None:
    upward = {"demo", "benchmarks", "tests", "functions", "layers"}
    offenders = sorted(
        f"{path.relative_to(ROOT)} imports {sorted(_top_level(path) & upward)}"
        for path in (ROOT / "local_cloud").rglob("*.py")
        if _top_level(path) & upward
    )
    assert offenders == []
