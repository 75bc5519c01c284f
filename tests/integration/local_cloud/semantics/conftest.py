"""A moto endpoint, a Lambda runtime directory and queue/function builders for the semantics tests.

Services and mappings claim lambda faults from the endpoint (`cloud.faults.add(service=
"lambda", ...)`), as in a LocalCloud; every test's faults are cleared when it ends.

Queues get a 10 s visibility timeout by default: long enough that what a test asserts about
messages in flight still holds on a loaded machine (a cold worker can take seconds to
start there). Tests that need redelivery within the test ask for a short one and wait on
the condition they need, with generous deadlines; none races a timer.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from local_cloud.endpoint import Endpoint, EndpointFaults, start_endpoint
from local_cloud.event_sources import BatchReport, SqsEventSourcePoller
from local_cloud.lambda_runtime import (
    FaultClaims,
    InvocationResult,
    LambdaService,
    prepare_runtime_dir,
)
from local_cloud.model import FunctionSpec, SqsEventSourceSpec
from local_cloud.observe import queue_depth

REGION = "us-east-1"
HERE = Path(__file__).resolve().parent
FUNCTIONS = HERE / "functions"
PROBE_LAYER = HERE / "layers" / "probe_layer"


@pytest.fixture(scope="session")
def endpoint() -> Iterator[Endpoint]:
    with start_endpoint(port=None, reuse_from_env=False) as started:
        yield started


@pytest.fixture(scope="session")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_runtime_dir(tmp_path_factory.mktemp("var-runtime"))


@pytest.fixture(scope="session")
def sqs(endpoint: Endpoint) -> Any:
    return boto3.client("sqs", endpoint_url=endpoint.url, region_name=REGION)


def received(report: BatchReport | None) -> BatchReport:
    """The report of a batch that came (process_next_batch gives None when none did)."""
    assert report is not None, "no batch came: the poller received no message"
    return report


def invoked(report: BatchReport) -> InvocationResult:
    """The invocation of a batch (a throttled batch has none)."""
    assert report.result is not None, "the batch was throttled, not invoked"
    return report.result


def error_of(result: InvocationResult) -> dict[str, Any]:
    """Lambda's error object of an invocation that failed."""
    assert result.error is not None, f"the invocation succeeded, returning {result.payload!r}"
    return result.error


def injected_fault_of(result: InvocationResult) -> dict[str, Any]:
    """The worker's report of an injected fault that acted in an invocation."""
    assert result.injected_fault is not None, "no injected fault acted in the invocation"
    return result.injected_fault


@dataclass(frozen=True)
class Queue:
    url: str
    arn: str


@dataclass
class Cloud:
    """Builds queues, functions and mappings on the test's endpoint; closes what it built."""

    endpoint_url: str
    runtime_dir: Path
    sqs: Any
    lambda_fault_flag: Path | None = None
    services: list[LambdaService] = field(default_factory=list)
    pollers: list[SqsEventSourcePoller] = field(default_factory=list)
    _claims: FaultClaims | None = None

    @property
    def faults(self) -> EndpointFaults:
        """The endpoint's faults: add lambda faults here (`service="lambda"`)."""
        return EndpointFaults(self.endpoint_url)

    @property
    def fault_claims(self) -> FaultClaims:
        if self._claims is None:
            self._claims = FaultClaims(self.endpoint_url, flag=self.lambda_fault_flag)
        return self._claims

    def queue(
        self,
        *,
        fifo: bool = False,
        visibility_timeout: int = 10,
        dead_letter: Queue | None = None,
        max_receive_count: int = 5,
    ) -> Queue:
        name = f"q-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
        attributes = {"VisibilityTimeout": str(visibility_timeout)}
        if fifo:
            attributes["FifoQueue"] = "true"
        if dead_letter is not None:
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": dead_letter.arn, "maxReceiveCount": max_receive_count}
            )
        url = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return Queue(url=url, arn=arn["Attributes"]["QueueArn"])

    def function(
        self,
        name: str = "driven",
        *,
        timeout: int = 1,
        memory: int = 128,
        reserved: int | None = None,
        environment: dict[str, str] | None = None,
        layers: tuple[Path, ...] = (),
    ) -> FunctionSpec:
        return FunctionSpec(
            logical_id=f"{name.title().replace('_', '')}Function",
            function_name=f"semantics-{name}-{uuid.uuid4().hex[:8]}",
            handler="app.handler",
            runtime="python3.13",
            code_dir=FUNCTIONS / name,
            layer_dirs=layers,
            timeout_seconds=timeout,
            memory_mb=memory,
            environment=environment or {},
            reserved_concurrency=reserved,
        )

    def service(self, *functions: FunctionSpec) -> LambdaService:
        service = LambdaService(
            functions,
            endpoint_url=self.endpoint_url,
            region=REGION,
            runtime_dir=self.runtime_dir,
            faults=self.fault_claims,
        )
        self.services.append(service)
        return service

    def mapping(
        self,
        queue: Queue,
        function: FunctionSpec,
        service: LambdaService,
        *,
        concurrency: int | None = None,
        **options: Any,
    ) -> SqsEventSourcePoller:
        spec = SqsEventSourceSpec(
            logical_id="TestMapping",
            function_name=function.function_name,
            queue_arn=queue.arn,
            queue_url=queue.url,
            **options,
        )
        poller = SqsEventSourcePoller(
            spec,
            service,
            endpoint_url=self.endpoint_url,
            region=REGION,
            concurrency=concurrency,
            faults=self.fault_claims,
        )
        self.pollers.append(poller)
        return poller

    def send(self, queue: Queue, *bodies: dict[str, Any], group: str | None = None) -> list[str]:
        ids = []
        for body in bodies:
            extra: dict[str, Any] = {}
            if group is not None:
                extra = {"MessageGroupId": group, "MessageDeduplicationId": uuid.uuid4().hex}
            response = self.sqs.send_message(
                QueueUrl=queue.url, MessageBody=json.dumps(body), **extra
            )
            ids.append(response["MessageId"])
        return ids

    def counts(self, queue: Queue) -> tuple[int, int]:
        """(visible, in flight): what is still in the queue."""
        return queue_depth(self.sqs, queue.url)

    def receive_all(
        self, queue: Queue, expect: int, *, timeout: float = 60.0
    ) -> list[dict[str, Any]]:
        """Receive until `expect` messages came (e.g. once their visibility timeout lapsed).

        Fails the test naming what was missing after `timeout` seconds; never returns fewer.
        """
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(messages) < expect:
            if time.monotonic() > deadline:
                pytest.fail(f"received {len(messages)} of {expect} messages within {timeout} s")
            response = self.sqs.receive_message(
                QueueUrl=queue.url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                MessageSystemAttributeNames=["All"],
            )
            messages.extend(response.get("Messages", []))
        return messages

    @staticmethod
    def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
        """Poll `condition` until true; fail the test after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"condition not met within {timeout} s")
            time.sleep(0.1)

    def close(self) -> None:
        for poller in self.pollers:
            poller.stop()
        for service in self.services:
            service.close()
        if self._claims is not None:
            self._claims.close()
        self.faults.clear()  # the endpoint outlives the test; its faults must not


@pytest.fixture
def cloud(endpoint: Endpoint, runtime_dir: Path, sqs: Any) -> Iterator[Cloud]:
    built = Cloud(
        endpoint_url=endpoint.url,
        runtime_dir=runtime_dir,
        sqs=sqs,
        lambda_fault_flag=endpoint.lambda_fault_flag,
    )
    yield built
    built.close()
