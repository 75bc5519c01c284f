"""The deployer's errors: their branch of the one error tree in local_cloud/errors.py."""

from __future__ import annotations

from local_cloud.errors import (
    BuildError,
    DeploymentError,
    ParameterError,
    StackError,
    TemplateError,
)

__all__ = ["BuildError", "DeploymentError", "ParameterError", "StackError", "TemplateError"]
