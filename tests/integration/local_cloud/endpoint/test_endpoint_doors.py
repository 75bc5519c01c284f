"""The endpoint process defends its doors, over real sockets: loopback only, its port
bound once, browser requests from elsewhere refused, bodies limited and run only whole."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from local_cloud import endpoint as endpoint_module
from local_cloud import endpoint_warm
from local_cloud.endpoint import Endpoint, start_endpoint
from local_cloud.endpoint_faults import FAULTS_PATH
from tests.integration.local_cloud.listening import listening_addresses, needs_proc

A_FAULT = {"service": "sqs", "operation": "SendMessage", "error": "Throttling"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Endpoint]:
    with start_endpoint(port=None, reuse_from_env=False) as started:
        yield started


@pytest.fixture
def port(endpoint: Endpoint) -> int:
    endpoint.faults.clear()
    return int(urlsplit(endpoint.url).port or 0)


def exchange(port: int, request: bytes, *, close_write: bool = True) -> bytes:
    """Send raw bytes, then read the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        try:
            conn.sendall(request)
            if close_write:
                conn.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before taking everything
        answer = b""
        try:
            while chunk := conn.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        return answer


def head(
    method: str, path: str, port: int, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status").read().splitlines():  # noqa: SIM115
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@needs_proc
def test_the_endpoint_listens_on_127_0_0_1_only(endpoint: Endpoint, port: int) -> None:
    assert endpoint.process is not None
    assert listening_addresses(endpoint.process.pid, port) == {"127.0.0.1"}


def test_its_port_is_bound_once_here_and_handed_to_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No pick-close-rebind: when the process starts, the socket is already listening on
    the endpoint's port, and the process gets that socket, not a port number to bind."""
    seen: list[tuple[str, int]] = []
    real_popen = subprocess.Popen

    def popen(args: list[str], **options: Any) -> Any:
        (fd,) = options["pass_fds"]
        assert args[args.index("--fd") + 1] == str(fd)
        with socket.socket(fileno=os.dup(fd)) as handed:
            assert handed.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
            seen.append(handed.getsockname())
        return real_popen(args, **options)

    monkeypatch.setattr(endpoint_warm, "_chosen", False)
    monkeypatch.setattr(endpoint_module.subprocess, "Popen", popen)
    with start_endpoint(port=None, reuse_from_env=False) as started:
        assert started.is_moto
        [(host, bound_port)] = seen
        assert started.url == f"http://{host}:{bound_port}"


@needs_proc
def test_a_warm_endpoint_is_handed_the_bound_socket_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same for an endpoint forked from the warm server (local_cloud/endpoint_warm.py):
    it gets the listening socket itself, and --fd only in the child, naming its copy."""
    seen: list[tuple[str, int]] = []
    real_start_warm = endpoint_module.start_warm

    def start_warm(args: list[str], listener: socket.socket, log_path: Any) -> Any:
        assert "--fd" not in args
        assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        seen.append(listener.getsockname())
        return real_start_warm(args, listener, log_path)

    monkeypatch.setattr(endpoint_warm, "_chosen", True)
    monkeypatch.setattr(endpoint_module, "start_warm", start_warm)
    with start_endpoint(port=None, reuse_from_env=False) as started:
        assert started.is_moto
        [(host, bound_port)] = seen
        assert started.url == f"http://{host}:{bound_port}"
        assert started.process is not None
        assert listening_addresses(started.process.pid, bound_port) == {"127.0.0.1"}
        with open(f"/proc/{started.process.pid}/stat") as stat:
            server = int(stat.read().rsplit(")", 1)[1].split()[1])
        assert server != os.getpid()
        assert listening_addresses(server, bound_port) == set()  # the fork server kept none


def test_a_web_page_cannot_add_faults_or_clear_emails(endpoint: Endpoint, port: int) -> None:
    body = json.dumps(A_FAULT).encode()
    evil = {"Origin": "http://evil.example", "Content-Type": "application/json"}
    answer = exchange(
        port,
        head("POST", FAULTS_PATH, port, {**evil, "Content-Length": str(len(body))}, body),
    )
    assert status_of(answer) == 403
    assert b"evil.example" in answer
    assert status_of(exchange(port, head("DELETE", "/_aws/ses", port, evil))) == 403
    assert endpoint.faults.pending() == []


def test_a_web_page_cannot_send_to_a_queue(endpoint: Endpoint, port: int) -> None:
    sqs = boto3.client("sqs", endpoint_url=endpoint.url, region_name="us-east-1")
    url = sqs.create_queue(QueueName="doors-web-page")["QueueUrl"]
    form = f"Action=SendMessage&QueueUrl={url}&MessageBody=from-a-page&Version=2012-11-05"
    answer = exchange(
        port,
        head(
            "POST",
            "/",
            port,
            {
                "Origin": "http://evil.example",
                "Content-Type": "application/x-www-form-urlencoded",
                "Content-Length": str(len(form)),
            },
            form.encode(),
        ),
    )
    assert status_of(answer) == 403
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"  # and the SDK still works


def test_a_rebound_host_name_is_refused(endpoint: Endpoint, port: int) -> None:
    request = f"GET /_aws/ses HTTP/1.1\r\nHost: rebound.example:{port}\r\n\r\n".encode()
    assert status_of(exchange(port, request)) == 403


@needs_proc
def test_a_100_mb_body_is_a_413_and_is_not_kept(endpoint: Endpoint, port: int) -> None:
    assert endpoint.process is not None
    before = rss_kib(endpoint.process.pid)
    declared = head(
        "POST",
        FAULTS_PATH,
        port,
        {"Content-Type": "application/json", "Content-Length": str(100 * 1024 * 1024)},
    )
    started = time.monotonic()
    answer = exchange(port, declared + b"[" * (10 * 1024 * 1024))
    assert status_of(answer) == 413
    assert b"1048576 bytes" in answer
    assert time.monotonic() - started < 10
    assert rss_kib(endpoint.process.pid) - before < 30 * 1024  # was ~400 MB for 100 MB
    assert endpoint.faults.pending() == []


def test_a_chunked_body_over_1_mib_is_a_413(endpoint: Endpoint, port: int) -> None:
    chunk = b"x" * 65536
    body = (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n") * 20 + b"0\r\n\r\n"
    request = head("POST", FAULTS_PATH, port, {"Transfer-Encoding": "chunked"}, body)
    assert status_of(exchange(port, request)) == 413


def test_a_bad_chunked_body_is_a_400(endpoint: Endpoint, port: int) -> None:
    request = head("POST", FAULTS_PATH, port, {"Transfer-Encoding": "chunked"}, b"ZZ\r\nabc\r\n")
    assert status_of(exchange(port, request)) == 400


def test_a_cut_off_body_adds_no_fault(endpoint: Endpoint, port: int) -> None:
    body = json.dumps([A_FAULT, A_FAULT]).encode()
    cut = body[: body.index(b"}") + 1] + b"]"  # a complete, valid list of one fault
    request = head("POST", FAULTS_PATH, port, {"Content-Length": str(len(body))}, cut)
    answer = exchange(port, request)
    assert answer == b"" or status_of(answer) == 400
    assert endpoint.faults.pending() == []


def test_a_cut_off_head_adds_no_fault(endpoint: Endpoint, port: int) -> None:
    """The connection closes before the blank line that ends the head: the headers so
    far and no body would make a valid empty POST."""
    request = f"DELETE {FAULTS_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
    endpoint.faults.add(**A_FAULT)
    answer = exchange(port, request)
    assert answer == b"" or status_of(answer) == 400
    assert len(endpoint.faults.pending()) == 1
