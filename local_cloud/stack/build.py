"""Host-native builds: what `sam build` would put in each function's and layer's zip.

Dependencies are installed with pip --target on this host (no container), into a cache
keyed by the requirements, the constraints and the Python version, so an unchanged
stack installs nothing the second time. The Lambda runtime's own boto3 (what
/var/runtime holds on AWS) is built the same way, pinned to the venv's version: workers
run with this, never with the venv's site-packages, so what runs locally is what ships.
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
            shutil.rmtree(target, ignore_errors=True)
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
    """Builds functions and layers of one stack under build_dir."""

    build_dir: Path
    dependencies: DependencyCache

    def function(self, logical_id: str, source: Path) -> Path:
        """CodeUri's files plus its requirements.txt installed: what /var/task holds."""
        destination = self.build_dir / "functions" / logical_id
        self._copy_source(logical_id, source, destination)
        self._add_dependencies(source / "requirements.txt", destination)
        return destination

    def inline_function(self, logical_id: str, code: str) -> Path:
        """InlineCode / ZipFile: Lambda stores it as index.py."""
        destination = self.build_dir / "functions" / logical_id
        shutil.rmtree(destination, ignore_errors=True)
        destination.mkdir(parents=True)
        (destination / "index.py").write_text(code)
        return destination

    def layer(self, logical_id: str, source: Path) -> Path:
        """A Python layer: ContentUri's files under python/ (Lambda's /opt/python) plus its
        requirements; a ContentUri that already has python/ at its top is taken as laid out."""
        destination = self.build_dir / "layers" / logical_id
        if (source / "python").is_dir():
            self._copy_source(logical_id, source, destination)
            return destination
        shutil.rmtree(destination, ignore_errors=True)
        self._copy_source(logical_id, source, destination / "python")
        self._add_dependencies(source / "requirements.txt", destination / "python")
        return destination

    def runtime(self) -> Path:
        """Lambda's /var/runtime: the AWS SDK only, at the venv's boto3 version."""
        runtime = self.dependencies.install([f"boto3=={metadata.version('boto3')}"])
        assert runtime is not None
        return runtime

    @staticmethod
    def _copy_source(logical_id: str, source: Path, destination: Path) -> None:
        if not source.is_dir():
            raise BuildError(f"{logical_id}: code directory {source} does not exist")
        shutil.rmtree(destination, ignore_errors=True)
        shutil.copytree(source, destination, ignore=_IGNORED)

    def _add_dependencies(self, requirements: Path, destination: Path) -> None:
        installed = self.dependencies.for_requirements_file(requirements)
        if installed is not None:
            link_tree(installed, destination)


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
