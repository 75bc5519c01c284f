"""The Lambda service: warm worker pools, concurrency limits, invocation results and logs.

Each function has a pool of execution environments (worker processes). An invocation
takes the most recently used idle worker (LIFO, as Lambda tends to reuse the warmest
sandbox) or starts a new one (a cold start). At most `concurrency_limit` invocations of a
function run at once: ReservedConcurrentExecutions when set, else LOCAL_CONCURRENCY_CAP
(AWS's account limit of 1,000 would let a laptop fork-bomb itself). One more is
throttled: `Throttled`, Lambda's TooManyRequestsException.

Logs: each invocation's lines (INIT_START and the init output on a cold start, START, what
the function printed, END, REPORT) are in InvocationResult.logs and go to log_sink(logical
ID, line) once the invocation has ended.

Metrics: given `metrics` (local_cloud/monitoring/lambda_metrics.py), each invocation
records Lambda's AWS/Lambda metrics (Invocations, Errors, Duration, ConcurrentExecutions,
Throttles) and the custom metrics of its EMF log lines.

Faults (local_cloud/lambda_runtime/faults.py): given `faults`, each invocation first claims
a crash or hang fault of its function from the endpoint and hands it to its worker with the
invoke frame; once it is over, the claim is settled (fired, or given back).
InvocationResult.injected_fault says what acted.

Memory (memory.py): each worker is held to its function's MemorySize, counted as its RSS.
A worker over it is killed; the invocation fails with Runtime.OutOfMemory (REPORT `Status:
error  Error Type: Runtime.OutOfMemory`) and the next one starts cold. REPORT's Max Memory
Used is the worker's peak RSS.

Idle environments go only when asked (`reclaim_idle_workers`, which an SQS mapping calls
when it scales down), not after some idle minutes as in Lambda. Not emulated: every python
runtime runs on this interpreter (INIT_START names the version that ran; the deployer warns
when the template asks for another).
"""

from __future__ import annotations

import itertools
import json
import math
import platform
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local_cloud import errors
from local_cloud.lambda_runtime.faults import INVOCATION_ACTIONS, ClaimedFault, FaultClaims
from local_cloud.lambda_runtime.memory import SAMPLE_SECONDS, MemoryLimit
from local_cloud.lambda_runtime.worker import Outcome, Worker
from local_cloud.model import FunctionSpec
from local_cloud.monitoring.lambda_metrics import LambdaMetrics

LOCAL_CONCURRENCY_CAP = 10
MAX_REQUEST_BYTES = 6 * 1024 * 1024  # synchronous invocation payload limit

LogSink = Callable[[str, str], None]


class LambdaServiceError(Exception):
    error_code = "ServiceException"


class FunctionNotFound(LambdaServiceError, LookupError):
    error_code = "ResourceNotFoundException"


class Throttled(LambdaServiceError):
    """The function is at its concurrency limit (TooManyRequestsException)."""

    error_code = "TooManyRequestsException"

    def __init__(self, function_name: str, limit: int, reserved: bool) -> None:
        self.function_name = function_name
        self.limit = limit
        self.reason = (
            "ReservedFunctionConcurrentInvocationLimitExceeded"
            if reserved
            else "ConcurrentInvocationLimitExceeded"
        )
        super().__init__(f"Rate Exceeded. {function_name}: {self.reason} (limit {limit})")


class RequestTooLarge(LambdaServiceError):
    error_code = "RequestTooLargeException"


class UnsupportedRuntime(LambdaServiceError, errors.UnsupportedRuntime):
    error_code = "InvalidRuntimeException"


@dataclass(frozen=True)
class InvocationResult:
    payload: Any  # the decoded response, as boto3's Payload.read() then json.loads
    error: dict[str, Any] | None  # Lambda's error object when the invocation failed
    logs: str  # the function's log for this invocation, START to REPORT
    duration_ms: float
    cold_start: bool
    request_id: str = ""
    init_duration_ms: float | None = None
    raw_payload: str | None = None  # the JSON text exactly as the runtime produced it
    # The worker's report of an injected fault that acted (crash or hang), else None
    injected_fault: dict[str, Any] | None = None

    @property
    def function_error(self) -> str | None:
        """The errorType, as X-Amz-Function-Error would flag it; None on success."""
        return None if self.error is None else str(self.error.get("errorType", "Unhandled"))


