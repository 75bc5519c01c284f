"""Fault injection for AWS calls on the local cloud's endpoint, at the HTTP boundary.

Every AWS call a handler, a poller or a test makes reaches moto through one WSGI app, so
a fault injected there looks to the caller exactly like AWS misbehaving, and no handler
code changes. The ideas are the payment simulator's (local_cloud/payment_provider/
faults.py): a plan of faults, each hitting its next `count` matching requests, first
added first used; a phase `before` (nothing executes) or `after` (the call executes,
then its answer is lost); a `drop` that closes the connection without an answer. Added
here: matching by AWS service, operation and resource; a `probability`, drawn from a
seeded generator per fault so a run can be replayed; and the error rendered in the
service's own protocol, so an SDK raises its usual exception with the usual code.

One fault, as JSON (POST /_local_cloud/faults, or a list of them in a `--faults` file):

    {"service": "dynamodb", "operation": "PutItem", "resource": "ChargesTable",
     "error": "ProvisionedThroughputExceededException", "status": 400, "count": 5}

- service: botocore's service name (what boto3.client() takes) of a service that speaks
  a JSON or query protocol: dynamodb, sqs, ses, sns, ssm, sts, ... Matched against the
  service in the request's SigV4 credential scope.
- operation: optional, e.g. PutItem, SendMessage, SendEmail; absent: every operation.
- resource: optional; a DynamoDB table name (any table of a batch or transaction) or an
  SQS queue name. Other services have no resource to match.
- kind: `error` (given `error`), `latency` (given only `latency_ms`) or `drop`.
- error, message, status: the error code the SDK reports, its message, and the HTTP
  status (default 400; 5xx is a Receiver fault, anything else a Sender fault).
- latency_ms: added before the answer (1 to 120000); alone, or before an error or drop.
- phase: `before` (default: the call never reaches moto) or `after` (moto executes it,
  then the client gets the error, the drop or the late answer: the side effect
  happened, the answer was lost).
- count: how many requests it hits (default 1). SDK retries are requests too: with
  boto3's standard retry mode, a throttling error with count 3 is one failed call.
- probability: optional, greater than 0 and at most 1. A matching request draws from the
  fault's own generator, seeded from the endpoint's seed and the fault's id; a draw that
  misses leaves the request alone and the count untouched. Same seed, same faults added
  in the same order, same sequence of matching requests: same hits.

Faults in the Lambda runtime share the plan, the endpoint and the `--faults` file, with
`"service": "lambda"` (they never match an AWS request, not even one to Lambda's API):

    {"service": "lambda", "function": "BillingFunction", "action": "crash",
     "after_calls": 2, "call_matching": "/v1/payment_intents", "count": 1}

- function: the function's name or its logical ID.
- action: `crash` (the worker is killed with SIGKILL after its `after_calls`-th outgoing
  HTTP call of the invocation got its answer: Runtime.ExitError, the next invocation is
  cold), `hang` (it sleeps there past its Timeout: Sandbox.Timedout),
  `release_visibility` (the function's SQS mapping makes the messages of the batch it
  hands over visible again, so another invoker receives and runs a twin concurrently) or
  `pause` (the invocation waits there, between two calls, until the endpoint fault
  `until_fault` has fired `until_count` times, at most `max_pause_ms`, default 30000, then
  goes on; no call is open meanwhile, so no client read timeout runs out, only the
  function's own Timeout).
- until_fault, until_count (default 1), max_pause_ms: pause only. A firing counts once
  its request was answered by moto for a phase `after` fault (its `executed_status` is
  listed), as soon as it is listed for a `before` one. The firing frame reports how the
  pause ended: "resumed": "condition" or "limit", and "paused_ms".
- after_calls: crash, hang and pause only; outgoing calls answered before the fault acts,
  default 0 (before the handler runs). call_matching: a substring of the request's URL
  (`/v1/payment_intents`, `127.0.0.1:12111`) that a call must contain to be counted.
- count: how many invocations (batches, for release_visibility) it hits; probability as
  above, drawn when the runtime claims it.

The runtime runs in another process, so it asks: before each invocation, LambdaService
(and, for release_visibility, the SQS mapping) claims a fault, POST FAULTS_PATH/claim
{"function", "logical_id", "actions"}, which takes one hit of the first matching fault and
answers {"claimed": fault | null}; once the invocation is over, POST FAULTS_PATH/settle
{"claim", "fired", ...} records the firing, or gives the hit back if the fault never
acted (the invocation made fewer calls). A flag file the plan keeps up to date (one byte,
a bit per action with hits to claim) spares the runtime the call while no lambda fault is
pending.
"""

from __future__ import annotations

import difflib
import functools
import io
import json
import logging
import os
import random
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from local_cloud import errors
from local_cloud.settings import FAULTS_PATH as FAULTS_PATH  # defined there for the CLI's help

logger = logging.getLogger(__name__)

CLAIM_PATH = f"{FAULTS_PATH}/claim"
SETTLE_PATH = f"{FAULTS_PATH}/settle"
LAMBDA_SERVICE = "lambda"
MAX_AFTER_CALLS = 100_000
MAX_LATENCY_MS = 120_000
MAX_PAUSE_MS = 900_000  # Lambda's longest Timeout; the function's own Timeout still applies
DEFAULT_MAX_PAUSE_MS = 30_000
MAX_FIRED_KEPT = 1000  # the listing keeps the latest firings; `fired_total` counts them all
DEFAULT_ERROR_STATUS = 400

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class FaultKind(StrEnum):
    ERROR = "error"
    LATENCY = "latency"
    DROP = "drop"


