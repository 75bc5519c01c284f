"""Host-native builds: the dependency cache installs each requirement set once, and a
build whose inputs have not changed is reused, not made again."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from local_cloud.stack.build import (
    Builder,
    DependencyCache,
    link_tree,
    python_tag,
    requirement_lines,
    requirements_key,
    source_digest,
)
from local_cloud.stack.errors import BuildError


class RecordingInstaller:
    """Stands in for pip: writes one module per requirement and records each call."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def install(self, requirements: list[str], target: Path, constraints: Path | None) -> None:
        self.calls.append(list(requirements))
        for requirement in requirements:
            name = requirement.split("==")[0].replace("-", "_")
            (target / f"{name}.py").write_text(f"# {requirement}\n")

    def options(self) -> str:
        return "recording"


def test_requirement_lines_ignore_comments_and_blank_lines() -> None:
    text = "# runtime deps\n\npowertools==3.37.0  # pinned\n  stripe==16.1.0\n"
    assert requirement_lines(text) == ["powertools==3.37.0", "stripe==16.1.0"]


def test_the_key_changes_only_when_pip_could_install_something_else() -> None:
    base = requirements_key(["a==1"], "b==2\n", "cp313-linux-x86_64")
    assert base == requirements_key(["a==1"], "# comment\nb==2\n", "cp313-linux-x86_64")
    assert base != requirements_key(["a==2"], "b==2\n", "cp313-linux-x86_64")
    assert base != requirements_key(["a==1"], "b==3\n", "cp313-linux-x86_64")
    assert base != requirements_key(["a==1"], "b==2\n", "cp314-linux-x86_64")
    assert python_tag().startswith(f"{sys.implementation.cache_tag}{sys.abiflags}-")


def test_a_second_build_installs_nothing(tmp_path: Path) -> None:
    installer = RecordingInstaller()
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("stripe==16.1.0\n")
    first = DependencyCache(tmp_path / "cache", installer=installer)
    installed = first.for_requirements_file(requirements)
    again = DependencyCache(tmp_path / "cache", installer=installer)  # a later `make local`
    assert again.for_requirements_file(requirements) == installed
    assert installer.calls == [["stripe==16.1.0"]]
    assert len(first.installs) == 1
    assert again.installs == []


def test_an_empty_or_comment_only_requirements_file_installs_nothing(tmp_path: Path) -> None:
    installer = RecordingInstaller()
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# no dependencies of its own\n")
    cache = DependencyCache(tmp_path / "cache", installer=installer)
    assert cache.for_requirements_file(requirements) is None
    assert cache.for_requirements_file(tmp_path / "absent.txt") is None
    assert installer.calls == []


def test_a_failed_install_leaves_no_complete_looking_directory(tmp_path: Path) -> None:
    class FailingInstaller:
        def install(self, requirements: list[str], target: Path, constraints: Path | None) -> None:
            (target / "half.py").write_text("")
            raise BuildError("pip failed")

        def options(self) -> str:
            return ""

    cache = DependencyCache(tmp_path / "cache", installer=FailingInstaller())
    with pytest.raises(BuildError):
        cache.install(["x==1"])
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_set_another_process_installed_meanwhile_is_kept_not_replaced(tmp_path: Path) -> None:
    """Two deploys side by side (integration tests under pytest-xdist) install the same set
    at once; the one finishing second must not delete the first's directory, which the
    first may be hard-linking into its build at that moment."""
    root = tmp_path / "cache"

    class RacedInstaller(RecordingInstaller):
        def install(self, requirements: list[str], target: Path, constraints: Path | None) -> None:
            super().install(requirements, target, constraints)
            theirs = root / target.name.split(".staging-")[0]  # the other process finishes
            theirs.mkdir()
            (theirs / "stripe.py").write_text("# theirs, being linked from\n")
            (theirs / ".complete").write_text("stripe==16.1.0\n")

    cache = DependencyCache(root, installer=RacedInstaller())
    installed = cache.install(["stripe==16.1.0"])
    assert installed is not None
    assert (installed / "stripe.py").read_text() == "# theirs, being linked from\n"
    assert [path.name for path in root.iterdir()] == [installed.name]  # no staging left


