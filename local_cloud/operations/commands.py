"""`local-cloud dlq` and `local-cloud redrive DLQ`: the DLQ library on the command line.

The stack is found the way `send` finds it: the running `up` for --stack (its endpoint
and Outputs). With no `up` running, or with AWS_ENDPOINT_URL naming another endpoint (a
LocalStack), the Outputs come from that endpoint's CloudFormation stack; `--aws` asks
AWS itself, with the usual credential chain.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

# boto3 and botocore's exceptions are imported in the commands that use them: a command
# refused for its arguments or settings (cli.main) never pays for their import.
from local_cloud.aws_session import aws_session
from local_cloud.errors import CommandError
from local_cloud.operations.dlq import (
    DeadLetterListing,
    dead_letter_queues,
    find_queue,
    format_age,
    list_dead_letters,
    redrive,
    stack_outputs,
)
from local_cloud.running_stack import read_state, settings_from_args, stack_from_state

BODY_PREVIEW = 160


def add_commands(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register `dlq` and `redrive` on the CLI's subparsers."""
    dlq = commands.add_parser("dlq", help="list the messages of the stack's dead-letter queues")
    common(dlq)
    _target_arguments(dlq)
    dlq.add_argument("--limit", type=int, default=1000, help="at most this many per queue")
    dlq.set_defaults(handler=command_dlq)

    move = commands.add_parser("redrive", help="move a dead-letter queue's messages back")
    common(move)
    _target_arguments(move)
    move.add_argument("dlq", help="DLQ logical ID (BillingDeadLetterQueue) or Output key")
    move.add_argument("--rate", type=int, metavar="N", help="messages per second (1-500)")
    move.add_argument(
        "--loop",
        action="store_true",
        help="send-then-delete, even where StartMessageMoveTask exists",
    )
    move.set_defaults(handler=command_redrive)


def _target_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--aws", action="store_true", help="AWS itself (credential chain), not a local endpoint"
    )


def _target(args: argparse.Namespace) -> tuple[Any, dict[str, str], str, str]:
    """(SQS client, the stack's Outputs, where, stack name) for the command's stack."""

    settings = settings_from_args(args)
    configured = os.environ.get("AWS_ENDPOINT_URL", "").rstrip("/")
    state = None if args.aws else read_state(settings)
    if state is not None and configured in ("", state["endpoint_url"]):
        stack = stack_from_state(state)
        sqs = aws_session(stack.region).client("sqs", endpoint_url=state["endpoint_url"])
        return (
            sqs,
            dict(stack.outputs),
            f"the local cloud at {state['endpoint_url']}",
            settings.stack,
        )
    if not configured and not args.aws:
        raise CommandError(
            f"no local cloud is running for stack {settings.stack}: start one with `make "
            "local`, set AWS_ENDPOINT_URL to another endpoint (LocalStack), or pass --aws"
        )
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    region = os.environ.get("AWS_REGION", settings.region)
    # boto3 sends every call to AWS_ENDPOINT_URL when it is set; an emulator takes test keys
    session = boto3.Session(region_name=region) if args.aws else aws_session(region)
    where = configured or "AWS"
    try:
        outputs = stack_outputs(session.client("cloudformation"), settings.stack)
    except (ClientError, BotoCoreError) as error:
        raise CommandError(
            f"cannot read stack {settings.stack}'s Outputs at {where}: {error}"
        ) from None
    return session.client("sqs"), outputs, where, settings.stack


def command_dlq(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    sqs, outputs, where, stack = _target(args)
    try:
        queues = dead_letter_queues(sqs, outputs)
        if not queues:
            print(f"stack {stack} at {where} has no dead-letter queue")
            return 0
        now = datetime.now(UTC)
        for listing in list_dead_letters(sqs, queues, limit=args.limit):
            print(render_listing(listing, now))
    except (ClientError, BotoCoreError) as error:
        raise CommandError(
            f"listing the dead-letter queues of {stack} at {where}: {error}"
        ) from None
    return 0


def render_listing(listing: DeadLetterListing, now: datetime) -> str:
    queue = listing.queue
    count = len(listing.messages)
    more = "" if listing.complete else " (listing stopped at --limit)"
    lines = [
        f"{queue.logical_id} ({queue.output_key}): {count} message{'s' * (count != 1)}{more}, "
        f"source {queue.sources}"
    ]
    for message in listing.messages:
        lines.append(
            f"  {message.message_id}  age {format_age(message.age(now))}  "
            f"receives {message.receive_count}  source {message.source}"
        )
        lines.append(f"    reason: {message.reason}")
        for name, value in message.details.items():
            if name not in ("ErrorType", "ErrorMessage"):
                lines.append(f"    {name}: {value}")
        body = (
            message.body
            if len(message.body) <= BODY_PREVIEW
            else message.body[:BODY_PREVIEW] + "..."
        )
        lines.append(f"    body: {body}")
    return "\n".join(lines)


def command_redrive(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    sqs, outputs, where, _ = _target(args)
    try:
        queue = find_queue(dead_letter_queues(sqs, outputs), args.dlq)
        result = redrive(sqs, queue, max_per_second=args.rate, use_move_task=not args.loop)
    except (ClientError, BotoCoreError) as error:
        raise CommandError(f"redrive of {args.dlq} at {where}: {error}") from None
    to = result.destination_arn.rsplit(":", 1)[-1] if result.destination_arn else queue.sources
    print(
        f"{queue.logical_id}: {result.moved} message{'s' * (result.moved != 1)} moved to {to} "
        f"by {result.method} ({result.status})"
    )
    for moved in result.messages:
        print(f"  {moved.old_message_id} -> new MessageId {moved.new_message_id}")
    if result.failure_reason:
        print(f"  failure: {result.failure_reason}", file=sys.stderr)
    return 0 if result.ok else 1
