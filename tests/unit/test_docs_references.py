"""docs/semantics.md names, for each rule, the code that implements it and the tests that
prove it: every file it names exists, every function or class it names is defined there, and
every test it names is a test in that file. (`::test_x` continues the last file named; a
bare file name in design.md's tables is relative to its row and not checked.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ["docs/semantics.md", "docs/design.md"]
_REFERENCE = re.compile(
    r"^(?P<path>[\w./-]+\.py)?(?:(?P<test>::\w+(?:\[[^\]]*\])?)|:(?P<symbol>[\w.]+))?$"
)


def _references(document: str) -> list[tuple[str, str | None, str | None]]:
    """(file, test, symbol) of each backticked reference, in order."""
    found = []
    last_file: str | None = None
    for token in re.findall(r"`([^`\n]+)`", (ROOT / document).read_text()):
        match = _REFERENCE.match(token)
        if match is None or not (match["path"] or match["test"]):
            continue
        if match["path"] and not (ROOT / match["path"].split("/", 1)[0]).is_dir():
            continue  # a name relative to its row (design.md's tables), not a repository path
        path = match["path"] or last_file
        if path is None:
            continue
        last_file = path
        test = match["test"][2:].split("[", 1)[0] if match["test"] else None
        found.append((path, test, match["symbol"]))
    return found


def _defines(source: str, name: str) -> bool:
    return re.search(
        rf"^\s*(?:async\s+)?(?:def|class)\s+{re.escape(name)}\b", source, re.M
    ) is not None or (re.search(rf"^{re.escape(name)}\s*[:=]", source, re.M) is not None)


@pytest.mark.parametrize("document", DOCS)
def test_every_file_symbol_and_test_the_docs_name_exists(document: str) -> None:
    references = _references(document)
    missing = []
    for path, test, symbol in references:
        file = ROOT / path
        if not file.is_file():
            missing.append(f"{path}: no such file")
            continue
        source = file.read_text()
        if test is not None and not _defines(source, test):
            missing.append(f"{path}::{test}: no such test")
        if symbol is not None and not all(_defines(source, part) for part in symbol.split(".")):
            missing.append(f"{path}:{symbol}: not defined there")
    assert missing == []


def test_the_semantics_document_names_its_tests() -> None:
    # The check above would pass on a document naming nothing.
    references = _references("docs/semantics.md")
    assert sum(test is not None for _, test, _ in references) > 100
    assert sum(symbol is not None for _, _, symbol in references) > 50
