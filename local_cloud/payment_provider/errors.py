"""Stripe's error responses: `{"error": {"type", "code", "message", "param", ...}}`.

The official SDK picks its exception class from the status code and `type`
(stripe/_api_requestor.py, `specific_v1_api_error`): 400/404 -> InvalidRequestError
(IdempotencyError when type is idempotency_error), 401 -> AuthenticationError,
402 -> CardError, anything else -> APIError. So status and type must both be right.
"""

from __future__ import annotations

from typing import Any

INVALID_REQUEST = "invalid_request_error"
CARD_ERROR = "card_error"
IDEMPOTENCY_ERROR = "idempotency_error"
API_ERROR = "api_error"


class ApiError(Exception):
    """An error answer in Stripe's shape; raised anywhere, rendered once by the app."""

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.error_type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.decline_code is not None:
            error["decline_code"] = self.decline_code
        if self.param is not None:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


def invalid_request(
    message: str, *, param: str | None = None, code: str | None = None, status: int = 400
) -> ApiError:
    return ApiError(status, INVALID_REQUEST, message, code=code, param=param)


def missing_param(param: str) -> ApiError:
    return invalid_request(
        f"Missing required param: {param}.", param=param, code="parameter_missing"
    )


def unknown_param(param: str, supported: frozenset[str]) -> ApiError:
    return invalid_request(
        f"Received unknown parameter: {param}. The payment provider simulator supports: "
        f"{', '.join(sorted(supported))}.",
        param=param,
        code="parameter_unknown",
    )


def resource_missing(kind: str, object_id: str, param: str, *, status: int = 404) -> ApiError:
    """Stripe answers 404 for a missing object in the URL, 400 for one named in a param."""
    return invalid_request(
        f"No such {kind}: '{object_id}'", param=param, code="resource_missing", status=status
    )
