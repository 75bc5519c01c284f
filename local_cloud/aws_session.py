"""Sessions and credentials for the local endpoint, in one place.

The endpoint accepts any credentials, so none are ever required: the person at the terminal
signs with their own if they are set, else with LocalStack's `test`/`test` (what `awslocal`
and localstack_client use, so the same tools work against either endpoint). A function's
worker and its event source mappings sign with the function's own access key ID
(call_log.function_access_key: the endpoint tells their calls apart by it) and the same
local secret; real credentials never reach a worker.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: a command refused earlier never pays for them
    import boto3

LOCAL_CREDENTIAL = "test"  # LocalStack's convention; the local endpoint accepts any value


def aws_session(region: str) -> boto3.Session:
    """A session for the local endpoint: the caller's credentials if set, else `test`/`test`."""
    import boto3

    return boto3.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", LOCAL_CREDENTIAL),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", LOCAL_CREDENTIAL),
        aws_session_token=os.environ.get("AWS_SESSION_TOKEN"),
        region_name=region,
    )


def function_credentials(logical_id: str) -> dict[str, str]:
    """The credentials a function's worker (environment) and its mappings (clients) use:
    its own access key ID, the local secret and token. Keys are botocore's argument names."""
    from local_cloud.call_log import function_access_key

    return {
        "aws_access_key_id": function_access_key(logical_id),
        "aws_secret_access_key": LOCAL_CREDENTIAL,
        "aws_session_token": LOCAL_CREDENTIAL,
    }
