"""The endpoint process: moto's server, plus LocalStack's `/_aws/ses` to list sent emails,
plus fault injection for the AWS calls it serves.

moto records the emails SES "sent" but offers no API to read them back; LocalStack does,
at `GET /_aws/ses` (filters `id` and `email`, the sender; `DELETE` clears). Serving the
same route here lets a test or the demo ask "which emails went out?" the same way on
either emulator. SQS message move tasks (DLQ redrive: StartMessageMoveTask,
ListMessageMoveTasks, CancelMessageMoveTask), which moto lacks, are served by
local_cloud/sqs_move_tasks.py on moto's own SQS backend. Everything else is moto's own
application, unchanged.

Fault injection (local_cloud/endpoint_faults.py) sits in front of moto, so a handler
sees AWS misbehave without a line of it changing:

    POST   /_local_cloud/faults   add a fault (a JSON object) or several (a list);
                                  201, or 400 with {"message", "field"} naming the field
    GET    /_local_cloud/faults   {"seed", "pending": [...], "fired": [...], "fired_total"}
    DELETE /_local_cloud/faults   forget pending and fired faults

    {"service": "dynamodb", "operation": "PutItem", "resource": "ChargesTable",
     "error": "ProvisionedThroughputExceededException", "status": 400, "count": 5}

`service` (botocore's name; JSON and query protocols), `operation` and `resource` (a
DynamoDB table or an SQS queue) select the calls, by the SigV4 credential scope, the
X-Amz-Target header or the Action parameter; `operation` and `resource` are optional.
`error`, `message` and `status` (default 400) make the answer, in the protocol the
request used: JSON for DynamoDB (`__type` "com.amazonaws.dynamodb.v20120810#Code") and
SQS (`__type` "com.amazonaws.sqs#Shape" plus `x-amzn-query-error: Code;Sender`), XML
`<ErrorResponse>` for query services such as SES. `"kind": "drop"` closes the connection
without an answer; `latency_ms` (1-120000) delays the answer, alone or before an error
or drop. `phase` is `before` (default: moto never sees the call) or `after` (moto
executes it, then the answer is lost). `count` (default 1) is how many requests it hits,
SDK retries included; `probability` (0-1] draws per matching request from a generator
seeded by `--fault-seed` and the fault's id, so a run replays.

The calls each function makes (signed with its own key, `local-cloud-<LogicalId>`) are
counted in front of the faults, faulted ones included: GET /_local_cloud/calls lists them,
DELETE forgets them (local_cloud/call_log.py).

The resources of a stack the local cloud runs itself (the APIs it serves, the SQS event
source mappings its pollers run, what the deployer creates beside CloudFormation) are
posted by the deployer to POST /_local_cloud/stack-resources; the stack's
DescribeStackResource(s) and ListStackResources list them from then on, its APIs are
in GetRestApis and GetApis, and its mappings in Lambda's ListEventSourceMappings and
GetEventSourceMapping (local_cloud/stack_resources.py).

Monitoring (local_cloud/monitoring/alarm_service.py): every `--monitoring-interval`
seconds (default 10; 0 turns it off) the endpoint puts each queue's AWS/SQS metrics into
CloudWatch and evaluates every metric alarm, publishing a change of state to the alarm's
SNS topics as CloudWatch does.

Faults for the Lambda runtime (`"service": "lambda"`: crash, hang, release_visibility)
live in the same plan; the runtime claims them with POST /_local_cloud/faults/claim and
reports each with POST /_local_cloud/faults/settle. `--lambda-fault-flag FILE` names the
one-byte file the plan keeps up to date so the runtime asks only while one is pending.

Its doors (local_cloud/http_guard.py): it listens on 127.0.0.1 only; every request whose
Host is not a loopback name, or that carries an Origin other than a loopback one (a
browser page of another site), is refused with 403, AWS routes included (SDKs send no
Origin); every body is read whole before anything runs (a cut-off or malformed one is a
400); the extension routes (/_local_cloud/*, /_aws/ses, /moto-api/*) take at most 1 MiB.
`--fd N` serves a listening socket the parent bound (local_cloud/endpoint.py), so the
port is bound once.

    python -m local_cloud.endpoint_server -H 127.0.0.1 -p 4566 [--fd N] [--faults FILE]
        [--fault-seed N] [--lambda-fault-flag FILE] [--monitoring-interval SECONDS]
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from local_cloud.call_log import WithCallLog
from local_cloud.cloudformation_errors import name_failing_resources
from local_cloud.endpoint_dynamodb import speed_up_dynamodb
from local_cloud.endpoint_faults import (
    EndpointFaultPlan,
    FaultSpecError,
    WithFaults,
    load_fault_file,
)
from local_cloud.endpoint_preload import (
    PreloadError,
    check_services,
    parse_services,
    preload,
    share_region_lookups,
)
from local_cloud.errors import PortUnavailable
from local_cloud.http_guard import HOOK_BODY_LIMIT, CompleteHeadRequestHandler, HttpGuard
from local_cloud.monitoring.alarm_service import DEFAULT_INTERVAL_SECONDS, MonitoringLoop
from local_cloud.serving import bind_loopback
from local_cloud.sqs_move_tasks import WithMessageMoveTasks
from local_cloud.stack_resources import WithStackResources, list_stack_resources

SES_MESSAGES_PATH = "/_aws/ses"
# Routes of this endpoint's own (and moto's control API), as opposed to AWS APIs.
EXTENSION_PREFIXES = ("/_local_cloud", "/_aws", "/moto-api")


def _retention_check_without_queue_attributes(self: Any, queue_name: str, message: Any) -> bool:
    """moto's own check, minus the cost: same rule, read from the queue directly.

    moto asks GetQueueAttributes for the retention period once per message it returns,
    and that computes every attribute, ApproximateNumberOfMessages included, by walking
    the whole queue: a receive of 10 from a 1,000-message queue took about 270 ms.
    """
    queue = self.get_queue(queue_name)
    retain_until = int(queue.message_retention_period) + message.sent_timestamp / 1000
    return bool(retain_until > time.time())


def _unix_time(dt: Any = None) -> float:
    """moto's unix_time without building datetimes for "now" (it is called per message)."""
    from moto.core.utils import unix_time

    return time.time() if dt is None else unix_time(dt)