def test_a_layer_is_built_under_python_with_its_requirements(tmp_path: Path) -> None:
    source = tmp_path / "layers/shared"
    (source / "delivery_guarantees").mkdir(parents=True)
    (source / "delivery_guarantees/__init__.py").write_text("")
    (source / "requirements.txt").write_text("stripe==16.1.0\n")
    builder = Builder(tmp_path / "build", DependencyCache(tmp_path / "cache", RecordingInstaller()))
    layer = builder.layer("SharedLayer", source)
    assert (layer / "python/delivery_guarantees/__init__.py").is_file()
    assert (layer / "python/stripe.py").is_file()
    assert not (layer / "python/.complete").exists()


def test_a_function_keeps_its_own_file_over_a_dependency_of_the_same_name(tmp_path: Path) -> None:
    source = tmp_path / "functions/orders"
    source.mkdir(parents=True)
    (source / "app.py").write_text("OWN = True\n")
    (source / "requirements.txt").write_text("app==1.0\n")
    (source / "__pycache__").mkdir()
    (source / "__pycache__/app.cpython-313.pyc").write_bytes(b"")
    builder = Builder(tmp_path / "build", DependencyCache(tmp_path / "cache", RecordingInstaller()))
    built = builder.function("OrdersFunction", source)
    assert (built / "app.py").read_text() == "OWN = True\n"
    assert not (built / "__pycache__").exists()


def test_a_missing_code_directory_is_named(tmp_path: Path) -> None:
    builder = Builder(tmp_path / "build", DependencyCache(tmp_path / "cache", RecordingInstaller()))
    with pytest.raises(BuildError, match="OrdersFunction: code directory"):
        builder.function("OrdersFunction", tmp_path / "missing")


def test_the_runtime_holds_boto3_at_the_venv_version(tmp_path: Path) -> None:
    from importlib import metadata

    installer = RecordingInstaller()
    builder = Builder(tmp_path / "build", DependencyCache(tmp_path / "cache", installer))
    runtime = builder.runtime()
    assert installer.calls == [[f"boto3=={metadata.version('boto3')}"]]
    assert (runtime / "boto3.py").is_file()


def test_link_tree_links_files_and_keeps_existing_ones(tmp_path: Path) -> None:
    (tmp_path / "src/pkg").mkdir(parents=True)
    (tmp_path / "src/pkg/mod.py").write_text("dependency")
    (tmp_path / "dst/pkg").mkdir(parents=True)
    (tmp_path / "dst/pkg/mod.py").write_text("own")
    (tmp_path / "src/other.py").write_text("x")
    link_tree(tmp_path / "src", tmp_path / "dst")
    assert (tmp_path / "dst/pkg/mod.py").read_text() == "own"
    assert (tmp_path / "dst/other.py").read_text() == "x"


def _function_source(root: Path) -> Path:
    source = root / "functions/orders"
    source.mkdir(parents=True)
    (source / "app.py").write_text("VERSION = 1\n")
    (source / "requirements.txt").write_text("stripe==16.1.0\n")
    return source


def test_an_unchanged_function_is_not_built_again(tmp_path: Path) -> None:
    source = _function_source(tmp_path)
    cache = DependencyCache(tmp_path / "cache", RecordingInstaller())
    first = Builder(tmp_path / "build", cache).function("OrdersFunction", source)
    (first / "left-by-the-first-build").write_text("")  # gone if the build is redone
    again = Builder(tmp_path / "build", cache)  # a later `make local`
    assert again.function("OrdersFunction", source) == first
    assert again.reused == [first]
    assert (first / "left-by-the-first-build").is_file()
    assert again.keys[first] == Builder(tmp_path / "build", cache)._key(
        "function", source, cache.for_requirements_file(source / "requirements.txt")
    )


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda source: (source / "app.py").write_text("VERSION = 2\n"), id="edit"),
        pytest.param(lambda source: (source / "new.py").write_text(""), id="new-file"),
        pytest.param(lambda source: (source / "app.py").rename(source / "main.py"), id="rename"),
        pytest.param(lambda source: (source / "app.py").chmod(0o755), id="exec-bit"),
        pytest.param(
            lambda source: (source / "requirements.txt").write_text("stripe==16.2.0\n"),
            id="requirements",
        ),
    ],
)
def test_a_changed_input_builds_the_function_again(tmp_path: Path, change: Any) -> None:
    source = _function_source(tmp_path)
    cache = DependencyCache(tmp_path / "cache", RecordingInstaller())
    first_builder = Builder(tmp_path / "build", cache)
    built = first_builder.function("OrdersFunction", source)
    first_key = first_builder.keys[built]
    (built / "left-by-the-first-build").write_text("")
    change(source)
    again = Builder(tmp_path / "build", cache)
    assert again.function("OrdersFunction", source) == built
    assert again.reused == []
    assert again.keys[built] != first_key
    assert not (built / "left-by-the-first-build").exists()
    built_files = sorted(p.name for p in built.iterdir())
    assert built_files == sorted(
        {p.name for p in source.iterdir()} | {"stripe.py"}  # RecordingInstaller's module
    )
    for path in source.iterdir():
        assert (built / path.name).read_bytes() == path.read_bytes()


