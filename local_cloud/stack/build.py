"""Host-native builds: what `sam build` would put in each function's and layer's zip.

Dependencies are installed with pip --target on this host (no container), into a cache
keyed by the requirements, the constraints and the Python version, so an unchanged
stack installs nothing the second time. The Lambda runtime's own boto3 (what
/var/runtime holds on AWS) is built the same way, pinned to the venv's version: workers
run with this, never with the venv's site-packages, so what runs locally is what ships.

Each function and layer build is keyed by its inputs (the source files copied, the
dependency set linked in, the layout): a build whose key file matches is reused as it is,
not deleted and copied again. Rebuilding the shared layer (its ~1,400 dependency
directories removed, copied and hard-linked) took 4.4-7.4 s of a warm `make local`
on a loaded 2-core machine; checking its key takes milliseconds. The key is written last,
after the build is complete, and removed first when a build starts, so a build cut off
halfway is never taken for a current one. A build directory edited by hand is not
noticed: its inputs are what is checked.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
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


def python_tag() -> str:
    """Which interpreter and platform installed wheels are built for."""
    return f"cp{sys.version_info.major}{sys.version_info.minor}-{sys.platform}-{platform.machine()}"


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


class PipInstaller:
    """pip install --target with this interpreter: wheels for this host's Python."""

    def install(self, requirements: list[str], target: Path, constraints: Path | None) -> None:
        # A requirements file, not arguments: `--hash` is only allowed there, and with
        # hashes pip checks every download against them (hash-checking mode).
        listing = target.parent / f"{target.name}.requirements.txt"
        listing.write_text("\n".join(requirements) + "\n")
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-input", "--target", str(target), "-r", str(listing),
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
    """Installed requirement sets under root/<key>/, each installed at most once."""

    root: Path
    installer: PackageInstaller = field(default_factory=PipInstaller)
    constraints: Path | None = None
    installs: list[str] = field(default_factory=list)  # keys installed by this instance

    def for_requirements_file(self, path: Path) -> Path | None:
        """The installed dependencies of a requirements.txt, or None if it lists nothing."""
        if not path.is_file():
            return None
        return self.install(requirement_lines(path.read_text()))

    def install(self, requirements: list[str]) -> Path | None:
        if not requirements:
            return None
        constraints_text = self.constraints.read_text() if self.constraints else ""
        key = requirements_key(requirements, constraints_text, python_tag())
        target = self.root / key
        if (target / _COMPLETE_MARKER).is_file():
            return target
        # Install next to the final place and rename: a crash or a concurrent build never
        # leaves a half-installed directory that looks complete.
        staging = self.root / f"{key}.staging-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            self.installer.install(requirements, staging, self.constraints)
            (staging / _COMPLETE_MARKER).write_text("\n".join(requirements) + "\n")
            if (target / _COMPLETE_MARKER).is_file():
                # Another process installed the same set while this one did (integration
                # tests deploy side by side under pytest-xdist): keep theirs, which they
                # may be hard-linking from right now; removing it broke their build.
                return target
            shutil.rmtree(target, ignore_errors=True)  # a half install cut off earlier
            staging.rename(target)
        except OSError as error:
            if (target / _COMPLETE_MARKER).is_file():  # another build finished first
                return target
            raise BuildError(f"could not install {requirements} into {target}: {error}") from error
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self.installs.append(key)
        return target


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
        self._start(destination)
        self._copy_source(source, destination)
        if installed is not None:
            link_tree(installed, destination)
        self._finish(destination, key)
        return destination

    def inline_function(self, logical_id: str, code: str) -> Path:
        """InlineCode / ZipFile: Lambda stores it as index.py."""
        destination = self.build_dir / "functions" / logical_id
        self._start(destination)
        destination.mkdir(parents=True)
        (destination / "index.py").write_text(code)
        return destination

    def layer(self, logical_id: str, source: Path) -> Path:
        """A Python layer: ContentUri's files under python/ (Lambda's /opt/python) plus its
        requirements; a ContentUri that already has python/ at its top is taken as laid out."""
        destination = self.build_dir / "layers" / logical_id
        self._check_source(logical_id, source)
        if (source / "python").is_dir():
            key = self._key("layer-as-laid-out", source, None)
            if not self._is_current(destination, key):
                self._start(destination)
                self._copy_source(source, destination)
                self._finish(destination, key)
            return destination
        installed = self.dependencies.for_requirements_file(source / "requirements.txt")
        key = self._key("layer", source, installed)
        if self._is_current(destination, key):
            return destination
        self._start(destination)
        self._copy_source(source, destination / "python")
        if installed is not None:
            link_tree(installed, destination / "python")
        self._finish(destination, key)
        return destination

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

    @staticmethod
    def _start(destination: Path) -> None:
        """The key goes first: a build cut off from here on is not taken for current."""
        _key_file(destination).unlink(missing_ok=True)
        shutil.rmtree(destination, ignore_errors=True)

    def _finish(self, destination: Path, key: str) -> None:
        _key_file(destination).write_text(key)
        self.keys[destination] = key

    @staticmethod
    def _check_source(logical_id: str, source: Path) -> None:
        if not source.is_dir():
            raise BuildError(f"{logical_id}: code directory {source} does not exist")

    @staticmethod
    def _copy_source(source: Path, destination: Path) -> None:
        shutil.copytree(source, destination, ignore=_IGNORED)


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
