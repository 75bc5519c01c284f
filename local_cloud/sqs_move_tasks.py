"""SQS message move tasks (DLQ redrive) on the local cloud's endpoint, which moto lacks.

`StartMessageMoveTask`, `ListMessageMoveTasks` and `CancelMessageMoveTask`, with AWS's
semantics (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/
API_StartMessageMoveTask.html), served in the SQS JSON protocol boto3 speaks
(`X-Amz-Target: AmazonSQS.<Operation>`) on moto's own in-process SQS backend:

- the source must be a dead-letter queue: a queue some queue's RedrivePolicy names
  (else `InvalidParameterValue`), standard or FIFO; the destination must be of the same
  type (SQS developer guide, "Learn how to configure a dead-letter queue redrive": "if the
  dead-letter queue is a FIFO queue, the redrive destination queue must be a FIFO queue as
  well"). A FIFO move keeps each message's group and its order (oldest first, one at a
  time), and uses the DLQ message's ID as the deduplication ID, so two moved messages with
  the same body are never taken for one;
- `DestinationArn` is optional. AWS then moves each message back to the queue it was
  dead-lettered from. moto does not record that per message, so the default here is the
  DLQ's source queue as the RedrivePolicies say; a DLQ several queues name needs an
  explicit `DestinationArn` (refused otherwise, rather than guessed);
- `MaxNumberOfMessagesPerSecond` 1-500; without it the move is as fast as it goes
  (AWS: "system optimized");
- one active task per source queue (a second start is refused while one runs);
- each moved message is a new message in the destination: a new message ID and a fresh
  retention period (a new SentTimestamp), its body and message attributes unchanged;
- `ApproximateNumberOfMessagesToMove` is the DLQ's visible messages when the task
  starts; the task ends COMPLETED once it moved them or the DLQ has none left visible,
  CANCELLED after `CancelMessageMoveTask`, FAILED with a `FailureReason` if a move fails.

Each message moves send-then-delete inside the endpoint (receive from the DLQ, send to the
destination, delete from the DLQ), so a crash of the endpoint between the two could leave
a copy in both, as on any redrive; every queue is in memory here anyway.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]

TARGET_PREFIX = "AmazonSQS."
OPERATIONS = ("StartMessageMoveTask", "ListMessageMoveTasks", "CancelMessageMoveTask")
MAX_RATE = 500  # messages per second, AWS's maximum for MaxNumberOfMessagesPerSecond
MAX_LIST_RESULTS = 10
# How long a message a task is moving stays invisible in the DLQ (it is deleted at once).
IN_FLIGHT_SECONDS = 30


class MoveTaskError(Exception):
    """An error answer: the JSON `__type` shape, the query code SDKs report, a message."""

    def __init__(self, shape: str, code: str, message: str) -> None:
        super().__init__(message)
        self.shape = shape
        self.code = code
        self.message = message


def invalid_parameter(message: str) -> MoveTaskError:
    return MoveTaskError("InvalidParameterValueException", "InvalidParameterValue", message)


def not_found(message: str) -> MoveTaskError:
    return MoveTaskError("ResourceNotFoundException", "ResourceNotFoundException", message)


def unsupported(message: str) -> MoveTaskError:
    return MoveTaskError(
        "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", message
    )


def encode_task_handle(task_id: str, source_arn: str) -> str:
    raw = json.dumps({"taskId": task_id, "sourceArn": source_arn}, separators=(",", ":"))
    return base64.b64encode(raw.encode()).decode()


def decode_task_handle(handle: str) -> tuple[str, str]:
    """(task ID, source ARN) of a TaskHandle; ResourceNotFoundException if it is not one."""
    try:
        decoded = json.loads(base64.b64decode(handle.encode(), validate=True))
        return str(decoded["taskId"]), str(decoded["sourceArn"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise not_found("Task does not exist.") from None


def parse_rate(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RATE:
        raise invalid_parameter(
            f"Value {value} for parameter MaxNumberOfMessagesPerSecond is invalid. "
            f"Reason: Must be an integer from 1 to {MAX_RATE}."
        )
    return value


# ---------------------------------------------------------------- moto's backend


def _region_and_account(arn: object, parameter: str) -> tuple[str, str]:
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs" or not parts[5]:
        raise invalid_parameter(
            f"You must use this format to specify the {parameter}: "
            "arn:<partition>:<service>:<region>:<account-id>:<resource-id>"
        )
    return parts[3], parts[4]


def _backend(region: str, account: str) -> Any:
    from moto.sqs.models import sqs_backends

    return sqs_backends[account][region]


def _queue_by_arn(arn: object, parameter: str) -> Any:
    region, account = _region_and_account(arn, parameter)
    for queue in _backend(region, account).queues.values():
        if queue.queue_arn == arn:
            return queue
    raise not_found(f"The resource that you specified for the {parameter} parameter doesn't exist.")


def _dead_letter_sources(dlq: Any) -> list[Any]:
    """The queues whose RedrivePolicy names this queue as their DLQ."""
    backend = _backend(dlq.region, dlq.account_id)
    return [
        queue
        for queue in backend.queues.values()
        if (queue.redrive_policy or {}).get("deadLetterTargetArn") == dlq.queue_arn
    ]


# ---------------------------------------------------------------- tasks


@dataclass
class MoveTask:
    task_id: str
    source: Any  # moto Queue
    destination: Any  # moto Queue
    destination_arn: str | None  # as given (None: the default, the DLQ's source queue)
    rate: int | None
    to_move: int
    started_ms: int
    status: str = "RUNNING"
    moved: int = 0
    failure_reason: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def handle(self) -> str:
        return encode_task_handle(self.task_id, self.source.queue_arn)

    def run(self, clock: Callable[[], float] = time.monotonic) -> None:
        backend = _backend(self.source.region, self.source.account_id)
        started = clock()
        try:
            while self.moved < self.to_move and not self.cancel.is_set():
                if self.rate is not None:
                    # The n-th message (from 0) leaves no earlier than n / rate seconds in.
                    wait = started + self.moved / self.rate - clock()
                    if wait > 0 and self.cancel.wait(wait):
                        break
                received = backend.receive_message(
                    self.source.name, 1, 0, IN_FLIGHT_SECONDS, message_attribute_names=["All"]
                )
                if not received:
                    break  # nothing visible left (consumed, expired or in flight elsewhere)
                message = received[0]
                fifo = (
                    {"group_id": message.group_id, "deduplication_id": message.id}
                    if self.destination.fifo_queue
                    else {}
                )
                backend.send_message(
                    self.destination.name,
                    message.body,
                    message_attributes=message.message_attributes or None,
                    system_attributes=message.system_attributes or None,
                    **fifo,
                )
                backend.delete_message(self.source.name, message.receipt_handle)
                self.moved += 1
        except Exception as error:  # reported through ListMessageMoveTasks, as AWS does
            logger.exception("message move task %s failed", self.task_id)
            self.failure_reason = f"{type(error).__name__}: {error}"
            self.status = "FAILED"
            return
        self.status = "CANCELLED" if self.cancel.is_set() else "COMPLETED"

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Status": self.status,
            "SourceArn": self.source.queue_arn,
            "ApproximateNumberOfMessagesMoved": self.moved,
            "ApproximateNumberOfMessagesToMove": self.to_move,
            "StartedTimestamp": self.started_ms,
        }
        if self.status == "RUNNING":  # AWS gives the handle of running tasks only
            entry["TaskHandle"] = self.handle
        if self.destination_arn is not None:
            entry["DestinationArn"] = self.destination_arn
        if self.rate is not None:
            entry["MaxNumberOfMessagesPerSecond"] = self.rate
        if self.failure_reason is not None:
            entry["FailureReason"] = self.failure_reason
        return entry


class MoveTasks:
    """Every task this endpoint started, newest first per source queue."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_source: dict[str, list[MoveTask]] = {}

    def start(self, request: dict[str, Any]) -> dict[str, Any]:
        source = _queue_by_arn(request.get("SourceArn"), "SourceArn")
        sources = _dead_letter_sources(source)
        if not sources:
            raise invalid_parameter("Source queue must be configured as a Dead Letter Queue.")
        rate = parse_rate(request.get("MaxNumberOfMessagesPerSecond"))
        destination_arn = request.get("DestinationArn")
        if destination_arn is not None:
            destination = _queue_by_arn(destination_arn, "DestinationArn")
            if destination is source:
                raise invalid_parameter(
                    "Source queue arn and destination queue arn cannot be the same."
                )
        elif len(sources) == 1:
            destination = sources[0]
        else:
            # AWS would use each message's own source queue; moto does not record it.
            names = ", ".join(sorted(queue.name for queue in sources))
            raise invalid_parameter(
                f"Several queues ({names}) use this dead-letter queue and this endpoint does "
                "not record which one each message came from: give DestinationArn."
            )
        if destination.fifo_queue != source.fifo_queue:
            kinds = {True: "a FIFO queue", False: "a standard queue"}
            raise invalid_parameter(
                f"The source queue is {kinds[source.fifo_queue]} and the destination queue "
                f"{kinds[destination.fifo_queue]}: a redrive needs two queues of the same type."
            )
        with self._lock:
            tasks = self._by_source.setdefault(source.queue_arn, [])
            if any(task.status == "RUNNING" for task in tasks):
                raise invalid_parameter(
                    "There is already a task running. Only one active task is allowed for a "
                    "source queue arn at a given time."
                )
            task = MoveTask(
                task_id=str(uuid.uuid4()),
                source=source,
                destination=destination,
                destination_arn=destination_arn,
                rate=rate,
                to_move=source.approximate_number_of_messages,
                started_ms=int(time.time() * 1000),
            )
            tasks.insert(0, task)
            task.thread = threading.Thread(
                target=task.run, name=f"sqs-move-task-{task.task_id}", daemon=True
            )
            task.thread.start()
        return {"TaskHandle": task.handle}

    def list(self, request: dict[str, Any]) -> dict[str, Any]:
        source = _queue_by_arn(request.get("SourceArn"), "SourceArn")
        if not _dead_letter_sources(source):
            raise invalid_parameter("Source queue must be configured as a Dead Letter Queue.")
        limit = request.get("MaxResults", 1)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10:
            raise invalid_parameter(
                f"Value {limit} for parameter MaxResults is invalid. "
                f"Reason: Must be an integer from 1 to {MAX_LIST_RESULTS}."
            )
        with self._lock:
            tasks = list(self._by_source.get(source.queue_arn, []))[:limit]
        return {"Results": [task.to_json() for task in tasks]}

    def cancel(self, request: dict[str, Any]) -> dict[str, Any]:
        handle = request.get("TaskHandle")
        if not isinstance(handle, str):
            raise invalid_parameter("TaskHandle is required.")
        task_id, source_arn = decode_task_handle(handle)
        with self._lock:
            task = next(
                (t for t in self._by_source.get(source_arn, []) if t.task_id == task_id), None
            )
        if task is None:
            raise not_found("Task does not exist.")
        if task.status != "RUNNING":
            raise unsupported("Only active tasks can be cancelled.")
        task.cancel.set()
        if task.thread is not None:
            task.thread.join(timeout=5)
        return {"ApproximateNumberOfMessagesMoved": task.moved}

    def stop(self) -> None:
        """Cancel every running task (the endpoint is going away)."""
        with self._lock:
            tasks = [task for tasks in self._by_source.values() for task in tasks]
        for task in tasks:
            task.cancel.set()


