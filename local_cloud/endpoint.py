"""The embedded AWS-compatible endpoint: moto in server mode, in its own process.

A separate process (not moto's in-process threaded server) keeps moto's work off the
GIL of the pollers and workers, and lets us stop it by PID. If AWS_ENDPOINT_URL names an
endpoint that is already answering (a LocalStack, or a `make local` in another
terminal), that one is used and nothing is started.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566  # LocalStack's port, so awslocal and localstack_client work unchanged


class EndpointError(RuntimeError):
    pass


def is_answering(endpoint_url: str, timeout: float = 1.0) -> bool:
    """True if something speaks HTTP at endpoint_url (any status counts)."""
    try:
        urllib.request.urlopen(endpoint_url, timeout=timeout)  # noqa: S310 - loopback URL we control
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False
    return True


def free_port(host: str = DEFAULT_HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Endpoint:
    """An endpoint we use; `process` is set only if we started it (and so must stop it)."""

    url: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def is_moto(self) -> bool:
        return is_answering(f"{self.url}/moto-api/")

    def reset(self) -> None:
        """Forget every resource (moto only): a fresh account for the next deploy."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

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
) -> Endpoint:
    """Use the endpoint named by AWS_ENDPOINT_URL if it answers, else start moto.

    port=None (or 0) picks a free port, which tests use to run side by side.
    """
    configured = os.environ.get("AWS_ENDPOINT_URL", "").rstrip("/")
    if reuse_from_env and configured and is_answering(configured):
        return Endpoint(url=configured)

    port = port or free_port(host)
    url = f"http://{host}:{port}"
    if is_answering(url):
        raise EndpointError(
            f"{url} is already in use by another process; stop it, or set "
            f"AWS_ENDPOINT_URL={url} to use it as the endpoint"
        )
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [
            sys.executable,
            "-m",
            "local_cloud.endpoint_server",
            "-H",
            host,
            "-p",
            str(port),
            "--parent-pid",
            str(os.getpid()),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C in the terminal reaches us, and we stop it by PID
    )
    endpoint = Endpoint(url=url, process=process)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EndpointError(f"moto server exited with code {process.returncode} on {url}")
        if is_answering(f"{url}/moto-api/"):
            return endpoint
        time.sleep(0.1)
    endpoint.stop()
    raise EndpointError(f"moto server did not answer on {url} within {startup_timeout:.0f} s")
