"""Every vendored file is byte for byte the upstream file: its git blob ID equals the one
apps/<app>/UPSTREAM records (`<blob ID> <path here> <path upstream>`, taken with `git
rev-parse <commit>:<path>` at the commit SOURCE.md names). Any other file in an app
directory must be SOURCE.md, UPSTREAM, or listed in SOURCE.md as ours. No network.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.acceptance.conftest import APPS

# Files that are ours, not the publisher's; each one's SOURCE.md says why.
OURS = {"powertools_sqs_batch_processing/hello_world/requirements.txt"}
APP_DIRS = sorted(path for path in APPS.iterdir() if path.is_dir())


def git_blob_id(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def upstream(app: Path) -> dict[str, str]:
    """path here -> the upstream blob ID."""
    entries = {}
    for line in (app / "UPSTREAM").read_text().splitlines():
        blob, here, _there = line.split()
        entries[here] = blob
    return entries


@pytest.mark.acceptance_fast
@pytest.mark.parametrize("app", APP_DIRS, ids=[path.name for path in APP_DIRS])
def test_each_vendored_file_is_the_upstream_blob(app: Path) -> None:
    expected = upstream(app)
    assert expected, f"{app.name}/UPSTREAM lists no file"
    for here, blob in expected.items():
        assert git_blob_id(app / here) == blob, f"{app.name}/{here} differs from upstream"
    present = {
        str(path.relative_to(app))
        for path in app.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    extra = present - set(expected) - {"SOURCE.md", "UPSTREAM"}
    assert extra <= {item.split("/", 1)[1] for item in OURS if item.startswith(f"{app.name}/")}
    for item in extra:
        assert item in (app / "SOURCE.md").read_text(), f"{item} is not explained in SOURCE.md"
