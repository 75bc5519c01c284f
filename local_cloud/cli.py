"""`python -m local_cloud` (console script `local-cloud`): run a SAM stack locally.

  up      deploy and run the stack until Ctrl-C, with a live view (make local)
  invoke  invoke one function with an event file, like `sam local invoke -e` (no Docker)
  send    send a message to one of the stack's queues
  logs    print a function's log (.local-cloud/logs/<logical ID>.log); --tail follows it

`up` writes .local-cloud/state/<stack>.json while it runs; `invoke` and `send` use it to
reach the running stack. With no `up` running, `invoke` deploys the stack on a temporary
endpoint, invokes, and stops everything again.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local_cloud.errors import CommandError, LocalCloudError
from local_cloud.logs import LogFiles, follow, print_lines, resolve_log_file
from local_cloud.running_stack import (
    read_state,
    settings_from_args,
    stack_from_state,
    state_path,
    write_state,
)
from local_cloud.settings import (
    DEFAULT_SETTINGS_FILE,
    ENDPOINT_PORT,
    FAULTS_PATH,
    HTTP_API_PORT,
    PAYMENT_PROVIDER_PORT,
)

# What a command runs (boto3, the deployer, the servers) is imported in the command, once
# its arguments, settings and files have passed: a mistake there costs no such import.
if TYPE_CHECKING:
    from local_cloud.cloud import LocalCloud
    from local_cloud.endpoint import Endpoint
    from local_cloud.model import DeployedStack, FunctionSpec

# ---------------------------------------------------------------- inputs


def read_json_file(path: Path, what: str) -> Any:
    if not path.is_file():
        raise CommandError(f"{what} file {path} does not exist")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CommandError(f"{what} file {path} is not valid JSON: {error}") from error


def queue_url(name: str, stack: DeployedStack, queue_urls: dict[str, str]) -> str:
    """A queue by logical ID or by the key of an Output that holds its URL."""
    if name in queue_urls:
        return queue_urls[name]
    if name in stack.outputs and stack.outputs[name] in queue_urls.values():
        return stack.outputs[name]
    output_keys = [key for key, value in stack.outputs.items() if value in queue_urls.values()]
    raise CommandError(
        f"no queue {name!r} in stack {stack.stack_name}; queues: "
        f"{', '.join(sorted(queue_urls))}; outputs: {', '.join(sorted(output_keys))}"
    )


def message_bodies(args: argparse.Namespace) -> list[dict[str, Any]]:
    """What to send: one body from --body, or each record's body of an SQS event file
    (with its FIFO group and deduplication IDs), or a whole JSON file as one body."""
    if args.body is not None:
        # Any text, as SQS takes it (JSON or not); SQS itself refuses what it does not take
        # (empty, over 256 KiB, characters outside its set), and send reports its reason.
        return [{"body": args.body}]
    event = read_json_file(args.event, "event")
    records = event.get("Records") if isinstance(event, dict) else None
    if not records:
        return [{"body": json.dumps(event)}]
    messages = []
    for index, record in enumerate(records):
        if record.get("eventSource") != "aws:sqs" or "body" not in record:
            raise CommandError(f"{args.event}: Records[{index}] is not an SQS record with a body")
        attributes = record.get("attributes") or {}
        messages.append(
            {
                "body": record["body"],
                "group_id": attributes.get("MessageGroupId"),
                "deduplication_id": attributes.get("MessageDeduplicationId"),
            }
        )
    return messages


# ---------------------------------------------------------------- commands


def command_up(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    running = read_state(settings)
    if running is not None:
        # A second `up` of the same stack in the same state directory would rebuild the
        # builds and rewrite the state the first one runs from.
        raise CommandError(
            f"stack {settings.stack} is already running from {settings.state_dir} (up, PID "
            f"{running['pid']}, endpoint {running['endpoint_url']}); stop it first, or start "
            "this one as another stack with --stack NAME"
        )
    from local_cloud.aws_session import aws_session
    from local_cloud.cloud import LocalCloud
    from local_cloud.dashboard import AlarmStates, QueueDepths, run_live_view

    print(f"Starting the local cloud: {settings.template} as stack {settings.stack} ...")
    # Ctrl-C even when started in the background (where SIGINT arrives ignored), and
    # SIGTERM (make, a process manager), stop as cleanly as Ctrl-C in a terminal.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: _raise_keyboard_interrupt())
    # .local-cloud/logs/<function>.log; with --no-view, also printed as they come
    log_files = LogFiles(settings.state_dir, then=_print_log_line if args.no_view else None)
    if args.payment_provider_port is not None and not settings.payment_provider:
        raise CommandError(
            "--payment-provider-port: these settings start no payment provider simulator "
            f"for {settings.template} (payment_provider = true in the settings file does)"
        )
    cloud = LocalCloud(
        settings,
        endpoint_port=args.endpoint_port or None,
        payment_provider_port=(
            PAYMENT_PROVIDER_PORT
            if args.payment_provider_port is None
            else args.payment_provider_port or None
        ),
        serve_http_apis=not args.no_http_api,
        http_api_port=args.http_api_port or None,
        endpoint_faults=args.faults,
        endpoint_fault_seed=args.fault_seed,
        provider_faults=args.provider_faults,
        allow_remote_endpoint=args.allow_remote_endpoint,
        log_sink=log_files,
        skip_resources=args.skip_resource or (),
    )
    depths: QueueDepths | None = None
    alarms: AlarmStates | None = None
    try:
        cloud.start()
        assert cloud.deployment is not None
        assert cloud.endpoint is not None
        path = write_state(cloud)
        _print_report(cloud)
        if args.faults is not None or args.fault_seed is not None:
            _print_endpoint_faults(cloud.endpoint)
        print(f"Ready in {cloud.ready_seconds:.1f} s. State: {path}. Ctrl-C stops everything.")
        sqs = aws_session(settings.region).client("sqs", endpoint_url=cloud.endpoint.url)
        depths = QueueDepths(sqs, cloud.deployment.queue_urls).start()
        cloudwatch = aws_session(settings.region).client(
            "cloudwatch", endpoint_url=cloud.endpoint.url
        )
        alarms = AlarmStates(
            cloudwatch,
            prefix=f"{settings.stack}-",
            on_change=_print_alarm_change if args.no_view else None,
        ).start()
        if args.no_view:
            signal.pause()
        else:
            run_live_view(
                settings.stack,
                depths,
                _dead_letter_queues(sqs, cloud.deployment.queue_urls),
                lambda: {poller.spec.logical_id: poller.stats() for poller in cloud.pollers},
                lambda: cloud.lambda_service.stats() if cloud.lambda_service else {},
                log_tail=log_files.tail,
                alarm_states=alarms,
            )
    except KeyboardInterrupt:
        print("\nStopping ...")
    finally:
        if depths is not None:
            depths.stop()
        if alarms is not None:
            alarms.stop()
        cloud.stop()
        state_path(settings).unlink(missing_ok=True)
    print("Stopped: no local cloud process is left running.")
    return 0


def _print_log_line(logical_id: str, line: str) -> None:
    print(f"{logical_id} {line}", flush=True)


def _print_alarm_change(name: str, old: str, new: str, reason: str) -> None:
    print(f"alarm {name}: {old} -> {new}: {reason}", flush=True)


def command_logs(args: argparse.Namespace) -> int:
    """Print a function's log file; with --tail, follow it until Ctrl-C (like sam logs --tail)."""
    settings = settings_from_args(args)
    state = read_state(settings)
    names = (
        {}
        if state is None
        else {f.function_name: f.logical_id for f in stack_from_state(state).functions}
    )
    try:
        path = resolve_log_file(settings.state_dir, args.function, names)
    except LookupError as error:
        raise CommandError(str(error.args[0])) from None
    if not args.tail:
        if path.is_file():
            sys.stdout.write(path.read_text(encoding="utf-8", errors="replace"))
        return 0
    stop = threading.Event()
    try:
        print_lines(follow(path, wait=lambda: stop.wait(0.25), stopped=stop.is_set), sys.stdout)
    except KeyboardInterrupt:
        stop.set()
    return 0


