"""From a SAM template to a stack running on the local endpoint (see deploy.py)."""

from local_cloud.stack.deploy import Deployment, DeployOptions, deploy_stack
from local_cloud.stack.errors import BuildError, DeploymentError, StackError, TemplateError

__all__ = [
    "BuildError",
    "DeployOptions",
    "Deployment",
    "DeploymentError",
    "StackError",
    "TemplateError",
    "deploy_stack",
]
