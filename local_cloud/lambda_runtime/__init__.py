"""Lambda execution environments as local worker processes (see service.py)."""

from local_cloud.lambda_runtime.faults import FaultClaims
from local_cloud.lambda_runtime.runtime_dir import prepare_runtime_dir
from local_cloud.lambda_runtime.service import (
    LOCAL_CONCURRENCY_CAP,
    FunctionNotFound,
    FunctionStats,
    InvocationResult,
    LambdaService,
    LambdaServiceError,
    RequestTooLarge,
    Throttled,
    UnsupportedRuntime,
)

__all__ = [
    "LOCAL_CONCURRENCY_CAP",
    "FaultClaims",
    "FunctionNotFound",
    "FunctionStats",
    "InvocationResult",
    "LambdaService",
    "LambdaServiceError",
    "RequestTooLarge",
    "Throttled",
    "UnsupportedRuntime",
    "prepare_runtime_dir",
]