def test_a_change_that_copytree_ignores_reuses_the_build(tmp_path: Path) -> None:
    source = _function_source(tmp_path)
    cache = DependencyCache(tmp_path / "cache", RecordingInstaller())
    Builder(tmp_path / "build", cache).function("OrdersFunction", source)
    (source / "__pycache__").mkdir()
    (source / "__pycache__/app.cpython-313.pyc").write_bytes(b"compiled")
    again = Builder(tmp_path / "build", cache)
    again.function("OrdersFunction", source)
    assert len(again.reused) == 1


def test_a_build_cut_off_halfway_leaves_the_build_in_place(tmp_path: Path) -> None:
    source = _function_source(tmp_path)
    cache = DependencyCache(tmp_path / "cache", RecordingInstaller())

    class CutOff(Exception):
        pass

    def cut_off(_source: Path, destination: Path) -> None:
        destination.mkdir(parents=True)  # some of the files copied, then the crash
        (destination / "requirements.txt").write_text("stripe==16.1.0\n")
        raise CutOff

    first = Builder(tmp_path / "build", cache)
    built = first.function("OrdersFunction", source)
    (source / "app.py").write_text("VERSION = 2\n")
    interrupted = Builder(tmp_path / "build", cache)
    interrupted._copy_source = cut_off  # type: ignore[method-assign,assignment]
    with pytest.raises(CutOff):
        interrupted.function("OrdersFunction", source)
    assert (built / "app.py").read_text() == "VERSION = 1\n"  # built aside: untouched
    assert sorted(p.name for p in built.parent.iterdir()) == [
        "OrdersFunction",
        "OrdersFunction.build-key",
    ]
    (source / "app.py").write_text("VERSION = 1\n")  # back to what the first build had
    again = Builder(tmp_path / "build", cache)
    again.function("OrdersFunction", source)
    assert again.reused == [built]


def test_a_swap_cut_off_is_built_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _function_source(tmp_path)
    cache = DependencyCache(tmp_path / "cache", RecordingInstaller())
    built = Builder(tmp_path / "build", cache).function("OrdersFunction", source)

    class CutOff(Exception):
        pass

    def swap_cut_off(build: Path, destination: Path) -> None:
        raise CutOff  # after the old key went, before the new build is in place

    (source / "app.py").write_text("VERSION = 2\n")
    with monkeypatch.context() as patch:
        patch.setattr("local_cloud.stack.build._put_in_place", swap_cut_off)
        with pytest.raises(CutOff):
            Builder(tmp_path / "build", cache).function("OrdersFunction", source)
    (source / "app.py").write_text("VERSION = 1\n")  # what the build in place was made from
    again = Builder(tmp_path / "build", cache)
    again.function("OrdersFunction", source)
    assert again.reused == []  # its key went first: the build in place is not taken as current
    assert (built / "app.py").read_text() == "VERSION = 1\n"


