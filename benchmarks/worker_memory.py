"""A worker's memory at each stage, and what holding it to MemorySize costs.

1. Stages: fresh interpreters started as the local cloud starts a worker (`python -I -S`,
   Lambda's sys.path), each reading its own RSS (VmRSS) at interpreter start, after the
   bootstrap's own imports (bootstrap.py imported), and after importing the handler's
   module: a bare function, a function whose module imports boto3 (the baseline), one
   that also creates a client at import (the usual pattern), and the three functions of
   template.yaml as deployed (tracing on). Ratios are to the baseline.
2. After an invocation: REPORT's Max Memory Used (the worker's peak RSS) of one cold
   invocation of each, on the local cloud's Lambda service. The functions get an SQS event
   with no records (or, for signup, an HTTP API event with no body): each runs its handler
   and fails fast or answers without an AWS call.
3. Cost of the enforcement: the parent's CPU time (the invoking thread samples the
   worker's RSS while it waits) over warm invocations that sleep 100 ms, sampling every
   SAMPLE_SECONDS against sampling switched off (an interval longer than the invocation:
   only the peak is read at the end), in the same run, alternating.

Prints figures; asserts nothing. About a minute.

    .venv/bin/python benchmarks/worker_memory.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from local_cloud.cloud import load_settings
from local_cloud.lambda_runtime import LambdaService
from local_cloud.lambda_runtime.memory import SAMPLE_SECONDS
from local_cloud.lambda_runtime.worker import BOOTSTRAP_PATH, python_sys_path
from local_cloud.model import FunctionSpec
from local_cloud.stack.build import Builder, DependencyCache

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "shared"
FUNCTIONS = {
    "SignupFunction": (ROOT / "functions" / "signup", 512),
    "WelcomeEmailFunction": (ROOT / "functions" / "welcome_email", 256),
    "BillingFunction": (ROOT / "functions" / "billing", 256),
}
BASELINE = "Boto3Import"
HANDLERS = {
    "Bare": "def lambda_handler(event, context):\n    return None\n",
    BASELINE: "import boto3\n\n\ndef lambda_handler(event, context):\n    return None\n",
    "Boto3Client": (
        "import boto3\n\nsqs = boto3.client('sqs')\n\n\n"
        "def lambda_handler(event, context):\n    return None\n"
    ),
}
# What the functions read at import or first use; no AWS call is made with these.
ENVIRONMENT = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "benchmark",
    "AWS_SECRET_ACCESS_KEY": "benchmark",
    "POWERTOOLS_SERVICE_NAME": "benchmark",
    "POWERTOOLS_METRICS_NAMESPACE": "DeliveryGuarantees",
    "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
    "POWERTOOLS_TRACER_CAPTURE_ERROR": "false",
    "ACCOUNTS_TABLE_NAME": "accounts",
    "CHARGES_TABLE_NAME": "charges",
    "IDEMPOTENCY_TABLE_NAME": "idempotency",
    "WELCOME_EMAIL_QUEUE_URL": "http://127.0.0.1:9/queue/welcome",
    "BILLING_QUEUE_URL": "http://127.0.0.1:9/queue/billing",
    "WELCOME_EMAIL_DEAD_LETTER_QUEUE_URL": "http://127.0.0.1:9/queue/welcome-dlq",
    "WELCOME_EMAIL_DELIVERY": "queued",
    "SIGNUP_CHARGE_AMOUNT": "1000",
    "SIGNUP_CHARGE_CURRENCY": "usd",
    "SENDER_EMAIL_ADDRESS": "sender@example.com",
}
EVENTS: dict[str, dict[str, object]] = {
    "SignupFunction": {"version": "2.0", "body": None, "requestContext": {}}
}
SQS_EVENT: dict[str, list[object]] = {"Records": []}

PROBE = """
import importlib, json, sys
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
stages = {"interpreter": rss()}
sys.path.insert(0, %(bootstrap_dir)r)
import bootstrap
stages["bootstrap"] = rss()
sys.path[:0] = %(paths)r
importlib.import_module("app")
stages["handler"] = rss()
print(json.dumps(stages))
"""
MAX_MEMORY_USED = re.compile(r"\tMax Memory Used: (\d+) MB")


def build(scratch: Path) -> tuple[list[FunctionSpec], Path]:
    """The benchmark's functions on a fresh build of the layer; the runtime dir."""
    state_dir = ROOT / load_settings(ROOT / "local-cloud.toml").state_dir
    cache = DependencyCache(
        state_dir / "build" / "dependencies", constraints=ROOT / "constraints.txt"
    )
    builder = Builder(scratch / "build", cache)
    layer = builder.layer("SharedLayer", LAYER)
    specs = []
    for name, source in HANDLERS.items():
        folder = scratch / name
        folder.mkdir()
        (folder / "app.py").write_text(source)
        specs.append(FunctionSpec(name, name, "app.lambda_handler", "python3.13", folder))
    for name, (folder, memory_mb) in FUNCTIONS.items():
        specs.append(
            FunctionSpec(
                name,
                name,
                "app.lambda_handler",
                "python3.13",
                folder,
                (layer,),
                memory_mb=memory_mb,
            )
        )
    specs = [dataclasses.replace(spec, environment=ENVIRONMENT) for spec in specs]
    return specs, builder.runtime()


