"""What can go wrong between a template and a running stack, each naming what is wrong."""

from __future__ import annotations


class StackError(Exception):
    """Base of the deployer's errors; the message is meant for the person running it."""


class TemplateError(StackError):
    """The template or its parameter values are invalid (before anything is deployed)."""


class BuildError(StackError):
    """A function or layer could not be built on this host."""


class DeploymentError(StackError):
    """The endpoint refused the stack, or it breaks a rule AWS enforces at deploy time."""


class ParameterError(TemplateError):
    """A parameter value (an override or the template's Default) breaks its declaration:
    CloudFormation refuses the CreateStack with this message before creating anything."""
