"""Where a served API's resources are, and how AWS's URL of an API maps to the local one.

A template's Outputs give AWS's URL of an API, as CloudFormation would:
`https://{api-id}.execute-api.{region}.amazonaws.com/Prod/hello` (the API ID is
`events.api_id` of its logical ID). The local server serves the same path (REST APIs
under their stage, HTTP APIs at the root), so the local URL is the same URL with the
scheme and host replaced by the server's address: `http://127.0.0.1:3000/Prod/hello`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from local_cloud.model import HttpApiSpec, RestApiSpec

_EXECUTE_API = re.compile(r"^https://[a-z0-9]{10}\.execute-api\.[a-z0-9-]+\.amazonaws\.com(?=/|$)")


def local_url(aws_url: str, served_url: str) -> str:
    """The local server's URL for AWS's URL of a served API; ValueError if `aws_url` is not
    an execute-api URL."""
    if not _EXECUTE_API.match(aws_url):
        raise ValueError(
            f"{aws_url!r} is not an API Gateway URL (https://{{api-id}}.execute-api."
            "{region}.amazonaws.com/...)"
        )
    return _EXECUTE_API.sub(served_url.rstrip("/"), aws_url, count=1)


def served_resource_types(
    http_apis: Iterable[HttpApiSpec], rest_apis: Iterable[RestApiSpec]
) -> dict[str, str]:
    """Logical ID -> type of every resource the served APIs stand for."""
    served: dict[str, str] = {}
    for http_api in http_apis:
        served[http_api.logical_id] = "AWS::ApiGatewayV2::Api"
        served.update(dict.fromkeys(http_api.stage_logical_ids, "AWS::ApiGatewayV2::Stage"))
    for rest_api in rest_apis:
        served[rest_api.logical_id] = "AWS::ApiGateway::RestApi"
        served.update(dict.fromkeys(rest_api.deployment_logical_ids, "AWS::ApiGateway::Deployment"))
        for stage in rest_api.stages:
            served.setdefault(stage.logical_id, "AWS::ApiGateway::Stage")
    return served