@dataclass(frozen=True)
class FunctionStats:
    invocations: int
    errors: int
    throttles: int
    cold_starts: int
    timeouts: int
    crashes: int
    warm_workers: int  # idle environments ready for the next invocation
    busy_workers: int  # invocations running now
    max_concurrent: int  # the most invocations that ran at once
    concurrency_limit: int


class _FunctionPool:
    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self.lock = threading.Lock()
        self.idle: list[Worker] = []  # a stack: the last released is the first reused
        self.live: set[Worker] = set()
        self.busy = 0
        self.max_concurrent = 0
        self.invocations = self.errors = self.throttles = 0
        self.cold_starts = self.timeouts = self.crashes = 0
        reserved = spec.reserved_concurrency
        self.limit = LOCAL_CONCURRENCY_CAP if reserved is None else reserved

    def acquire(self) -> Worker | None:
        """A warm worker, or None for a cold start. Raises Throttled at the limit."""
        with self.lock:
            if self.busy >= self.limit:
                self.throttles += 1
                raise Throttled(
                    self.spec.function_name, self.limit, self.spec.reserved_concurrency is not None
                )
            self.busy += 1
            self.invocations += 1
            self.max_concurrent = max(self.max_concurrent, self.busy)
            return self.idle.pop() if self.idle else None

    def release(self, worker: Worker | None) -> None:
        with self.lock:
            self.busy -= 1
            if worker is not None and worker.alive:
                self.idle.append(worker)

    def started(self, worker: Worker) -> None:
        """A cold start: worker is a new environment of this function."""
        with self.lock:
            self.live.add(worker)
            self.cold_starts += 1

    def forget(self, worker: Worker) -> None:
        """worker is gone (dead, failed its init, or crashed): discard it."""
        worker.discard()
        with self.lock:
            self.live.discard(worker)

    def failed(self, *, timed_out: bool = False, crashed: bool = False) -> None:
        """Count an invocation that ended in error (a failed init too); an invocation that
        timed out or whose runtime exited is also counted apart."""
        with self.lock:
            self.errors += 1
            self.timeouts += timed_out
            self.crashes += crashed

    def take_idle(self, keep: int) -> list[Worker]:
        """Remove and return the least recently used idle workers until at most `keep`
        environments, busy and idle, are left; never a busy one."""
        with self.lock:
            surplus = max(0, min(len(self.idle), self.busy + len(self.idle) - keep))
            taken = self.idle[:surplus]  # the bottom of the stack: the longest idle
            del self.idle[:surplus]
            self.live.difference_update(taken)
        return taken

    def take_all(self) -> tuple[list[Worker], list[Worker]]:
        """(idle, busy): every worker; the idle ones are removed from the pool."""
        with self.lock:
            idle = list(self.idle)
            busy = [worker for worker in self.live if worker not in self.idle]
            self.idle.clear()
            self.live.difference_update(idle)
        return idle, busy

    def stats(self) -> FunctionStats:
        with self.lock:
            return FunctionStats(
                invocations=self.invocations,
                errors=self.errors,
                throttles=self.throttles,
                cold_starts=self.cold_starts,
                timeouts=self.timeouts,
                crashes=self.crashes,
                warm_workers=len(self.idle),
                busy_workers=self.busy,
                max_concurrent=self.max_concurrent,
                concurrency_limit=self.limit,
            )


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


_TIMED_OUT = "Sandbox.Timedout"
_EXIT_ERROR = "Runtime.ExitError"
_OUT_OF_MEMORY = "Runtime.OutOfMemory"


