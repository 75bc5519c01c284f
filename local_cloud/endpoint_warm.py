"""Warm starts for endpoint processes: each endpoint a fork of a server that imported
moto once (opt-in: `use_warm_starts()` or LOCAL_CLOUD_WARM_ENDPOINTS=1).

A spawned endpoint (`python -m local_cloud.endpoint_server`) spends ~1.75 s of CPU
before it answers, nearly all of it importing: the endpoint's modules, then moto's
CloudFormation with moto.ec2 and its tables, under the patches main() applies. A process
that starts many endpoints (the test suite: 47 in the integration tests; benchmarks)
pays that each time. Here the standard library's fork server
(multiprocessing "forkserver", started on first use, a child of this process) imports
local_cloud/endpoint_warm_preload.py once, and each endpoint is a fork of it that runs
the same endpoint_server.main() with the same arguments as the spawned one: its own
session, its output to the log file or /dev/null, the listening socket handed over,
`--parent-pid` its parent (the fork server, which exits when this process does: the
endpoint follows it), this process's environment and working directory.

Not the default: a process that starts one endpoint (`up`) would pay for the fork server
as well, for nothing.
"""

from __future__ import annotations

import contextlib
import functools
import io
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from multiprocessing import context, forkserver, popen_forkserver, reduction, spawn, util
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

ENV_SWITCH = "LOCAL_CLOUD_WARM_ENDPOINTS"
PRELOAD_MODULE = "local_cloud.endpoint_warm_preload"

_chosen: bool | None = None  # use_warm_starts(); None: the environment decides


def use_warm_starts(enabled: bool | None = True) -> None:
    """Start this process's endpoints as forks of a warm server from now on (False: spawn
    them, whatever the environment says; None: as LOCAL_CLOUD_WARM_ENDPOINTS says)."""
    global _chosen
    _chosen = enabled


def warm_starts_enabled() -> bool:
    """As use_warm_starts() chose, else LOCAL_CLOUD_WARM_ENDPOINTS=1 (read at each start)."""
    if _chosen is not None:
        return _chosen
    return os.environ.get(ENV_SWITCH, "") == "1"


class WarmProcess:
    """An endpoint forked from the fork server, with the subprocess.Popen methods Endpoint
    uses: pid, poll(), wait(timeout) (TimeoutExpired), terminate(), kill(), returncode
    (negative: the signal that ended it, as Popen's)."""

    def __init__(self, process: BaseProcess, args: Sequence[str]) -> None:
        self._process = process
        self.args = list(args)
        assert process.pid is not None  # started
        self.pid: int = process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        code = self._process.exitcode
        if code is None:
            assert timeout is not None
            raise subprocess.TimeoutExpired(self.args, timeout)
        return code

    def terminate(self) -> None:
        self._process.terminate()

    def kill(self) -> None:
        self._process.kill()


def start_warm(argv: Sequence[str], listener: socket.socket, log_path: Path | None) -> WarmProcess:
    """Fork an endpoint serving `listener` from the fork server (started on first use);
    argv: endpoint_server's arguments but --fd and --parent-pid, which the child adds.
    The caller closes its listener: the child has its own. The preload list is read when
    the server starts, on the first call."""
    multiprocessing.get_context("forkserver").set_forkserver_preload([PRELOAD_MODULE])
    _reap_at_exit()
    log = None if log_path is None else str(log_path.resolve())
    process = _EndpointProcess(
        target=_serve,
        args=(list(argv), listener, log, dict(os.environ)),
        name="local-cloud-endpoint",
        daemon=True,  # stopped (SIGTERM) if still running when this process exits
    )
    process.start()
    return WarmProcess(process, ["local_cloud.endpoint_server", *argv])


class _Popen(popen_forkserver.Popen):
    """The standard library's launch, less the main module: a child of the fork server
    would import this process's __main__ (a script run again as __mp_main__, pytest's
    console script: CPU spent, and code run, for nothing): the child runs _serve only,
    which is importable by name. Otherwise popen_forkserver.Popen._launch as it is."""

    def _launch(self, process_obj: Any) -> None:
        prep_data = {
            key: value
            for key, value in spawn.get_preparation_data(process_obj._name).items()
            if key not in ("init_main_from_name", "init_main_from_path")
        }
        buf = io.BytesIO()
        context.set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            context.set_spawning_popen(None)
        fds: list[int] = self.__dict__["_fds"]  # the sockets' descriptors, as pickled
        self.sentinel, w = forkserver.connect_to_new_process(fds)
        _parent_w = os.dup(w)  # the child's sentinel of this process, as the original
        close_fds: Any = getattr(util, "close_fds")  # noqa: B009 - not in the stubs
        self.finalizer = util.Finalize(self, close_fds, (_parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _EndpointProcess(context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> _Popen:  # the name multiprocessing calls
        return _Popen(process_obj)


def _serve(
    argv: list[str], listener: socket.socket, log_path: str | None, environ: dict[str, str]
) -> None:
    """The child, forked from the fork server: set up as subprocess.Popen set up the
    spawned endpoint, then endpoint_server.main()."""
    os.setsid()  # as start_new_session=True: Ctrl-C in the terminal is not for it
    _leave_fork_server()
    os.environ.clear()
    os.environ.update(environ)
    output = os.open(log_path or os.devnull, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    fd = listener.detach()  # main() serves it and closes it
    # Whether the fork server's preload took (multiprocessing ignores a preload that fails
    # to import): in the log, for whoever wonders why a warm start was slow.
    preloaded = PRELOAD_MODULE in sys.modules
    print(
        "warm start: forked from the fork server, "
        + ("moto preloaded" if preloaded else "preload missing: importing now"),
        flush=True,
    )
    from local_cloud import endpoint_server

    arguments = [*argv, "--fd", str(fd), "--parent-pid", str(os.getppid())]
    sys.argv = [endpoint_server.__file__, *arguments]  # as `python -m` (usage lines)
    endpoint_server.main(arguments)


@functools.cache
def _reap_at_exit() -> None:
    """At exit, once multiprocessing has stopped the endpoints still running (daemons),
    stop the fork server and wait for it: it has waited for its endpoints, so their CPU
    and its own count in this process's children's usage (/usr/bin/time), as a spawned
    endpoint's does. Not waited for, it would exit unseen, re-parented to init."""
    util.Finalize(None, _reap_fork_server, exitpriority=-100)  # after the daemons


def _reap_fork_server(timeout: float = 10.0) -> None:
    server: Any = forkserver._forkserver
    with server._lock:
        pid, alive = server._forkserver_pid, server._forkserver_alive_fd
        if pid is None:
            return
        server._forkserver_pid = server._forkserver_alive_fd = None
    os.close(alive)  # the server exits once no process holds the pipe
    deadline = time.monotonic() + timeout  # another user's children may still hold it
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == 0:
                time.sleep(0.01)
                continue
        return


def _leave_fork_server() -> None:
    """Drop the fork server's "alive" pipe, which every child inherits: the server exits
    when all holders of the pipe have, and the endpoint exits when the server has (its
    --parent-pid). Held here, a killed parent would leave both running."""
    server: Any = forkserver._forkserver
    fd = server._forkserver_alive_fd
    if fd is not None:
        os.close(fd)
        server._forkserver_alive_fd = None
