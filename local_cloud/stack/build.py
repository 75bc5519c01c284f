"""Host-native builds: what `sam build` would put in each function's and layer's zip.

Dependencies are installed with pip --target on this host (no container), into a cache
under the user's cache directory (user_cache_dir: shared by every checkout of every
project on this machine), keyed by the requirements, the constraints, the interpreter
(version, ABI, platform) and pip's options, so an unchanged stack installs nothing the
second time, and a new checkout installs nothing the first time. An entry is installed
in a directory of its own and renamed into place whole: two processes installing the
same set at once (two checkouts, the demo beside the tests) each install theirs, the
first rename wins, and no process ever sees a half-installed entry under its key. The
function's own source (it changes often) is built per checkout, under the state
directory. The Lambda runtime's own boto3 (what
/var/runtime holds on AWS) is built the same way, pinned to the venv's version: workers
run with this, never with the venv's site-packages, so what runs locally is what ships.

Each function and layer build is keyed by its inputs (the source files copied, the
dependency set linked in, the layout): a build whose key file matches is reused as it is,
not deleted and copied again. Rebuilding the shared layer (its ~1,400 dependency
directories removed, copied and hard-linked) took 4.4-7.4 s of a warm `make local`
on a loaded 2-core machine; checking its key takes milliseconds. A build is made in a
directory of its own beside its place and swapped in whole (_put_in_place), so two
processes building the same stack at once (the demo and the tests, in one checkout)
never build into one directory; the key is removed before the swap and written after
it, so a build cut off halfway is never taken for a current one. A build directory
edited by hand is not noticed: its inputs are what is checked.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Protocol

from local_cloud.stack.errors import BuildError

_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache")
_COMPLETE_MARKER = ".complete"
# Part of every build key: bump it when what a build holds changes for the same inputs.
_BUILD_FORMAT = "1"
_KEY_SUFFIX = ".build-key"

CACHE_DIR_VARIABLE = "LOCAL_CLOUD_CACHE_DIR"
_CACHE_NAME = "delivery-guarantees-local-cloud"
# pip's environment variables that change what it installs (where it looks, what it
# accepts); part of the key, so an install from another index is not taken for this one.
_PIP_VARIABLES = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_NO_INDEX",
    "PIP_ONLY_BINARY",
    "PIP_NO_BINARY",
    "PIP_PRE",
    "PIP_PREFER_BINARY",
    "PIP_CONSTRAINT",
)


def user_cache_dir(
    environ: Mapping[str, str] = os.environ,
    system: str = sys.platform,
    home: Path | None = None,
) -> Path:
    """Where the dependency cache lives: $LOCAL_CLOUD_CACHE_DIR if set; else the platform's
    cache directory (platformdirs' rules, which the project does not depend on): Linux and
    other Unixes $XDG_CACHE_HOME or ~/.cache, macOS ~/Library/Caches, Windows
    %LOCALAPPDATA%; with delivery-guarantees-local-cloud under it."""
    configured = environ.get(CACHE_DIR_VARIABLE, "").strip()
    if configured:
        return Path(configured).expanduser()
    home = home if home is not None else Path.home()
    if system == "darwin":
        return home / "Library" / "Caches" / _CACHE_NAME
    if system in ("win32", "cygwin"):
        local = environ.get("LOCALAPPDATA", "").strip()
        base = Path(local) if local else home / "AppData" / "Local"
        return base / _CACHE_NAME / "Cache"
    xdg = environ.get("XDG_CACHE_HOME", "").strip()
    # The XDG spec: a relative $XDG_CACHE_HOME is invalid and to be ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".cache"
    return base / _CACHE_NAME


def python_tag() -> str:
    """Which interpreter installed wheels are built for: implementation and version, ABI
    flags (a free-threaded 3.13t takes other wheels than 3.13), the platform (with its
    macOS version, say) and the C library, as pip chooses wheels by all of them."""
    libc = "-".join(part for part in platform.libc_ver() if part) or "nolibc"
    return (
        f"{sys.implementation.cache_tag}{sys.abiflags}-{sysconfig.get_platform()}-"
        f"{platform.machine()}-{libc}"
    )


def requirement_lines(text: str) -> list[str]:
    """The requirements themselves, one per entry: comments, blank lines and trailing
    whitespace dropped, and lines continued with a backslash (pip-compile's
    `name==1.0 \\` then `--hash=...` lines) joined into one entry."""
    entries: list[str] = []
    continued = ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        line = continued + (" " if continued and line else "") + line
        if line.endswith("\\"):
            continued = line[:-1].rstrip()
            continue
        continued = ""
        if line:
            entries.append(line)
    if continued:
        entries.append(continued)
    return entries


def requirements_key(requirements: list[str], constraints: str, tag: str) -> str:
    """Cache key of an install: changes exactly when pip could install something different."""
    digest = hashlib.sha256()
    for part in ("\n".join(requirements), "\n".join(requirement_lines(constraints)), tag):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:20]


def source_digest(source: Path) -> str:
    """sha256 over what a build copies from source: each file's relative path, whether it
    is executable, and its contents, the names copytree ignores (_IGNORED) left out."""
    digest = hashlib.sha256()
    for directory, subdirectories, files in os.walk(source, followlinks=True):
        ignored = _IGNORED(directory, [*subdirectories, *files])
        subdirectories[:] = sorted(name for name in subdirectories if name not in ignored)
        relative = Path(directory).relative_to(source)
        for name in sorted(name for name in files if name not in ignored):
            path = Path(directory) / name
            digest.update((relative / name).as_posix().encode())
            digest.update(b"\0x\0" if os.access(path, os.X_OK) else b"\0-\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


class PackageInstaller(Protocol):
    def install(self, requirements: list[str], target: Path, constraints: Path | None) -> None: ...

    def options(self) -> str:
        """What, besides the requirements and constraints, decides what it installs."""
        ...


_PIP_OPTIONS = ("--quiet", "--disable-pip-version-check", "--no-input")


class PipInstaller:
    """pip install --target with this interpreter: wheels for this host's Python."""

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        self._environ = environ

    def options(self) -> str:
        """pip's version, the options of its command line and the environment variables
        that change what it installs (see _PIP_VARIABLES)."""
        try:
            version = metadata.version("pip")
        except metadata.PackageNotFoundError:
            version = "absent"
        variables = [
            f"{name}={self._environ[name]}" for name in _PIP_VARIABLES if name in self._environ
        ]
        return " ".join([f"pip=={version}", *_PIP_OPTIONS, *variables])

    def install(self, requirements: list[str], target: Path, constraints: Path | None) -> None:
        # A requirements file, not arguments: `--hash` is only allowed there, and with
        # hashes pip checks every download against them (hash-checking mode).
        listing = target.parent / f"{target.name}.requirements.txt"
        listing.write_text("\n".join(requirements) + "\n")
        command = [
            sys.executable, "-m", "pip", "install", *_PIP_OPTIONS, "--target", str(target),
            "-r", str(listing),
        ]  # fmt: skip
        if constraints is not None:
            command += ["-c", str(constraints)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        listing.unlink(missing_ok=True)
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-15:])
            raise BuildError(f"pip install {' '.join(requirements)} failed:\n{tail}")


