"""A test function whose init fails: its module imports what the runtime does not have."""

import pytest  # noqa: F401 - in our virtualenv, never in a Lambda runtime


def handler(event, context):
    return "unreachable"
