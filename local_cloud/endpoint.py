"""The embedded AWS-compatible endpoint: moto in server mode, in its own process.

A separate process (not moto's in-process threaded server) keeps moto's work off the
GIL of the pollers and workers, and lets us stop it by PID. If AWS_ENDPOINT_URL names an
endpoint that is already answering (a LocalStack, or a `make local` in another
terminal), that one is used and nothing is started; but only one on this machine's
loopback interface, unless allow_remote says otherwise (`up --allow-remote-endpoint`):
with real credentials exported, a remote URL there would have the stack deployed into
a real account.

The listening socket is bound here, in this process (port 0: the OS picks), and handed
to the endpoint process, which serves it: no port is picked, closed and bound again.

Faults for the AWS calls it serves and for the Lambda runtime (local_cloud/endpoint_faults.py)
are given at start (`faults_file`, `fault_seed`) or at run time through `EndpointFaults(url)`.
An endpoint started here keeps a flag file (`lambda_fault_flag`) telling the runtime whether
any lambda fault is pending, so it claims faults only then.
"""

from __future__ import annotations

import builtins
import contextlib
import ipaddress
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from local_cloud.endpoint_faults import (
    CLAIM_PATH,
    FAULTS_PATH,
    SETTLE_PATH,
    FaultSpecError,
    LambdaAction,
    load_fault_file,
)
from local_cloud.endpoint_warm import WarmProcess, start_warm, warm_starts_enabled
from local_cloud.endpoint_warm import use_warm_starts as use_warm_starts  # the switch
from local_cloud.errors import EndpointError, FaultControlError, PortUnavailable
from local_cloud.http_guard import is_loopback_name
from local_cloud.serving import bind_loopback
from local_cloud.settings import ENDPOINT_PORT

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = ENDPOINT_PORT  # LocalStack's port, so awslocal and localstack_client work unchanged


def is_answering(endpoint_url: str, timeout: float = 1.0) -> bool:
    """True if something speaks HTTP at endpoint_url (any status counts)."""
    try:
        urllib.request.urlopen(endpoint_url, timeout=timeout)  # noqa: S310 - loopback URL we control
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False
    return True


def is_local_url(url: str) -> bool:
    """True if url's host is on the loopback interface: a loopback address, localhost or
    a name under it, or a name resolving to loopback addresses only (such as LocalStack's
    localhost.localstack.cloud)."""
    host = urlsplit(url).hostname
    if not host:
        return False
    if is_loopback_name(host):
        return True
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        return False  # an address, and not a loopback one
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        return False
    return bool(addresses) and all(is_loopback_name(str(address)) for address in addresses)


def check_local(url: str, *, allow_remote: bool = False) -> None:
    """Raise EndpointError naming url unless it is local (or allow_remote)."""
    if allow_remote or is_local_url(url):
        return
    raise EndpointError(
        f"AWS_ENDPOINT_URL={url} is not on this machine's loopback interface: the local "
        "cloud deploys only to a local endpoint (with real credentials exported this "
        "could be a real AWS account); unset AWS_ENDPOINT_URL to start a local endpoint, "
        "or pass --allow-remote-endpoint if deploying there is what you mean"
    )


