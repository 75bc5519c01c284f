"""What a cold start imports, and that tracing is kept where it is on (issue #10).

Each handler module is imported in a fresh interpreter with the function's folder and the
layer on sys.path, as Lambda sets them up (and as benchmarks/cold_imports.py measures it).

- Tracing off: nothing a cold start can do without is imported: not the X-Ray SDK (the
  Tracer gets a provider that records nothing), not pydantic or the message models
  (loaded by the first message), not email-validator or dnspython, not stripe (loaded by
  the first charge).
- Tracing on, as deployed (Lambda with `Tracing: Active`): the handler's tracer is
  Powertools' Tracer on the X-Ray recorder, botocore is patched, and an invocation hands
  X-Ray the handler's subsegment (annotated ColdStart and Service) and, for the SQS
  consumers, the record handler's; an emitter standing in for the daemon keeps them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.events import load_event

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "shared"
HANDLERS = ("signup", "welcome_email", "billing")

# Modules a cold start must not import, with what loads them instead.
DEFERRED = {
    "aws_xray_sdk.core": "only where tracing is on",
    "pydantic": "by the first message (delivery_guarantees.models)",
    "delivery_guarantees.models": "by the first message",
    "email_validator": "by the first address validated",
    "dns": "never: email-validator loads dnspython only for deliverability checks",
    "stripe": "by the first charge",
}

AWS = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}
POWERTOOLS = {"POWERTOOLS_SERVICE_NAME": "cold-start", "POWERTOOLS_METRICS_NAMESPACE": "Test"}

IMPORTED = """
import json, sys
sys.path[:0] = sys.argv[1:3]
import app
print(json.dumps(sorted(sys.modules)))
"""

# One invocation with tracing on; prints what the tracer is and what reached the emitter.
TRACED = """
import json, os, sys
sys.path[:0] = sys.argv[1:3]
import app
from aws_xray_sdk.core import patcher, xray_recorder
from delivery_guarantees.poison import PoisonMessageRouter


class KeptEntities:  # in place of the UDP emitter to the X-Ray daemon
    def __init__(self):
        self.entities = []

    def send_entity(self, entity):
        self.entities.append(json.loads(entity.serialize()))

    def set_daemon_address(self, address):
        pass


class Sqs:
    def send_message(self, **request):
        return {"MessageId": "dead-letter-copy"}


class Context:
    function_name = "cold-start"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cold-start"
    aws_request_id = "request-1"

    def get_remaining_time_in_millis(self):
        return 30_000


xray_recorder.emitter = kept = KeptEntities()
app.poison_router = lambda: PoisonMessageRouter("https://sqs.example/dlq", client=Sqs())
# What Lambda sets for a sampled request.
os.environ["_X_AMZN_TRACE_ID"] = (
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
)
event = json.loads(sys.argv[3])
answer = app.lambda_handler(event, Context())
print(json.dumps({
    "tracer": f"{type(app.tracer).__module__}.{type(app.tracer).__qualname__}",
    "on_the_xray_recorder": app.tracer.provider is xray_recorder,
    "disabled": app.tracer.disabled,
    "patched": sorted(patcher._PATCHED_MODULES),
    "subsegments": {e["name"]: e.get("annotations", {}) for e in kept.entities},
    "answer": answer,
}, default=str))
"""


def run(script: str, handler: str, env: dict[str, str], *args: str) -> Any:
    folder = ROOT / "functions" / handler
    done = subprocess.run(  # noqa: S603 - our interpreter, our script
        [sys.executable, "-c", script, str(folder), str(LAYER), *args],
        env=env,
        capture_output=True,
        text=True,
        cwd="/",
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "where",
    [
        pytest.param({}, id="outside-lambda"),
        pytest.param(
            {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"},
            id="lambda-with-tracing-disabled",
        ),
    ],
)
@pytest.mark.parametrize("handler", HANDLERS)
def test_a_cold_start_with_tracing_off_imports_nothing_it_can_defer(
    handler: str, where: dict[str, str]
) -> None:
    modules = set(run(IMPORTED, handler, AWS | POWERTOOLS | where))

    loaded = {name: why for name, why in DEFERRED.items() if name in modules}

    assert not loaded, f"functions/{handler}/app.py imports, at a cold start: {loaded}"


def invocation(handler: str) -> dict[str, Any]:
    """An event the handler answers without an AWS call: invalid input, a poison record."""
    if handler == "signup":
        return load_event("signup_invalid_email")  # 400
    batch = load_event("welcome_email_batch" if handler == "welcome_email" else "billing_charge")
    # A record that is no job or charge: dead-lettered (to a fake SQS) and acknowledged.
    return {"Records": [batch["Records"][0] | {"body": "{}"}]}


@pytest.mark.parametrize("handler", HANDLERS)
def test_with_tracing_on_the_handler_is_traced_by_x_ray(handler: str) -> None:
    deployed = {
        "LAMBDA_TASK_ROOT": str(ROOT / "functions" / handler),  # in Lambda, tracing on
        "DEAD_LETTER_QUEUE_URL": "https://sqs.example/dlq",
        "SENDER_EMAIL_ADDRESS": "welcome@example.com",
        "IDEMPOTENCY_TABLE_NAME": "idempotency",
        "CHARGES_TABLE_NAME": "charges",
        "PAYMENT_PROVIDER_SECRET_PARAMETER_NAME": "/payment-provider/secret-key",
        "PAYMENT_PROVIDER_API_BASE": "https://payments.example",
        "MAX_CHARGE_AMOUNT": "99999999",
    }

    seen = run(TRACED, handler, AWS | POWERTOOLS | deployed, json.dumps(invocation(handler)))

    assert seen["tracer"] == "aws_lambda_powertools.tracing.tracer.Tracer", seen
    assert seen["on_the_xray_recorder"], f"tracing is lost: {seen}"
    assert not seen["disabled"], seen
    assert "botocore" in seen["patched"], "AWS SDK calls would not be traced"
    handler_segment = seen["subsegments"].get("## lambda_handler")
    assert handler_segment == {"ColdStart": True, "Service": "cold-start"}, seen
    if handler != "signup":  # the SQS consumers also trace each record
        assert "## app.record_handler" in seen["subsegments"], seen
        assert seen["answer"] == {"batchItemFailures": []}
    else:
        assert seen["answer"]["statusCode"] == 400
