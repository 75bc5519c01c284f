"""What a user of the local cloud can get wrong, or must act on, as one tree of exceptions.

Every error meant for the person at the terminal derives from LocalCloudError: its message
names what is wrong (the file, the resource, the port) and what to do about it. `local-cloud`
(cli.main) catches this one type, prints its message on one line and exits with status 2;
anything else is a bug and keeps its traceback.

    LocalCloudError
    ├── CommandError                a command's arguments, or the running stack it needs
    ├── SettingsError               local-cloud.toml, flags, files they name     (ValueError)
    │   └── FaultSpecError          a fault to inject that cannot be honoured
    ├── StackError                  between a template and a running stack
    │   ├── TemplateError           the template, before anything is deployed
    │   │   ├── ParameterError      a parameter value breaks its declaration
    │   │   └── IntrinsicError      a Ref, GetAtt or Sub unresolved (stack/intrinsics.py)
    │   ├── BuildError              a function or layer cannot be built here
    │   └── DeploymentError         the endpoint refused the stack, or a deploy-time rule
    │       ├── InvalidEventSourceMapping   CreateEventSourceMapping would refuse it
    │       └── InvalidServiceIntegration   an HTTP API's AWS service integration would be refused
    ├── StartError                  a local server cannot start
    │   ├── PortUnavailable         the port is taken, or not loopback            (OSError)
    │   │   └── NotLoopback
    │   ├── EndpointError           the AWS endpoint (moto server)
    │   ├── HttpApiError            the HTTP API server
    │   └── PaymentSimulatorError   the payment provider simulator
    ├── UnsupportedRuntime          a function the local cloud cannot run  (also a Lambda error)
    ├── FaultControlError           the endpoint or the simulator refused a fault request
    └── DeadLetterError             dlq / redrive: no such queue, a move that cannot be made

Errors AWS itself would return (throttles, a function's own failure, a malformed batch
response) are not here: the emulation reports them the way AWS does, to the caller that
would see them on AWS.
"""

from __future__ import annotations


class LocalCloudError(Exception):
    """Base of every error meant for the user; the message names what is wrong and the fix."""


class CommandError(LocalCloudError):
    """A command's arguments, or the running stack a command needs, are not usable."""


class SettingsError(LocalCloudError, ValueError):
    """local-cloud.toml, a flag, or a file a setting names is invalid."""


class FaultSpecError(SettingsError):
    """A fault to inject that cannot be honoured; the message names the field and why."""


class StackError(LocalCloudError):
    """Between a template and a running stack; the message is meant for the person running it."""


class TemplateError(StackError):
    """The template or its parameter values are invalid (before anything is deployed)."""


class ParameterError(TemplateError):
    """A parameter value (an override or the template's Default) breaks its declaration:
    CloudFormation refuses the CreateStack with this message before creating anything."""


class BuildError(StackError):
    """A function or layer could not be built on this host."""


class DeploymentError(StackError):
    """The endpoint refused the stack, or it breaks a rule AWS enforces at deploy time."""


class InvalidEventSourceMapping(DeploymentError, ValueError):
    """Lambda's CreateEventSourceMapping would refuse it (event_sources/mapping_rules.py)."""


class InvalidServiceIntegration(DeploymentError, ValueError):
    """API Gateway would refuse to create an HTTP API's AWS service integration, or the local
    cloud does not serve its subtype (http_api/service_integration.py)."""


class StartError(LocalCloudError):
    """A local server (the endpoint, the HTTP API, the payment simulator) cannot start."""


class PortUnavailable(StartError, OSError):
    """The port cannot be bound; the message names it and what to do."""


class NotLoopback(PortUnavailable):
    """A listener was asked for on an address other than loopback: refused."""


class EndpointError(StartError):
    """The AWS endpoint cannot start, or is not one the local cloud may use."""


class HttpApiError(StartError):
    """The local HTTP API server cannot start."""


class PaymentSimulatorError(StartError):
    """The payment provider simulator cannot start. (Not the deployed code's
    PaymentProviderError, which is a charge the provider refused or left unsettled.)"""


class UnsupportedRuntime(LocalCloudError):
    """A function whose runtime the local cloud cannot run (only python3.x runs here)."""


class FaultControlError(LocalCloudError):
    """The endpoint or the payment simulator refused a fault or control request; the message
    is the server's own."""


class DeadLetterError(LocalCloudError):
    """A dead-letter queue operation that cannot be done as asked."""
