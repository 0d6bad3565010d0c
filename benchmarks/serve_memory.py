"""Memory of a long-running `bakectl serve`: its RSS as more and more orders are delivered.

  python benchmarks/serve_memory.py [--rounds 5] [--duration 10] [--connections 16]

Starts the durable server with bakery time 1,000,000 times faster than the wall clock (the
fastest `--speed`: a sponge takes about 3 ms), then, each round, posts new orders for
--duration seconds (the asyncio client of serve_intake.py), waits until every one is
delivered, and prints the orders delivered so far, the server's RSS and its
`bakectl_orders_in_memory` gauge. A server that forgets finished orders levels off after the
first round (at the high-water mark of the load); one that keeps them grows by the same amount
every round.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
import urllib.request
from pathlib import Path

from serve_intake import bench_env, load_python, start_durable, stop


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024


def metric(url: str, name: str) -> float | None:
    """One line of /metrics; None if the server has no such metric (an older version)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return None if found is None else float(found.group(1))


def row(delivered: int, pid: int, url: str) -> str:
    held = metric(url, "bakectl_orders_in_memory")
    return f"{delivered:>10} {rss_mib(pid):>8.1f} {'-' if held is None else f'{held:.0f}':>10}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=float, default=10.0,
                    help="seconds of posting per round")
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bakectl-bench-") as tmp:
        folder = Path(tmp)
        env = bench_env(folder)
        server, url = start_durable(folder, env, folder / "bench.db", speed=1_000_000)
        try:
            print(f"{'delivered':>10} {'RSS MiB':>8} {'in memory':>10}")
            print(row(0, server.pid, url))
            posted = 0
            for _ in range(args.rounds):
                posted += load_python(url, args.duration, args.connections, folder)["ok"]
                deadline = time.monotonic() + 120
                while metric(url, 'bakectl_orders{status="delivered"}') < posted:
                    if time.monotonic() > deadline:
                        raise SystemExit("the orders posted were not all delivered in 2 min")
                    time.sleep(0.2)
                print(row(posted, server.pid, url), flush=True)
        finally:
            stop(server)


if __name__ == "__main__":
    main()
