"""Cold start of each handler against `import boto3` alone, in the same run.

1. Import: each sample is a fresh interpreter importing the handler module (what a Lambda
   cold start pays for imports), with the function's folder and the shared layer on
   sys.path as Lambda sets them up, and tracing off. The samples of the baseline and of
   each handler take turns, so a change in the machine's load hits them alike. Wall time
   and the interpreter's CPU time, each as a median and as a ratio to the baseline; CPU
   time is the steadier figure on a loaded machine.
2. Init Duration: cold invocations of each function on the local cloud's Lambda service
   (worker processes, as `make local` runs them), read from the REPORT line, against a
   function whose module only imports boto3. With tracing off, as in 1, and with tracing
   on, as deployed (`Tracing: Active`: Powertools' Tracer then loads the X-Ray SDK).

Prints figures; asserts nothing. About a minute.

    .venv/bin/python benchmarks/cold_imports.py [--samples 15] [--init-samples 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from local_cloud.lambda_runtime import LambdaService
from local_cloud.model import FunctionSpec
from local_cloud.stack.build import Builder, DependencyCache, user_cache_dir

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "shared"
HANDLERS = {
    "signup": ROOT / "functions" / "signup",
    "welcome_email": ROOT / "functions" / "welcome_email",
    "billing": ROOT / "functions" / "billing",
}
BASELINE = "baseline"  # the key of the `import boto3` figures

# The environment a deployed function sees; config is read on first use, not at import,
# so these only keep Powertools quiet and offline.
POWERTOOLS_ENV = {
    "POWERTOOLS_SERVICE_NAME": "benchmark",
    "POWERTOOLS_METRICS_NAMESPACE": "DeliveryGuarantees",
}
TRACING_OFF = {"POWERTOOLS_TRACE_DISABLED": "true"}
ENV = {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"} | POWERTOOLS_ENV | TRACING_OFF

PROBE = """
import sys, time
sys.path[:0] = {paths!r}
start, cpu = time.perf_counter(), time.process_time()
import {module}
print(time.perf_counter() - start, time.process_time() - cpu)
"""

BASELINE_HANDLER = """import boto3


def lambda_handler(event, context):
    return None
"""
INIT_DURATION = re.compile(r"Init Duration: ([0-9.]+) ms")


def sample(module: str, paths: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one cold import."""
    out = subprocess.run(  # noqa: S603 - our interpreter, our probe
        [sys.executable, "-c", PROBE.format(paths=paths, module=module)],
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    )
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def import_samples(samples: int) -> dict[str, list[tuple[float, float]]]:
    probes: dict[str, Callable[[], tuple[float, float]]] = {BASELINE: partial(sample, "boto3", [])}
    for name, folder in HANDLERS.items():
        probes[name] = partial(sample, "app", [str(folder), str(LAYER)])
    for probe in probes.values():
        probe()  # warm the OS page cache and .pyc files before measuring
    taken: dict[str, list[tuple[float, float]]] = {name: [] for name in probes}
    for _ in range(samples):
        for name, probe in probes.items():
            taken[name].append(probe())
    return taken


def function_specs(scratch: Path) -> tuple[list[FunctionSpec], Path]:
    """The three functions and the baseline, on a fresh build of the layer; the runtime dir."""
    # The dependencies `make local` installed, in the user's cache directory.
    dependencies = user_cache_dir() / "dependencies"
    cache = DependencyCache(dependencies, constraints=ROOT / "constraints.txt")
    builder = Builder(scratch / "build", cache)
    layer = builder.layer("SharedLayer", LAYER)
    baseline = scratch / "baseline"
    baseline.mkdir()
    (baseline / "app.py").write_text(BASELINE_HANDLER)
    specs = [FunctionSpec("Baseline", BASELINE, "app.lambda_handler", "python3.13", baseline)]
    for name, folder in HANDLERS.items():
        logical_id = name.title().replace("_", "") + "Function"  # letters and digits only
        specs.append(
            FunctionSpec(logical_id, name, "app.lambda_handler", "python3.13", folder, (layer,))
        )
    return specs, builder.runtime()


def init_durations(
    specs: list[FunctionSpec], runtime_dir: Path, samples: int, environment: dict[str, str]
) -> dict[str, list[float]]:
    """Init Duration (ms) of `samples` cold starts of each function, taking turns."""
    specs = [dataclasses.replace(spec, environment=environment) for spec in specs]
    durations: dict[str, list[float]] = {spec.function_name: [] for spec in specs}
    with LambdaService(
        specs, endpoint_url="http://127.0.0.1:9", region="us-east-1", runtime_dir=runtime_dir
    ) as service:
        for round_ in range(samples + 1):  # round 0 writes .pyc files: not counted
            for spec in specs:
                # Any event: only the init phase before it is read. No AWS call is made.
                result = service.invoke(spec.logical_id, {})
                service.reclaim_idle_workers(spec.logical_id, keep=0)  # the next one is cold
                match = INIT_DURATION.search(result.logs)
                if match is None or "INIT_REPORT" in result.logs:  # none, or the init failed
                    raise RuntimeError(f"{spec.logical_id}: no cold start in\n{result.logs}")
                if round_:
                    durations[spec.function_name].append(float(match[1]))
    return durations


def label(name: str) -> str:
    return "import boto3 (baseline)" if name == BASELINE else f"functions/{name}/app.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=15, help="fresh interpreters each")
    parser.add_argument("--init-samples", type=int, default=3, help="cold starts each")
    args = parser.parse_args()

    imports = import_samples(args.samples)
    wall = {name: statistics.median(w for w, _ in taken) * 1000 for name, taken in imports.items()}
    cpu = {name: statistics.median(c for _, c in taken) * 1000 for name, taken in imports.items()}
    version = sys.version.split()[0]
    print(f"cold import, median of {args.samples} fresh interpreters (python {version})")
    print(f"  {'':<32} {'wall':>8}  {'ratio':>6}  {'cpu':>8}  {'ratio':>6}")
    for name in imports:
        print(
            f"  {label(name):<32} {wall[name]:5.1f} ms  {wall[name] / wall[BASELINE]:5.2f}x"
            f"  {cpu[name]:5.1f} ms  {cpu[name] / cpu[BASELINE]:5.2f}x"
        )

    with tempfile.TemporaryDirectory(prefix="cold-start-benchmark-") as scratch:
        specs, runtime_dir = function_specs(Path(scratch))
        off = init_durations(specs, runtime_dir, args.init_samples, POWERTOOLS_ENV | TRACING_OFF)
        on = init_durations(specs, runtime_dir, args.init_samples, POWERTOOLS_ENV)
    print(
        f"Init Duration on the local cloud (REPORT line), median of {args.init_samples} "
        "cold starts; baseline: a function whose module imports boto3"
    )
    print(f"  {'':<32} {'tracing off':>19}  {'tracing on (as deployed)':>24}")
    for name in off:
        off_ms, on_ms = statistics.median(off[name]), statistics.median(on[name])
        off_ratio = off_ms / statistics.median(off[BASELINE])
        on_ratio = on_ms / statistics.median(on[BASELINE])
        print(
            f"  {label(name):<32} {off_ms:7.1f} ms  {off_ratio:5.2f}x"
            f"  {on_ms:14.1f} ms  {on_ratio:5.2f}x"
        )


if __name__ == "__main__":
    main()
