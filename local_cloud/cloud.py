"""`LocalCloud`: the whole stack running on this machine, started and stopped as one.

It starts (or reuses) the endpoint, optionally the simulated payment provider, seeds the
SSM parameters and SES identities the stack expects to exist before deployment (as an
operator would in a real account), deploys the template, then runs the functions in
LambdaService workers (which publish Lambda's metrics), one poller per SQS event source
mapping, and serves its HTTP APIs (local_cloud.http_api). The endpoint publishes the
queues' metrics and evaluates the alarms (local_cloud/monitoring). `stop()` stops
exactly what it started, in reverse order.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local_cloud.aws_session import aws_session
from local_cloud.endpoint import (
    DEFAULT_PORT,
    Endpoint,
    check_fault_file,
    check_local,
    start_endpoint,
)
from local_cloud.errors import PaymentSimulatorError, SettingsError
from local_cloud.model import DeployedStack, ResourceNote
from local_cloud.phases import Stopwatch
from local_cloud.settings import DEFAULT_SETTINGS_FILE as DEFAULT_SETTINGS_FILE
from local_cloud.settings import PAYMENT_PROVIDER_PORT as PAYMENT_PROVIDER_PORT
from local_cloud.settings import Settings as Settings
from local_cloud.settings import load_settings as load_settings
from local_cloud.stack import Deployment, DeployOptions
from local_cloud.stack.deploy import deploy_prepared, prepare_stack

if TYPE_CHECKING:  # imported where started, so a start pays only for what it runs
    from local_cloud.event_sources import SqsEventSourcePoller
    from local_cloud.http_api.server import HttpApiServer
    from local_cloud.lambda_runtime import LambdaService
    from local_cloud.lambda_runtime.faults import FaultClaims
    from local_cloud.monitoring.lambda_metrics import LambdaMetrics
    from local_cloud.payment_provider.server import PaymentProviderServer

logger = logging.getLogger(__name__)


class LocalCloud:
    """The running stack. Use as a context manager, or call start() and stop().

    endpoint_port=None picks a free port (tests); start_pollers=False runs no SQS
    pollers (a one-shot `invoke` needs none); log_sink receives (function, line), and one
    line per HTTP API request as (API logical ID, line). The stack's HTTP APIs are served
    on http_api_port (None: a free one, so tests and parallel runs never collide; `up`
    asks for 3000 as `sam local start-api` does) unless serve_http_apis=False.
    endpoint_faults (a JSON list of faults, see local_cloud/endpoint_faults.py) and
    endpoint_fault_seed configure the endpoint's fault injection from its first request,
    deployment included; at run time, use `cloud.endpoint.faults`. Faults for the Lambda
    runtime (`"service": "lambda"`) go the same way: the functions and the SQS mappings
    claim them from the endpoint (`fault_claims`). provider_faults (a JSON list of the
    simulated provider's faults, see local_cloud/payment_provider/faults.py) are pending
    at the simulator before the stack deploys; at run time, POST /_simulator/faults.
    An endpoint reused from AWS_ENDPOINT_URL must be on loopback unless
    allow_remote_endpoint (`up --allow-remote-endpoint`): with real credentials exported,
    a remote one could be a real account.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        endpoint_port: int | None = DEFAULT_PORT,
        payment_provider_port: int | None = PAYMENT_PROVIDER_PORT,
        start_pollers: bool = True,
        log_sink: Callable[[str, str], None] | None = None,
        serve_http_apis: bool = True,
        http_api_port: int | None = None,
        endpoint_faults: Path | None = None,
        endpoint_fault_seed: int | None = None,
        provider_faults: Path | None = None,
        allow_remote_endpoint: bool = False,
        skip_resources: Sequence[str] = (),
    ) -> None:
        self.settings = settings
        self._allow_remote_endpoint = allow_remote_endpoint
        self._endpoint_port = endpoint_port
        self._payment_provider_port = payment_provider_port
        self._start_pollers = start_pollers
        self._log_sink = log_sink
        self._serve_http_apis = serve_http_apis
        self._http_api_port = http_api_port
        self._endpoint_faults = endpoint_faults
        self._endpoint_fault_seed = endpoint_fault_seed
        self._provider_faults = provider_faults
        self._skip_resources = skip_resources
        # The endpoint's own output (moto's errors and the tracebacks behind a 500), kept.
        self.endpoint_log = settings.state_dir / "logs" / "endpoint.log"
        self.endpoint: Endpoint | None = None
        self.payment_provider: PaymentProviderServer | None = None
        self.deployment: Deployment | None = None
        self._lambda_service: LambdaService | None = None
        self._fault_claims: FaultClaims | None = None  # while the functions run
        self._lambda_metrics: LambdaMetrics | None = None  # while the functions run
        self.pollers: list[SqsEventSourcePoller] = []
        self.http_api: HttpApiServer | None = None  # while the stack's APIs are served
        self.ready_seconds: float | None = None
        # Seconds of each start-up step, in the order they ended: "endpoint" runs in a
        # helper thread beside "template", "build" and "zip", "seed" beside "upload".
        self.phases: dict[str, float] = {}
        self._helpers: list[_Background] = []  # threads of _start: joined before stopping

    @property
    def lambda_service(self) -> LambdaService:
        """The stack's functions, once started."""
        if self._lambda_service is None:
            raise RuntimeError("the local cloud is not started")
        return self._lambda_service

    @property
    def stack(self) -> DeployedStack:
        if self.deployment is None:
            raise RuntimeError("the local cloud is not started")
        return self.deployment.stack

    def _load_provider_faults(self) -> list[Any]:
        """The --provider-faults file, validated before anything starts."""
        if self._provider_faults is None:
            return []
        if not self.settings.payment_provider:
            raise SettingsError(
                "provider faults were given, but these settings start no payment provider "
                "simulator (payment_provider = false)"
            )
        from local_cloud.payment_provider.faults import FaultSpecError, load_fault_file

        try:
            return list(load_fault_file(self._provider_faults))
        except FaultSpecError as error:
            raise SettingsError(f"provider faults: {error}") from None

    def start(self) -> LocalCloud:
        started = time.perf_counter()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.ready_seconds = time.perf_counter() - started
        return self

    def _start(self) -> None:
        """Steps overlap where one does not need the other, once _preflight has found
        nothing to refuse in the arguments and the files they name. The endpoint (a
        process of its own, building moto's applications for the services ahead:
        `preload`) starts in a helper thread while this one builds and zips the stack,
        which needs no endpoint;
        then the endpoint is seeded in a helper thread while this one uploads the zips;
        then the stack is created and the functions, their mappings and the HTTP APIs
        start. self.phases has each step's seconds."""
        watch = Stopwatch(self.phases)
        settings = self.settings
        watch.start()
        provider_fault_plan, sam = self._preflight()
        endpoint_start = self._in_background(self._start_endpoint, name="endpoint-start")
        try:
            declared = set(sam.get("Parameters") or {})
            overrides = dict(settings.parameter_overrides)
            if settings.payment_provider:
                from local_cloud.payment_provider import start_payment_provider

                try:
                    self.payment_provider = start_payment_provider(port=self._payment_provider_port)
                except PaymentSimulatorError as error:
                    raise PaymentSimulatorError(
                        f"cannot start the payment provider simulator: {error}; its port is "
                        "--payment-provider-port"
                    ) from error
                overrides[settings.payment_provider_parameter] = self.payment_provider.url
                for fault in provider_fault_plan:
                    self.payment_provider.app.faults.add(fault)
            options = DeployOptions(
                template_path=settings.template,
                stack_name=settings.stack,
                endpoint_url="",  # known once the endpoint has started; prepare needs none
                region=settings.region,
                # the provider's URL only goes to a template that declares the parameter
                parameter_overrides={
                    key: value
                    for key, value in overrides.items()
                    if key in declared or key in settings.parameter_overrides
                },
                state_dir=settings.state_dir,
                skip_resources=tuple(self._skip_resources),
                endpoint_log=self.endpoint_log,
            )
            watch.stop("template")
            # Between builds, a failed endpoint start (a port in use, say) stops the start
            # there, before a cold cache's pip installs, as when the endpoint came first.
            prepared = prepare_stack(options, template=sam, check=endpoint_start.check)
        except BaseException:
            # The endpoint's own error first, if it failed too, as when it started first;
            # either way the endpoint is there for stop() once this returns.
            endpoint_start.join()
            raise
        watch.start()
        endpoint_start.join()
        watch.stop("waited for endpoint")
        assert self.endpoint is not None
        seeding = self._in_background(self._seed_endpoint, name="endpoint-seed")
        options = replace(options, endpoint_url=self.endpoint.url)
        self.deployment = deploy_prepared(prepared, options, before_create=seeding.join)
        self.phases.update(self.deployment.seconds)

        watch.start()
        from local_cloud.lambda_runtime import FaultClaims, LambdaService

        self._fault_claims = FaultClaims(self.endpoint.url, flag=self.endpoint.lambda_fault_flag)
        from local_cloud.monitoring.lambda_metrics import LambdaMetrics

        cloudwatch = aws_session(settings.region).client(
            "cloudwatch", endpoint_url=self.endpoint.url
        )
        self._lambda_metrics = LambdaMetrics(cloudwatch)
        self._lambda_service = LambdaService(
            self.stack.functions,
            endpoint_url=self.endpoint.url,
            region=settings.region,
            runtime_dir=self.deployment.runtime_dir,
            log_sink=self._log_sink,
            faults=self._fault_claims,
            metrics=self._lambda_metrics,
        )
        watch.stop("functions")
        watch.start()
        if self._serve_http_apis and (self.deployment.http_apis or self.deployment.rest_apis):
            self._start_http_api()
        watch.stop("http apis")
        watch.start()
        if self._start_pollers:
            from local_cloud.event_sources import SqsEventSourcePoller

            for source in self.stack.sqs_event_sources:
                poller = SqsEventSourcePoller(
                    source,
                    self.lambda_service,
                    endpoint_url=self.endpoint.url,
                    region=settings.region,
                    faults=self._fault_claims,
                    max_concurrent_batches=settings.max_concurrent_batches,
                )
                self.pollers.append(poller)
                poller.start()
        watch.stop("mappings")

    def _preflight(self) -> tuple[list[Any], dict[str, Any]]:
        """What the arguments and the files they name alone can refuse, refused before any
        thread or process starts: such a mistake costs no endpoint start (moto's, about
        1.5 s of CPU) and gets the message it got when checked later. Cheap checks only
        (files read and parsed, never a build or a translation): the rest of the start
        overlaps the endpoint's on purpose. Returns the provider's faults and the parsed
        template, which prepare_stack takes as it is (parsed once)."""
        provider_fault_plan = self._load_provider_faults()
        configured = os.environ.get("AWS_ENDPOINT_URL", "").rstrip("/")
        if self._endpoint_port is not None and configured:  # as start_endpoint will check
            # it, but before anything starts: the provider would start meanwhile
            check_local(configured, allow_remote=self._allow_remote_endpoint)
        if self._endpoint_faults is not None:  # as start_endpoint will check them
            check_fault_file(self._endpoint_faults)
        from local_cloud.stack.template import load_template

        return provider_fault_plan, load_template(self.settings.template)

    def _in_background(self, target: Callable[[], None], *, name: str) -> _Background:
        helper = _Background(target, name=name)
        self._helpers.append(helper)
        return helper

    def _start_endpoint(self) -> None:
        watch = Stopwatch(self.phases)
        watch.start()
        # A free port (None) means an endpoint of our own, even where AWS_ENDPOINT_URL
        # names another one: tests must not deploy onto a LocalStack they happen to see.
        self.endpoint = start_endpoint(
            port=self._endpoint_port,
            reuse_from_env=self._endpoint_port is not None,
            faults_file=self._endpoint_faults,
            fault_seed=self._endpoint_fault_seed,
            allow_remote=self._allow_remote_endpoint,
            preload=self._services_to_preload(),
            log_path=self.endpoint_log,
        )
        watch.stop("endpoint")

    def _seed_endpoint(self) -> None:
        watch = Stopwatch(self.phases)
        assert self.endpoint is not None
        watch.start()
        self._seed(self.endpoint.url)
        watch.stop("seed")

    def _services_to_preload(self) -> list[str]:
        """What start-up calls, in about the order it first calls it: the upload and the
        seeding (at once), the rest of the deployment (deploy.py), then the functions'
        metrics and the pollers."""
        services = ["sts", "s3"]  # the upload, while the seeding waits for ssm's
        if self.settings.ssm_parameters:
            services.append("ssm")
        if self.settings.ses_verified_identities:
            services.append("ses")
        # signing names, as a request's credential scope has them: CloudWatch's is monitoring
        return [*services, "cloudformation", "monitoring", "iam", "lambda", "sqs"]

    def _start_http_api(self) -> None:
        from local_cloud.http_api import start_http_api
        from local_cloud.http_api.service_integration import send_message_integration
        from local_cloud.http_api.urls import served_resource_types

        assert self.deployment is not None
        deployment = self.deployment
        self.http_api = start_http_api(
            deployment.http_apis,
            self.lambda_service,
            port=self._http_api_port,
            access_log=self._log_sink,
            rest_apis=deployment.rest_apis,
            service_integration=send_message_integration(
                deployment.stack.endpoint_url, deployment.stack.region
            ),
        )
        # What we serve is no longer "not created": it is handled locally, at this URL.
        served = served_resource_types(deployment.http_apis, deployment.rest_apis)
        self.deployment = replace(
            deployment,
            stack=replace(
                deployment.stack,
                unsupported_resources=tuple(
                    note
                    for note in deployment.stack.unsupported_resources
                    if note.logical_id not in served
                ),
            ),
            handled_locally=(
                *deployment.handled_locally,
                *(
                    ResourceNote(
                        logical_id, resource_type, f"served locally at {self.http_api.url}"
                    )
                    for logical_id, resource_type in served.items()
                ),
            ),
        )

    def local_api_url(self, aws_url: str) -> str:
        """The local URL of AWS's URL of a served API (an Output such as
        `https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/`)."""
        from local_cloud.http_api.urls import local_url

        if self.http_api is None:
            raise RuntimeError("no API is served (the stack has none, or serving is off)")
        return local_url(aws_url, self.http_api.url)

    def _seed(self, endpoint_url: str) -> None:
        """What must exist before deployment: secrets and verified sender identities.

        An SSM parameter is created, never overwritten: one that exists with the same
        value is left as it is; one with another value (someone's, on a reused endpoint)
        stops the start with a SettingsError naming it, and is left as it is.
        """
        session = aws_session(self.settings.region)
        ssm = session.client("ssm", endpoint_url=endpoint_url)
        for name, value in self.settings.ssm_parameters.items():
            try:
                ssm.put_parameter(Name=name, Value=value, Type="SecureString")
            except ssm.exceptions.ParameterAlreadyExists:
                existing = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
                if existing["Value"] != value:
                    raise SettingsError(
                        f"SSM parameter {name} already exists at {endpoint_url} with another "
                        "value; the local cloud never overwrites a parameter: delete it "
                        "there, or set ssm_parameters in the settings to its value"
                    ) from None
        ses = session.client("ses", endpoint_url=endpoint_url)
        for identity in self.settings.ses_verified_identities:
            if "@" in identity:
                ses.verify_email_identity(EmailAddress=identity)
            else:
                ses.verify_domain_identity(Domain=identity)

    def stop(self) -> None:
        """Stop pollers, the HTTP API server, workers, the payment provider and the endpoint
        we started."""
        for helper in self._helpers:  # a start cut short: the endpoint may be starting
            helper.join(raise_error=False)
        self._helpers.clear()
        # In parallel: each poller finishes and settles the batch it is running first.
        stoppers = [
            threading.Thread(target=_stop_quietly, args=(poller,), name="stop-poller")
            for poller in self.pollers
        ]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        self.pollers.clear()
        if self.http_api is not None:  # before the workers, so no request finds them gone
            self.http_api.stop()
            self.http_api = None
        if self._lambda_service is not None:
            self._lambda_service.close()
            self._lambda_service = None
        if self._lambda_metrics is not None:  # sends what the last invocations recorded
            self._lambda_metrics.close()
            self._lambda_metrics = None
        if self._fault_claims is not None:
            self._fault_claims.close()
            self._fault_claims = None
        if self.payment_provider is not None:
            self.payment_provider.stop()
            self.payment_provider = None
        if self.endpoint is not None:
            self.endpoint.stop()  # stops moto only if we started it (by its PID)
            self.endpoint = None

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _stop_quietly(poller: SqsEventSourcePoller) -> None:
    try:
        poller.stop()
    except Exception:  # one failing stop must not leave the others running
        logger.exception("stopping the poller of %s failed", poller.spec.logical_id)


class _Background:
    """A function run in a thread; join() re-raises what it raised, here."""

    def __init__(self, target: Callable[[], None], *, name: str) -> None:
        self._target = target
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._target()
        except BaseException as error:  # handed to join(), in the caller's thread
            self._error = error

    def check(self) -> None:
        """Raise what the function raised if it has ended so; else return at once."""
        if not self._thread.is_alive():
            self.join()

    def join(self, *, raise_error: bool = True) -> None:
        self._thread.join()
        if self._error is not None and raise_error:
            raise self._error