@dataclass
class DependencyCache:
    """Installed requirement sets under root/<key>/, each installed at most once per key
    (at most once per process building it at the same moment: see the module docstring).
    An entry is never changed or removed once in place: builds hard-link its files."""

    root: Path
    installer: PackageInstaller = field(default_factory=PipInstaller)
    constraints: Path | None = None
    installs: list[str] = field(default_factory=list)  # keys installed by this instance

    def for_requirements_file(self, path: Path) -> Path | None:
        """The installed dependencies of a requirements.txt, or None if it lists nothing."""
        if not path.is_file():
            return None
        return self.install(requirement_lines(path.read_text()))

    def key(self, requirements: list[str]) -> str:
        constraints_text = self.constraints.read_text() if self.constraints else ""
        return requirements_key(
            requirements, constraints_text, f"{python_tag()} {self.installer.options()}"
        )

    def install(self, requirements: list[str]) -> Path | None:
        if not requirements:
            return None
        key = self.key(requirements)
        target = self.root / key
        if (target / _COMPLETE_MARKER).is_file():
            return target
        # Installed in a directory of its own (a name no other process or thread uses),
        # then renamed into place whole: nobody sees an entry before it is complete.
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{key}.staging-", dir=self.root))
        try:
            self.installer.install(requirements, staging, self.constraints)
            (staging / _COMPLETE_MARKER).write_text("\n".join(requirements) + "\n")
            _publish(staging, target)
        except OSError as error:
            raise BuildError(f"could not install {requirements} into {target}: {error}") from error
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # gone unless another won the race
        self.installs.append(key)
        return target


def _publish(staging: Path, target: Path) -> None:
    """Rename staging to target, unless a complete target is already there: one installed
    meanwhile by another process is kept as it is (someone may be linking its files), and
    staging is left to be removed. A target without its marker (cut off before this
    module renamed entries whole, or half-deleted by hand) is moved aside, then removed."""
    for _attempt in range(3):
        try:
            staging.rename(target)
            return
        except OSError:
            if (target / _COMPLETE_MARKER).is_file():
                return  # another process's install finished first: theirs is kept
            if not target.exists():
                continue  # removed meanwhile: try again
            aside = target.with_name(f"{target.name}.stale-{uuid.uuid4().hex}")
            with contextlib.suppress(FileNotFoundError):
                target.rename(aside)
            shutil.rmtree(aside, ignore_errors=True)
    staging.rename(target)  # a last try; its error is the caller's to report