def _unix_time_millis(dt: Any = None) -> float:
    return _unix_time(dt) * 1000.0


@functools.cache
def _method_names(clazz: type) -> tuple[str, ...]:
    from moto.core.utils import method_names_from_class

    return tuple(method_names_from_class(clazz))


def _method_names_from_class(clazz: object) -> list[str]:
    """moto's method_names_from_class, computed once per class (a response class's
    methods are fixed once it is defined); a new list each time, as moto's."""
    return list(_method_names(cast(type, clazz)))


def speed_up_moto() -> None:
    """Replace moto internals that cost far more than they do; semantics unchanged.

    Measured with cProfile on a billing drain: moto listed its own package directory
    (listdir plus a stat per entry) on every request to match the Host header, and SQS
    built several datetimes per message in the queue on every receive to test visibility.
    Sampled with py-spy (GIL held, 1,000-message drain): moto listed every response
    class's methods through inspect.getmembers on every request, 2.7% of the endpoint;
    and DynamoDB parsed the same expressions again on every call (endpoint_dynamodb.py).
    """
    from moto import backends
    from moto.core import responses as core_responses
    from moto.sqs import models as sqs_models

    core_responses.method_names_from_class = _method_names_from_class

    module_names = tuple(backends.list_of_moto_modules())  # the installed package: fixed
    backends.list_of_moto_modules = lambda: module_names
    sqs_models.unix_time = _unix_time
    sqs_models.unix_time_millis = _unix_time_millis
    sqs_models.SQSBackend.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        _retention_check_without_queue_attributes
    )
    speed_up_dynamodb()


StartResponse = Callable[..., Any]


def sent_emails() -> list[dict[str, Any]]:
    """Every email moto's SES accepted, in LocalStack's `/_aws/ses` shape."""
    from moto.ses.models import Message, RawMessage, TemplateMessage, ses_backends

    messages: list[dict[str, Any]] = []
    for _account, regions in ses_backends.items():
        for region, backend in regions.items():
            for message in backend.sent_messages:
                entry: dict[str, Any] = {
                    "Id": getattr(message, "id", None),
                    "Region": region,
                    "Source": message.source,
                }
                destinations = getattr(message, "destinations", None)
                if isinstance(destinations, dict):
                    entry["Destination"] = destinations
                elif destinations:
                    entry["Destination"] = {"ToAddresses": list(destinations)}
                if isinstance(message, Message):
                    entry["Subject"] = message.subject
                    entry["Body"] = {"text_part": message.body, "html_part": None}
                elif isinstance(message, TemplateMessage):
                    entry["Template"] = message.template
                    entry["TemplateData"] = message.template_data
                elif isinstance(message, RawMessage):
                    entry["RawData"] = message.raw_data
                messages.append(entry)
    return messages


def clear_sent_emails() -> None:
    from moto.ses.models import ses_backends

    for _account, regions in ses_backends.items():
        for backend in regions.values():
            backend.sent_messages.clear()


class WithSentEmails:
    """WSGI middleware: answers /_aws/ses itself, passes everything else to moto."""

    def __init__(self, moto_app: Callable[..., Iterable[bytes]]) -> None:
        self.moto_app = moto_app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").rstrip("/") != SES_MESSAGES_PATH:
            return self.moto_app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "DELETE":
            clear_sent_emails()
            start_response("204 No Content", [])
            return [b""]
        if method != "GET":
            start_response("405 Method Not Allowed", [("Allow", "GET, DELETE")])
            return [b""]
        query = parse_qs(environ.get("QUERY_STRING", ""))
        messages = sent_emails()
        if "id" in query:
            messages = [m for m in messages if m["Id"] in query["id"]]
        if "email" in query:
            messages = [m for m in messages if m["Source"] in query["email"]]
        body = json.dumps({"messages": messages}, default=str).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]