@dataclass
class Endpoint:
    """An endpoint we use; `process` is set only if we started it (and so must stop it)."""

    url: str
    # subprocess.Popen, or its stand-in for a warm start (local_cloud/endpoint_warm.py)
    process: subprocess.Popen[bytes] | WarmProcess | None = field(default=None, repr=False)
    # Set only on an endpoint we started: see LambdaFaultFlag in endpoint_faults.py.
    lambda_fault_flag: Path | None = None

    @property
    def faults(self) -> EndpointFaults:
        """Add, list and clear faults on this endpoint (a local cloud endpoint only)."""
        return EndpointFaults(self.url)

    @property
    def is_moto(self) -> bool:
        return is_answering(f"{self.url}/moto-api/")

    def reset(self) -> None:
        """Forget every resource (moto only): a fresh account for the next deploy."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self._remove_flag()
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self._remove_flag()

    def _remove_flag(self) -> None:
        if self.process is not None and self.lambda_fault_flag is not None:
            self.lambda_fault_flag.unlink(missing_ok=True)

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_endpoint(
    host: str = DEFAULT_HOST,
    port: int | None = DEFAULT_PORT,
    *,
    reuse_from_env: bool = True,
    startup_timeout: float = 30.0,
    faults_file: Path | None = None,
    fault_seed: int | None = None,
    allow_remote: bool = False,
    preload: Sequence[str] = (),
    log_path: Path | None = None,
) -> Endpoint:
    """Use the endpoint named by AWS_ENDPOINT_URL if it answers, else start moto.

    preload names services (signing names: "sts", "ssm") whose moto application an
    endpoint started here builds in the background from its start
    (local_cloud/endpoint_preload.py); a reused endpoint is taken as it is.

    port=None (or 0) picks a free port, which tests use to run side by side.
    faults_file (a JSON list of faults) and fault_seed configure fault injection from
    the first request on; they need an endpoint this call starts. An AWS_ENDPOINT_URL
    that is not on loopback is refused (EndpointError) unless allow_remote.
    log_path: where an endpoint started here writes its output (moto's errors, the
    tracebacks behind a 500), appended to; None: nowhere.
    """
    if faults_file is not None:  # here, where the error can be reported; the server's
        check_fault_file(faults_file)  # stderr is not kept
    configured = os.environ.get("AWS_ENDPOINT_URL", "").rstrip("/")
    if reuse_from_env and configured:
        check_local(configured, allow_remote=allow_remote)  # before connecting to it
    if reuse_from_env and configured and is_answering(configured):
        if faults_file is not None or fault_seed is not None:
            raise EndpointError(
                f"endpoint faults given at start, but AWS_ENDPOINT_URL names an endpoint "
                f"already running at {configured}, which this process does not start; unset "
                f"AWS_ENDPOINT_URL, or add the faults at run time: POST {configured}{FAULTS_PATH}"
            )
        return Endpoint(url=configured)

    if port and is_answering(f"http://{host}:{port}"):
        raise EndpointError(
            f"http://{host}:{port} is already in use by another process; stop it, pick "
            f"another port with --endpoint-port (0 picks a free one), or set "
            f"AWS_ENDPOINT_URL=http://{host}:{port} to use it as the endpoint"
        )
    try:
        listener = bind_loopback(host, port)  # port None or 0: the OS picks one
    except PortUnavailable as error:
        raise EndpointError(
            f"cannot start the endpoint: {error}; the endpoint's port is --endpoint-port"
        ) from error
    with listener:
        return _start_process(listener, startup_timeout, faults_file, fault_seed, preload, log_path)


def check_fault_file(path: Path) -> None:
    """start_endpoint's check of a faults file (EndpointError naming the fault and field),
    for a caller that checks its inputs before it starts anything (LocalCloud)."""
    try:
        load_fault_file(path)
    except FaultSpecError as error:
        raise EndpointError(f"invalid endpoint faults: {error}") from None


def _start_process(
    listener: socket.socket,
    startup_timeout: float,
    faults_file: Path | None,
    fault_seed: int | None,
    preload: Sequence[str] = (),
    log_path: Path | None = None,
) -> Endpoint:
    """Start the endpoint process serving `listener`, which is closed here once handed on."""
    host, port = listener.getsockname()[:2]
    url = f"http://{host}:{port}"
    fault_args = [] if faults_file is None else ["--faults", str(faults_file.resolve())]
    if fault_seed is not None:
        fault_args += ["--fault-seed", str(fault_seed)]
    handle, flag_name = tempfile.mkstemp(prefix="local-cloud-lambda-faults-", suffix=".flag")
    os.close(handle)
    flag = Path(flag_name)
    fault_args += ["--lambda-fault-flag", str(flag)]
    if preload:
        fault_args += ["--preload", ",".join(preload)]
    arguments = ["-H", host, "-p", str(port), *fault_args]
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if warm_starts_enabled():  # a fork of a server that imported moto once
            process: subprocess.Popen[bytes] | WarmProcess = start_warm(
                arguments, listener, log_path
            )
        else:
            process = _spawn(arguments, listener, log_path)
    except BaseException:
        flag.unlink(missing_ok=True)
        raise
    finally:
        listener.close()  # the endpoint process has its own: if it dies, connections fail
    endpoint = Endpoint(url=url, process=process, lambda_fault_flag=flag)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            flag.unlink(missing_ok=True)
            where = f"; its log: {log_path}" if log_path is not None else ""
            raise EndpointError(
                f"moto server exited with code {process.returncode} on {url}{where}"
            )
        if is_answering(f"{url}/moto-api/"):
            return endpoint
        time.sleep(0.1)
    endpoint.stop()
    raise EndpointError(f"moto server did not answer on {url} within {startup_timeout:.0f} s")


def _spawn(
    arguments: Sequence[str], listener: socket.socket, log_path: Path | None
) -> subprocess.Popen[bytes]:
    """The endpoint as a process of its own: `python -m local_cloud.endpoint_server`."""
    output: Any = subprocess.DEVNULL
    if log_path is not None:
        output = log_path.open("ab")  # the child keeps its own descriptor
    try:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [
                sys.executable,
                "-m",
                "local_cloud.endpoint_server",
                *arguments,
                "--fd",
                str(listener.fileno()),
                "--parent-pid",
                str(os.getpid()),
            ],
            pass_fds=(listener.fileno(),),
            stdout=output,
            stderr=output,
            start_new_session=True,  # Ctrl-C in the terminal reaches us, and we stop it by PID
        )
    finally:
        if output is not subprocess.DEVNULL:
            output.close()


class EndpointFaultsError(FaultControlError):
    """The endpoint refused a fault request; the message is the endpoint's own."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status (404: not a local cloud endpoint)


