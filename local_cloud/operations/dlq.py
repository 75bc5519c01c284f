"""Dead-letter queues: see what is in them and why, then move it back to its source.

Only AWS APIs (an SQS client) and the stack's Outputs, so the same calls work against
AWS, LocalStack and the local cloud:

    queues = dead_letter_queues(sqs, outputs)        # the stack's DLQs and their sources
    listing = list_dead_letters(sqs, queues)         # every message, none consumed
    result = redrive(sqs, find_queue(queues, "BillingDeadLetterQueue"))

Listing does not consume: it receives with a short visibility timeout, never deletes,
and makes every message it saw visible again at once (ChangeMessageVisibility 0). Like
the console's "poll for messages", each look adds one to a message's receive count; the
count shown is the one before the look.

Redrive uses SQS's own `StartMessageMoveTask` where the endpoint has it (AWS, the local
cloud) and waits for the task to finish. Elsewhere it falls back to a loop: receive from
the DLQ, send the body and message attributes to the source queue (a new message ID and
a fresh retention period, as the move task gives), then delete from the DLQ. A process
that dies between the send and the delete leaves the message in both queues, so it is
delivered again. That duplicate is harmless for this stack's consumers, by design:
billing is idempotent by `transaction_id` through the charge journal (a copy of a
settled charge is answered from the journal and charges nothing, however late it comes),
and welcome emails are at-least-once already (a repeated job can send one more email,
never lose one). Any consumer a DLQ feeds back into must be idempotent the same way.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from local_cloud.errors import DeadLetterError

UNKNOWN_REASON = "unknown (redelivered until maxReceiveCount)"
# Message attributes a consumer sets when it dead-letters a message itself (issue #8);
# shown in this order, then any other attribute whose name starts with "Error".
REASON_ATTRIBUTES = ("ErrorType", "ErrorMessage", "ErrorFunction", "ErrorTime")
# What endpoints without the move-task API answer (moto, older emulators).
MOVE_TASK_UNSUPPORTED = frozenset(
    {
        "InvalidAction",
        "UnknownOperation",
        "UnknownOperationException",
        "NotImplemented",
        "NotImplementedException",
        "InternalFailure",
    }
)
_QUEUE_URL = re.compile(r"^https?://[^/]+/\d{12}/[^/]+$")
PEEK_VISIBILITY_SECONDS = 30  # how long a listed message stays hidden, at most


@dataclass(frozen=True)
class DeadLetterQueue:
    logical_id: str  # the Output key without its "Url" suffix
    output_key: str
    url: str
    arn: str
    source_arns: tuple[str, ...]  # the queues that dead-letter to it

    @property
    def name(self) -> str:
        return queue_name(self.arn)

    @property
    def sources(self) -> str:
        return ", ".join(queue_name(arn) for arn in self.source_arns) or "unknown"


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    sent_at: datetime  # when it was first sent: a DLQ keeps the original SentTimestamp
    receive_count: int  # before this look
    source: str  # the queue it came from
    reason: str
    details: Mapping[str, str]  # the reason's message attributes, as sent
    body: str

    def age(self, now: datetime) -> timedelta:
        return now - self.sent_at


@dataclass(frozen=True)
class DeadLetterListing:
    queue: DeadLetterQueue
    messages: tuple[DeadLetter, ...]
    complete: bool  # False if the listing stopped at the limit


@dataclass(frozen=True)
class MovedMessage:
    old_message_id: str
    new_message_id: str
    body: str


@dataclass(frozen=True)
class RedriveResult:
    queue: DeadLetterQueue
    destination_arn: str | None  # None: each message's source queue (the move task's default)
    method: str  # "StartMessageMoveTask" or "send-then-delete"
    status: str  # COMPLETED, CANCELLED or FAILED (the task's), COMPLETED for the loop
    moved: int
    to_move: int | None = None
    failure_reason: str | None = None
    messages: tuple[MovedMessage, ...] = field(default=())  # the loop's: new message IDs

    @property
    def ok(self) -> bool:
        return self.status == "COMPLETED"


# ---------------------------------------------------------------- pure parts


def queue_name(arn_or_url: str) -> str:
    return re.split(r"[:/]", arn_or_url)[-1]


def logical_id(output_key: str) -> str:
    return output_key.removesuffix("Url")


def queue_outputs(outputs: Mapping[str, str]) -> dict[str, str]:
    """The Outputs that hold a queue URL, by key."""
    return {key: value for key, value in outputs.items() if _QUEUE_URL.match(value)}


def redrive_sources(
    dlq_arn: str,
    redrive_policies: Mapping[str, str | None],
    redrive_allow_policy: str | None,
) -> tuple[str, ...]:
    """The ARNs of the queues that dead-letter to dlq_arn: those whose RedrivePolicy names
    it (redrive_policies: queue ARN -> its RedrivePolicy), and those the DLQ's own
    RedriveAllowPolicy lists (`byQueue`), for sources the Outputs do not name."""
    sources = [
        arn
        for arn, policy in redrive_policies.items()
        if policy and json.loads(policy).get("deadLetterTargetArn") == dlq_arn
    ]
    if redrive_allow_policy:
        allowed = json.loads(redrive_allow_policy)
        if allowed.get("redrivePermission") == "byQueue":
            sources += [arn for arn in allowed.get("sourceQueueArns", []) if arn not in sources]
    return tuple(sources)


def failure_reason(message_attributes: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """(reason, its attributes) from a message's attributes as ReceiveMessage returns them."""
    details: dict[str, str] = {}
    names = [*REASON_ATTRIBUTES, *sorted(n for n in message_attributes if n.startswith("Error"))]
    for name in names:
        value = message_attributes.get(name)
        if name in details or not isinstance(value, Mapping) or "StringValue" not in value:
            continue
        details[name] = str(value["StringValue"])
    if "ErrorType" in details or "ErrorMessage" in details:
        reason = ": ".join(details[n] for n in ("ErrorType", "ErrorMessage") if n in details)
    else:
        reason = UNKNOWN_REASON
    return reason, details


