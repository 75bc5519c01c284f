"""Cold-import time of each handler module against `import boto3` alone, in the same run.

Each sample is a fresh interpreter (what a Lambda cold start pays for imports), with the
function's folder and the shared layer on sys.path as Lambda sets them up. Prints the
median and the ratio to the boto3 baseline; asserts nothing.

    .venv/bin/python benchmarks/cold_imports.py [--samples 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "shared"
HANDLERS = {
    "signup": ROOT / "functions" / "signup",
    "welcome_email": ROOT / "functions" / "welcome_email",
    "billing": ROOT / "functions" / "billing",
}

# The environment a deployed function sees; config is read on first use, not at import,
# so these only keep Powertools quiet and offline.
ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "benchmark",
    "POWERTOOLS_METRICS_NAMESPACE": "DeliveryGuarantees",
    "POWERTOOLS_TRACE_DISABLED": "true",
}

PROBE = """
import sys, time
sys.path[:0] = {paths!r}
start = time.perf_counter()
import {module}
print(time.perf_counter() - start)
"""


def sample(module: str, paths: list[str]) -> float:
    out = subprocess.run(  # noqa: S603 - our interpreter, our probe
        [sys.executable, "-c", PROBE.format(paths=paths, module=module)],
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    )
    return float(out.stdout.strip().splitlines()[-1])


def median_ms(module: str, paths: list[str], samples: int) -> float:
    sample(module, paths)  # warm the OS page cache and .pyc files before measuring
    return statistics.median(sample(module, paths) for _ in range(samples)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=15)
    args = parser.parse_args()

    baseline = median_ms("boto3", [], args.samples)
    version = sys.version.split()[0]
    print(f"cold import, median of {args.samples} fresh interpreters (python {version})")
    print(f"  {'import boto3 (baseline)':<32} {baseline:8.1f} ms   1.00x")
    for name, folder in HANDLERS.items():
        ms = median_ms("app", [str(folder), str(LAYER)], args.samples)
        print(f"  {'functions/' + name + '/app.py':<32} {ms:8.1f} ms   {ms / baseline:.2f}x")


if __name__ == "__main__":
    main()
