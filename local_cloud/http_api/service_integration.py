"""HTTP API routes integrated with an AWS service (`aws_proxy` with an integrationSubtype),
as API Gateway's "Integration subtype reference" describes them. SQS-SendMessage is the
one served locally: a request sends one message to the queue on the local endpoint.

Each request parameter is a static value or a mapping expression evaluated per request,
from the table of AWS's "Create AWS service integrations for HTTP APIs":

| expression | value |
| --- | --- |
| `$request.header.name` | the header (name case-insensitive), repeats joined with commas |
| `$request.querystring.name` | the query parameter (case-sensitive), repeats joined likewise |
| `$request.path.name` | the route's path parameter |
| `$request.body` | the whole body |
| `$request.body.name` | a JSON path (no `..`, no filters) into the body's first 100 KB |
| `$context.name` | a context variable (the ones listed in CONTEXT_VARIABLES) |
| `$stageVariables.name` | refused at deploy: stage variables of HTTP APIs are not emulated |
| anything else | itself |

An expression that finds nothing in a request leaves its parameter out of the call, and
SQS answers as it does for a missing parameter (a FIFO queue's MessageGroupId, say).

The answer: SQS's own, status and body as the endpoint gives them (200 and the
SendMessage result; SQS's 4xx with its error), with SQS's Content-Type. API Gateway's
documentation does not give the exact body it answers, so the bytes are the endpoint's
SQS answer, not a copy of AWS's; an endpoint that cannot be reached is a 500
`{"message":"Internal Server Error"}`. The integration's `credentials` role is not
checked: the call is signed with the local cloud's own credentials (aws_session).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from local_cloud.errors import InvalidServiceIntegration
from local_cloud.http_api.events import (
    HttpResponse,
    RequestContext,
    api_id,
    internal_server_error,
)
from local_cloud.http_api.routing import RouteMatch
from local_cloud.model import ServiceIntegrationSpec

logger = logging.getLogger("local_cloud.http_api")

SQS_SEND_MESSAGE = "SQS-SendMessage"
# "Integration subtype reference", SQS-SendMessage 1.0: parameter -> required
SEND_MESSAGE_PARAMETERS = {
    "QueueUrl": True,
    "MessageBody": True,
    "DelaySeconds": False,
    "MessageAttributes": False,
    "MessageDeduplicationId": False,
    "MessageGroupId": False,
    "MessageSystemAttributes": False,
    "Region": False,
}
SUBTYPES = {SQS_SEND_MESSAGE: SEND_MESSAGE_PARAMETERS}
# API Gateway calls the service once: a throttle or a 5xx is the client's answer, not retried
_ONE_ATTEMPT = {"total_max_attempts": 1}
CONTEXT_VARIABLES = (
    "accountId",
    "apiId",
    "domainName",
    "domainPrefix",
    "httpMethod",
    "identity.sourceIp",
    "identity.userAgent",
    "path",
    "protocol",
    "requestId",
    "requestTime",
    "requestTimeEpoch",
    "routeKey",
    "stage",
)
# "When you specify a JSON path, API Gateway truncates the request body at 100 KB and then
# applies the selection expression."
BODY_SELECTION_LIMIT = 100 * 1024
_JSON_PATH_STEP = re.compile(r"\.([A-Za-z0-9_$@-]+)|\[(\d+)\]|\['([^']*)'\]")


# A service integration API Gateway would refuse to create: the message names why
IntegrationError = InvalidServiceIntegration


def integration_spec(
    route: str, subtype: Any, parameters: Any, credentials_arn: Any = ""
) -> ServiceIntegrationSpec:
    """The spec of a route's service integration, its resolved `requestParameters` checked
    as API Gateway checks them when it creates the integration."""
    if subtype not in SUBTYPES:
        served = ", ".join(sorted(SUBTYPES))
        raise IntegrationError(
            f"route {route}: integrationSubtype {subtype!r} is not served locally (served: "
            f"{served})"
        )
    allowed = SUBTYPES[subtype]
    if not isinstance(parameters, Mapping):
        raise IntegrationError(f"route {route}: {subtype} needs requestParameters, a mapping")
    unknown = sorted(set(parameters) - set(allowed))
    if unknown:
        raise IntegrationError(
            f"route {route}: {subtype} has no parameter {', '.join(unknown)} (its parameters: "
            f"{', '.join(allowed)})"
        )
    missing = [name for name, required in allowed.items() if required and name not in parameters]
    if missing:
        raise IntegrationError(f"route {route}: {subtype} requires {', '.join(missing)}")
    checked = []
    for name, value in parameters.items():
        if not isinstance(value, str):
            raise IntegrationError(
                f"route {route}: parameter {name} is {value!r}; a parameter is a string"
            )
        try:
            check_expression(value)
        except IntegrationError as error:
            raise IntegrationError(f"route {route}: parameter {name}: {error}") from None
        checked.append((name, value))
    return ServiceIntegrationSpec(
        subtype, tuple(checked), credentials_arn if isinstance(credentials_arn, str) else ""
    )


def check_expression(value: str) -> None:
    """IntegrationError for a mapping expression the local cloud cannot evaluate."""
    if "${" in value:
        raise IntegrationError(f"{value!r}: ${{...}} inside a value is not evaluated locally")
    if not value.startswith("$"):
        return  # a static value
    source, _, name = value[1:].partition(".")
    if source == "request":
        kind, _, rest = name.partition(".")
        if kind == "body":
            if rest and (".." in rest or "?(" in rest or not _json_path(f".{rest}")):
                raise IntegrationError(
                    f"{value!r}: a body JSON path of names and [indexes], without recursive "
                    "descent (..) or filters"
                )
            return
        if kind in ("header", "querystring", "path") and rest:
            return
        raise IntegrationError(
            f"{value!r}: $request.header.NAME, $request.querystring.NAME, $request.path.NAME, "
            "$request.body or $request.body.PATH"
        )
    if source == "context":
        if name not in CONTEXT_VARIABLES:
            raise IntegrationError(
                f"{value!r}: context variables evaluated locally: {', '.join(CONTEXT_VARIABLES)}"
            )
        return
    if source == "stageVariables":
        raise IntegrationError(f"{value!r}: stage variables of HTTP APIs are not emulated")
    raise IntegrationError(f"{value!r}: a mapping starts $request., $context. or $stageVariables.")


def _json_path(path: str) -> list[str | int] | None:
    """The steps of `.a.b[0]['c']`, or None if it is not such a path."""
    steps: list[str | int] = []
    position = 0
    while position < len(path):
        match = _JSON_PATH_STEP.match(path, position)
        if match is None:
            return None
        name, index, quoted = match.groups()
        steps.append(int(index) if index is not None else (name if name is not None else quoted))
        position = match.end()
    return steps


@dataclass(frozen=True)
class RequestValues:
    """What a mapping expression reads from one request."""

    headers: Iterable[tuple[str, str]]
    query: Iterable[tuple[str, str]]
    path_parameters: Mapping[str, str]
    body: bytes
    context: Mapping[str, str]


def evaluate(value: str, request: RequestValues) -> str | None:
    """The value of a static value or mapping expression for `request`; None if the
    request has nothing there."""
    if not value.startswith("$"):
        return value
    source, _, name = value[1:].partition(".")
    if source == "context":
        return request.context.get(name)
    kind, _, rest = name.partition(".")
    if kind == "header":
        found = [item for key, item in request.headers if key.lower() == rest.lower()]
        return ",".join(found) if found else None
    if kind == "querystring":
        found = [item for key, item in request.query if key == rest]
        return ",".join(found) if found else None
    if kind == "path":
        return request.path_parameters.get(rest)
    if kind == "body" and not rest:
        return request.body.decode("utf-8", errors="replace")
    return _select(request.body[:BODY_SELECTION_LIMIT], _json_path(f".{rest}") or [])


def _select(body: bytes, steps: list[str | int]) -> str | None:
    try:
        document: Any = json.loads(body)
    except ValueError:
        return None
    for step in steps:
        found = (isinstance(step, int) and isinstance(document, list) and step < len(document)) or (
            isinstance(step, str) and isinstance(document, dict) and step in document
        )
        if not found:
            return None
        document = document[step]
    if document is None:
        return None
    return document if isinstance(document, str) else json.dumps(document)


SqsClients = Callable[[str], Any]  # region -> an SQS client on the local endpoint


class SendMessage:
    """Serve SQS-SendMessage integrations: one SendMessage per request, SQS's answer back."""

    def __init__(self, sqs_clients: SqsClients, default_region: str) -> None:
        self._clients = sqs_clients
        self._default_region = default_region
        self._answers = threading.local()  # the raw answer of this thread's last call

    def __call__(self, spec: ServiceIntegrationSpec, request: RequestValues) -> HttpResponse:
        arguments: dict[str, Any] = {}
        for name, value in spec.request_parameters:
            evaluated = evaluate(value, request)
            if evaluated is not None:
                arguments[name] = _typed(name, evaluated)
        region = str(arguments.pop("Region", self._default_region))
        client = self._clients(region)
        self._answers.raw = None
        client.meta.events.register_first(
            "after-call.sqs.SendMessage", self._keep_answer, unique_id="local-cloud-answer"
        )
        try:
            client.send_message(**arguments)
        except Exception as error:  # an SQS error's answer is passed on below
            if self._answers.raw is None:
                # No answer at all (the endpoint unreachable): API Gateway's 500
                logger.error("%s: the SendMessage call failed: %s", spec.subtype, error)
                return internal_server_error()
        status, headers, body = self._answers.raw
        return HttpResponse(status, headers, body)

    def _keep_answer(self, http_response: Any, **_: Any) -> None:
        content_type = http_response.headers.get("Content-Type")
        headers = [("Content-Type", content_type)] if content_type else []
        self._answers.raw = (int(http_response.status_code), headers, bytes(http_response.content))