class FaultPhase(StrEnum):
    BEFORE = "before"
    AFTER = "after"


class LambdaAction(StrEnum):
    CRASH = "crash"
    HANG = "hang"
    RELEASE_VISIBILITY = "release_visibility"
    PAUSE = "pause"


# The actions that act after the invocation's `after_calls`-th outgoing call.
CALL_ACTIONS = frozenset({LambdaAction.CRASH, LambdaAction.HANG, LambdaAction.PAUSE})


# One bit per action in the flag file: set while a fault with that action has hits to claim.
ACTION_BITS = {
    LambdaAction.CRASH: 1,
    LambdaAction.HANG: 2,
    LambdaAction.RELEASE_VISIBILITY: 4,
    LambdaAction.PAUSE: 8,
}


# The payment simulator's spellings, accepted so one vocabulary serves both.
_PHASE_ALIASES = {"before_execution": FaultPhase.BEFORE, "after_execution": FaultPhase.AFTER}

# The JSON `__type` prefix each service uses on AWS (botocore strips it; other SDKs and
# people reading the wire see it). Services not listed get the bare code, as many do.
_JSON_ERROR_NAMESPACES = {
    "dynamodb": "com.amazonaws.dynamodb.v20120810",
    "sqs": "com.amazonaws.sqs",
}

# SQS moved from the query protocol to JSON but still sends its old query error codes in
# `x-amzn-query-error`; that is the code SDKs report (the exception class comes from the
# `__type` shape name). botocore's model no longer carries these, so they are listed here.
_QUERY_ERROR_CODES = {
    "sqs": {
        "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
        "PurgeQueueInProgress": "AWS.SimpleQueueService.PurgeQueueInProgress",
        "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
        "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        "BatchRequestTooLong": "AWS.SimpleQueueService.BatchRequestTooLong",
        "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
        "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        "UnsupportedOperation": "AWS.SimpleQueueService.UnsupportedOperation",
        "MessageNotInflight": "AWS.SimpleQueueService.MessageNotInflight",
        "QueueDeletedRecently": "AWS.SimpleQueueService.QueueDeletedRecently",
        "QueueNameExists": "QueueAlreadyExists",
    }
}

# What `resource` names, by the credential scope's service.
RESOURCE_KINDS = {"dynamodb": "table name", "sqs": "queue name"}

_ERROR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,127}")
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/,\s]+/([^/,\s]+)/aws4_request")


