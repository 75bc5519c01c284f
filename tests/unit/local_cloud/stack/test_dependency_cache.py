"""The dependency cache under the user's cache directory: shared by checkouts, keyed by
what pip could install differently, and written whole (a rename) so that processes
building at once never see a half-installed entry."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from local_cloud.stack.build import (
    CACHE_DIR_VARIABLE,
    Builder,
    DependencyCache,
    PipInstaller,
    user_cache_dir,
)

HOME = Path("/home/someone")


class SlowInstaller:
    """Writes several files one by one, each install waiting at `gate` first, so two
    installs of the same set are both half-way at the same moment."""

    FILES = ("a.py", "b.py", "c.py", "d.py")

    def __init__(self, gate: threading.Barrier | None = None) -> None:
        self.gate = gate
        self.calls = 0
        self.lock = threading.Lock()

    def install(self, requirements: list[str], target: Path, constraints: Path | None) -> None:
        with self.lock:
            self.calls += 1
        if self.gate is not None:
            self.gate.wait(timeout=60)
        for name in self.FILES:
            (target / name).write_text("x" * 10_000)

    def options(self) -> str:
        return "slow"


@pytest.mark.parametrize(
    ("environ", "system", "expected"),
    [
        pytest.param(
            {CACHE_DIR_VARIABLE: "/tmp/lc-cache", "XDG_CACHE_HOME": "/xdg"},
            "linux",
            Path("/tmp/lc-cache"),
            id="variable-wins",
        ),
        pytest.param(
            {"XDG_CACHE_HOME": "/xdg"},
            "linux",
            Path("/xdg/delivery-guarantees-local-cloud"),
            id="xdg",
        ),
        pytest.param(
            {"XDG_CACHE_HOME": "relative/dir"},
            "linux",
            HOME / ".cache/delivery-guarantees-local-cloud",
            id="relative-xdg-ignored",
        ),
        pytest.param({}, "linux", HOME / ".cache/delivery-guarantees-local-cloud", id="linux"),
        pytest.param(
            {}, "darwin", HOME / "Library/Caches/delivery-guarantees-local-cloud", id="macos"
        ),
        pytest.param(
            {"LOCALAPPDATA": "C:/Users/someone/AppData/Local"},
            "win32",
            Path("C:/Users/someone/AppData/Local/delivery-guarantees-local-cloud/Cache"),
            id="windows",
        ),
    ],
)
def test_the_cache_directory_follows_the_platform_and_the_variable(
    environ: dict[str, str], system: str, expected: Path
) -> None:
    assert user_cache_dir(environ, system, HOME) == expected


def test_two_checkouts_share_the_installed_dependencies(tmp_path: Path) -> None:
    shared = tmp_path / "user-cache"
    installer = SlowInstaller()
    built = []
    for checkout in ("one", "two"):
        source = tmp_path / checkout / "functions/orders"
        source.mkdir(parents=True)
        (source / "app.py").write_text(f"CHECKOUT = {checkout!r}\n")
        (source / "requirements.txt").write_text("stripe==16.1.0\n")
        cache = DependencyCache(shared / "dependencies", installer)
        builder = Builder(tmp_path / checkout / ".local-cloud/build", cache)
        built.append(builder.function("OrdersFunction", source))
    assert installer.calls == 1  # the second checkout installed nothing
    assert built[0] != built[1]  # each checkout's source built under its own directory
    assert (built[1] / "app.py").read_text() == "CHECKOUT = 'two'\n"
    assert (built[1] / "a.py").is_file()


def test_another_interpreter_or_pip_setup_misses_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = DependencyCache(tmp_path / "cache", PipInstaller(environ={}))
    key = cache.key(["stripe==16.1.0"])
    other_index = DependencyCache(
        tmp_path / "cache", PipInstaller(environ={"PIP_INDEX_URL": "https://mirror.example/simple"})
    )
    assert other_index.key(["stripe==16.1.0"]) != key
    monkeypatch.setattr("local_cloud.stack.build.python_tag", lambda: "cpython-314-linux-x86_64")
    assert cache.key(["stripe==16.1.0"]) != key


def test_two_installs_at_once_never_show_a_half_installed_entry(tmp_path: Path) -> None:
    """Two builders (two checkouts, or the demo beside the tests) install the same set at
    the same moment; a third keeps looking at the entry. It sees no entry or a whole one,
    and the first one in place stays: never replaced under a build linking its files."""
    root = tmp_path / "cache"
    installer = SlowInstaller(gate=threading.Barrier(2))
    results: list[Path | None] = []
    errors: list[BaseException] = []
    seen: list[str] = []
    done = threading.Event()

    def build() -> None:
        try:
            results.append(DependencyCache(root, installer).install(["stripe==16.1.0"]))
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    def watch(target: Path) -> None:
        inode = None
        while not done.is_set():
            if (target / ".complete").is_file():
                names = sorted(p.name for p in target.iterdir())
                if names != sorted([*SlowInstaller.FILES, ".complete"]):
                    seen.append(f"half-installed: {names}")
                current = os.stat(target).st_ino
                if inode is not None and current != inode:
                    seen.append("replaced")
                inode = current

    target = root / DependencyCache(root, installer).key(["stripe==16.1.0"])
    watcher = threading.Thread(target=watch, args=(target,))
    watcher.start()
    builders = [threading.Thread(target=build) for _ in range(2)]
    for thread in builders:
        thread.start()
    for thread in builders:
        thread.join(timeout=120)
    done.set()
    watcher.join(timeout=120)
    assert errors == []
    assert results == [target, target]
    assert installer.calls == 2  # both installed; one rename won
    assert seen == []
    assert sorted(p.name for p in root.iterdir()) == [target.name]  # no staging left


def test_a_complete_entry_is_kept_when_another_install_finishes_later(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    first_in_place: list[int] = []

    class OvertakenInstaller(SlowInstaller):
        """While it installs, another process installs the same set and finishes first."""

        def install(self, requirements: list[str], target: Path, constraints: Path | None) -> None:
            other = DependencyCache(root, SlowInstaller()).install(requirements)
            assert other is not None
            first_in_place.append(os.stat(other / "a.py").st_ino)
            super().install(requirements, target, constraints)
            (target / "a.py").write_text("late")

    target = DependencyCache(root, OvertakenInstaller()).install(["stripe==16.1.0"])
    assert target is not None
    assert os.stat(target / "a.py").st_ino == first_in_place[0]  # the first, untouched
    assert (target / "a.py").read_text() != "late"
    assert sorted(p.name for p in root.iterdir()) == [target.name]


def test_an_entry_without_its_marker_is_replaced(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    cache = DependencyCache(root, SlowInstaller())
    target = root / cache.key(["stripe==16.1.0"])
    target.mkdir(parents=True)
    (target / "a.py").write_text("half")  # no .complete: cut off, or deleted by hand
    assert cache.install(["stripe==16.1.0"]) == target
    assert (target / ".complete").is_file()
    assert (target / "a.py").read_text() == "x" * 10_000
    assert sorted(p.name for p in root.iterdir()) == [target.name]
