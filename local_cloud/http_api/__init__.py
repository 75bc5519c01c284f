"""HTTP APIs (AWS::ApiGatewayV2::Api) and REST APIs (AWS::ApiGateway::RestApi, rest.py)
served locally, like `sam local start-api`."""

from local_cloud.http_api.events import api_id, build_event, function_response
from local_cloud.http_api.routing import RouteMatch, Router
from local_cloud.http_api.server import (
    DEFAULT_PORT,
    HttpApiApp,
    HttpApiError,
    HttpApiServer,
    start_http_api,
)

__all__ = [
    "DEFAULT_PORT",
    "HttpApiApp",
    "HttpApiError",
    "HttpApiServer",
    "RouteMatch",
    "Router",
    "api_id",
    "build_event",
    "function_response",
    "start_http_api",
]