def sandbox_error(
    request_id: str,
    outcome: Outcome,
    *,
    phase: str,
    timeout_seconds: float = 0.0,
    exit_description: str = "",
) -> dict[str, Any] | None:
    """Lambda's error object when the sandbox, not the handler, ended the phase ("init" or
    "invoke"): a timeout (Sandbox.Timedout), the runtime exiting (Runtime.ExitError) or
    killed over its MemorySize (Runtime.OutOfMemory; Lambda's message is the one of a
    runtime killed by a signal). None when the handler returned or raised (its own error,
    if any, stands)."""
    if outcome is Outcome.TIMED_OUT:
        if phase == "init":
            message = f"{_timestamp()} {request_id} Task timed out during init"
        else:
            message = (
                f"RequestId: {request_id} Error: Task timed out after {timeout_seconds:.2f} seconds"
            )
        return {"errorMessage": message, "errorType": _TIMED_OUT, "requestId": request_id}
    if outcome is Outcome.CRASHED:
        return {
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
            f"{exit_description}",
            "errorType": _EXIT_ERROR,
            "requestId": request_id,
        }
    if outcome is Outcome.OUT_OF_MEMORY:
        return {
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
            "signal: killed",
            "errorType": _OUT_OF_MEMORY,
            "requestId": request_id,
        }
    return None


@dataclass
class _Invocation:
    """What one invocation gathers on its way to an InvocationResult."""

    request_id: str
    cold_start: bool
    lines: list[str] = field(default_factory=list)
    init_ms: float | None = None
    duration_ms: float = 0.0
    raw_payload: str | None = None
    error: dict[str, Any] | None = None
    memory_used_mb: int | None = None
    injected_fault: dict[str, Any] | None = None


