"""Lambda faults, the runtime's side: claim one before an invocation, settle it after.

The fault plan lives in the endpoint process (local_cloud/endpoint_faults.py), where
`POST /_local_cloud/faults` adds faults at run time; the functions run here. So before
each invocation LambdaService asks the endpoint for a crash, hang or pause fault of the function
(and an SQS mapping, before it hands a batch over, for a release_visibility fault):
`POST /_local_cloud/faults/claim` takes one hit of the first matching fault, or answers
null. Once the invocation is over the claim is settled: fired, the endpoint lists the
firing; not fired (the invocation made fewer calls than `after_calls`, or never reached
its handler), the hit goes back to the fault for a later invocation.

The claim costs a loopback request, so it is made only while the endpoint's flag file
(`Endpoint.lambda_fault_flag`, one byte, a bit per action with hits to claim) says a
fault could match. Without a flag (an endpoint this process did not start) every
invocation asks. An endpoint that does not know the route (LocalStack: a 4xx, or an answer
that is no claim) is asked once.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_cloud.endpoint import EndpointFaults, EndpointFaultsError
from local_cloud.endpoint_faults import ACTION_BITS, LambdaAction, LambdaFaultFlag
from local_cloud.model import FunctionSpec

logger = logging.getLogger(__name__)

# What LambdaService claims before an invocation; the SQS mapping claims the other one.
INVOCATION_ACTIONS = frozenset({LambdaAction.CRASH, LambdaAction.HANG, LambdaAction.PAUSE})
BATCH_ACTIONS = frozenset({LambdaAction.RELEASE_VISIBILITY})


@dataclass(frozen=True)
class ClaimedFault:
    """A lambda fault this runtime holds one hit of, until it settles the claim."""

    claim: str
    fault_id: int
    function: str
    action: LambdaAction
    after_calls: int = 0
    call_matching: str | None = None
    # pause only: what ends it, and where the worker reads the plan's firings
    until_fault: int | None = None
    until_count: int = 1
    max_pause_ms: int | None = None
    endpoint_url: str | None = None

    @classmethod
    def from_json(cls, claimed: dict[str, Any], endpoint_url: str | None = None) -> ClaimedFault:
        return cls(
            claim=claimed["claim"],
            fault_id=claimed["id"],
            function=claimed["function"],
            action=LambdaAction(claimed["action"]),
            after_calls=claimed.get("after_calls", 0),
            call_matching=claimed.get("call_matching"),
            until_fault=claimed.get("until_fault"),
            until_count=claimed.get("until_count", 1),
            max_pause_ms=claimed.get("max_pause_ms"),
            endpoint_url=endpoint_url,
        )

    def for_worker(self) -> dict[str, Any]:
        """The `fault` field of the invoke frame (see bootstrap.py)."""
        frame: dict[str, Any] = {
            "id": self.fault_id,
            "action": self.action.value,
            "after_calls": self.after_calls,
            "call_matching": self.call_matching,
        }
        if self.action is LambdaAction.PAUSE:
            frame.update(
                until_fault=self.until_fault,
                until_count=self.until_count,
                max_pause_ms=self.max_pause_ms,
                endpoint_url=self.endpoint_url,
            )
        return frame


class FaultClaims:
    """Claims lambda faults from an endpoint; never fails an invocation (a failed claim
    is logged and means no fault). Thread-safe."""

    def __init__(self, endpoint_url: str, *, flag: Path | None = None, timeout: float = 5.0):
        self.endpoint_url = endpoint_url
        self._client = EndpointFaults(endpoint_url, timeout=timeout)
        self._flag_fd: int | None = None
        if flag is not None:
            try:
                self._flag_fd = os.open(flag, os.O_RDONLY)
            except OSError as error:
                logger.warning("lambda fault flag %s unreadable (%s): asking always", flag, error)
        self._disabled = False
        self._lock = threading.Lock()

    def might_have(self, actions: Collection[LambdaAction]) -> bool:
        """False only when the flag says no fault with these actions is pending."""
        if self._disabled:
            return False
        fd = self._flag_fd
        if fd is None:
            return True
        mask = 0
        for action in actions:
            mask |= ACTION_BITS[action]
        try:
            return bool(LambdaFaultFlag.read(fd) & mask)
        except OSError:  # closed meanwhile
            return True

    def claim(
        self, function: FunctionSpec, actions: Collection[LambdaAction]
    ) -> ClaimedFault | None:
        """One hit of a pending fault for this function with one of `actions`, or None."""
        if not self.might_have(actions):
            return None
        try:
            claimed = self._client.claim(function.function_name, function.logical_id, [*actions])
            fault = None if claimed is None else ClaimedFault.from_json(claimed, self.endpoint_url)
        except EndpointFaultsError as error:
            if error.status is not None and 400 <= error.status < 500:
                self._disable(f"{self.endpoint_url} does not serve lambda faults ({error})")
            else:
                logger.warning("claiming a lambda fault failed: %s", error)
            return None
        except OSError as error:  # URLError is one: the endpoint is down, or busy
            logger.warning("claiming a lambda fault from %s failed: %s", self.endpoint_url, error)
            return None
        except (KeyError, TypeError, ValueError) as error:  # not JSON, or not a claim
            self._disable(f"{self.endpoint_url} answered a claim with no lambda fault ({error!r})")
            return None
        if fault is None:
            return None
        logger.info("%s: lambda fault %s claimed: %s", function.logical_id, fault.fault_id, claimed)
        return fault

    def settle(self, fault: ClaimedFault, *, fired: bool, **report: Any) -> None:
        """Fired: the endpoint lists it with `report`. Not: the hit is given back."""
        try:
            self._client.settle(fault.claim, fired=fired, **report)
        except (EndpointFaultsError, OSError, ValueError) as error:
            logger.warning("settling lambda fault %s failed: %s", fault.fault_id, error)

    def _disable(self, reason: str) -> None:
        with self._lock:
            if not self._disabled:
                self._disabled = True
                logger.warning("lambda faults off: %s", reason)

    def close(self) -> None:
        fd, self._flag_fd = self._flag_fd, None
        if fd is not None:
            os.close(fd)