@dataclass(frozen=True)
class EndpointFaults:
    """Drive /_local_cloud/faults of an endpoint in another process (tests, the demo),
    as PaymentProviderControl drives the payment simulator's hooks:

        faults = EndpointFaults("http://127.0.0.1:4566")
        faults.add(service="ses", operation="SendEmail", error="Throttling",
                   message="Daily message quota exceeded", count=3)
        faults.fired()   # which requests it hit
        faults.clear()
    """

    url: str  # the endpoint, e.g. http://127.0.0.1:4566
    timeout: float = 10.0

    def add(self, **fault: Any) -> dict[str, Any]:
        """Add one fault (the JSON's fields); returns it with its id and its defaults."""
        added: dict[str, Any] = self._call("POST", fault)["added"][0]
        return added

    def add_all(self, faults: Sequence[Mapping[str, Any]]) -> builtins.list[dict[str, Any]]:
        """Add several at once: all of them, or none if one is invalid."""
        added: builtins.list[dict[str, Any]] = self._call("POST", [*faults])["added"]
        return added

    def list(self) -> dict[str, Any]:
        """{"seed": 7, "pending": [...], "fired": [...], "fired_total": 3}"""
        listing: dict[str, Any] = self._call("GET")
        return listing

    def pending(self) -> builtins.list[dict[str, Any]]:
        """Faults still to fire, each with its id and `remaining` count."""
        pending: builtins.list[dict[str, Any]] = self.list()["pending"]
        return pending

    def fired(self) -> builtins.list[dict[str, Any]]:
        """The requests faults hit, oldest first (the latest 1000 are kept)."""
        fired: builtins.list[dict[str, Any]] = self.list()["fired"]
        return fired

    def clear(self) -> None:
        """Forget pending and fired faults; fault ids start again from 1."""
        self._call("DELETE")

    def claim(
        self,
        function: str,
        logical_id: str | None = None,
        actions: Sequence[str | LambdaAction] = tuple(LambdaAction),
    ) -> dict[str, Any] | None:
        """The Lambda runtime's side: take one hit of the first pending lambda fault for
        this function with one of `actions`; the fault with its `claim` id, or None.
        Settle the claim once the invocation is over."""
        body = {
            "function": function,
            "logical_id": logical_id,
            "actions": [str(action) for action in actions],
        }
        claimed: dict[str, Any] | None = self._call("POST", body, path=CLAIM_PATH)["claimed"]
        return claimed

    def settle(self, claim: str, *, fired: bool, **report: Any) -> bool:
        """End a claim: fired, the firing is listed with `report`; not fired, the hit is
        given back to the fault. False if the endpoint no longer knows the claim."""
        body = {"claim": claim, "fired": fired, "report": report}
        settled: bool = self._call("POST", body, path=SETTLE_PATH)["settled"]
        return settled

    def _call(self, method: str, body: object = None, *, path: str = FAULTS_PATH) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - the endpoint's own URL
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
            with contextlib.suppress(ValueError, KeyError, TypeError):
                detail = json.loads(detail)["message"]
            raise EndpointFaultsError(
                f"{method} {path}: HTTP {error.code}: {detail}", status=error.code
            ) from None