# ---------------------------------------------------------------- WSGI


class WithMessageMoveTasks:
    """WSGI middleware: answers the three move-task operations, passes the rest to `app`."""

    def __init__(self, app: Callable[..., Iterable[bytes]], tasks: MoveTasks | None = None):
        self.app = app
        self.tasks = tasks or MoveTasks()
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "StartMessageMoveTask": self.tasks.start,
            "ListMessageMoveTasks": self.tasks.list,
            "CancelMessageMoveTask": self.tasks.cancel,
        }

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        operation = target.removeprefix(TARGET_PREFIX)
        if not target.startswith(TARGET_PREFIX) or operation not in self._handlers:
            return self.app(environ, start_response)
        request_id = str(uuid.uuid4())
        try:
            request = self._read_json(environ)
            body = self._handlers[operation](request)
        except MoveTaskError as error:
            return self._answer(
                start_response,
                400,
                {"__type": f"com.amazonaws.sqs#{error.shape}", "message": error.message},
                request_id,
                query_error=f"{error.code};Sender",
            )
        return self._answer(start_response, 200, body, request_id)

    @staticmethod
    def _read_json(environ: dict[str, Any]) -> dict[str, Any]:
        length = environ.get("CONTENT_LENGTH") or "0"
        raw = environ["wsgi.input"].read(int(length)) if length.isdigit() else b""
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            raise invalid_parameter("The request body is not valid JSON.") from None
        if not isinstance(request, dict):
            raise invalid_parameter("The request body must be a JSON object.")
        return request

    @staticmethod
    def _answer(
        start_response: StartResponse,
        status: int,
        body: dict[str, Any],
        request_id: str,
        query_error: str | None = None,
    ) -> list[bytes]:
        encoded = json.dumps(body).encode()
        headers = [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("Content-Length", str(len(encoded))),
            ("x-amzn-RequestId", request_id),
        ]
        if query_error is not None:
            headers.append(("x-amzn-query-error", query_error))
        start_response("200 OK" if status == 200 else f"{status} Bad Request", headers)
        return [encoded]