class FaultSpecError(errors.FaultSpecError):
    """A fault that cannot be honoured. `field` names the culprit, the message says why."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem

    def within(self, prefix: str) -> FaultSpecError:
        """The same problem, located inside a list (`[2].status`)."""
        return FaultSpecError(f"{prefix}.{self.field}", self.problem)


class ConnectionDropped(Exception):
    """A drop fault fired where there is no socket to close (an in-process WSGI client)."""


# ---------------------------------------------------------------- services, from botocore


@dataclass(frozen=True)
class ServiceProtocol:
    """What the fault needs to know about a service: how to recognise and answer it."""

    name: str  # botocore's name, what boto3.client() takes
    signing_name: str  # the service in the SigV4 credential scope
    protocols: frozenset[str]
    target_prefix: str | None  # JSON protocol: X-Amz-Target is "<prefix>.<Operation>"
    operations: frozenset[str]
    query_compatible: bool  # JSON, yet sends its old query error code in a header
    xml_namespace: str | None


@functools.cache
def _botocore_session() -> Any:
    import botocore.session

    return botocore.session.get_session()


@functools.cache
def service_protocol(name: str) -> ServiceProtocol:
    """The service botocore calls `name`; FaultSpecError if there is none, or if its
    protocol is REST (its operations cannot be told apart from the request alone)."""
    from botocore.exceptions import UnknownServiceError

    session = _botocore_session()
    try:
        model = session.get_service_model(name)
    except UnknownServiceError:
        known = session.get_available_services()
        hint = difflib.get_close_matches(name, known, n=3)
        raise FaultSpecError(
            "service",
            f"{name!r} is not an AWS service botocore knows"
            + (f"; did you mean {' or '.join(map(repr, hint))}?" if hint else ""),
        ) from None
    metadata = model.metadata
    protocols = frozenset(metadata.get("protocols") or [metadata["protocol"]])
    if not protocols & {"json", "query"}:
        raise FaultSpecError(
            "service",
            f"{name} speaks {'/'.join(sorted(protocols))}; faults can be injected into "
            "services speaking a JSON or query protocol (dynamodb, sqs, ses, sns, ssm, "
            "sts, ...), whose operation the request names",
        )
    return ServiceProtocol(
        name=name,
        signing_name=model.signing_name,
        protocols=protocols,
        target_prefix=metadata.get("targetPrefix"),
        operations=frozenset(model.operation_names),
        query_compatible="awsQueryCompatible" in metadata,
        xml_namespace=metadata.get("xmlNamespace"),
    )


# ---------------------------------------------------------------- one fault


@dataclass(frozen=True)
class EndpointFault:
    """One fault as posted; validated on construction, so an invalid one never exists."""

    service: str
    operation: str | None = None
    resource: str | None = None
    kind: FaultKind = FaultKind.ERROR
    error: str | None = None
    message: str | None = None
    status: int | None = None
    latency_ms: int | None = None
    phase: FaultPhase = FaultPhase.BEFORE
    count: int = 1
    probability: float = 1.0
    protocol: ServiceProtocol = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        info = service_protocol(self.service)
        object.__setattr__(self, "protocol", info)
        if self.operation is not None and self.operation not in info.operations:
            hint = difflib.get_close_matches(self.operation, info.operations, n=1)
            raise FaultSpecError(
                "operation",
                f"{self.operation!r} is not an operation of {self.service}"
                + (f"; did you mean {hint[0]!r}?" if hint else ""),
            )
        if self.resource is not None and info.signing_name not in RESOURCE_KINDS:
            kinds = ", ".join(f"{k} ({v})" for k, v in RESOURCE_KINDS.items())
            raise FaultSpecError(
                "resource",
                f"{self.service} calls carry no resource this endpoint matches; resources "
                f"are matched for {kinds}. Leave resource out to hit every "
                f"{self.operation or 'call'} of {self.service}",
            )
        if self.resource == "":
            raise FaultSpecError("resource", "must not be empty; leave it out to match any")
        self._check_kind()
        if self.count < 1:
            raise FaultSpecError("count", f"must be at least 1, got {self.count}")
        if not 0 < self.probability <= 1:
            raise FaultSpecError(
                "probability", f"must be greater than 0 and at most 1, got {self.probability}"
            )
        if self.latency_ms is not None and not 0 < self.latency_ms <= MAX_LATENCY_MS:
            raise FaultSpecError(
                "latency_ms", f"must be from 1 to {MAX_LATENCY_MS}, got {self.latency_ms}"
            )

    def _check_kind(self) -> None:
        if self.kind is FaultKind.ERROR:
            if self.error is None:
                raise FaultSpecError(
                    "error",
                    "is required for an error fault: the code the SDK should report, "
                    "e.g. ProvisionedThroughputExceededException or Throttling (a fault "
                    'without one is "kind": "drop", or latency_ms alone)',
                )
            if not _ERROR_CODE.fullmatch(self.error):
                raise FaultSpecError(
                    "error",
                    f"must be an error code (letters, digits, '.', '_'; up to 128), "
                    f"got {self.error!r}",
                )
            if self.status is None:
                object.__setattr__(self, "status", DEFAULT_ERROR_STATUS)
            elif not 400 <= self.status <= 599:
                raise FaultSpecError(
                    "status", f"must be an HTTP error status from 400 to 599, got {self.status}"
                )
            if self.message is None:
                object.__setattr__(
                    self, "message", f"Injected fault: {self.error} (local cloud endpoint)"
                )
            return
        for name in ("error", "message", "status"):
            if getattr(self, name) is not None:
                raise FaultSpecError(name, f"applies to error faults only, not {self.kind}")
        if self.kind is FaultKind.LATENCY and self.latency_ms is None:
            raise FaultSpecError("latency_ms", "is required for a latency fault")

    @property
    def sender_fault(self) -> bool:
        return self.status is None or self.status < 500

    def error_codes(self) -> tuple[str, str]:
        """(shape name for a JSON `__type`, code for a query answer and its header)."""
        assert self.error is not None
        legacy = _QUERY_ERROR_CODES.get(self.protocol.signing_name, {})
        if self.error in legacy:
            return self.error, legacy[self.error]
        for shape, code in legacy.items():
            if code == self.error:
                return shape, code
        return self.error, self.error

    def matches(self, call: AwsCall) -> bool:
        info = self.protocol
        # A REST call (sesv2 shares ses's signing name) names no operation: never a match.
        if call.protocol is None or call.service != info.signing_name:
            return False
        # Services sharing a signing name (dynamodb and dynamodbstreams) differ in prefix.
        if call.target_prefix and info.target_prefix and call.target_prefix != info.target_prefix:
            return False
        if self.operation is not None and call.operation != self.operation:
            return False
        return self.resource is None or self.resource in call.resources

    def to_json(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "service": self.service,
            "operation": self.operation,
            "resource": self.resource,
            "kind": self.kind.value,
            "error": self.error,
            "message": self.message,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "phase": self.phase.value,
            "count": self.count,
            "probability": self.probability,
        }
        return {name: value for name, value in spec.items() if value is not None}

    @classmethod
    def from_json(cls, spec: object) -> EndpointFault:
        """Build from posted JSON; FaultSpecError names the field and what is wrong."""
        if not isinstance(spec, dict):
            raise FaultSpecError(
                "fault",
                'must be a JSON object such as {"service": "dynamodb", "operation": '
                f'"PutItem", "error": "ProvisionedThroughputExceededException"}}, got {spec!r}',
            )
        known = {
            "service",
            "operation",
            "resource",
            "kind",
            "error",
            "message",
            "status",
            "latency_ms",
            "phase",
            "count",
            "probability",
        }
        unknown = sorted(set(spec) - known)
        if unknown:
            raise FaultSpecError(
                unknown[0], f"unknown field; a fault has {', '.join(sorted(known))}"
            )
        if "service" not in spec:
            raise FaultSpecError("service", "is required, e.g. dynamodb, sqs or ses")
        for name in ("service", "operation", "resource", "error", "message"):
            if name in spec and not isinstance(spec[name], str):
                raise FaultSpecError(name, f"must be a string, got {spec[name]!r}")
        for name in ("status", "latency_ms", "count"):
            value = spec.get(name)
            if name in spec and (not isinstance(value, int) or isinstance(value, bool)):
                raise FaultSpecError(name, f"must be an integer, got {value!r}")
        probability = spec.get("probability", 1.0)
        if not isinstance(probability, (int, float)) or isinstance(probability, bool):
            raise FaultSpecError("probability", f"must be a number, got {probability!r}")
        return cls(
            service=spec["service"],
            operation=spec.get("operation"),
            resource=spec.get("resource"),
            kind=_kind(spec),
            error=spec.get("error"),
            message=spec.get("message"),
            status=spec.get("status"),
            latency_ms=spec.get("latency_ms"),
            phase=_phase(spec.get("phase", FaultPhase.BEFORE.value)),
            count=spec.get("count", 1),
            probability=float(probability),
        )


def _kind(spec: Mapping[str, Any]) -> FaultKind:
    if "kind" not in spec:
        return (
            FaultKind.LATENCY if "error" not in spec and "latency_ms" in spec else FaultKind.ERROR
        )
    try:
        return FaultKind(spec["kind"])
    except ValueError:
        raise FaultSpecError(
            "kind", f"must be one of {[k.value for k in FaultKind]}, got {spec['kind']!r}"
        ) from None


def _phase(value: object) -> FaultPhase:
    if isinstance(value, str) and value in _PHASE_ALIASES:
        return _PHASE_ALIASES[value]
    try:
        return FaultPhase(str(value))
    except ValueError:
        raise FaultSpecError(
            "phase", f"must be one of {[p.value for p in FaultPhase]}, got {value!r}"
        ) from None


# ---------------------------------------------------------------- a fault in the Lambda runtime

_PAUSE_FIELDS = ("until_fault", "until_count", "max_pause_ms")
_LAMBDA_FIELDS = frozenset(
    {
        "service",
        "function",
        "action",
        "after_calls",
        "call_matching",
        "count",
        "probability",
        *_PAUSE_FIELDS,
    }
)


@dataclass(frozen=True)
class LambdaFault:
    """A fault the Lambda runtime acts out (see the module's docstring); validated on
    construction. It never matches an AWS request: the runtime claims it instead."""

    function: str
    action: LambdaAction
    after_calls: int = 0
    call_matching: str | None = None
    count: int = 1
    probability: float = 1.0
    until_fault: int | None = None  # pause: the endpoint fault whose firings it waits for
    until_count: int = 1
    max_pause_ms: int = DEFAULT_MAX_PAUSE_MS
    service: str = field(default=LAMBDA_SERVICE, init=False)

    def __post_init__(self) -> None:
        if not self.function:
            raise FaultSpecError("function", "must not be empty: a function name or logical ID")
        calls = self.action in CALL_ACTIONS
        if not calls and self.after_calls:
            raise FaultSpecError(
                "after_calls", f"applies to crash, hang and pause faults only, not {self.action}"
            )
        if not calls and self.call_matching is not None:
            raise FaultSpecError(
                "call_matching",
                f"applies to crash, hang and pause faults only, not {self.action}",
            )
        self._check_pause()
        if not 0 <= self.after_calls <= MAX_AFTER_CALLS:
            raise FaultSpecError(
                "after_calls", f"must be from 0 to {MAX_AFTER_CALLS}, got {self.after_calls}"
            )
        if self.call_matching is not None:
            if not self.call_matching:
                raise FaultSpecError(
                    "call_matching", "must not be empty; leave it out to count every call"
                )
            if self.after_calls == 0:
                raise FaultSpecError(
                    "call_matching",
                    "selects the calls after_calls counts; with after_calls 0 the fault acts "
                    "before the handler runs, so give after_calls of 1 or more",
                )
        if self.count < 1:
            raise FaultSpecError("count", f"must be at least 1, got {self.count}")
        if not 0 < self.probability <= 1:
            raise FaultSpecError(
                "probability", f"must be greater than 0 and at most 1, got {self.probability}"
            )

    def _check_pause(self) -> None:
        if self.action is not LambdaAction.PAUSE:
            if self.until_fault is not None:
                raise FaultSpecError(
                    "until_fault", f"applies to pause faults only, not {self.action}"
                )
            return
        if self.until_fault is None:
            raise FaultSpecError(
                "until_fault",
                "is required for a pause: the id of the endpoint fault (as POST answered "
                "it) whose firings end the pause",
            )
        if self.until_fault < 1:
            raise FaultSpecError(
                "until_fault", f"must be a fault id, 1 or more, got {self.until_fault}"
            )
        if self.until_count < 1:
            raise FaultSpecError("until_count", f"must be at least 1, got {self.until_count}")
        if not 0 < self.max_pause_ms <= MAX_PAUSE_MS:
            raise FaultSpecError(
                "max_pause_ms", f"must be from 1 to {MAX_PAUSE_MS}, got {self.max_pause_ms}"
            )

    def matches(self, call: AwsCall) -> bool:
        return False  # the runtime claims it; no AWS request ever does

    def concerns(self, functions: Iterable[str], actions: Iterable[LambdaAction]) -> bool:
        return self.function in functions and self.action in actions

    def to_json(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "service": self.service,
            "function": self.function,
            "action": self.action.value,
        }
        if self.action is not LambdaAction.RELEASE_VISIBILITY:
            spec["after_calls"] = self.after_calls
        if self.call_matching is not None:
            spec["call_matching"] = self.call_matching
        if self.action is LambdaAction.PAUSE:
            spec["until_fault"] = self.until_fault
            spec["until_count"] = self.until_count
            spec["max_pause_ms"] = self.max_pause_ms
        spec["count"] = self.count
        spec["probability"] = self.probability
        return spec

    @classmethod
    def from_json(cls, spec: Mapping[str, Any]) -> LambdaFault:
        """Build from posted JSON; FaultSpecError names the field and what is wrong."""
        unknown = sorted(set(spec) - _LAMBDA_FIELDS)
        if unknown:
            raise FaultSpecError(
                unknown[0],
                f"not a field of a lambda fault; a lambda fault has "
                f"{', '.join(sorted(_LAMBDA_FIELDS))}",
            )
        for name in ("function", "action"):
            if name not in spec:
                example = "a function name or logical ID" if name == "function" else "crash"
                raise FaultSpecError(name, f"is required for a lambda fault, e.g. {example}")
        for name in ("function", "action", "call_matching"):
            if name in spec and not isinstance(spec[name], str):
                raise FaultSpecError(name, f"must be a string, got {spec[name]!r}")
        for name in ("after_calls", "count", *_PAUSE_FIELDS):
            value = spec.get(name)
            if name in spec and (not isinstance(value, int) or isinstance(value, bool)):
                raise FaultSpecError(name, f"must be an integer, got {value!r}")
        probability = spec.get("probability", 1.0)
        if not isinstance(probability, (int, float)) or isinstance(probability, bool):
            raise FaultSpecError("probability", f"must be a number, got {probability!r}")
        try:
            action = LambdaAction(spec["action"])
        except ValueError:
            raise FaultSpecError(
                "action",
                f"must be one of {[a.value for a in LambdaAction]}, got {spec['action']!r}",
            ) from None
        if action is LambdaAction.RELEASE_VISIBILITY:
            for name in ("after_calls", "call_matching"):
                if name in spec:
                    raise FaultSpecError(
                        name, f"applies to crash, hang and pause faults only, not {action}"
                    )
        if action is not LambdaAction.PAUSE:
            for name in _PAUSE_FIELDS:
                if name in spec:
                    raise FaultSpecError(name, f"applies to pause faults only, not {action}")
        return cls(
            function=spec["function"],
            action=action,
            after_calls=spec.get("after_calls", 0),
            call_matching=spec.get("call_matching"),
            count=spec.get("count", 1),
            probability=float(probability),
            until_fault=spec.get("until_fault"),
            until_count=spec.get("until_count", 1),
            max_pause_ms=spec.get("max_pause_ms", DEFAULT_MAX_PAUSE_MS),
        )


Fault = EndpointFault | LambdaFault


def fault_from_json(spec: object) -> Fault:
    """A fault for AWS calls, or for the Lambda runtime (`"service": "lambda"`)."""
    if isinstance(spec, dict) and spec.get("service") == LAMBDA_SERVICE:
        return LambdaFault.from_json(spec)
    return EndpointFault.from_json(spec)


def faults_from_json(value: object) -> list[Fault]:
    """One fault (an object) or several (a list); all valid, or FaultSpecError for the
    first invalid one, located by its index (`[2].status`)."""
    if not isinstance(value, list):
        return [fault_from_json(value)]
    faults = []
    for index, item in enumerate(value):
        try:
            faults.append(fault_from_json(item))
        except FaultSpecError as error:
            raise error.within(f"[{index}]") from None
    return faults


def load_fault_file(path: Path) -> list[Fault]:
    """A `--faults` file: a JSON list of faults. FaultSpecError names the file too."""
    try:
        raw = json.loads(path.read_text())
    except OSError as error:
        raise FaultSpecError(str(path), f"cannot be read: {error.strerror}") from error
    except json.JSONDecodeError as error:
        raise FaultSpecError(str(path), f"is not valid JSON: {error}") from error
    if not isinstance(raw, list):
        raise FaultSpecError(str(path), "must hold a JSON list of faults, [{...}, ...]")
    try:
        return faults_from_json(raw)
    except FaultSpecError as error:
        raise FaultSpecError(f"{path}: {error.field}", error.problem) from None


# ---------------------------------------------------------------- the request


@dataclass(frozen=True)
class AwsCall:
    """What a fault is matched against, read from the request as an SDK sends it."""

    service: str  # from the SigV4 credential scope
    operation: str | None = None
    protocol: str | None = None  # "json" (X-Amz-Target) or "query" (Action=...)
    target_prefix: str | None = None
    resources: frozenset[str] = frozenset()
    content_type: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "operation": self.operation,
            "resources": sorted(self.resources),
        }


def signing_service(environ: Mapping[str, Any]) -> str | None:
    """The service in the SigV4 credential scope (`.../us-east-1/dynamodb/aws4_request`),
    from the Authorization header or, for a presigned URL, X-Amz-Credential."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    match = _CREDENTIAL_SCOPE.search(authorization)
    if match:
        return match.group(1)
    credential = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential")
    if credential:
        match = _CREDENTIAL_SCOPE.search(f"Credential={credential[0]}")
    return match.group(1) if match else None


def read_call(environ: dict[str, Any], service: str) -> AwsCall:
    """Identify the call; reads the body and puts it back, so moto still finds it."""
    body = _read_body(environ)
    content_type = environ.get("CONTENT_TYPE", "")
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:  # JSON protocols: "DynamoDB_20120810.PutItem", "AmazonSQS.SendMessage"
        prefix, _, operation = target.rpartition(".")
        try:
            params = json.loads(body) if body else {}
        except ValueError:
            params = {}
        return AwsCall(
            service=service,
            operation=operation,
            protocol="json",
            target_prefix=prefix or None,
            resources=_resources(service, params if isinstance(params, dict) else {}),
            content_type=content_type,
        )
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if content_type.startswith("application/x-www-form-urlencoded"):
        query = {**query, **parse_qs(body.decode("utf-8", "replace"))}
    action = query.get("Action")
    if not action:  # a REST protocol: the operation is not named in the request
        return AwsCall(service=service, content_type=content_type)
    params = {name: values[0] for name, values in query.items()}
    return AwsCall(
        service=service,
        operation=action[0],
        protocol="query",
        resources=_resources(service, params),
        content_type=content_type,
    )


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH") or ""
    if length.isdigit():
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):  # chunked, de-chunked by the server
        body = stream.read()
    else:
        return b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return bytes(body)


