"""Function log files (local_cloud/logs.py): the sink `up` uses and `logs --tail`'s follow."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from local_cloud.logs import LogFiles, follow, log_path, resolve_log_file


def test_each_line_is_appended_to_its_functions_file(tmp_path: Path) -> None:
    sink = LogFiles(tmp_path)
    sink("BillingFunction", "START RequestId: r1 Version: $LATEST")
    sink("SignupFunction", '{"level":"INFO","message":"signup stored"}')
    sink("BillingFunction", "END RequestId: r1\n")

    assert log_path(tmp_path, "BillingFunction").read_text() == (
        "START RequestId: r1 Version: $LATEST\nEND RequestId: r1\n"
    )
    assert (tmp_path / "logs" / "SignupFunction.log").read_text().count("\n") == 1
    # A second sink (a restarted `up`) appends; it never truncates.
    LogFiles(tmp_path)("BillingFunction", "REPORT RequestId: r2")
    assert log_path(tmp_path, "BillingFunction").read_text().endswith("REPORT RequestId: r2\n")


def test_the_tail_keeps_the_last_lines_across_functions_and_chains_the_next_sink(
    tmp_path: Path,
) -> None:
    printed: list[tuple[str, str]] = []
    sink = LogFiles(tmp_path, tail_lines=2, then=lambda f, line: printed.append((f, line)))
    for n in range(3):
        sink(f"F{n}", f"line {n}")
    assert sink.tail() == [("F1", "line 1"), ("F2", "line 2")]
    assert printed == [("F0", "line 0"), ("F1", "line 1"), ("F2", "line 2")]


def scripted_waits(
    *actions: Callable[[], object],
) -> tuple[Callable[[], None], Callable[[], bool]]:
    """wait() runs the next action (a write to the file); stopped() once they are used up."""
    remaining = list(actions)

    def wait() -> None:
        if remaining:
            remaining.pop(0)()

    return wait, lambda: not remaining


def append(path: Path, text: str) -> Callable[[], None]:
    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as file:
            file.write(text)

    return write


def test_follow_prints_the_file_then_what_is_appended(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "BillingFunction.log"
    append(path, "START 1\nEND 1\n")()
    wait, stopped = scripted_waits(
        append(path, "REPORT 1\nSTA"),  # a partial line is held back ...
        append(path, "RT 2\n"),  # ... until its newline arrives
        lambda: None,
    )
    assert list(follow(path, wait=wait, stopped=stopped)) == [
        "START 1",
        "END 1",
        "REPORT 1",
        "START 2",
    ]


def test_follow_waits_for_a_file_that_does_not_exist_yet(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "New.log"
    wait, stopped = scripted_waits(lambda: None, append(path, "START\n"), lambda: None)
    assert list(follow(path, wait=wait, stopped=stopped)) == ["START"]


def test_follow_reads_a_truncated_file_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "F.log"
    append(path, "old line one\nold line two\n")()
    wait, stopped = scripted_waits(lambda: path.write_text("new\n"), lambda: None)
    assert list(follow(path, wait=wait, stopped=stopped)) == [
        "old line one",
        "old line two",
        "new",
    ]


def test_a_function_is_found_by_logical_id_or_function_name(tmp_path: Path) -> None:
    LogFiles(tmp_path)("BillingFunction", "START")
    names = {"delivery-guarantees-BillingFunction-1A2B": "BillingFunction"}
    expected = log_path(tmp_path, "BillingFunction")
    assert resolve_log_file(tmp_path, "BillingFunction", {}) == expected
    assert resolve_log_file(tmp_path, "delivery-guarantees-BillingFunction-1A2B", names) == expected
    # A function of the running stack that has not logged yet: its (future) file.
    assert resolve_log_file(tmp_path, "Quiet", {"quiet-fn": "Quiet"}) == log_path(tmp_path, "Quiet")
    with pytest.raises(LookupError, match="logs: BillingFunction"):
        resolve_log_file(tmp_path, "Nope", names)
