"""Drive the simulator's test hooks over HTTP (for a simulator in another process)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from local_cloud.errors import FaultControlError


class SimulatorHookError(FaultControlError):
    """The simulator refused a test-hook request; the message is its own."""


@dataclass(frozen=True)
class PaymentProviderControl:
    url: str  # e.g. http://127.0.0.1:12111
    timeout: float = 10.0

    def reset(self) -> None:
        self._call("POST", "/_simulator/reset")

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_simulator/stats")

    def inject_fault(self, kind: str, **spec: Any) -> dict[str, Any]:
        """E.g. inject_fault("error", status=503, count=1); see faults.py for the fields."""
        return self._call("POST", "/_simulator/faults", {"kind": kind, **spec})

    def pending_faults(self) -> list[dict[str, Any]]:
        pending: list[dict[str, Any]] = self._call("GET", "/_simulator/faults")["pending"]
        return pending

    def clear_faults(self) -> None:
        self._call("DELETE", "/_simulator/faults")

    def advance_clock(self, seconds: float) -> dict[str, float]:
        """Move simulator time forward, e.g. by 25 * 3600 to outlive idempotency keys.

        Returns {"now": simulator epoch seconds, "offset_seconds": the total advance}.
        """
        clock: dict[str, float] = self._call(
            "POST", "/_simulator/clock", {"advance_seconds": seconds}
        )
        return clock

    def clock(self) -> dict[str, float]:
        """The simulator's time without moving it, in the same shape as advance_clock."""
        clock: dict[str, float] = self._call("GET", "/_simulator/clock")
        return clock

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - the simulator's own URL
            f"{self.url.rstrip('/')}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise SimulatorHookError(f"{method} {path}: HTTP {error.code}: {detail}") from None