def _resources(service: str, params: Mapping[str, Any]) -> frozenset[str]:
    names: set[str] = set()
    if service == "dynamodb":
        names.update(_table_name(params.get("TableName")))
        request_items = params.get("RequestItems")  # BatchGetItem, BatchWriteItem
        if isinstance(request_items, dict):
            for table in request_items:
                names.update(_table_name(table))
        transact_items = params.get("TransactItems")  # TransactGetItems, TransactWriteItems
        if isinstance(transact_items, list):
            for item in transact_items:
                for action in item.values() if isinstance(item, dict) else ():
                    if isinstance(action, dict):
                        names.update(_table_name(action.get("TableName")))
    elif service == "sqs":
        queue_url = params.get("QueueUrl")
        if isinstance(queue_url, str) and queue_url:
            names.add(queue_url.rstrip("/").rsplit("/", 1)[-1])
        queue_name = params.get("QueueName")  # CreateQueue, GetQueueUrl
        if isinstance(queue_name, str) and queue_name:
            names.add(queue_name)
    return frozenset(names)


def _table_name(value: object) -> set[str]:
    """A table name, or the name inside a table ARN (`arn:aws:dynamodb:...:table/Name`)."""
    if not isinstance(value, str) or not value:
        return set()
    return {value.split(":table/", 1)[1]} if ":table/" in value else {value}


