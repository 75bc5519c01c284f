"""Stripe's idempotency layer, for POST requests carrying an `Idempotency-Key`.

Stripe's rules ("Idempotent requests"), which this store enforces:
- keys are scoped to the account, here the API key that sent the request;
- the status code and body of the first request that *started executing* are saved and
  replayed for every retry with that key, errors (402 declines, 500s) included;
- the same key with other parameters, or on another endpoint, is an `idempotency_error`
  and never executes;
- a request arriving while the first one with its key still runs gets a 409 and nothing
  is saved for it;
- a request that fails validation before executing saves nothing (`release`), so the
  key stays free;
- keys may be pruned once at least 24 hours old; after that the key executes again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

MAX_KEY_LENGTH = 255
DEFAULT_RETENTION_SECONDS = 24 * 60 * 60


@dataclass(frozen=True)
class RequestFingerprint:
    """What makes two requests "the same": endpoint and parameters (order ignored)."""

    method: str
    path: str
    params: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, method: str, path: str, pairs: list[tuple[str, str]]) -> RequestFingerprint:
        return cls(method.upper(), path, tuple(sorted(pairs)))

    @property
    def endpoint(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    request_id: str  # the original request's ID, sent back as `Original-Request` on replays


class Decision(StrEnum):
    EXECUTE = "execute"  # the caller now holds the key: it must `complete` or `release` it
    REPLAY = "replay"
    IN_PROGRESS = "in_progress"
    PARAMETERS_MISMATCH = "parameters_mismatch"
    ENDPOINT_MISMATCH = "endpoint_mismatch"


@dataclass(frozen=True)
class Claim:
    decision: Decision
    stored: StoredResponse | None = None  # set for REPLAY
    original_endpoint: str | None = None  # set for ENDPOINT_MISMATCH


@dataclass
class _Entry:
    fingerprint: RequestFingerprint
    started_at: float
    response: StoredResponse | None = None  # None while the first request is executing


@dataclass
class IdempotencyStore:
    """Thread-safe: the server answers each request on its own thread."""

    retention_seconds: float = DEFAULT_RETENTION_SECONDS
    clock: Callable[[], float] = time.time
    _entries: dict[tuple[str, str], _Entry] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def claim(self, scope: str, key: str, fingerprint: RequestFingerprint) -> Claim:
        """Decide what a request with this key does; EXECUTE reserves the key atomically."""
        now = self.clock()
        with self._lock:
            entry = self._entries.get((scope, key))
            if entry is not None and self._expired(entry, now):
                del self._entries[(scope, key)]
                entry = None
            if entry is None:
                self._entries[(scope, key)] = _Entry(fingerprint, started_at=now)
                return Claim(Decision.EXECUTE)
            if entry.fingerprint.endpoint != fingerprint.endpoint:
                return Claim(
                    Decision.ENDPOINT_MISMATCH, original_endpoint=entry.fingerprint.endpoint
                )
            if entry.fingerprint.params != fingerprint.params:
                return Claim(Decision.PARAMETERS_MISMATCH)
            if entry.response is None:
                return Claim(Decision.IN_PROGRESS)
            return Claim(Decision.REPLAY, stored=entry.response)

    def complete(self, scope: str, key: str, response: StoredResponse) -> None:
        """Save the answer of the request that holds the key; later retries replay it."""
        with self._lock:
            entry = self._entries.get((scope, key))
            if entry is None or entry.response is not None:
                raise RuntimeError(f"idempotency key {key!r} is not held by an executing request")
            entry.response = response

    def release(self, scope: str, key: str) -> None:
        """Forget a key whose request never started executing (it failed validation)."""
        with self._lock:
            entry = self._entries.get((scope, key))
            if entry is not None and entry.response is None:
                del self._entries[(scope, key)]

    def in_progress_count(self) -> int:
        with self._lock:
            return sum(1 for entry in self._entries.values() if entry.response is None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _expired(self, entry: _Entry, now: float) -> bool:
        # A key still executing is never pruned: its request may yet complete.
        return entry.response is not None and now - entry.started_at >= self.retention_seconds