def dead_letter(message: Mapping[str, Any], source: str) -> DeadLetter:
    """One received message, as listed (its receive count less the look that read it)."""
    attributes = message.get("Attributes", {})
    reason, details = failure_reason(message.get("MessageAttributes", {}))
    return DeadLetter(
        message_id=message["MessageId"],
        sent_at=datetime.fromtimestamp(int(attributes["SentTimestamp"]) / 1000, UTC),
        receive_count=max(int(attributes.get("ApproximateReceiveCount", "1")) - 1, 0),
        source=source,
        reason=reason,
        details=details,
        body=message["Body"],
    )


def sendable_attributes(message_attributes: Mapping[str, Any]) -> dict[str, Any]:
    """ReceiveMessage's attributes in SendMessage's shape (no empty list members)."""
    return {
        name: {
            key: value[key] for key in ("DataType", "StringValue", "BinaryValue") if key in value
        }
        for name, value in message_attributes.items()
    }


def find_queue(queues: Iterable[DeadLetterQueue], name: str) -> DeadLetterQueue:
    """A DLQ by logical ID, Output key, queue name, URL or ARN."""
    queues = list(queues)
    for queue in queues:
        if name in (queue.logical_id, queue.output_key, queue.name, queue.url, queue.arn):
            return queue
    known = ", ".join(f"{q.logical_id} ({q.output_key})" for q in queues) or "none"
    raise DeadLetterError(f"no dead-letter queue {name!r}; the stack's: {known}")


