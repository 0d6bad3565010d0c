"""Real-time efficiency of `bakectl bake`: wall time over the timing model's ideal.

  python benchmarks/realtime.py [--cakes 64] [--ovens 8] [--speeds 3000,30000]

The workload comes from ../shared/bench/make_workload.py. The reference, measured in the same
run, is the timing model itself: the same orders in simulated time give the makespan a perfect
real-time run would take (makespan * 60 / speed seconds). A ratio of 1.00 means no overhead.
Every real run's JSON report is also checked with ../shared/tools/check-report.py.
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
SHARED = ROOT.parent / "shared"


def make_workload(out: Path, cakes: int, ovens: int, temperatures: int = 4) -> None:
    subprocess.run([sys.executable, str(SHARED / "bench" / "make_workload.py"), str(out),
                    "--cakes", str(cakes), "--ovens", str(ovens),
                    "--temperatures", str(temperatures)], check=True, capture_output=True)


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cakes", type=int, default=64)
    ap.add_argument("--ovens", type=int, default=8)
    ap.add_argument("--speeds", default="3000,30000")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from bakectl.clock import RealClock, SimulatedClock
    from bakectl.inputs import load_inputs
    from bakectl.kitchen import bake_orders
    from bakectl.plugins import get_plugin_manager

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_workload(work, args.cakes, args.ovens)
        os.chdir(work)  # the workload's recipes/ is then also the current directory's
        inputs = load_inputs(get_plugin_manager(installed=False), work / "orders.yaml")
        model = bake_orders(inputs.orders, inputs.recipes, inputs.bakery, SimulatedClock())
        for speed in (float(s) for s in args.speeds.split(",")):
            ideal = model["makespan_minutes"] * 60 / speed
            started = time.perf_counter()
            report = bake_orders(inputs.orders, inputs.recipes, inputs.bakery, RealClock(speed))
            wall = time.perf_counter() - started
            report_path = work / f"report-{speed:g}.json"
            report_path.write_text(json.dumps(report))
            check = subprocess.run([sys.executable, str(SHARED / "tools" / "check-report.py"),
                                    str(report_path), str(work), "--makespan",
                                    str(model["makespan_minutes"])],
                                   capture_output=True, text=True)
            rows.append({"speed": speed, "ideal_s": ideal, "wall_s": wall,
                         "ratio": wall / ideal,
                         "makespan_real": report["makespan_minutes"],
                         "makespan_model": model["makespan_minutes"],
                         "check": "ok" if check.returncode == 0 else check.stdout.strip()})
    print(f"real-time efficiency: {args.cakes} cakes on {args.ovens} ovens "
          f"(reference: the timing model's ideal, same run)")
    print(f"{'speed':>8} {'ideal s':>8} {'wall s':>8} {'wall/ideal':>10} "
          f"{'makespan real/model':>20}  check-report")
    for r in rows:
        print(f"{r['speed']:>8g} {r['ideal_s']:>8.2f} {r['wall_s']:>8.2f} {r['ratio']:>10.3f} "
              f"{r['makespan_real'] / r['makespan_model']:>20.4f}  {r['check']}")
    return rows


if __name__ == "__main__":
    main()
