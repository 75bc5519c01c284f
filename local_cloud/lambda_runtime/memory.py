"""A worker's memory, measured and held to its function's MemorySize.

What Lambda counts is the memory of the whole execution environment (its sandbox: the
runtime process with the function's code in it); when that reaches the MemorySize the
runtime is killed, the invocation's error is Runtime.OutOfMemory (the log says "Runtime
exited with error: signal: killed"; REPORT ends `Status: error  Error Type:
Runtime.OutOfMemory`) and the next invocation starts a new environment.

Here the environment is one worker process, and what counts is its resident set (RSS:
anonymous, file-backed and shared pages, as the kernel counts them in /proc/<pid>/statm
and VmHWM), with nothing subtracted for the local runtime. Measured on this project's
functions (python 3.13, Linux x86_64; `python -m benchmarks.worker_memory`): a bare
interpreter is 10 MB, the bootstrap's own imports bring it to 12 MB, importing boto3 to
35 MB, and the functions of template.yaml 39-40 MB once their module is imported. The
bootstrap's 2 MB is less than what Lambda's own runtime client loads into the same
process, so the local figure is, if anything, lower than Lambda's for the same code;
subtracting an overhead would let through functions that fail on AWS.

Two checks, both in the parent (the function cannot switch them off):
- while an invocation (or an init) runs, the parent samples the worker's RSS every
  SAMPLE_SECONDS and kills it once it is over the MemorySize: a runaway is stopped
  within one interval, whatever it allocates;
- when the worker answers, the parent reads its peak (VmHWM, the kernel's high-water
  mark of the RSS): a peak over the MemorySize that fell between two samples is caught
  too, and the answer is replaced by Runtime.OutOfMemory, as Lambda would have killed
  the runtime at that peak. The memory is counted over the worker's lifetime, as Lambda
  counts its environment's: memory a warm worker kept counts in its next invocation.

Only where /proc exists (Linux); elsewhere nothing is measured or enforced, and REPORT
shows the worker's own figure (see bootstrap.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# A sample is one pread of /proc/<pid>/statm kept open (1 us here; opening, reading and
# closing it each time took 15 us) plus a wake-up of the thread waiting for the worker.
# benchmarks/worker_memory.py, parent CPU per warm 100 ms invocation: every 20 ms 0.71 ms
# against 0.38 ms without sampling (1.9x); every 50 ms 0.51 against 0.41 ms (1.2x), about
# 0.1 % of a core per busy worker. A loop allocating 1 MB blocks as fast as it can got 20 MB
# in 50 ms here, one bytearray of 300 MB took 200 ms to fill: how far past its limit a
# runaway gets before the sample that kills it. What falls between two samples is caught
# by the peak read at the end.
SAMPLE_SECONDS = 0.05

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_MB = 1024 * 1024


def parse_statm_rss_bytes(text: str, page_size: int = _PAGE_SIZE) -> int:
    """The resident set in bytes from /proc/<pid>/statm ("size resident shared ...", pages)."""
    fields = text.split()
    if len(fields) < 2 or not fields[1].isdigit():
        raise ValueError(f"not a /proc/<pid>/statm line: {text!r:.80}")
    return int(fields[1]) * page_size


def parse_status_peak_bytes(text: str) -> int:
    """VmHWM (the RSS high-water mark) in bytes from /proc/<pid>/status."""
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == "VmHWM":
            number, _, unit = value.strip().partition(" ")
            if unit.strip() != "kB" or not number.isdigit():
                raise ValueError(f"VmHWM in an unknown form: {line!r}")
            return int(number) * 1024
    raise ValueError("no VmHWM line in /proc/<pid>/status")


class RssProbe:
    """The memory of one process, through its /proc/<pid>/statm kept open."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self._fd = fd

    @classmethod
    def open(cls, pid: int) -> RssProbe | None:
        """A probe on `pid`, or None where its memory cannot be read (no /proc)."""
        try:
            return cls(pid, os.open(f"/proc/{pid}/statm", os.O_RDONLY))
        except OSError:
            return None

    def rss_bytes(self) -> int | None:
        """The resident set now, or None once the process is gone."""
        if self._fd < 0:
            return None
        try:
            return parse_statm_rss_bytes(os.pread(self._fd, 256, 0).decode("ascii"))
        except (OSError, ValueError):
            return None

    def peak_bytes(self) -> int | None:
        return peak_bytes(self.pid)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def rss_bytes(pid: int) -> int | None:
    """The process's resident set now, or None when it cannot be read (gone, no /proc)."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
            return parse_statm_rss_bytes(statm.read())
    except (OSError, ValueError):
        return None


def peak_bytes(pid: int) -> int | None:
    """The process's RSS high-water mark since it started (exec), or None."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            return parse_status_peak_bytes(status.read())
    except (OSError, ValueError):
        return None


def megabytes(size_bytes: int) -> int:
    """MB as Lambda's REPORT writes them: whole, rounded up (a byte over 128 MB is 129)."""
    return -(-size_bytes // _MB)


@dataclass(frozen=True)
class MemoryLimit:
    """A function's MemorySize, held to a worker's RSS."""

    memory_mb: int
    sample_seconds: float = SAMPLE_SECONDS

    def __post_init__(self) -> None:
        if self.memory_mb <= 0:
            raise ValueError(f"MemorySize must be a positive number of MB, not {self.memory_mb}")
        if self.sample_seconds <= 0:
            raise ValueError(f"sample_seconds must be positive, not {self.sample_seconds}")

    @property
    def limit_bytes(self) -> int:
        return self.memory_mb * _MB

    def exceeded_by(self, used_bytes: int | None) -> bool:
        """True when `used_bytes` is over the MemorySize (reaching it exactly is allowed)."""
        return used_bytes is not None and used_bytes > self.limit_bytes