def test_two_builds_of_one_stack_at_once_both_succeed(tmp_path: Path) -> None:
    """The demo and the tests, in one checkout, build the same stack at the same moment:
    each builds in a directory of its own, and the one in place at the end is whole."""
    import threading

    source = _function_source(tmp_path)
    for index in range(20):
        (source / f"module_{index}.py").write_text(f"N = {index}\n")
    cache = DependencyCache(tmp_path / "cache", RecordingInstaller())
    cache.for_requirements_file(source / "requirements.txt")
    both_copying = threading.Barrier(2)
    errors: list[BaseException] = []

    def copy_when_both_are_copying(from_dir: Path, to_dir: Path) -> None:
        both_copying.wait(timeout=60)
        Builder._copy_source(from_dir, to_dir)

    def build() -> None:
        builder = Builder(tmp_path / "build", cache)
        builder._copy_source = copy_when_both_are_copying  # type: ignore[method-assign,assignment]
        try:
            builder.function("OrdersFunction", source)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    built = tmp_path / "build/functions/OrdersFunction"
    assert sorted(p.name for p in built.iterdir()) == sorted(
        {p.name for p in source.iterdir()} | {"stripe.py"}
    )
    assert sorted(p.name for p in built.parent.iterdir()) == [
        "OrdersFunction",
        "OrdersFunction.build-key",
    ]
    again = Builder(tmp_path / "build", cache)
    again.function("OrdersFunction", source)
    assert again.reused == [built]


def test_an_unchanged_layer_is_reused_and_a_changed_one_rebuilt(tmp_path: Path) -> None:
    source = tmp_path / "layers/shared"
    (source / "delivery_guarantees").mkdir(parents=True)
    (source / "delivery_guarantees/__init__.py").write_text("A = 1\n")
    (source / "requirements.txt").write_text("stripe==16.1.0\n")
    cache = DependencyCache(tmp_path / "cache", RecordingInstaller())
    layer = Builder(tmp_path / "build", cache).layer("SharedLayer", source)
    again = Builder(tmp_path / "build", cache)
    assert again.layer("SharedLayer", source) == layer
    assert again.reused == [layer]
    (source / "delivery_guarantees/__init__.py").write_text("A = 2\n")
    changed = Builder(tmp_path / "build", cache)
    changed.layer("SharedLayer", source)
    assert changed.reused == []
    assert (layer / "python/delivery_guarantees/__init__.py").read_text() == "A = 2\n"
    assert (layer / "python/stripe.py").is_file()
    assert not list(layer.rglob("*.build-key"))  # the key lives beside the build


def test_the_source_digest_follows_what_is_copied(tmp_path: Path) -> None:
    source = _function_source(tmp_path)
    first = source_digest(source)
    (source / ".mypy_cache").mkdir()
    (source / ".mypy_cache/x.json").write_text("{}")
    assert source_digest(source) == first
    (source / "pkg").mkdir()
    (source / "pkg/mod.py").write_text("")
    assert source_digest(source) != first


def test_a_function_without_code_uri_is_built_from_the_templates_directory(tmp_path: Path) -> None:
    """As `sam build` does (SAM CLI's DEFAULT_CODEURI "."); Globals' CodeUri still applies."""
    from local_cloud.stack.deploy import _build_artifacts

    (tmp_path / "app/src").mkdir(parents=True)
    (tmp_path / "app/handler.py").write_text("AT_THE_ROOT = True\n")
    (tmp_path / "app/src/handler.py").write_text("IN_SRC = True\n")
    sam: dict[str, Any] = {
        "Resources": {
            "Bare": {"Type": "AWS::Serverless::Function", "Properties": {"Handler": "h.f"}},
            "Given": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Handler": "h.f", "CodeUri": "src"},
            },
        }
    }
    builder = Builder(tmp_path / "build", DependencyCache(tmp_path / "cache", RecordingInstaller()))
    built = _build_artifacts(sam, tmp_path / "app", builder, [], lambda: None)
    assert (built.uploads["Bare"][0] / "handler.py").read_text() == "AT_THE_ROOT = True\n"
    assert (built.uploads["Given"][0] / "handler.py").read_text() == "IN_SRC = True\n"

    sam["Globals"] = {"Function": {"CodeUri": "src"}}
    del sam["Resources"]["Given"]
    built = _build_artifacts(sam, tmp_path / "app", builder, [], lambda: None)
    assert (built.uploads["Bare"][0] / "handler.py").read_text() == "IN_SRC = True\n"