@dataclass
class Builder:
    """Builds functions and layers of one stack under build_dir; a build whose inputs have
    not changed since the last one is reused (see the module's docstring)."""

    build_dir: Path
    dependencies: DependencyCache
    keys: dict[Path, str] = field(default_factory=dict)  # build directory -> its key
    reused: list[Path] = field(default_factory=list)  # builds found current, not rebuilt

    def function(self, logical_id: str, source: Path) -> Path:
        """CodeUri's files plus its requirements.txt installed: what /var/task holds."""
        destination = self.build_dir / "functions" / logical_id
        self._check_source(logical_id, source)
        installed = self.dependencies.for_requirements_file(source / "requirements.txt")
        key = self._key("function", source, installed)
        if self._is_current(destination, key):
            return destination

        def make(build: Path) -> None:
            self._copy_source(source, build)
            if installed is not None:
                link_tree(installed, build)

        return self._build(destination, key, make)

    def inline_function(self, logical_id: str, code: str) -> Path:
        """InlineCode / ZipFile: Lambda stores it as index.py."""

        def make(build: Path) -> None:
            build.mkdir(parents=True)
            (build / "index.py").write_text(code)

        return self._build(self.build_dir / "functions" / logical_id, None, make)

    def layer(self, logical_id: str, source: Path) -> Path:
        """A Python layer: ContentUri's files under python/ (Lambda's /opt/python) plus its
        requirements; a ContentUri that already has python/ at its top is taken as laid out."""
        destination = self.build_dir / "layers" / logical_id
        self._check_source(logical_id, source)
        if (source / "python").is_dir():
            key = self._key("layer-as-laid-out", source, None)
            if self._is_current(destination, key):
                return destination
            return self._build(destination, key, lambda build: self._copy_source(source, build))
        installed = self.dependencies.for_requirements_file(source / "requirements.txt")
        key = self._key("layer", source, installed)
        if self._is_current(destination, key):
            return destination

        def make(build: Path) -> None:
            self._copy_source(source, build / "python")
            if installed is not None:
                link_tree(installed, build / "python")

        return self._build(destination, key, make)

    def runtime(self) -> Path:
        """Lambda's /var/runtime: the AWS SDK only, at the venv's boto3 version."""
        runtime = self.dependencies.install([f"boto3=={metadata.version('boto3')}"])
        assert runtime is not None
        return runtime

    @staticmethod
    def _key(layout: str, source: Path, installed: Path | None) -> str:
        """What the build is made from: the layout, the source files and the installed
        dependency set (its directory is named by the requirements' own cache key)."""
        digest = hashlib.sha256()
        for part in (
            _BUILD_FORMAT,
            layout,
            source_digest(source),
            installed.name if installed else "",
        ):
            digest.update(part.encode())
            digest.update(b"\0")
        return digest.hexdigest()[:32]

    def _is_current(self, destination: Path, key: str) -> bool:
        key_file = _key_file(destination)
        current = destination.is_dir() and key_file.is_file() and key_file.read_text() == key
        if current:
            self.keys[destination] = key
            self.reused.append(destination)
        return current

    def _build(self, destination: Path, key: str | None, make: Callable[[Path], None]) -> Path:
        """make(path) builds at a path of its own beside destination (no other process or
        thread uses it); the build is then put in place whole, and its key written."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(
            tempfile.mkdtemp(prefix=f".{destination.name}.staging-", dir=destination.parent)
        )
        try:
            make(staging / "build")
            # The key goes first: a swap cut off from here on is not taken for current.
            _key_file(destination).unlink(missing_ok=True)
            _put_in_place(staging / "build", destination)
            if key is not None:
                _key_file(destination).write_text(key)
                self.keys[destination] = key
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return destination

    @staticmethod
    def _check_source(logical_id: str, source: Path) -> None:
        if not source.is_dir():
            raise BuildError(f"{logical_id}: code directory {source} does not exist")

    @staticmethod
    def _copy_source(source: Path, destination: Path) -> None:
        shutil.copytree(source, destination, ignore=_IGNORED)


def _put_in_place(build: Path, destination: Path) -> None:
    """Swap build in for whatever destination holds: the old build is renamed aside, the
    new one renamed in, the old one removed. Another process building the same stack at
    the same moment (the demo beside the tests, in one checkout) may put its build in
    between the two renames: then its build, made from the same inputs, stays."""
    aside = destination.with_name(f".{destination.name}.old-{uuid.uuid4().hex}")
    with contextlib.suppress(FileNotFoundError):
        destination.rename(aside)
    try:
        build.rename(destination)
    except OSError:
        if not destination.is_dir():
            raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)


def _key_file(destination: Path) -> Path:
    """Beside the build, not in it: it must not end up in the zip or on the code path."""
    return destination.with_name(destination.name + _KEY_SUFFIX)


def link_tree(source: Path, destination: Path) -> None:
    """Hard-link every file of source into destination (copy across filesystems); the
    function's own files win over a dependency of the same name, as in `sam build`."""
    for directory, _, files in os.walk(source):
        relative = Path(directory).relative_to(source)
        target_directory = destination / relative
        target_directory.mkdir(parents=True, exist_ok=True)
        for name in files:
            if relative == Path(".") and name == _COMPLETE_MARKER:
                continue
            target = target_directory / name
            if target.exists():
                continue
            try:
                os.link(Path(directory) / name, target)
            except OSError:
                shutil.copy2(Path(directory) / name, target)