# ---------------------------------------------------------------- the answer


@dataclass(frozen=True)
class ErrorAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def status_line(self) -> str:
        from http import HTTPStatus

        try:
            reason = HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Error"
        return f"{self.status} {reason}"


def error_answer(fault: EndpointFault, call: AwsCall, request_id: str) -> ErrorAnswer:
    """The error in the shape the request's protocol uses, as AWS would send it."""
    assert fault.status is not None
    assert fault.message is not None
    shape, code = fault.error_codes()
    fault_type = "Sender" if fault.sender_fault else "Receiver"
    if call.protocol == "json":
        namespace = _JSON_ERROR_NAMESPACES.get(fault.protocol.signing_name)
        body = {"__type": f"{namespace}#{shape}" if namespace else shape, "message": fault.message}
        content_type = call.content_type
        if not content_type.startswith("application/x-amz-json"):
            content_type = "application/x-amz-json-1.0"
        headers = [("Content-Type", content_type), ("x-amzn-RequestId", request_id)]
        if fault.protocol.query_compatible:
            headers.append(("x-amzn-query-error", f"{code};{fault_type}"))
        return ErrorAnswer(fault.status, headers, json.dumps(body).encode())
    xmlns = (
        f' xmlns="{escape(fault.protocol.xml_namespace)}"' if fault.protocol.xml_namespace else ""
    )
    xml = (
        f"<ErrorResponse{xmlns}><Error><Type>{fault_type}</Type><Code>{escape(code)}</Code>"
        f"<Message>{escape(fault.message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    return ErrorAnswer(fault.status, headers, xml.encode())


# ---------------------------------------------------------------- the plan


@dataclass
class _Pending:
    id: int
    fault: Fault
    remaining: int  # hits left to take (to claim, for a lambda fault)
    draws: random.Random
    claimed: int = 0  # lambda faults: hits claimed by the runtime and not yet settled

    def to_json(self) -> dict[str, Any]:
        entry = {"id": self.id, **self.fault.to_json(), "remaining": self.remaining}
        if isinstance(self.fault, LambdaFault):
            entry["claimed"] = self.claimed
        return entry


@dataclass
class Firing:
    """One request a fault hit; `executed_status` is moto's status in phase `after`."""

    fault_id: int
    fault: EndpointFault
    call: AwsCall
    at: float
    executed_status: int | None = None

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": self.fault_id,
            "at": self.at,
            "kind": self.fault.kind.value,
            "phase": self.fault.phase.value,
            **self.call.to_json(),
        }
        if self.fault.error is not None:
            entry["error"] = self.fault.error
            entry["status"] = self.fault.status
        if self.executed_status is not None:
            entry["executed_status"] = self.executed_status
        return entry


