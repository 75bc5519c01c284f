"""Start-up of the local cloud (`make local`): cold, warm, and a baseline, in one run.

Each start is a fresh interpreter, as `make local` is, starting this repository's stack
with its local-cloud.toml (payment provider included, on its port 12111 as in `make
local`; the endpoint and the HTTP API on free ports), timed from the
interpreter's launch to LocalCloud.start() returning ("Ready"), then stopped:

- cold: an empty state directory and an empty dependency cache (temporary ones, the
  cache by LOCAL_CLOUD_CACHE_DIR): every dependency set installed by pip (from pip's
  cache), every build, zip and translation made;
- new checkout: another empty state directory, the dependency cache the cold start
  filled: what the first `make local` of a second checkout does (nothing installed);
- warm: the same state directory again, sources unchanged: what a second `make local`
  does;
- baseline: `import boto3` and start the endpoint (moto, no preloading) until it
  answers, then stop it: the least any start on this endpoint costs.

Runs go in turns (baseline, warm, baseline, warm, ...) so a load that comes and goes
on a shared machine falls on both. Printed: each phase (LocalCloud.phases: several run
at once, see LocalCloud._start), the total wall time, the CPU time of the parent and of
the endpoint process (steadier than wall time on a loaded machine), and the warm total
as a ratio to the baseline and to the cold start of the same run. Asserts nothing.

    .venv/bin/python benchmarks/start_up.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_MARK = "START_UP_RESULT "


def _process_cpu(pid: int) -> float | None:
    """User plus system CPU seconds of a live process (Linux /proc), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    return time.process_time()


def child_start(state_dir: Path) -> None:
    """One start of the stack, in this (fresh) interpreter; prints the result as JSON."""
    from dataclasses import replace

    from local_cloud.cloud import LocalCloud, load_settings

    settings = replace(load_settings(ROOT / "local-cloud.toml"), state_dir=state_dir)
    # The provider on its usual port, as `make local` has it: its URL is a template
    # parameter, so a port that changed each run would make each translation new.
    cloud = LocalCloud(settings, endpoint_port=None)
    try:
        cloud.start()
        assert cloud.endpoint is not None
        assert cloud.endpoint.process is not None
        assert cloud.deployment is not None
        result = {
            "phases": cloud.phases,
            "ready_in_process": cloud.ready_seconds,
            "cpu_parent": _own_cpu(),
            "cpu_endpoint": _process_cpu(cloud.endpoint.process.pid),
            "dependency_installs": cloud.deployment.dependency_installs,
            "builds_reused": cloud.deployment.builds_reused,
        }
        print(_MARK + json.dumps(result), flush=True)
    finally:
        cloud.stop()


def child_baseline() -> None:
    """import boto3, start the endpoint until it answers: the floor of any start."""
    import boto3  # noqa: F401 - what every start imports

    from local_cloud.endpoint import start_endpoint

    endpoint = start_endpoint(port=None, reuse_from_env=False)
    try:
        assert endpoint.process is not None
        result = {
            "cpu_parent": _own_cpu(),
            "cpu_endpoint": _process_cpu(endpoint.process.pid),
        }
        print(_MARK + json.dumps(result), flush=True)
    finally:
        endpoint.stop()


def run_child(*arguments: str, cache_dir: Path | None = None) -> dict[str, Any]:
    """Launch this script as a child (its dependency cache in cache_dir, if given); wall
    time from launch to its result line."""
    environment = dict(os.environ)
    if cache_dir is not None:
        environment["LOCAL_CLOUD_CACHE_DIR"] = str(cache_dir)
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - this interpreter and this script
        [sys.executable, __file__, *arguments],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    result: dict[str, Any] | None = None
    for line in process.stdout:
        if line.startswith(_MARK):
            result = json.loads(line[len(_MARK) :])
            result["wall"] = time.perf_counter() - started
            break
    _, errors = process.communicate(timeout=300)
    if result is None or process.returncode != 0:
        raise SystemExit(f"{' '.join(arguments)} failed ({process.returncode}):\n{errors}")
    return result