class LambdaService:
    """Invokes the functions of one deployed stack in local worker processes."""

    def __init__(
        self,
        functions: Iterable[FunctionSpec],
        *,
        endpoint_url: str,
        region: str,
        runtime_dir: Path,
        log_sink: LogSink | None = None,
        account_id: str = "123456789012",
        faults: FaultClaims | None = None,
        metrics: LambdaMetrics | None = None,
        memory_sample_seconds: float = SAMPLE_SECONDS,
    ) -> None:
        """memory_sample_seconds: how often a busy worker's RSS is sampled (memory.py)."""
        self._endpoint_url = endpoint_url
        self._memory_sample_seconds = memory_sample_seconds
        self._metrics = metrics
        self._faults = faults
        self._region = region
        self._runtime_dir = Path(runtime_dir)
        self._log_sink = log_sink
        self._account_id = account_id
        self._pools: dict[str, _FunctionPool] = {}
        self._by_name: dict[str, _FunctionPool] = {}
        for spec in functions:
            pool = _FunctionPool(spec)
            self._pools[spec.logical_id] = pool
            self._by_name[spec.logical_id] = pool
            self._by_name[spec.function_name] = pool
        self._scratch = tempfile.TemporaryDirectory(prefix="local-cloud-lambda-")
        self._worker_numbers = itertools.count(1)
        self._closed = False

    def function(self, name_or_logical_id: str) -> FunctionSpec:
        return self._pool(name_or_logical_id).spec

    def concurrency_limit(self, name_or_logical_id: str) -> int:
        return self._pool(name_or_logical_id).limit

    def _pool(self, name: str) -> _FunctionPool:
        # Invoke also accepts an ARN; its last component is the name.
        key = name.split(":function:", 1)[1].split(":")[0] if ":function:" in name else name
        try:
            return self._by_name[key]
        except KeyError:
            known = ", ".join(sorted(self._pools))
            raise FunctionNotFound(f"Function not found: {name} (known: {known})") from None

    def _function_arn(self, spec: FunctionSpec) -> str:
        return (
            spec.function_arn
            or f"arn:aws:lambda:{self._region}:{self._account_id}:function:{spec.function_name}"
        )

    def invoke(self, function_name_or_logical_id: str, event: Any) -> InvocationResult:
        """A synchronous (RequestResponse) invocation."""
        if self._closed:
            raise LambdaServiceError("the Lambda service is closed")
        pool = self._pool(function_name_or_logical_id)
        spec = pool.spec
        if not spec.runtime.startswith("python3"):
            raise UnsupportedRuntime(
                f"{spec.logical_id}: runtime {spec.runtime!r} is not supported locally "
                "(only python3.x functions run in the local cloud)"
            )
        size = len(json.dumps(event).encode("utf-8"))
        if size > MAX_REQUEST_BYTES:
            raise RequestTooLarge(
                f"{spec.function_name}: request payload of {size} bytes exceeds "
                f"the {MAX_REQUEST_BYTES} bytes limit"
            )
        try:
            worker = pool.acquire()
        except Throttled:
            if self._metrics is not None:
                self._metrics.throttled(spec.function_name)
            raise
        concurrent = pool.busy
        fault: ClaimedFault | None = None
        result: InvocationResult | None = None
        try:
            if self._faults is not None:
                fault = self._faults.claim(spec, INVOCATION_ACTIONS)
            result, worker = self._run(pool, worker, event, fault)
        finally:
            pool.release(worker)
            if fault is not None:
                self._settle(fault, result)
        if self._metrics is not None:
            self._metrics.invoked(
                spec.function_name,
                error=result.error is not None,
                duration_ms=result.duration_ms,
                concurrent=concurrent,
                logs=result.logs,
            )
        if self._log_sink is not None:
            for line in result.logs.splitlines():
                self._log_sink(spec.logical_id, line)
        return result

    def _settle(self, fault: ClaimedFault, result: InvocationResult | None) -> None:
        assert self._faults is not None
        fired = None if result is None else result.injected_fault
        if fired is None:  # fewer calls than after_calls, a failed init, or no invocation
            self._faults.settle(fault, fired=False)
            return
        report = {key: fired.get(key) for key in ("after_calls", "calls", "call")}
        if "resumed" in fired:  # a pause: how it ended
            report.update(resumed=fired["resumed"], paused_ms=fired.get("paused_ms"))
        error_type = None if result is None or result.error is None else result.error["errorType"]
        self._faults.settle(
            fault, fired=True, request_id=fired.get("request_id"), error_type=error_type, **report
        )

    def _start_worker(self, spec: FunctionSpec) -> Worker:
        log_path = Path(self._scratch.name) / f"{spec.logical_id}-{next(self._worker_numbers)}.log"
        return Worker(
            spec,
            endpoint_url=self._endpoint_url,
            region=self._region,
            runtime_dir=self._runtime_dir,
            log_path=log_path,
            memory=MemoryLimit(spec.memory_mb, self._memory_sample_seconds),
        )

    def _run(
        self, pool: _FunctionPool, worker: Worker | None, event: Any, fault: ClaimedFault | None
    ) -> tuple[InvocationResult, Worker | None]:
        spec = pool.spec
        if worker is not None and worker.process.poll() is not None:
            # It died while idle (killed from outside): a fresh environment, not an error.
            pool.forget(worker)
            worker = None
        run = _Invocation(request_id=str(uuid.uuid4()), cold_start=worker is None)
        if worker is None:
            worker = self._cold_start(pool, run)
            if worker is None:
                return self._finish(spec, run), None

        run.lines.append(f"START RequestId: {run.request_id} Version: $LATEST")
        started = time.perf_counter()
        outcome = worker.invoke(
            run.request_id,
            event,
            timeout_seconds=spec.timeout_seconds,
            invoked_function_arn=self._function_arn(spec),
            fault=None if fault is None else fault.for_worker(),
        )
        run.duration_ms = (time.perf_counter() - started) * 1000
        run.lines.extend(worker.read_new_logs().splitlines())
        run.raw_payload = outcome.payload
        run.memory_used_mb = outcome.max_memory_used_mb
        run.injected_fault = outcome.fault_fired
        run.error = sandbox_error(
            run.request_id,
            outcome.outcome,
            phase="invoke",
            timeout_seconds=spec.timeout_seconds,
            exit_description=outcome.exit_description,
        )
        if run.error is not None and run.error["errorType"] == _TIMED_OUT:
            message = f"Task timed out after {spec.timeout_seconds:.2f} seconds"
            run.lines.append(f"{_timestamp()} {run.request_id} {message}")
        elif run.error is not None:
            run.lines.extend([run.error["errorMessage"], run.error["errorType"]])
        else:
            run.error = outcome.error
        if run.error is not None:
            run.error.setdefault("requestId", run.request_id)
            pool.failed(
                timed_out=outcome.outcome is Outcome.TIMED_OUT,
                crashed=outcome.outcome in (Outcome.CRASHED, Outcome.OUT_OF_MEMORY),
            )
        if not worker.alive:
            pool.forget(worker)
        return self._finish(spec, run), (worker if worker.alive else None)

    def _cold_start(self, pool: _FunctionPool, run: _Invocation) -> Worker | None:
        """A new environment through its init phase; None (run.error set) if init failed."""
        spec = pool.spec
        started = time.perf_counter()
        worker = self._start_worker(spec)
        pool.started(worker)
        init = worker.wait_for_init()
        run.init_ms = (time.perf_counter() - started) * 1000
        # Lambda names the runtime version that ran; here that is this interpreter.
        run.lines.append(
            f"INIT_START Runtime Version: python:{platform.python_version()}\t"
            f"Runtime Environment: local ({spec.runtime} in the template)"
        )
        run.lines.extend(worker.read_new_logs().splitlines())
        error = sandbox_error(
            run.request_id, init.outcome, phase="init", exit_description=init.exit_description
        )
        error = error if error is not None else init.error
        if error is None:
            return worker
        error.setdefault("requestId", run.request_id)
        run.error = error
        pool.forget(worker)
        pool.failed()
        run.lines.append(
            f"INIT_REPORT Init Duration: {run.init_ms:.2f} ms\tPhase: init\tStatus: error\t"
            f"Error Type: {error['errorType']}"
        )
        return None

    def _finish(self, spec: FunctionSpec, run: _Invocation) -> InvocationResult:
        lines = [*run.lines, f"END RequestId: {run.request_id}"]
        duration_ms, init_ms, error = run.duration_ms, run.init_ms, run.error
        memory_used = run.memory_used_mb if run.memory_used_mb is not None else "-"
        report = [
            f"REPORT RequestId: {run.request_id}",
            f"Duration: {duration_ms:.2f} ms",
            f"Billed Duration: {math.ceil(duration_ms + (init_ms or 0.0))} ms",
            f"Memory Size: {spec.memory_mb} MB",
            f"Max Memory Used: {memory_used} MB",
        ]
        if init_ms is not None:
            report.append(f"Init Duration: {init_ms:.2f} ms")
        if error is not None and error.get("errorType") == _TIMED_OUT:
            report.append("Status: timeout")
        elif error is not None and str(error.get("errorType", "")).startswith("Runtime."):
            report.append(f"Status: error\tError Type: {error['errorType']}")
        lines.append("\t".join(report))
        raw_payload = run.raw_payload
        payload = error if error is not None else (json.loads(raw_payload) if raw_payload else None)
        return InvocationResult(
            payload=payload,
            error=error,
            logs="\n".join(lines) + "\n",
            duration_ms=duration_ms,
            cold_start=run.cold_start,
            request_id=run.request_id,
            init_duration_ms=init_ms,
            raw_payload=raw_payload if error is None else json.dumps(error),
            injected_fault=run.injected_fault,
        )

    def reclaim_idle_workers(self, name_or_logical_id: str, *, keep: int) -> int:
        """Discard the function's least recently used idle workers until at most `keep`
        environments, busy and idle, are left; never a busy one. Returns how many went."""
        reclaimed = self._pool(name_or_logical_id).take_idle(keep)
        for worker in reclaimed:
            worker.discard()
        return len(reclaimed)

    def stats(self) -> dict[str, FunctionStats]:
        """Counters per function, keyed by logical ID."""
        return {logical_id: pool.stats() for logical_id, pool in self._pools.items()}

    def close(self) -> None:
        """Kill every worker, idle or busy. Invocations still running end as crashes."""
        self._closed = True
        for pool in self._pools.values():
            idle, busy = pool.take_all()
            for worker in idle:
                worker.discard()
            # A busy worker's pipes belong to the thread invoking it: killing the process
            # ends that invocation as a crash, and that thread cleans up.
            for worker in busy:
                worker.process.kill()
        self._scratch.cleanup()

    def __enter__(self) -> LambdaService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
