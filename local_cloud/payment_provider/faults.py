"""Faults to inject into the next N matching requests, so tests can prove that retries
reuse the same idempotency key and never charge twice.

- `delay` (delay_ms): the request is slow. Phase `before_execution` sleeps while the
  request holds its idempotency key, before charging: a retry meanwhile gets a 409, and
  a client that gave up still gets charged. Phase `after_execution` charges and saves
  the answer first, then sleeps before answering: the client times out, its retry is a
  replay.
- `error` (status 500/502/503/504): phase `before_execution` answers at the edge, as a
  load balancer would: nothing executes, nothing is saved. Phase `after_execution`
  executes and saves the real answer under the key, then the client gets the error
  instead: the answer was lost on its way back.
- `drop`: the connection is closed without an answer, in either phase likewise.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from local_cloud.errors import FaultSpecError


class FaultKind(StrEnum):
    DELAY = "delay"
    ERROR = "error"
    DROP = "drop"


class FaultPhase(StrEnum):
    BEFORE_EXECUTION = "before_execution"
    AFTER_EXECUTION = "after_execution"


ERROR_STATUSES = frozenset({500, 502, 503, 504})
MAX_DELAY_MS = 120_000


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    count: int = 1  # how many matching requests it hits
    phase: FaultPhase = FaultPhase.BEFORE_EXECUTION
    status: int | None = None  # for `error`
    delay_ms: int | None = None  # for `delay`
    method: str = "POST"  # "*" matches any method
    path: str = "/v1/payment_intents"  # a prefix of the request path

    def __post_init__(self) -> None:
        if self.count < 1:
            raise FaultSpecError(f"count must be at least 1, got {self.count}")
        if self.kind is FaultKind.ERROR and self.status not in ERROR_STATUSES:
            raise FaultSpecError(
                f"status must be one of {sorted(ERROR_STATUSES)} for an error fault, "
                f"got {self.status}"
            )
        if self.kind is not FaultKind.ERROR and self.status is not None:
            raise FaultSpecError(f"status applies to error faults only, not {self.kind}")
        if self.kind is FaultKind.DELAY and (
            self.delay_ms is None or not 0 < self.delay_ms <= MAX_DELAY_MS
        ):
            raise FaultSpecError(
                f"delay_ms must be between 1 and {MAX_DELAY_MS} for a delay fault, "
                f"got {self.delay_ms}"
            )
        if self.kind is not FaultKind.DELAY and self.delay_ms is not None:
            raise FaultSpecError(f"delay_ms applies to delay faults only, not {self.kind}")
        if not self.path.startswith("/"):
            raise FaultSpecError(f"path must start with '/', got {self.path!r}")

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method.upper()) and path.startswith(self.path)

    def to_json(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if value is not None}

    @classmethod
    def from_json(cls, spec: object) -> Fault:
        """Build from the JSON a test posts to /_simulator/faults."""
        if not isinstance(spec, dict):
            raise FaultSpecError('a fault is a JSON object such as {"kind": "drop"}')
        known = {"kind", "count", "phase", "status", "delay_ms", "method", "path"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise FaultSpecError(f"unknown field(s) {unknown}; known: {sorted(known)}")
        try:
            kind = FaultKind(str(spec.get("kind")))
        except ValueError:
            raise FaultSpecError(
                f"kind must be one of {[k.value for k in FaultKind]}, got {spec.get('kind')!r}"
            ) from None
        try:
            phase = FaultPhase(spec.get("phase", FaultPhase.BEFORE_EXECUTION))
        except ValueError:
            raise FaultSpecError(
                f"phase must be one of {[p.value for p in FaultPhase]}, got {spec.get('phase')!r}"
            ) from None
        for name in ("count", "status", "delay_ms"):
            value = spec.get(name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise FaultSpecError(f"{name} must be an integer, got {value!r}")
        for name in ("method", "path"):
            if name in spec and not isinstance(spec[name], str):
                raise FaultSpecError(f"{name} must be a string, got {spec[name]!r}")
        return cls(
            kind=kind,
            count=spec.get("count", 1),
            phase=phase,
            status=spec.get("status"),
            delay_ms=spec.get("delay_ms"),
            method=spec.get("method", "POST").upper(),
            path=spec.get("path", "/v1/payment_intents"),
        )


@dataclass
class _Pending:
    fault: Fault
    remaining: int


def load_fault_file(path: Path) -> list[Fault]:
    """A JSON list of faults (the objects /_simulator/faults takes), validated as a whole.

    The error names the file, the entry and the field, before anything starts.
    """
    try:
        specs = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise FaultSpecError(f"{path}: not a readable JSON file ({error})") from None
    if not isinstance(specs, list):
        raise FaultSpecError(f"{path}: expected a JSON list of faults")
    faults = []
    for index, spec in enumerate(specs):
        try:
            faults.append(Fault.from_json(spec))
        except FaultSpecError as error:
            raise FaultSpecError(f"{path}: [{index}]: {error}") from None
    return faults


@dataclass
class FaultPlan:
    """Pending faults, first added first used; thread-safe."""

    _pending: list[_Pending] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._pending.append(_Pending(fault, fault.count))

    def take(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if any; each use counts against its `count`."""
        with self._lock:
            for entry in self._pending:
                if entry.fault.matches(method, path):
                    entry.remaining -= 1
                    if entry.remaining == 0:
                        self._pending.remove(entry)
                    return entry.fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**e.fault.to_json(), "remaining": e.remaining} for e in self._pending]

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
