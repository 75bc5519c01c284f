"""Host-native builds: the dependency cache installs each requirement set once."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_cloud.stack.build import (
    Builder,
    DependencyCache,
    link_tree,
    python_tag,
    requirement_lines,
    requirements_key,
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


def test_requirement_lines_ignore_comments_and_blank_lines() -> None:
    text = "# runtime deps\n\npowertools==3.37.0  # pinned\n  stripe==16.1.0\n"
    assert requirement_lines(text) == ["powertools==3.37.0", "stripe==16.1.0"]


def test_the_key_changes_only_when_pip_could_install_something_else() -> None:
    base = requirements_key(["a==1"], "b==2\n", "cp313-linux-x86_64")
    assert base == requirements_key(["a==1"], "# comment\nb==2\n", "cp313-linux-x86_64")
    assert base != requirements_key(["a==2"], "b==2\n", "cp313-linux-x86_64")
    assert base != requirements_key(["a==1"], "b==3\n", "cp313-linux-x86_64")
    assert base != requirements_key(["a==1"], "b==2\n", "cp314-linux-x86_64")
    assert python_tag().startswith("cp3")


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

    cache = DependencyCache(tmp_path / "cache", installer=FailingInstaller())
    with pytest.raises(BuildError):
        cache.install(["x==1"])
    assert list((tmp_path / "cache").iterdir()) == []


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
