"""A worker process: one Lambda execution environment, seen from the parent.

The parent owns the clock. Every read from the worker is bounded by the invocation's
deadline; at the deadline the worker is killed (SIGKILL), as Lambda kills a sandbox that
timed out, and the next invocation needs a fresh (cold) one.

The parent also holds the worker to its MemorySize (memory.py): while it waits for an
answer it samples the worker's RSS, and it reads the worker's peak when the answer comes;
over the limit, the worker is killed and the outcome is OUT_OF_MEMORY.
"""

from __future__ import annotations

import enum
import json
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local_cloud.aws_session import function_credentials
from local_cloud.lambda_runtime.bootstrap import FRAME_HEADER, encode_frame
from local_cloud.lambda_runtime.memory import MemoryLimit, RssProbe, megabytes
from local_cloud.model import FunctionSpec

BOOTSTRAP_PATH = Path(__file__).with_name("bootstrap.py")
INIT_TIMEOUT_SECONDS = 10.0  # Lambda's limit on the init phase of an on-demand environment
# Every function runs on the interpreter running the local cloud, whatever its runtime says.
LOCAL_PYTHON_RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"


# Python runtimes Lambda has deprecated and no longer creates functions with (its runtime
# deprecation policy: after the "block function create" date, CreateFunction refuses the
# runtime). python3.8's block began 2025-02-28 (AWS's announcement); the older ones before.
CREATE_BLOCKED_PYTHON_RUNTIMES = frozenset({"python2.7", "python3.6", "python3.7", "python3.8"})


def runtime_note(runtime: str) -> str | None:
    """What a deploy should say about a function's runtime here, or None: a runtime that is
    not Python cannot run; another Python version runs on this interpreter; a runtime Lambda
    no longer creates functions with deploys here but would not on AWS."""
    if not runtime.startswith("python"):
        return f"runtime {runtime} cannot be run by the local cloud"
    if runtime == LOCAL_PYTHON_RUNTIME:
        return None
    note = (
        f"runtime {runtime} runs on this machine's {LOCAL_PYTHON_RUNTIME} (the only "
        "interpreter the local cloud has); differences between the versions are not emulated"
    )
    if runtime in CREATE_BLOCKED_PYTHON_RUNTIMES:
        note += (
            f"; Lambda has deprecated {runtime} and no longer creates functions with it, so "
            "this template would not deploy on AWS unchanged"
        )
    return note


class WorkerGone(Exception):
    """The worker closed its pipe: it exited or crashed."""


class DeadlineExceeded(Exception):
    pass


class MemoryExceeded(Exception):
    """A sample of the worker's RSS was over its function's MemorySize."""

    def __init__(self, used_bytes: int) -> None:
        super().__init__(f"RSS {used_bytes} bytes")
        self.used_bytes = used_bytes


class MemoryWatch:
    """Samples one worker's RSS while the parent waits for it (read_frame_until)."""

    def __init__(self, probe: RssProbe, limit: MemoryLimit) -> None:
        self.probe = probe
        self.limit = limit
        self.highest = 0  # the highest sample taken

    def check(self) -> None:
        """Raises MemoryExceeded when the worker is over the limit now."""
        used = self.probe.rss_bytes()
        if used is None:  # it is exiting: the read of its pipe will say so
            return
        self.highest = max(self.highest, used)
        if self.limit.exceeded_by(used):
            raise MemoryExceeded(used)

    def peak(self) -> int:
        """The worker's peak so far: its high-water mark (the kernel's, exact) if it can
        still be read, else the highest sample."""
        return max(self.highest, self.probe.peak_bytes() or 0)


class Outcome(enum.Enum):
    OK = "ok"  # the handler returned (payload) or raised (error): the worker stays warm
    TIMED_OUT = "timed_out"
    CRASHED = "crashed"
    OUT_OF_MEMORY = "out_of_memory"  # over its MemorySize: killed by the parent


@dataclass(frozen=True)
class InvokeOutcome:
    outcome: Outcome
    payload: str | None = None  # the JSON text the runtime marshalled
    error: dict[str, Any] | None = None
    max_memory_used_mb: int | None = None
    exit_description: str = ""
    # The worker's {"type": "fault", ...} frame when an injected fault acted (bootstrap.py)
    fault_fired: dict[str, Any] | None = None