def format_age(age: timedelta) -> str:
    seconds = max(int(age.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {seconds}s" if minutes else f"{seconds}s"


# ---------------------------------------------------------------- AWS calls


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def dead_letter_queues(sqs: Any, outputs: Mapping[str, str]) -> list[DeadLetterQueue]:
    """The stack's DLQs (the queues its Outputs name that another queue dead-letters to,
    or that carry a RedriveAllowPolicy), with their source queues."""
    attributes = {
        # "All": moto, for one, refuses RedriveAllowPolicy by name
        key: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        for key, url in queue_outputs(outputs).items()
    }
    policies = {a["QueueArn"]: a.get("RedrivePolicy") for a in attributes.values()}
    queues = []
    for key, found in attributes.items():
        sources = redrive_sources(found["QueueArn"], policies, found.get("RedriveAllowPolicy"))
        if sources or found.get("RedriveAllowPolicy"):
            queues.append(
                DeadLetterQueue(logical_id(key), key, outputs[key], found["QueueArn"], sources)
            )
    return queues


def list_dead_letters(
    sqs: Any, queues: Iterable[DeadLetterQueue], *, limit: int = 1000
) -> list[DeadLetterListing]:
    """Each DLQ's messages, none consumed: peeked, then made visible again at once."""
    return [_peek(sqs, queue, limit) for queue in queues]


def _peek(sqs: Any, queue: DeadLetterQueue, limit: int) -> DeadLetterListing:
    seen: dict[str, DeadLetter] = {}
    handles: list[str] = []
    try:
        while len(seen) < limit:
            batch = sqs.receive_message(
                QueueUrl=queue.url,
                MaxNumberOfMessages=min(10, limit - len(seen)),
                WaitTimeSeconds=1,
                VisibilityTimeout=PEEK_VISIBILITY_SECONDS,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                break
            for message in batch:
                handles.append(message["ReceiptHandle"])
                seen.setdefault(message["MessageId"], dead_letter(message, queue.sources))
    finally:  # visible again for the consumer or the redrive, whatever happened
        for start in range(0, len(handles), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for i, handle in enumerate(handles[start : start + 10])
            ]
            sqs.change_message_visibility_batch(QueueUrl=queue.url, Entries=entries)
    messages = tuple(sorted(seen.values(), key=lambda m: m.sent_at))
    return DeadLetterListing(queue, messages, complete=len(seen) < limit)


def redrive(
    sqs: Any,
    queue: DeadLetterQueue,
    *,
    destination_arn: str | None = None,
    max_per_second: int | None = None,
    use_move_task: bool = True,
    timeout: float = 300.0,
    sleep: Callable[[float], None] = time.sleep,
) -> RedriveResult:
    """Move every message of a DLQ back to its source queue (or destination_arn)."""
    if use_move_task:
        request: dict[str, Any] = {"SourceArn": queue.arn}
        if destination_arn is not None:
            request["DestinationArn"] = destination_arn
        if max_per_second is not None:
            request["MaxNumberOfMessagesPerSecond"] = max_per_second
        try:
            sqs.start_message_move_task(**request)
        except ClientError as error:
            if not move_task_unsupported(error):
                raise
        else:
            return _wait_for_task(sqs, queue, destination_arn, timeout, sleep)
    return _send_then_delete(sqs, queue, destination_arn, max_per_second, sleep)


def move_task_unsupported(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in MOVE_TASK_UNSUPPORTED or status == 501


def _wait_for_task(
    sqs: Any,
    queue: DeadLetterQueue,
    destination_arn: str | None,
    timeout: float,
    sleep: Callable[[float], None],
) -> RedriveResult:
    # One active task per source queue, so the most recent task is the one just started.
    deadline = time.monotonic() + timeout
    while True:
        task = sqs.list_message_move_tasks(SourceArn=queue.arn, MaxResults=1)["Results"][0]
        if task["Status"] not in ("RUNNING", "CANCELLING"):
            return RedriveResult(
                queue,
                destination_arn,
                "StartMessageMoveTask",
                task["Status"],
                int(task.get("ApproximateNumberOfMessagesMoved", 0)),
                int(task.get("ApproximateNumberOfMessagesToMove", 0)),
                task.get("FailureReason"),
            )
        if time.monotonic() > deadline:
            raise DeadLetterError(
                f"the move task on {queue.name} is still {task['Status']} after {timeout:.0f} s "
                f"({task.get('ApproximateNumberOfMessagesMoved', 0)} of "
                f"{task.get('ApproximateNumberOfMessagesToMove', '?')} moved); it keeps "
                "running: check it with `aws sqs list-message-move-tasks`"
            )
        sleep(0.2)


def _send_then_delete(
    sqs: Any,
    queue: DeadLetterQueue,
    destination_arn: str | None,
    max_per_second: int | None,
    sleep: Callable[[float], None],
) -> RedriveResult:
    if destination_arn is None:
        if len(queue.source_arns) != 1:
            raise DeadLetterError(
                f"{queue.name} has {len(queue.source_arns)} source queues "
                f"({queue.sources}): name the destination"
            )
        destination_arn = queue.source_arns[0]
    destination = sqs.get_queue_url(QueueName=queue_name(destination_arn))["QueueUrl"]
    # Like StartMessageMoveTask, move what is there when the redrive starts: a message that
    # fails again while the redrive runs (a poison message whose cause is not fixed comes
    # straight back) is left for the next redrive instead of cycling for ever.
    to_move = int(
        sqs.get_queue_attributes(
            QueueUrl=queue.url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
    )
    moved: list[MovedMessage] = []
    started = time.monotonic()
    while True:
        batch = (
            sqs.receive_message(
                QueueUrl=queue.url,
                MaxNumberOfMessages=min(10, to_move - len(moved)),
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if len(moved) < to_move
            else []
        )
        if not batch:
            return RedriveResult(
                queue, destination_arn, "send-then-delete", "COMPLETED", len(moved),
                messages=tuple(moved),
            )  # fmt: skip
        for message in batch:
            if max_per_second is not None:
                wait = started + len(moved) / max_per_second - time.monotonic()
                if wait > 0:
                    sleep(wait)
            request: dict[str, Any] = {"QueueUrl": destination, "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                request["MessageAttributes"] = sendable_attributes(message["MessageAttributes"])
            sent = sqs.send_message(**request)
            # Dying here leaves the message in both queues: a duplicate delivery, which
            # this stack's consumers absorb (see the module's docstring).
            sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
            moved.append(MovedMessage(message["MessageId"], sent["MessageId"], message["Body"]))