@dataclass
class LambdaFiring:
    """One invocation (or batch) a lambda fault hit, as the runtime reported it."""

    fault_id: int
    fault: LambdaFault
    function: str
    at: float
    report: Mapping[str, Any]  # what the runtime said: request_id, call, message_ids, ...

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.fault_id,
            "at": self.at,
            "service": LAMBDA_SERVICE,
            "function": self.function,
            "action": self.fault.action.value,
            **self.report,
        }


@dataclass
class _Claim:
    entry: _Pending
    function: str


class LambdaFaultFlag:
    """One byte in a file: the ACTION_BITS of the lambda faults that have hits to claim.

    The plan writes it whenever that changes, before it answers the request that changed
    it; the runtime reads it before each invocation and asks the endpoint only when its
    bit is set. A one-byte pwrite is atomic: a reader sees the old byte or the new one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._bits: int | None = None

    def write(self, bits: int) -> None:
        if bits != self._bits:
            os.pwrite(self._fd, bytes([bits]), 0)
            self._bits = bits

    @staticmethod
    def read(fd: int) -> int:
        byte = os.pread(fd, 1, 0)
        return byte[0] if byte else 0


class EndpointFaultPlan:
    """Pending faults, first added first used, and the latest firings; thread-safe.

    seed=None picks one at random; `listing()` reports it so a run can be replayed.
    lambda_flag: the file the runtime reads to know whether to claim (LambdaFaultFlag).
    """

    def __init__(
        self,
        seed: int | None = None,
        *,
        clock: Callable[[], float] = time.time,
        max_fired_kept: int = MAX_FIRED_KEPT,
        lambda_flag: Path | None = None,
    ) -> None:
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
        self._clock = clock
        self._pending: list[_Pending] = []
        self._fired: deque[Firing | LambdaFiring] = deque(maxlen=max_fired_kept)
        self._fired_total = 0
        self._next_id = 1
        self._claims: dict[str, _Claim] = {}
        self._lock = threading.Lock()
        self._flag = LambdaFaultFlag(lambda_flag) if lambda_flag is not None else None
        self._update_flag()

    def add(self, fault: Fault) -> dict[str, Any]:
        with self._lock:
            fault_id = self._next_id
            self._next_id += 1
            # Its own generator, so its draws depend on the seed, its id and its own
            # matching requests only, not on requests other faults saw meanwhile.
            draws = random.Random(f"{self.seed}/{fault_id}")  # noqa: S311 - replayable, not secret
            entry = _Pending(fault_id, fault, fault.count, draws)
            self._pending.append(entry)
            self._update_flag()
            return entry.to_json()

    def concerns(self, service: str) -> bool:
        """Cheap test before reading a body: could any pending fault hit this service?"""
        with self._lock:
            return any(
                isinstance(e.fault, EndpointFault) and e.fault.protocol.signing_name == service
                for e in self._pending
            )

    def take(self, call: AwsCall) -> Firing | None:
        """The fault that hits this request, if any; each hit counts against its count."""
        with self._lock:
            for entry in self._pending:
                fault = entry.fault
                if not isinstance(fault, EndpointFault) or not fault.matches(call):
                    continue
                if fault.probability < 1 and entry.draws.random() >= fault.probability:
                    continue
                entry.remaining -= 1
                if entry.remaining == 0:
                    self._pending.remove(entry)
                firing = Firing(entry.id, fault, call, self._clock())
                self._fired.append(firing)
                self._fired_total += 1
                return firing
        return None

    def claim(
        self, functions: Iterable[str], actions: Iterable[LambdaAction]
    ) -> dict[str, Any] | None:
        """Take one hit of the first lambda fault for one of `functions` (a name and a
        logical ID) with one of `actions`: the fault, with the claim's id, or None.

        The hit stays taken until `settle`: fired, it is recorded; not, it is given back.
        """
        names, wanted = set(functions), set(actions)
        with self._lock:
            for entry in self._pending:
                fault = entry.fault
                if not isinstance(fault, LambdaFault) or entry.remaining == 0:
                    continue
                if not fault.concerns(names, wanted):
                    continue
                if fault.probability < 1 and entry.draws.random() >= fault.probability:
                    continue
                entry.remaining -= 1
                entry.claimed += 1
                claim_id = uuid.uuid4().hex
                self._claims[claim_id] = _Claim(entry, fault.function)
                self._update_flag()
                return {"claim": claim_id, "id": entry.id, **fault.to_json()}
        return None

    def settle(self, claim_id: str, *, fired: bool, report: Mapping[str, Any]) -> bool:
        """End a claim: record the firing, or give the hit back. False if the claim is
        unknown (settled already, or cleared since)."""
        with self._lock:
            claim = self._claims.pop(claim_id, None)
            if claim is None:
                return False
            entry = claim.entry
            entry.claimed -= 1
            if fired:
                assert isinstance(entry.fault, LambdaFault)
                self._fired.append(
                    LambdaFiring(entry.id, entry.fault, claim.function, self._clock(), report)
                )
                self._fired_total += 1
            else:
                entry.remaining += 1
            if entry.remaining == 0 and entry.claimed == 0 and entry in self._pending:
                self._pending.remove(entry)
            self._update_flag()
            return True

    def listing(self) -> dict[str, Any]:
        with self._lock:
            return {
                "seed": self.seed,
                "pending": [entry.to_json() for entry in self._pending],
                "fired": [firing.to_json() for firing in self._fired],
                "fired_total": self._fired_total,
            }

    def clear(self) -> None:
        """Forget pending and fired faults; ids start again from 1, so the same faults
        added again after a clear draw the same numbers."""
        with self._lock:
            self._pending.clear()
            self._fired.clear()
            self._claims.clear()
            self._fired_total = 0
            self._next_id = 1
            self._update_flag()

    def _update_flag(self) -> None:
        """Called with the lock held, after every change to what can be claimed."""
        if self._flag is None:
            return
        bits = 0
        for entry in self._pending:
            if isinstance(entry.fault, LambdaFault) and entry.remaining > 0:
                bits |= ACTION_BITS[entry.fault.action]
        self._flag.write(bits)


# ---------------------------------------------------------------- the WSGI middleware


class WithFaults:
    """WSGI middleware in front of moto: serves /_local_cloud/faults and injects the
    plan's faults into the AWS calls that pass through."""

    def __init__(
        self,
        app: WsgiApp,
        plan: EndpointFaultPlan | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.app = app
        self.plan = plan or EndpointFaultPlan()
        self._sleep = sleep

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "").rstrip("/")
        if path == FAULTS_PATH:
            return self._control(environ, start_response)
        if path in (CLAIM_PATH, SETTLE_PATH):
            return self._runtime(path, environ, start_response)
        service = signing_service(environ)
        if service is None or not self.plan.concerns(service):
            return self.app(environ, start_response)
        call = read_call(environ, service)
        firing = self.plan.take(call)
        if firing is None:
            return self.app(environ, start_response)
        logger.info("injecting fault %s into %s", firing.fault.to_json(), call.to_json())
        return self._inject(firing, environ, start_response)

    def _inject(
        self, firing: Firing, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        fault = firing.fault
        executed: tuple[str, list[tuple[str, str]], bytes] | None = None
        if fault.phase is FaultPhase.AFTER:
            executed = self._execute(environ)
            firing.executed_status = int(executed[0].split(" ", 1)[0])
        if fault.latency_ms is not None:
            self._sleep(fault.latency_ms / 1000)
        if fault.kind is FaultKind.DROP:
            _drop_connection(environ)
            start_response("500 Internal Server Error", [])
            return [b""]  # never reaches the client: the socket is closed
        if fault.kind is FaultKind.ERROR:
            answer = error_answer(fault, firing.call, uuid.uuid4().hex)
            headers = [*answer.headers, ("Content-Length", str(len(answer.body)))]
            start_response(answer.status_line, headers)
            return [answer.body]
        if executed is None:  # latency before: now the call proceeds as usual
            return self.app(environ, start_response)
        status, headers, body = executed  # latency after: the real answer, late
        start_response(status, headers)
        return [body]

    def _execute(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        """Run the call on moto to completion and keep its answer."""
        captured: list[tuple[str, list[tuple[str, str]]]] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured.append((status, headers))
            return lambda _data: None

        result = self.app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = captured[-1]
        return status, headers, body

    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "GET":
            return _json_response(start_response, 200, self.plan.listing())
        if method == "DELETE":
            self.plan.clear()
            return _json_response(start_response, 200, self.plan.listing())
        if method != "POST":
            start_response("405 Method Not Allowed", [("Allow", "GET, POST, DELETE")])
            return [b""]
        body = _read_body(environ)
        try:
            posted = json.loads(body or b"null")
        except ValueError as error:
            return _json_response(
                start_response, 400, {"message": f"the body is not valid JSON: {error}"}
            )
        try:
            faults = faults_from_json(posted)
        except FaultSpecError as error:
            return _json_response(
                start_response,
                400,
                {"message": f"Invalid fault: {error}", "field": error.field},
            )
        added = [self.plan.add(fault) for fault in faults]
        return _json_response(start_response, 201, {"added": added, **self.plan.listing()})

    def _runtime(
        self, path: str, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        """The Lambda runtime's side: claim a lambda fault, settle a claim."""
        if environ.get("REQUEST_METHOD") != "POST":
            start_response("405 Method Not Allowed", [("Allow", "POST")])
            return [b""]
        try:
            request = json.loads(_read_body(environ) or b"null")
        except ValueError as error:
            return _json_response(
                start_response, 400, {"message": f"the body is not valid JSON: {error}"}
            )
        if not isinstance(request, dict):
            return _json_response(start_response, 400, {"message": "expected a JSON object"})
        try:
            if path == CLAIM_PATH:
                return _json_response(start_response, 200, {"claimed": self._claim(request)})
            claim_id = request.get("claim")
            if not isinstance(claim_id, str):
                raise FaultSpecError("claim", "is required: the id a claim answered")
            report = request.get("report") or {}
            if not isinstance(report, dict):
                raise FaultSpecError("report", f"must be an object, got {report!r}")
            settled = self.plan.settle(claim_id, fired=request.get("fired") is True, report=report)
            return _json_response(start_response, 200, {"settled": settled})
        except FaultSpecError as error:
            return _json_response(
                start_response, 400, {"message": str(error), "field": error.field}
            )

    def _claim(self, request: Mapping[str, Any]) -> dict[str, Any] | None:
        names = [request.get("function"), request.get("logical_id")]
        functions = [name for name in names if isinstance(name, str) and name]
        if not functions:
            raise FaultSpecError("function", "is required: the function's name")
        raw_actions = request.get("actions")
        if raw_actions is None:
            raw_actions = [action.value for action in LambdaAction]
        if not isinstance(raw_actions, list):
            raise FaultSpecError("actions", f"must be a list, got {raw_actions!r}")
        try:
            actions = [LambdaAction(action) for action in raw_actions]
        except ValueError:
            raise FaultSpecError(
                "actions", f"must name actions of {[a.value for a in LambdaAction]}"
            ) from None
        claimed = self.plan.claim(functions, actions)
        if claimed is not None:
            logger.info("lambda fault claimed for %s: %s", functions[0], claimed)
        return claimed


def _json_response(start_response: StartResponse, status: int, body: Any) -> list[bytes]:
    encoded = json.dumps(body, default=str).encode()
    reason = {200: "OK", 201: "Created", 400: "Bad Request"}[status]
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(encoded)))],
    )
    return [encoded]


def _drop_connection(environ: Mapping[str, Any]) -> None:
    sock = environ.get("werkzeug.socket")
    if sock is None:
        raise ConnectionDropped("drop fault fired with no socket to close")
    # Both directions: the client reads EOF without a status line, as when a proxy or the
    # network loses the answer. Werkzeug then ignores the failed write of our response.
    sock.shutdown(socket.SHUT_RDWR)
