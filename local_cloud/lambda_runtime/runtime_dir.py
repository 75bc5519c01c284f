"""The stand-in for Lambda's /var/runtime: the AWS SDK the python runtime ships with.

Workers run with `-I -S`, so they see no site-packages; a function finds boto3 only
because the runtime directory holds it, as in Lambda. We link the packages from our own
interpreter (pinned in constraints.txt) rather than copying them: cheap, and the same
versions the rest of the local cloud uses.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

# boto3 and everything it imports, as in the python3.13 runtime's /var/runtime.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


def _installed_path(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            f"{name} is not installed in this interpreter; "
            "the Lambda runtime directory needs it (pip install boto3)"
        )
    origin = Path(spec.origin)
    return origin.parent if origin.name == "__init__.py" else origin


def prepare_runtime_dir(target: Path, packages: tuple[str, ...] = RUNTIME_PACKAGES) -> Path:
    """Fill `target` with links to the runtime's packages; idempotent. Returns `target`."""
    target.mkdir(parents=True, exist_ok=True)
    for name in packages:
        source = _installed_path(name)
        link = target / source.name
        if link.is_symlink() and link.resolve() == source.resolve():
            continue
        if link.is_symlink():
            link.unlink()
        link.symlink_to(source, target_is_directory=source.is_dir())
    return target
