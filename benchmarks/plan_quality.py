"""Schedule quality: each policy's makespan on the reference instances against CP-SAT.

  python benchmarks/plan_quality.py [--instances DIR] [--policy NAME ...]

For every instance in ../shared/bench/instances (fields map one to one to FORMATS.md:
`due_minutes` is `due`, `preheat_deg_per_min` is `preheat_c_per_min`, `cool_deg_per_min` is
`cool_c_per_min`), runs each policy through the simulated kitchen and prints its makespan,
our lower bound, the CP-SAT reference (60 s), the gap to it, and the planning time.
Goal: the best policy within 3 % of CP-SAT, in under 5 s, and never below our lower bound.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCES = ROOT.parent / "shared" / "bench" / "instances"


def load_instance(path: Path):
    """(orders, recipes, bakery) of an instance file, as the model FORMATS.md describes."""
    import yaml

    from bakectl.model import Bakery, Order, OvenSpec, Recipe

    data = yaml.safe_load(path.read_text())
    ovens = tuple(OvenSpec(o["name"], o.get("max_temperature_c", 250.0),
                           o["preheat_deg_per_min"], o["cool_deg_per_min"])
                  for o in data["ovens"])
    bakery = Bakery(ovens, data.get("ambient_c", 20.0), data.get("mixers"))
    recipes = {r["name"]: Recipe(r["name"], (), r["mix_minutes"], r["temperature_c"],
                                 r["bake_minutes"]) for r in data["recipes"]}
    orders = [Order(o["id"], o["recipe"], o.get("quantity", 1), o.get("due_minutes"),
                    priority=o.get("priority", 0)) for o in data["orders"]]
    return orders, recipes, bakery


def run_policy(name, orders, recipes, bakery) -> tuple[dict, float]:
    """The report of a simulated run with policy `name`, and the seconds it took (planning
    included)."""
    from bakectl.clock import SimulatedClock
    from bakectl.kitchen import bake_orders
    from bakectl.scheduling import make_policy

    started = time.perf_counter()
    policy = make_policy(name, orders, recipes, bakery)
    report = bake_orders(orders, recipes, bakery, SimulatedClock(), policy=policy)
    return report, time.perf_counter() - started


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))
    from bakectl.scheduling import POLICY_NAMES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=Path, default=DEFAULT_INSTANCES)
    ap.add_argument("--policy", action="append", choices=POLICY_NAMES)
    ap.add_argument("--json", action="store_true", help="one JSON line per instance")
    a = ap.parse_args(argv)
    policies = a.policy or list(POLICY_NAMES)
    reference = {}
    ref_file = a.instances / "reference-cpsat-60s.jsonl"
    if ref_file.exists():
        for line in ref_file.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                reference[row["instance"]] = row
    ok = True
    for path in sorted(a.instances.glob("*.yaml")):
        orders, recipes, bakery = load_instance(path)
        ref = reference.get(path.stem, {})
        cpsat = ref.get("cpsat_makespan_minutes")
        row = {"instance": path.stem, "cpsat": cpsat,
               "fifo_reference": ref.get("fifo_makespan_minutes"), "policies": {}}
        best = None
        for name in policies:
            report, seconds = run_policy(name, orders, recipes, bakery)
            makespan = report["makespan_minutes"]
            row["lower_bound"] = report["lower_bound_minutes"]
            row["policies"][name] = {
                "makespan": makespan, "seconds": round(seconds, 3),
                "gap_to_cpsat": None if not cpsat else round(makespan / cpsat - 1, 4),
                "late_orders": report["late_orders"],
                "total_lateness": report["total_lateness_minutes"]}
            if makespan < report["lower_bound_minutes"] - 1e-6:
                ok = False
                print(f"{path.stem}: {name} makespan {makespan} below lower bound "
                      f"{report['lower_bound_minutes']}", file=sys.stderr)
            if best is None or makespan < best[1]:
                best = (name, makespan, seconds)
        row["best"] = {"policy": best[0], "makespan": best[1],
                       "gap_to_cpsat": None if not cpsat else round(best[1] / cpsat - 1, 4)}
        if cpsat and (best[1] > 1.03 * cpsat or best[2] >= 5.0):
            ok = False
        if a.json:
            print(json.dumps(row))
            continue
        print(f"{path.stem}: lower bound {row['lower_bound']:g}, CP-SAT {cpsat}, "
              f"their fifo {row['fifo_reference']}")
        for name, p in row["policies"].items():
            gap = "" if p["gap_to_cpsat"] is None else f"{p['gap_to_cpsat']:+.1%} vs CP-SAT"
            print(f"  {name:7} makespan {p['makespan']:8.1f}  {gap:17}  late {p['late_orders']:3}"
                  f"  lateness {p['total_lateness']:8.1f}  {p['seconds']:.2f} s")
    print("goal met" if ok else "goal NOT met", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