def _typed(name: str, value: str) -> Any:
    """A SendMessage argument from a mapped string: DelaySeconds a number, the attribute
    maps parsed from their JSON (left as strings if they are not: SQS then refuses them)."""
    if name == "DelaySeconds" and value.strip().isdigit():
        return int(value)
    if name in ("MessageAttributes", "MessageSystemAttributes"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def request_values(request: Any, match: RouteMatch, context: RequestContext) -> RequestValues:
    """What the mapping expressions of `match`'s route read from a werkzeug request."""
    from urllib.parse import parse_qsl

    host = str(request.host)
    domain = host.rsplit(":", 1)[0] if ":" in host else host
    user_agent = request.headers.get("User-Agent", "")
    return RequestValues(
        headers=list(request.headers.items()),
        query=parse_qsl(str(request.environ.get("QUERY_STRING", "")), keep_blank_values=True),
        path_parameters=match.path_parameters,
        body=request.get_data(),
        context={
            "accountId": context.account_id,
            "apiId": api_id(match.api_logical_id),
            "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "httpMethod": request.method,
            "identity.sourceIp": request.remote_addr or "127.0.0.1",
            "identity.userAgent": user_agent,
            "path": request.path,
            "protocol": str(request.environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
            "requestId": context.request_id,
            "requestTime": context.received_at.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": str(int(context.received_at.timestamp() * 1000)),
            "routeKey": match.route.route_key,
            "stage": match.stage,
        },
    )


def send_message_integration(endpoint_url: str, default_region: str) -> SendMessage:
    """SendMessage on the local endpoint, one SQS client per region (clients are
    thread-safe; the server runs a thread per request). Parameter validation is off: a
    parameter a request left out goes to SQS missing, and SQS's refusal is the answer."""
    import botocore.config

    from local_cloud.aws_session import aws_session

    clients: dict[str, Any] = {}
    lock = threading.Lock()

    def client(region: str) -> Any:
        with lock:
            if region not in clients:
                clients[region] = aws_session(region).client(
                    "sqs",
                    endpoint_url=endpoint_url,
                    config=botocore.config.Config(retries=_ONE_ATTEMPT, parameter_validation=False),
                )
            return clients[region]

    return SendMessage(client, default_region)
