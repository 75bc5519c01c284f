"""Store orders in the order they were sent, per customer (a FIFO message group).

SqsFifoPartialProcessor stops at the first failure: that record and every later one of
the batch are reported as failed, so no order overtakes one that has not been stored.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import (
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

processor = SqsFifoPartialProcessor()
_table: Any = None


def orders_table() -> Any:
    global _table
    if _table is None:
        _table = boto3.resource("dynamodb").Table(os.environ["ORDERS_TABLE_NAME"])
    return _table


def record_handler(record: SQSRecord) -> None:
    order = json.loads(record.body)
    if order.get("poison"):
        raise ValueError(f"order {order['order_id']} is marked poison")
    orders_table().put_item(
        Item={
            "order_id": os.environ["ORDER_PREFIX"] + str(order["order_id"]),
            "customer": record.attributes.message_group_id,
            "sequence_number": record.attributes.sequence_number,
        }
    )


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
