"""Which AWS calls each function makes, recorded at the endpoint, to hold against its role.

Every function's worker signs its requests with an access key ID of its own,
`local-cloud-<LogicalId>` (function_access_key; the secret key stays a dummy), and so do
the SQS pollers of its event source mappings: on AWS a mapping receives and deletes with
the function's execution role, so those calls are the role's too. WithCallLog, in front
of moto, reads each request signed with such a key as the fault injection reads it
(endpoint_faults.read_call: service, operation, tables and queues), adds the parameter
names of SSM calls and the Source address of SES sends, and counts it:

    GET    /_local_cloud/calls   {"calls": [{"function", "service", "region", "operation",
                                  "resources", "count"}, ...], "distinct", "dropped"}
    DELETE /_local_cloud/calls   forget them (200, the empty listing)

Only requests signed with such a key are read; the tests', the deployer's and an
operator's calls are not recorded. A call is recorded whatever its answer (an error, an
injected fault): the code made it, so the role must allow it. Memory is bounded: equal
calls share one entry and its count; past MAX_DISTINCT_CALLS entries a new kind of call
is only counted in `dropped`.

moto derives the account from an access key only for keys its IAM issued (or 20
upper-case letters and digits, for its regular expression); these keys are neither, so
every call lands in moto's default account, as with the dummy key before.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any
from urllib.parse import parse_qs

from local_cloud.endpoint_faults import read_call, signing_service

CALLS_PATH = "/_local_cloud/calls"
ACCESS_KEY_PREFIX = "local-cloud-"
MAX_DISTINCT_CALLS = 10_000

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# A logical ID is alphanumeric (CloudFormation's rule); the key sits in the SigV4 credential
# scope, "Credential=KEY/DATE/REGION/SERVICE/aws4_request", where a '/' would break it.
_LOGICAL_ID = re.compile(r"[A-Za-z0-9]{1,255}")
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/[^/,\s]+/aws4_request")


def function_access_key(logical_id: str) -> str:
    """The access key ID a function's worker and its pollers sign with."""
    if not _LOGICAL_ID.fullmatch(logical_id):
        raise ValueError(f"not a logical ID (letters and digits only): {logical_id!r}")
    return f"{ACCESS_KEY_PREFIX}{logical_id}"


def function_of_access_key(access_key_id: str) -> str | None:
    """The logical ID a key was made for, or None for any other key."""
    logical_id = access_key_id.removeprefix(ACCESS_KEY_PREFIX)
    if logical_id == access_key_id or not _LOGICAL_ID.fullmatch(logical_id):
        return None
    return logical_id


def credential(environ: Mapping[str, Any]) -> tuple[str, str] | None:
    """(access key ID, region) of the SigV4 credential scope: the Authorization header's,
    or X-Amz-Credential's for a presigned URL."""
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match is None:
        presigned = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential")
        if presigned:
            match = _CREDENTIAL.search(f"Credential={presigned[0]}")
    return None if match is None else (match.group(1), match.group(2))


@dataclass(frozen=True, order=True)
class RecordedCall:
    function: str  # the logical ID
    service: str  # the SigV4 signing name: dynamodb, sqs, ses, ssm, ...
    region: str
    operation: str | None  # None: a REST call, which names its operation in no header
    resources: tuple[str, ...]  # sorted: tables, queues, parameter names, SES Source

    def to_json(self, count: int) -> dict[str, Any]:
        return {
            "function": self.function,
            "service": self.service,
            "region": self.region,
            "operation": self.operation,
            "resources": list(self.resources),
            "count": count,
        }


class CallLog:
    """Distinct calls and how often each was made; thread-safe, bounded."""

    def __init__(self, max_distinct: int = MAX_DISTINCT_CALLS) -> None:
        self._max_distinct = max_distinct
        self._counts: dict[RecordedCall, int] = {}
        self._dropped = 0
        self._lock = threading.Lock()

    def record(self, call: RecordedCall) -> None:
        with self._lock:
            if call in self._counts:
                self._counts[call] += 1
            elif len(self._counts) < self._max_distinct:
                self._counts[call] = 1
            else:
                self._dropped += 1

    def listing(self) -> dict[str, Any]:
        with self._lock:
            calls = [call.to_json(count) for call, count in sorted(self._counts.items())]
            return {"calls": calls, "distinct": len(calls), "dropped": self._dropped}

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()
            self._dropped = 0


def recorded_call(environ: dict[str, Any]) -> RecordedCall | None:
    """The call a request signed with a function's key makes; None for any other request.
    Reads the body and puts it back (read_call), so moto still finds it."""
    scope = credential(environ)
    if scope is None:
        return None
    access_key_id, region = scope
    function = function_of_access_key(access_key_id)
    service = signing_service(environ)
    if function is None or service is None:
        return None
    call = read_call(environ, service)
    resources = set(call.resources)
    if service in ("ssm", "ses") and call.operation is not None:
        resources.update(_named_resources(service, _params(environ, call.protocol)))
    return RecordedCall(function, service, region, call.operation, tuple(sorted(resources)))


def _params(environ: Mapping[str, Any], protocol: str | None) -> dict[str, Any]:
    """The request's parameters: the JSON body, or the query string and form body."""
    stream = environ.get("wsgi.input")
    body = stream.getvalue() if isinstance(stream, io.BytesIO) else b""  # put back by read_call
    if protocol == "json":
        try:
            params = json.loads(body) if body else {}
        except ValueError:
            return {}
        return params if isinstance(params, dict) else {}
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        query = {**query, **parse_qs(body.decode("utf-8", "replace"))}
    return {name: values[0] for name, values in query.items()}


def _named_resources(service: str, params: Mapping[str, Any]) -> set[str]:
    """SSM: the parameter names (GetParameter, GetParameters, GetParametersByPath, ...).
    SES: the Source address, bare (a display name dropped), what ses:FromAddress tests."""
    names: set[str] = set()
    if service == "ssm":
        for key in ("Name", "Path"):
            if isinstance(params.get(key), str) and params[key]:
                names.add(params[key])
        listed = params.get("Names")
        if isinstance(listed, list):
            names.update(name for name in listed if isinstance(name, str) and name)
    elif service == "ses":
        source = params.get("Source")
        if isinstance(source, str) and source:
            names.add(parseaddr(source)[1] or source)
    return names


class WithCallLog:
    """WSGI middleware: records the calls signed with a function's key, serves CALLS_PATH."""

    def __init__(self, app: WsgiApp, log: CallLog | None = None) -> None:
        self.app = app
        self.log = log or CallLog()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").rstrip("/") == CALLS_PATH:
            return self._control(environ, start_response)
        call = recorded_call(environ)
        if call is not None:
            self.log.record(call)
        return self.app(environ, start_response)

    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "DELETE":
            self.log.clear()
        elif method != "GET":
            start_response("405 Method Not Allowed", [("Allow", "GET, DELETE")])
            return [b""]
        body = json.dumps(self.log.listing()).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]
