"""Throughput: `bakectl plan` as a whole process against a SimPy model of the same day.

  python benchmarks/plan_throughput.py [--cakes 100000] [--ovens 20] [--repeat 1] [--keep DIR]

Makes a workload with ../shared/bench/make_workload.py (one temperature, no mixer limit by
default), then runs, alternately and as whole processes:

- ``python -m bakectl plan DIR/orders.yaml --policy fifo --json`` (report to a file), and
- ``python ../shared/bench/simpy_bakery.py DIR`` (the SimPy reference, `fifo`).

It prints each one's wall time and peak memory (the best of --repeat runs), the ratios
bakectl / SimPy measured in this run, and whether the makespans are equal.
Goal: time ratio <= 1.0, memory ratio <= 1.0, equal makespans.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT.parent / "shared" / "bench"


def measure(command: list[str], stdout, cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MiB) of one whole process."""
    started = time.perf_counter()
    # In the workload's folder, so that no other recipes/ folder is found.
    process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, cwd=cwd)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode()
    process.stderr.close()
    if process.returncode != 0:
        raise SystemExit(f"{command[:3]} failed ({process.returncode}): {stderr[-2000:]}")
    return wall, usage.ru_maxrss / 1024  # Linux: KiB


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cakes", type=int, default=100_000)
    ap.add_argument("--ovens", type=int, default=20)
    ap.add_argument("--temperatures", type=int, default=1)
    ap.add_argument("--mixers", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each; the best is kept")
    ap.add_argument("--keep", type=Path, help="make (or reuse) the workload here")
    ap.add_argument("--bench", type=Path, default=BENCH, help="../shared/bench")
    a = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        work = (a.keep or Path(scratch) / "workload").resolve()
        if not (work / "orders.yaml").exists():
            subprocess.run([sys.executable, str(a.bench / "make_workload.py"), str(work),
                            "--cakes", str(a.cakes), "--ovens", str(a.ovens),
                            "--temperatures", str(a.temperatures), "--mixers", str(a.mixers)],
                           check=True, stdout=subprocess.DEVNULL)
        report_path = Path(scratch) / "report.json"
        env_python = [sys.executable]
        ours = [*env_python, "-m", "bakectl", "plan", str(work / "orders.yaml"),
                "--policy", "fifo", "--json"]
        simpy = [*env_python, str(a.bench / "simpy_bakery.py"), str(work)]
        best = {"bakectl": [float("inf"), float("inf")], "simpy": [float("inf"), float("inf")]}
        simpy_out = None
        for _ in range(a.repeat):
            with open(report_path, "w") as out:
                wall, rss = measure(ours, out, work)
            best["bakectl"] = [min(best["bakectl"][0], wall), min(best["bakectl"][1], rss)]
            with open(Path(scratch) / "simpy.json", "w") as out:
                wall, rss = measure(simpy, out, work)
            best["simpy"] = [min(best["simpy"][0], wall), min(best["simpy"][1], rss)]
            simpy_out = json.loads((Path(scratch) / "simpy.json").read_text())
        report = json.loads(report_path.read_text())

    ours_makespan, theirs = report["makespan_minutes"], simpy_out["makespan_minutes"]
    result = {
        "cakes": a.cakes, "ovens": a.ovens, "temperatures": a.temperatures,
        "mixers": a.mixers, "repeat": a.repeat,
        "bakectl_seconds": round(best["bakectl"][0], 2),
        "simpy_seconds": round(best["simpy"][0], 2),
        "time_ratio": round(best["bakectl"][0] / best["simpy"][0], 3),
        "bakectl_peak_mib": round(best["bakectl"][1], 1),
        "simpy_peak_mib": round(best["simpy"][1], 1),
        "memory_ratio": round(best["bakectl"][1] / best["simpy"][1], 3),
        "bakectl_makespan": ours_makespan, "simpy_makespan": theirs,
        "same_makespan": ours_makespan == theirs,
        "bakectl_simulation_seconds": report["wall_seconds"],
        "simpy_simulation_seconds": simpy_out["wall_seconds"],
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