def extension_body_limit(path: str) -> int | None:
    """1 MiB on the extension routes; AWS routes keep no limit of ours (each service has
    its own, moto checks them: SQS's 1 MiB message, for one)."""
    for prefix in EXTENSION_PREFIXES:
        if path == prefix or path.startswith(f"{prefix}/"):
            return HOOK_BODY_LIMIT
    return None


def endpoint_app(moto_app: Callable[..., Iterable[bytes]], plan: EndpointFaultPlan) -> HttpGuard:
    """moto with our additions, behind the guard (the outermost layer: nothing runs for a
    refused request)."""
    return HttpGuard(
        WithCallLog(
            WithFaults(WithMessageMoveTasks(WithSentEmails(WithStackResources(moto_app))), plan)
        ),
        extension_body_limit,
    )


class EndpointRequestHandler(CompleteHeadRequestHandler, MotoRequestHandler):
    """moto's handler (S3 metadata headers with underscores), refusing cut-off heads.

    No access line per request: werkzeug logs each one through the logging module to
    stderr, which the local cloud discards (endpoint.py): formatting and writing a line
    nobody reads, under the logging module's lock, on every call. Errors are still logged.
    """

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def exit_with_parent(parent_pid: int, interval: float = 1.0) -> None:
    """Stop when the process that started us is gone, even if it was killed (SIGKILL,
    a CI timeout) before it could stop us: no endpoint is ever left behind."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    parser.add_argument(
        "--fd", type=int, help="serve this listening socket (bound by the parent to -H, -p)"
    )
    parser.add_argument("--parent-pid", type=int, help="exit when this process is gone")
    parser.add_argument("--faults", type=Path, help="JSON list of faults active from the start")
    parser.add_argument(
        "--fault-seed", type=int, help="seed for faults' probability draws (default: random)"
    )
    parser.add_argument(
        "--lambda-fault-flag",
        type=Path,
        help="file kept at one byte: the actions of lambda faults pending (for the runtime)",
    )
    parser.add_argument(
        "--monitoring-interval",
        type=float,
        default=DEFAULT_INTERVAL_SECONDS,
        help="seconds between AWS/SQS metric samples and alarm evaluations (0: neither)",
    )
    parser.add_argument(
        "--preload",
        default="",
        help="services (signing names, comma-separated: sts,s3,ssm) whose moto application "
        "is built in the background from the start (local_cloud/endpoint_preload.py)",
    )
    args = parser.parse_args(argv)
    try:
        preloaded = parse_services(args.preload) if args.preload else []
    except PreloadError as error:
        parser.error(f"--preload: {error}")
    if args.monitoring_interval < 0:
        parser.error("--monitoring-interval must be 0 (off) or more")
    if args.parent_pid:
        exit_with_parent(args.parent_pid)
    plan = EndpointFaultPlan(seed=args.fault_seed, lambda_flag=args.lambda_fault_flag)
    if args.faults is not None:
        try:
            for fault in load_fault_file(args.faults):
                plan.add(fault)
        except FaultSpecError as error:
            parser.error(f"--faults: {error}")

    def stop(_signum: int, _frame: Any) -> None:
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    share_region_lookups()  # before moto.ec2 is imported: it asks at import
    name_failing_resources()  # a resource moto cannot create is named, not a bare 500
    list_stack_resources()  # the resources the local cloud runs are the stack's too
    speed_up_moto()
    dispatcher = DomainDispatcherApplication(create_backend_app)
    try:  # before binding anything: a bad name is the caller's mistake, reported as such
        check_services(dispatcher, preloaded)
    except PreloadError as error:
        parser.error(f"--preload: {error}")
    if args.fd is None:
        try:
            listener = bind_loopback(args.host, args.port)
        except PortUnavailable as error:
            parser.error(str(error))
        fd = listener.fileno()
    else:
        listener, fd = None, args.fd
    server = make_server(
        args.host,
        args.port,
        endpoint_app(dispatcher, plan),
        threaded=True,
        request_handler=EndpointRequestHandler,
        fd=fd,
    )
    if listener is None:
        os.close(fd)  # the server holds its own duplicate
    else:
        listener.close()
    bound = server.socket.getsockname()[0]
    if not ipaddress.ip_address(bound).is_loopback:
        parser.error(f"--fd: the socket is bound to {bound}, not to a loopback address")
    started = time.strftime("%H:%M:%S")
    print(f"[{started}] AWS endpoint (moto) on http://{args.host}:{server.port}", flush=True)
    listing = plan.listing()
    print(f"  faults: {len(listing['pending'])} pending, seed {listing['seed']}", flush=True)
    if args.monitoring_interval:
        MonitoringLoop(args.monitoring_interval).start()
        print(f"  alarms: evaluated every {args.monitoring_interval:g} s", flush=True)
    if preloaded:
        preload(dispatcher, preloaded)
    server.serve_forever()


if __name__ == "__main__":
    main()
