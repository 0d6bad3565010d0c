"""Run bakectl's benchmarks: `python benchmarks/run.py [NAME ...]` (default: all of them).

Each benchmark prints ratios against a reference measured in the same run, because this
machine is shared and absolute timings are noisy. None of them is part of the test suite.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name -> (module in benchmarks/, what it measures)
BENCHMARKS = {
    "realtime": ("realtime", "bake: wall time over the timing model's ideal, 64 cakes / 8 ovens"),
    "validation": ("validation", "validate 200,000 orders: time and peak memory vs yaml.load"),
    "startup": ("startup", "bakectl --help / --version vs a bare Typer app"),
    "plan-throughput": ("plan_throughput", "plan 100,000 cakes vs a SimPy model, whole process"),
    "plan-memory-floor": ("plan_memory_floor", "bytes per cake waiting for an oven: bakectl, "
                          "SimPy, one asyncio task"),
    "plan-quality": ("plan_quality", "best policy vs CP-SAT reference makespans"),
    "serve-intake": ("serve_intake", "durable POST /orders vs a bare endpoint"),
    "serve-memory": ("serve_memory", "a server's RSS as more and more orders are delivered"),
}


def main(argv: list[str] | None = None) -> None:
    names = (argv if argv is not None else sys.argv[1:]) or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    sys.path.insert(0, str(HERE))
    for name in names:
        module_name, what = BENCHMARKS[name]
        if not (HERE / f"{module_name}.py").exists():
            print(f"== {name}: not available in this checkout", flush=True)
            continue
        print(f"== {name}: {what}", flush=True)
        importlib.import_module(module_name).main([])
        print(flush=True)


if __name__ == "__main__":
    main()
