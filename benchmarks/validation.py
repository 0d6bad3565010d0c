"""How fast and how lean bakectl validates a large orders file, against plain PyYAML.

    python benchmarks/validation.py [--orders 200000] [--out FILE] [--json]

Writes a generated orders file (block style, every field of FORMATS.md), then measures, each
in a fresh subprocess so that peak memory is its own:

- bakectl: `load_orders` and `check_orders` (known recipes, the default bakery);
- the reference: `yaml.load(file, Loader=yaml.CSafeLoader)`, libyaml's fastest safe load,
  which only builds the Python objects and checks nothing.

and prints wall time and peak RSS for both, with the ratios bakectl / reference.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ("sponge", "madeira", "chocolate", "white_loaf")
CUSTOMERS = ("Alice Martin", "Bob Okafor", "Chloé Dubois", "Dmitri Ivanov", "Eve Tanaka",
             "Farah Haddad", "Gianluca Rossi", "Hannah Müller", "Ines Carvalho", "Jun Park")


def write_orders(path: str | Path, count: int, *, seed: int = 1) -> int:
    """Write an orders file of `count` orders (ids o-1...) to `path`; gives its size in bytes."""
    rng = random.Random(seed)
    horizon = max(60, count * 10)
    with open(path, "w", encoding="utf-8") as out:
        out.write("orders:\n")
        for k in range(1, count + 1):
            out.write(f"  - id: o-{k}\n"
                      f"    recipe: {rng.choice(RECIPES)}\n"
                      f"    quantity: {rng.randint(1, 4)}\n"
                      f"    due: {rng.randint(60, horizon)}\n"
                      f"    customer: {rng.choice(CUSTOMERS)}\n"
                      f"    priority: {rng.randint(0, 3)}\n")
    return os.path.getsize(path)


def _peak_rss_mb() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024  # bytes on macOS


def _child(kind: str, path: str) -> None:
    """Run one reader on `path` in this (fresh) process; print its time and peak RSS as JSON."""
    if kind == "bakectl":
        from bakectl.files import check_orders, load_orders
        from bakectl.model import Bakery, Recipe

        recipes = {name: Recipe(name, (), 10.0, 180.0, 25.0) for name in RECIPES}
        began = time.perf_counter()
        orders = load_orders(path)
        check_orders(orders, recipes, Bakery.default())
        count = len(orders)
    else:
        import yaml

        began = time.perf_counter()
        with open(path, "rb") as stream:
            count = len(yaml.load(stream, Loader=yaml.CSafeLoader)["orders"])
    seconds = time.perf_counter() - began
    print(json.dumps({"seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "orders": count}))


def measure(kind: str, path: str | Path) -> dict:
    """Time and peak RSS of reader `kind` ("bakectl" or "reference") on `path`, in a subprocess."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    done = subprocess.run([sys.executable, __file__, "--child", kind, str(path)],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{kind} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def run(orders: int, out: str | Path | None = None) -> dict:
    """Write the file and measure both readers: a dict of the numbers main() prints."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(out) if out else Path(tmp) / "orders.yaml"
        size = write_orders(path, orders)
        bakectl = measure("bakectl", path)
        reference = measure("reference", path)
    for result in (bakectl, reference):
        if result["orders"] != orders:
            raise SystemExit(f"read {result['orders']} orders, not {orders}")
    return {
        "orders": orders, "file_bytes": size, "bakectl": bakectl, "reference": reference,
        "ratio_seconds": bakectl["seconds"] / reference["seconds"],
        "ratio_peak_rss": bakectl["peak_rss_mb"] / reference["peak_rss_mb"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200_000, help="orders in the file")
    parser.add_argument("--out", help="keep the generated file here")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0
    result = run(args.orders, args.out)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    bakectl, reference = result["bakectl"], result["reference"]
    print(f"{result['orders']:,} orders, {result['file_bytes'] / 1e6:.1f} MB of YAML")
    print(f"{'':36} {'seconds':>9} {'peak RSS MB':>12}")
    print(f"{'bakectl load_orders + check_orders':36} {bakectl['seconds']:9.2f}"
          f" {bakectl['peak_rss_mb']:12.1f}")
    print(f"{'yaml.load, CSafeLoader (reference)':36} {reference['seconds']:9.2f}"
          f" {reference['peak_rss_mb']:12.1f}")
    print(f"{'ratio bakectl / reference':36} {result['ratio_seconds']:9.2f}"
          f" {result['ratio_peak_rss']:12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