def stages(spec: FunctionSpec, runtime_dir: Path) -> dict[str, float]:
    probe = PROBE % {
        "bootstrap_dir": str(BOOTSTRAP_PATH.parent),
        "paths": python_sys_path(spec, runtime_dir),
    }
    out = subprocess.run(  # noqa: S603 - our interpreter, our probe
        [sys.executable, "-I", "-S", "-c", probe],
        env={**ENVIRONMENT, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        cwd=spec.code_dir,
    )
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def after_invocation(specs: list[FunctionSpec], runtime_dir: Path) -> dict[str, int]:
    used: dict[str, int] = {}
    with LambdaService(
        specs, endpoint_url="http://127.0.0.1:9", region="us-east-1", runtime_dir=runtime_dir
    ) as service:
        for spec in specs:
            result = service.invoke(spec.logical_id, EVENTS.get(spec.logical_id, SQS_EVENT))
            found = MAX_MEMORY_USED.search(result.logs)
            if found is None or "INIT_REPORT" in result.logs:
                raise RuntimeError(f"{spec.logical_id}: no figure in\n{result.logs}")
            used[spec.logical_id] = int(found[1])
    return used


SLEEPER = "import time\n\n\ndef lambda_handler(event, context):\n    time.sleep(0.1)\n"


def sampling_cost(scratch: Path, runtime_dir: Path, rounds: int) -> dict[str, float]:
    """Parent CPU ms per warm 100 ms invocation, sampling on and off."""
    folder = scratch / "Sleeper"
    folder.mkdir()
    (folder / "app.py").write_text(SLEEPER)
    spec = FunctionSpec("Sleeper", "Sleeper", "app.lambda_handler", "python3.13", folder)
    services = {
        "sampling": LambdaService(
            [spec],
            endpoint_url="http://127.0.0.1:9",
            region="us-east-1",
            runtime_dir=runtime_dir,
        ),
        "off": LambdaService(
            [spec],
            endpoint_url="http://127.0.0.1:9",
            region="us-east-1",
            runtime_dir=runtime_dir,
            memory_sample_seconds=3600,
        ),
    }
    cpu: dict[str, list[float]] = {name: [] for name in services}
    try:
        for service in services.values():
            service.invoke("Sleeper", {})  # the cold start, not measured
        for _ in range(rounds):
            for name, service in services.items():
                started = time.thread_time()
                service.invoke("Sleeper", {})
                cpu[name].append((time.thread_time() - started) * 1000)
    finally:
        for service in services.values():
            service.close()
    return {name: statistics.median(taken) for name, taken in cpu.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="warm invocations each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="worker-memory-benchmark-") as scratch:
        specs, runtime_dir = build(Path(scratch))
        for spec in specs:  # write .pyc files before measuring
            stages(spec, runtime_dir)
        taken = {spec.logical_id: stages(spec, runtime_dir) for spec in specs}
        used = after_invocation(specs, runtime_dir)
        cost = sampling_cost(Path(scratch), runtime_dir, args.rounds)

    base = taken[BASELINE]["handler"]
    version = sys.version.split()[0]
    print(f"worker RSS (VmRSS, MB) at each stage, python {version}; ratio to `import boto3`")
    header = f"  {'':<22} {'interpreter':>11} {'bootstrap':>9} {'handler':>8} {'ratio':>6}"
    print(header + f" {'after invoke':>12} {'MemorySize':>10}")
    for spec in specs:
        figures = taken[spec.logical_id]
        print(
            f"  {spec.logical_id:<22} {figures['interpreter']:11.1f} {figures['bootstrap']:9.1f}"
            f" {figures['handler']:8.1f} {figures['handler'] / base:5.2f}x"
            f" {used[spec.logical_id]:12d} {spec.memory_mb:10d}"
        )
    print(
        f"parent CPU per warm 100 ms invocation, median of {args.rounds}: sampling every "
        f"{SAMPLE_SECONDS * 1000:.0f} ms {cost['sampling']:.2f} ms, off {cost['off']:.2f} ms "
        f"({cost['sampling'] / cost['off']:.2f}x)"
    )


if __name__ == "__main__":
    main()