def _range(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:6.2f}"
    return f"{min(values):6.2f} - {max(values):5.2f} (median {statistics.median(values):.2f})"


def _cpu(result: dict[str, Any]) -> float:
    return float(result["cpu_parent"]) + float(result["cpu_endpoint"] or 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="warm starts and baselines (3)")
    parser.add_argument("--child", choices=["start", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "start":
        child_start(args.state_dir)
        return
    if args.child == "baseline":
        child_baseline()
        return
    if args.runs < 1:
        parser.error("--runs must be 1 or more")

    with tempfile.TemporaryDirectory(prefix="start-up-bench-") as scratch:
        state_dir = Path(scratch) / "state"
        cache_dir = Path(scratch) / "cache"
        print(f"load average before: {os.getloadavg()[0]:.2f} (CPUs: {os.cpu_count()})")
        cold = run_child("--child", "start", "--state-dir", str(state_dir), cache_dir=cache_dir)
        checkout = run_child(
            "--child", "start", "--state-dir", str(Path(scratch) / "other"), cache_dir=cache_dir
        )
        baselines: list[dict[str, Any]] = []
        warm: list[dict[str, Any]] = []
        for _ in range(args.runs):
            baselines.append(run_child("--child", "baseline"))
            warm.append(
                run_child("--child", "start", "--state-dir", str(state_dir), cache_dir=cache_dir)
            )
        print(f"load average after:  {os.getloadavg()[0]:.2f}")

    print(
        f"\ncold start: {cold['wall']:.2f} s wall, {_cpu(cold):.2f} s CPU "
        f"({cold['dependency_installs']} dependency set(s) installed)"
    )
    print(
        f"new checkout (empty state directory, the cache the cold start filled): "
        f"{checkout['wall']:.2f} s wall, {_cpu(checkout):.2f} s CPU "
        f"({checkout['dependency_installs']} dependency set(s) installed); "
        f"new checkout / cold, wall: {checkout['wall'] / cold['wall']:.2f}x, "
        f"CPU: {_cpu(checkout) / _cpu(cold):.2f}x"
    )
    print(f"warm starts ({args.runs}), seconds per phase (steps overlap: see LocalCloud._start):")
    for phase in warm[0]["phases"]:
        print(f"  {phase:22} {_range([run['phases'].get(phase, 0.0) for run in warm])}")
        if phase in cold["phases"]:
            print(f"  {'':22} cold {cold['phases'][phase]:.2f}")
    warm_wall = [run["wall"] for run in warm]
    base_wall = [run["wall"] for run in baselines]
    print(f"  {'total (wall)':22} {_range(warm_wall)}")
    print(f"  {'CPU parent':22} {_range([run['cpu_parent'] for run in warm])}")
    print(f"  {'CPU endpoint':22} {_range([run['cpu_endpoint'] or 0.0 for run in warm])}")
    print(f"  builds reused: {sorted({run['builds_reused'] for run in warm})}")
    print(f"baseline (import boto3 + endpoint answering): {_range(base_wall)} wall, "
          f"{_range([_cpu(run) for run in baselines])} CPU")  # fmt: skip
    pairs = list(zip(warm, baselines, strict=True))
    wall_ratios = [w["wall"] / b["wall"] for w, b in pairs]
    cpu_ratios = [_cpu(w) / _cpu(b) for w, b in pairs]
    print(f"warm / baseline, wall, each turn: {', '.join(f'{r:.2f}x' for r in wall_ratios)}")
    print(f"warm / baseline, CPU, each turn:  {', '.join(f'{r:.2f}x' for r in cpu_ratios)}")
    print(f"warm / cold, wall (median warm):  {statistics.median(warm_wall) / cold['wall']:.2f}x")


if __name__ == "__main__":
    main()
