"""Function logs on disk: `.local-cloud/logs/<logical ID>.log`, one line per log line.

`LogFiles` is a `LocalCloud(log_sink=...)`: every line a function logs (INIT_START,
START, its own lines, END, REPORT; and one line per HTTP API request under the API's
logical ID) is appended to its file, and kept in a short in-memory tail for the live view.
Other sinks (`up --no-view` prints) are chained after it.

`follow` prints a file and then what is appended to it, like `sam logs --tail`; waiting
and stopping are injected, so tests follow a file without sleeping.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

LogSink = Callable[[str, str], None]


def logs_dir(state_dir: Path) -> Path:
    return state_dir / "logs"


def log_path(state_dir: Path, logical_id: str) -> Path:
    return logs_dir(state_dir) / f"{logical_id}.log"


class LogFiles:
    """Appends each (function, line) to its file; keeps the last `tail_lines` in memory."""

    def __init__(
        self, state_dir: Path, *, tail_lines: int = 10, then: LogSink | None = None
    ) -> None:
        self.directory = logs_dir(state_dir)
        self._tail: deque[tuple[str, str]] = deque(maxlen=tail_lines)
        self._then = then
        self._lock = threading.Lock()

    def __call__(self, logical_id: str, line: str) -> None:
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Opened per line (append mode): cheap at this rate, and a file deleted or
            # rotated while `up` runs is simply created again.
            with (self.directory / f"{logical_id}.log").open("a", encoding="utf-8") as file:
                file.write(line.rstrip("\n") + "\n")
            self._tail.append((logical_id, line))
        if self._then is not None:
            self._then(logical_id, line)

    def tail(self) -> list[tuple[str, str]]:
        """The last lines across functions, oldest first."""
        with self._lock:
            return list(self._tail)


def follow(
    path: Path,
    *,
    wait: Callable[[], object],
    stopped: Callable[[], bool],
) -> Iterator[str]:
    """Each line of `path`, then each line appended to it, until `stopped()`.

    `wait()` is called whenever no complete line is available (`up` sleeps a fraction of a
    second there). A file that does not exist yet is waited for; a partial last line is
    held back until its newline arrives; a truncated file is read again from its start.
    """
    position = 0
    pending = ""
    while not stopped():
        if not path.is_file():
            wait()
            continue
        if path.stat().st_size < position:  # truncated or replaced: start again
            position, pending = 0, ""
        with path.open("r", encoding="utf-8", errors="replace") as file:
            file.seek(position)
            chunk = file.read()
            position = file.tell()
        pending += chunk
        *lines, pending = pending.split("\n")
        yield from lines
        if not lines:
            wait()


def print_lines(lines: Iterator[str], out: TextIO) -> None:
    for line in lines:
        print(line, file=out, flush=True)


def resolve_log_file(state_dir: Path, name: str, function_names: dict[str, str]) -> Path:
    """The log file of a function named by logical ID or by function name.

    `function_names` maps function names to logical IDs (from the running stack; empty
    when none runs, then only a logical ID with a log file is found). Raises LookupError.
    """
    logical_id = function_names.get(name, name)
    path = log_path(state_dir, logical_id)
    if path.is_file() or logical_id in function_names.values():
        return path
    known = sorted(p.stem for p in logs_dir(state_dir).glob("*.log"))
    raise LookupError(
        f"no log for {name!r} in {logs_dir(state_dir)}; logs: {', '.join(known) or 'none yet'}"
    )
