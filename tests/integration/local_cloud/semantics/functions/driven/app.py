"""A test function whose behaviour the message bodies choose (one JSON object per body).

Batch-wide, in this order: {"calls": n} makes n outgoing calls, each an SQS SendMessage
of {"call": i, "message_id", "request_id"} to OUTBOX_QUEUE_URL (the side effects a fault
may interrupt), {"raise": msg} raises, {"exit": code} kills the process, {"sleep":
seconds} sleeps, {"respond": value} returns value verbatim, {"probe": true} returns what
the function can see. Otherwise the records whose body has {"fail": true} are reported
as batch item failures. With SIDE_CHANNEL_QUEUE_URL set, every invocation first records
what it saw (and when) on that queue.
"""

import json
import os
import sys
import time

import boto3

_sqs = None


def _record(event, started):
    global _sqs
    if _sqs is None:
        _sqs = boto3.client("sqs")
    seen = {
        "pid": os.getpid(),
        "started": started,
        "ended": time.time(),
        "message_ids": [r["messageId"] for r in event["Records"]],
        "receive_counts": [
            int(r["attributes"]["ApproximateReceiveCount"]) for r in event["Records"]
        ],
    }
    _sqs.send_message(QueueUrl=os.environ["SIDE_CHANNEL_QUEUE_URL"], MessageBody=json.dumps(seen))


def _calls(record, count, context):
    global _sqs
    if _sqs is None:
        _sqs = boto3.client("sqs")
    for number in range(1, count + 1):
        body = {
            "call": number,
            "message_id": record["messageId"],
            "request_id": context.aws_request_id,
        }
        _sqs.send_message(QueueUrl=os.environ["OUTBOX_QUEUE_URL"], MessageBody=json.dumps(body))


def _probe(event, context):
    importable = {}
    for name in ("boto3", "moto", "pytest", "local_cloud", "layer_probe"):
        try:
            __import__(name)
            importable[name] = True
        except ImportError:
            importable[name] = False
    first = context.get_remaining_time_in_millis()
    time.sleep(0.5)
    second = context.get_remaining_time_in_millis()
    return {
        "event": event,
        "environ": dict(os.environ),
        "sys_path": sys.path,
        "importable": importable,
        "remaining_ms": [first, second],
        "context": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
        },
    }


def handler(event, context):
    started = time.time()
    bodies = [json.loads(record["body"]) for record in event["Records"]]
    print("bodies", json.dumps(bodies))
    if "SIDE_CHANNEL_QUEUE_URL" in os.environ:
        for body in bodies:
            time.sleep(body.get("hold", 0))
        _record(event, started)
    for record, body in zip(event["Records"], bodies, strict=True):
        if "calls" in body:
            _calls(record, body["calls"], context)
        if "raise" in body:
            raise RuntimeError(body["raise"])
        if "exit" in body:
            os._exit(body["exit"])
        if "sleep" in body:
            time.sleep(body["sleep"])
        if "respond" in body:
            return body["respond"]
        if body.get("probe"):
            return _probe(event, context)
    failed = [
        r["messageId"] for r, body in zip(event["Records"], bodies, strict=True) if body.get("fail")
    ]
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