def _raise_keyboard_interrupt() -> None:
    raise KeyboardInterrupt


def _dead_letter_queues(sqs: Any, queue_urls: Mapping[str, str]) -> set[str]:
    """Logical IDs of queues that another queue's RedrivePolicy names as its DLQ."""
    targets = set()
    for url in queue_urls.values():
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
        policy = attributes.get("Attributes", {}).get("RedrivePolicy")
        if policy:
            targets.add(json.loads(policy)["deadLetterTargetArn"].rsplit(":", 1)[-1])
    return {
        logical_id for logical_id, url in queue_urls.items() if url.rsplit("/", 1)[-1] in targets
    }


def _print_report(cloud: LocalCloud) -> None:
    assert cloud.deployment is not None
    deployment = cloud.deployment
    stack = deployment.stack
    phases = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in cloud.phases.items())
    print(f"Deployed {stack.stack_name} on {stack.endpoint_url} "
          f"({deployment.dependency_installs} dependency set(s) installed, "
          f"{deployment.builds_reused} build(s) reused)")  # fmt: skip
    print(f"  start-up: {phases}")
    for note in deployment.handled_locally:
        print(f"  local: {note}")
    for note in stack.unsupported_resources:
        print(
            f"  NOT CREATED (unsupported by the endpoint): {note.logical_id} ({note.resource_type})"
        )
    for warning in deployment.warnings:
        print(f"  warning: {warning}")
    if cloud.endpoint is not None and cloud.endpoint.process is not None:
        print(f"  endpoint log: {cloud.endpoint_log}")
    if cloud.payment_provider is not None:
        print(f"  payment provider: {cloud.payment_provider.url}")
    if cloud.http_api is not None:
        print(f"  HTTP API: {cloud.http_api.url}")
        for api, route, shown in cloud.http_api.app.router.served_paths():
            print(f"    {shown} -> {route.target} "
                  f"({api}, payload {route.payload_format_version})")  # fmt: skip
        for rest_api in cloud.http_api.app.rest_router.apis:
            for stage in rest_api.stages:
                for rest_route in rest_api.routes:
                    target = f"{rest_route.function_logical_id} ({rest_api.logical_id}, REST)"
                    print(f"    {rest_route.method} /{stage.name}{rest_route.path} -> {target}")
    print("Outputs:")
    for key, value in stack.outputs.items():
        print(f"  {key} = {value}")


