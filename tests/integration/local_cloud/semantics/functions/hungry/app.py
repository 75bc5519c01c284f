"""A test function that allocates what each record's body asks ({"allocate_mb": n}, every
page touched) and holds it until the invocation ends."""

import json


def handler(event, context):
    held = []
    for record in event["Records"]:
        size = json.loads(record["body"]).get("allocate_mb", 0)
        held.append(bytearray(size * 1024 * 1024))
    return {"allocated_mb": sum(len(block) for block in held) // (1024 * 1024)}