def python_sys_path(spec: FunctionSpec, runtime_dir: Path) -> list[str]:
    """The import path of Lambda's python runtime, with our directories standing in.

    /var/task, then /opt (per layer: python/lib/<runtime>/site-packages, then python),
    then /var/runtime (boto3). Lambda unpacks layers into one /opt, a later layer
    overwriting an earlier one, so a later layer comes first here.
    """
    paths = [str(spec.code_dir)]
    for layer in reversed(spec.layer_dirs):
        paths.append(str(layer / "python" / "lib" / spec.runtime / "site-packages"))
        paths.append(str(layer / "python"))
    paths.append(str(runtime_dir))
    return paths


def log_stream_name(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now:%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"


def worker_environment(
    spec: FunctionSpec,
    *,
    endpoint_url: str,
    region: str,
    runtime_dir: Path,
    stream_name: str,
) -> dict[str, str]:
    """The function's environment: its own variables, then Lambda's reserved ones on top.

    Nothing is inherited from our process wholesale: a function that works here because
    of a variable in the developer's shell would fail in AWS.
    """
    env = dict(spec.environment)
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream_name,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "LAMBDA_RUNTIME_DIR": str(runtime_dir),
            "_HANDLER": spec.handler,
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "AWS_ENDPOINT_URL": endpoint_url,
            # Its own key ID: the endpoint tells its calls apart (local_cloud/call_log.py).
            **{
                name.upper(): value for name, value in function_credentials(spec.logical_id).items()
            },
        }
    )
    # Only so the interpreter itself can start where it needs a non-standard libpython.
    if "LD_LIBRARY_PATH" in os.environ:
        env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
    return env


def signal_description(number: int) -> str:
    """A signal as Lambda's runtime interface (Go) words it: "killed", "segmentation fault",
    "aborted"; glibc's descriptions are the same words, capitalised."""
    try:
        description = signal.strsignal(number)
    except ValueError:
        description = None
    if not description or description.startswith("Unknown signal"):
        return f"signal {number}"
    return description.split(":", 1)[0].lower()  # macOS adds ": 9"


def _read_exactly(fd: int, size: int, deadline: float, watch: MemoryWatch | None) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        timeout = deadline - time.monotonic()
        if timeout <= 0:
            raise DeadlineExceeded
        wait = timeout if watch is None else min(timeout, watch.limit.sample_seconds)
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            if watch is None:
                raise DeadlineExceeded
            watch.check()
            continue
        chunk = os.read(fd, remaining)
        if not chunk:
            raise WorkerGone
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame_until(fd: int, deadline: float, watch: MemoryWatch | None = None) -> dict[str, Any]:
    """The worker's next message, or DeadlineExceeded / WorkerGone; with `watch`, the
    worker's RSS is sampled while waiting (MemoryExceeded)."""
    (length,) = FRAME_HEADER.unpack(_read_exactly(fd, FRAME_HEADER.size, deadline, watch))
    message: dict[str, Any] = json.loads(_read_exactly(fd, length, deadline, watch))
    return message