def _print_endpoint_faults(endpoint: Endpoint) -> None:
    listing = endpoint.faults.list()
    print(f"Endpoint faults: {len(listing['pending'])} pending, seed {listing['seed']} "
          f"(GET/POST/DELETE {endpoint.url}{FAULTS_PATH})")  # fmt: skip
    for fault in listing["pending"]:
        print(f"  [{fault['id']}] {json.dumps(fault)}")


def command_invoke(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    event = read_json_file(args.event, "event")
    from local_cloud.cloud import LocalCloud
    from local_cloud.lambda_runtime import LambdaService

    state = read_state(settings)
    if state is not None:
        stack = stack_from_state(state)
        _function_or_error(stack, args.function)
        with LambdaService(
            stack.functions,
            endpoint_url=state["endpoint_url"],
            region=stack.region,
            runtime_dir=Path(state["runtime_dir"]),
        ) as service:
            result = service.invoke(args.function, event)
    else:
        print(
            f"No local cloud running for stack {settings.stack}: deploying it on a temporary "
            "endpoint for this invocation ...",
            file=sys.stderr,
        )
        with LocalCloud(
            settings, endpoint_port=None, payment_provider_port=None, start_pollers=False
        ) as cloud:
            _function_or_error(cloud.stack, args.function)
            result = cloud.lambda_service.invoke(args.function, event)
    print(result.logs.rstrip(), file=sys.stderr)
    print(json.dumps(result.payload, indent=2))
    return 1 if result.error is not None else 0


def _function_or_error(stack: DeployedStack, name: str) -> FunctionSpec:
    try:
        return stack.function(name)
    except KeyError as error:
        raise CommandError(str(error.args[0])) from None


def command_send(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    messages = message_bodies(args)
    state = read_state(settings)
    if state is None:
        raise CommandError(
            f"no local cloud is running for stack {settings.stack}: start one with "
            "`make local` (python -m local_cloud up) first"
        )
    from botocore.exceptions import ClientError

    from local_cloud.aws_session import aws_session

    stack = stack_from_state(state)
    url = queue_url(args.queue, stack, state["queue_urls"])
    sqs = aws_session(stack.region).client("sqs", endpoint_url=state["endpoint_url"])
    fifo = url.endswith(".fifo")
    for index, message in enumerate(messages):
        request: dict[str, Any] = {"QueueUrl": url, "MessageBody": message["body"]}
        if fifo:
            request["MessageGroupId"] = message.get("group_id") or "default"
            if message.get("deduplication_id"):
                request["MessageDeduplicationId"] = message["deduplication_id"]
        try:
            response = sqs.send_message(**request)
        except ClientError as error:
            raise CommandError(
                f"message {index + 1}/{len(messages)} not sent to {args.queue}: {error}"
            ) from None
        print(f"sent message {index + 1}/{len(messages)}: MessageId {response['MessageId']}")
    return 0


# ---------------------------------------------------------------- argument parsing


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="local-cloud", description="Run a SAM stack on this machine, without Docker."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--config", type=Path, help=f"settings file (default {DEFAULT_SETTINGS_FILE})"
        )
        sub.add_argument("--stack", help="stack name (default from the settings)")
        sub.add_argument("--template", type=Path, help="SAM template (default from the settings)")
        sub.add_argument(
            "--parameter-overrides", nargs="+", metavar="KEY=VALUE", help="template parameters"
        )

    up = commands.add_parser("up", help="deploy and run the stack until Ctrl-C")
    common(up)
    up.add_argument("--no-view", action="store_true", help="no live view (logs only)")
    up.add_argument(
        "--endpoint-port",
        type=int,
        default=ENDPOINT_PORT,
        help=f"port of the endpoint (default {ENDPOINT_PORT}; 0 picks a free one)",
    )
    up.add_argument(
        "--skip-resource",
        action="append",
        metavar="LOGICAL_ID",
        help="leave this resource of the (translated) template out of what the endpoint "
        "creates, reported as not created (for a resource the endpoint refuses); repeatable",
    )
    up.add_argument(
        "--payment-provider-port",
        type=int,
        default=None,
        help=f"port of the payment provider simulator, where the settings start one (default "
        f"{PAYMENT_PROVIDER_PORT}; 0 picks a free one); its URL goes to the template parameter "
        "the settings name (payment_provider_parameter)",
    )
    up.add_argument(
        "--http-api-port",
        type=int,
        default=HTTP_API_PORT,
        help=f"port serving the stack's HTTP APIs (default {HTTP_API_PORT}; 0 picks a free one)",
    )
    up.add_argument("--no-http-api", action="store_true", help="do not serve the HTTP APIs")
    up.add_argument(
        "--faults",
        type=Path,
        metavar="FILE",
        help=f"JSON list of faults for AWS calls on the endpoint, active from the start "
        f"(see README, Fault injection; add more at run time: POST {FAULTS_PATH})",
    )
    up.add_argument(
        "--provider-faults",
        type=Path,
        metavar="FILE",
        help="JSON list of the payment provider simulator's faults, pending from the start "
        "(the objects POST /_simulator/faults takes; see README, Fault injection)",
    )
    up.add_argument(
        "--fault-seed",
        type=int,
        metavar="N",
        help="seed of the faults' probability draws, to replay a run (default: random)",
    )
    up.add_argument(
        "--allow-remote-endpoint",
        action="store_true",
        help="deploy onto the endpoint AWS_ENDPOINT_URL names even if it is not on this "
        "machine's loopback interface (refused without this flag)",
    )
    up.set_defaults(handler=command_up)

    invoke = commands.add_parser("invoke", help="invoke a function with an event file")
    common(invoke)
    invoke.add_argument("function", help="logical ID or function name")
    invoke.add_argument("--event", "-e", type=Path, required=True, help="event JSON file")
    invoke.set_defaults(handler=command_invoke)

    send = commands.add_parser("send", help="send a message to a queue of the running stack")
    common(send)
    send.add_argument("queue", help="queue logical ID, or the key of an Output holding its URL")
    body = send.add_mutually_exclusive_group(required=True)
    body.add_argument("--event", "-e", type=Path, help="JSON file: an SQS event or one body")
    body.add_argument("--body", help="the message body: any text, JSON or not")
    send.set_defaults(handler=command_send)

    logs = commands.add_parser("logs", help="print a function's log (--tail: follow it)")
    common(logs)
    logs.add_argument("function", help="logical ID or function name")
    logs.add_argument("--tail", action="store_true", help="keep printing new lines until Ctrl-C")
    logs.set_defaults(handler=command_logs)

    from local_cloud.operations.commands import add_commands

    add_commands(commands, common)  # dlq, redrive (local_cloud/operations/commands.py)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except LocalCloudError as error:  # the one type meant for the user (errors.py)
        print(f"error: {error}", file=sys.stderr)
        return 2