class Worker:
    """A started worker process. Not thread safe: the pool lends it to one caller at a time."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        endpoint_url: str,
        region: str,
        runtime_dir: Path,
        log_path: Path,
        memory: MemoryLimit | None = None,
    ) -> None:
        """`memory`: the limit to hold the worker to (None: not measured, not enforced)."""
        self.spec = spec
        self.log_stream_name = log_stream_name()
        self._log_path = log_path
        request_read, self._request_write = os.pipe()
        self._response_read, response_write = os.pipe()
        with log_path.open("ab") as log_file:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our bootstrap
                [
                    sys.executable,
                    "-I",
                    "-S",
                    str(BOOTSTRAP_PATH),
                    "--request-fd",
                    str(request_read),
                    "--response-fd",
                    str(response_write),
                    *(f"--sys-path={path}" for path in python_sys_path(spec, runtime_dir)),
                ],
                pass_fds=(request_read, response_write),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=worker_environment(
                    spec,
                    endpoint_url=endpoint_url,
                    region=region,
                    runtime_dir=runtime_dir,
                    stream_name=self.log_stream_name,
                ),
                cwd=spec.code_dir,
                start_new_session=True,  # a Ctrl-C meant for us must not hit the functions
            )
        os.close(request_read)
        os.close(response_write)
        self._log_reader = log_path.open("rb")
        self.alive = True
        # Only where the kernel shows the worker's memory (/proc): elsewhere nothing is held.
        self._memory = memory
        self._probe = None if memory is None else RssProbe.open(self.pid)

    def _watch(self) -> MemoryWatch | None:
        if self._memory is None or self._probe is None:
            return None
        return MemoryWatch(self._probe, self._memory)

    def _out_of_memory(self, watch: MemoryWatch, fired: dict[str, Any] | None) -> InvokeOutcome:
        used = watch.peak()  # read before the kill: a dead process has no /proc entry
        self.kill()
        return InvokeOutcome(
            Outcome.OUT_OF_MEMORY, max_memory_used_mb=megabytes(used), fault_fired=fired
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_for_init(self, timeout: float = INIT_TIMEOUT_SECONDS) -> InvokeOutcome:
        """The init phase: import the handler's module. A failed init leaves the worker dead."""
        watch = self._watch()
        try:
            message = read_frame_until(self._response_read, time.monotonic() + timeout, watch)
        except DeadlineExceeded:
            self.kill()
            return InvokeOutcome(Outcome.TIMED_OUT)
        except WorkerGone:
            return InvokeOutcome(Outcome.CRASHED, exit_description=self._exit_description())
        except MemoryExceeded:
            assert watch is not None
            return self._out_of_memory(watch, None)
        if watch is not None and watch.limit.exceeded_by(watch.peak()):
            return self._out_of_memory(watch, None)
        if message.get("error") is not None:
            self.kill()
            return InvokeOutcome(Outcome.OK, error=message["error"])
        return InvokeOutcome(Outcome.OK)

    def invoke(
        self,
        request_id: str,
        event: Any,
        *,
        timeout_seconds: float,
        invoked_function_arn: str,
        fault: dict[str, Any] | None = None,
    ) -> InvokeOutcome:
        """One invocation. `fault`: an injected crash or hang for this invocation only
        (the invoke frame's `fault` field, see bootstrap.py)."""
        deadline = time.monotonic() + timeout_seconds
        request = {
            "type": "invoke",
            "request_id": request_id,
            "event": event,
            "deadline_ms": int((time.time() + timeout_seconds) * 1000),
            "invoked_function_arn": invoked_function_arn,
        }
        if fault is not None:
            request["fault"] = fault
        fired: dict[str, Any] | None = None
        watch = self._watch()
        try:
            self._write(encode_frame(request))
            message = read_frame_until(self._response_read, deadline, watch)
            while message.get("type") == "fault":  # it acts next: dies or hangs
                fired = message
                message = read_frame_until(self._response_read, deadline, watch)
        except DeadlineExceeded:
            used = None if watch is None else megabytes(watch.peak())
            self.kill()
            return InvokeOutcome(Outcome.TIMED_OUT, max_memory_used_mb=used, fault_fired=fired)
        except (WorkerGone, BrokenPipeError):
            used = None if watch is None or not watch.highest else megabytes(watch.highest)
            return InvokeOutcome(
                Outcome.CRASHED,
                max_memory_used_mb=used,
                exit_description=self._exit_description(),
                fault_fired=fired,
            )
        except MemoryExceeded:
            assert watch is not None
            return self._out_of_memory(watch, fired)
        used_mb = message.get("max_memory_used_mb")  # the worker's own figure, without /proc
        if watch is not None:
            # Its peak between two samples counts too: Lambda would have killed it there.
            if watch.limit.exceeded_by(watch.peak()):
                return self._out_of_memory(watch, fired)
            used_mb = megabytes(watch.peak())
        return InvokeOutcome(
            Outcome.OK,
            payload=message.get("payload"),
            error=message.get("error"),
            max_memory_used_mb=used_mb,
            fault_fired=fired,
        )

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._request_write, view)
            view = view[written:]

    def _exit_description(self) -> str:
        """How the process ended, in the words Lambda uses ("exit status 1", "signal:
        killed")."""
        self.alive = False
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            return "the runtime closed its connection"
        self._close_pipes()
        if code < 0:
            return f"signal: {signal_description(-code)}"
        return f"exit status {code}"

    def read_new_logs(self) -> str:
        """What the function printed since the previous call."""
        return self._log_reader.read().decode("utf-8", errors="replace")

    def kill(self) -> None:
        self.alive = False
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for fd in (self._request_write, self._response_read):
            if fd >= 0:
                os.close(fd)
        self._request_write = self._response_read = -1
        if self._probe is not None:
            self._probe.close()

    def discard(self) -> None:
        """Kill the process and remove its log file."""
        self.kill()
        self._log_reader.close()
        self._log_path.unlink(missing_ok=True)
