"""Durable intake of `bakectl serve`: POST /orders requests per second and p50/p99 latency,
against a bare endpoint of the same framework measured in the same run.

  python benchmarks/serve_intake.py [--duration 5] [--rounds 3] [--connections 16]
                                    [--client auto|wrk|python] [--json]

Both servers are uvicorn + FastAPI on 127.0.0.1 with the same settings. The bare endpoint
reads the body, parses the JSON and answers 201; `bakectl serve` also checks the order, stores
it durably in SQLite (WAL, synchronous=FULL: every acknowledged order is fsynced) and hands it
to the kitchen (speed 1, so the cakes pile up in the mixers as in a real morning rush). Each
request carries a new order id. The load generator is wrk (Debian package `wrk`) when found,
else a small asyncio client (which shares the 2 cores with the server: numbers are lower).
The two are measured in turns (bare, durable, bare, durable...) and the medians reported, so
that whatever else the shared machine is doing weighs on both alike. Afterwards the database
is opened to check that every 201 is there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"listening on (http://\S+)")

RECIPES_PLUGIN = '''
from bakectl.hookspecs import hookimpl
from bakectl.model import Ingredient, Recipe

@hookimpl
def bakectl_recipes(recipe_dirs):
    return [Recipe("sponge", (Ingredient("flour", 200, "g"), Ingredient("eggs", 4, "pcs")),
                   10, 180, 25)]
'''

WRK_SCRIPT = '''
local counter = 0
request = function()
  counter = counter + 1
  local body = '{"id": "%(prefix)s-' .. counter .. '", "recipe": "sponge", "quantity": 1, ' ..
               '"customer": "bench", "due": 120}'
  return wrk.format("POST", "/orders", {["Content-Type"] = "application/json"}, body)
end
'''


# -- the bare endpoint ----------------------------------------------------------------------


def bare_app():
    """The same framework with nothing behind the endpoint."""
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

    app = FastAPI(docs_url=None, redoc_url=None)

    async def create_order(request):
        order = json.loads(await request.body())
        body = json.dumps({"id": order["id"], "status": "queued"})
        return Response(body, 201, media_type="application/json")

    # Annotated here, not in the signature: this module's annotations are strings, and FastAPI
    # must see the class to know it is the request.
    create_order.__annotations__["request"] = Request
    app.post("/orders", status_code=201)(create_order)
    return app


def run_bare_server() -> None:
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # NODELAY
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    print(f"bare: listening on http://127.0.0.1:{sock.getsockname()[1]}", file=sys.stderr,
          flush=True)
    # loop="asyncio": bakectl serve runs its kitchen's asyncio loop, and uvicorn's "auto" would
    # give the bare endpoint uvloop wherever it happens to be installed (about 25% less CPU
    # per request here, an unfair advantage).
    config = uvicorn.Config(bare_app(), log_config=None, access_log=False, lifespan="off",
                            server_header=False, proxy_headers=False, backlog=2048,
                            loop="asyncio")
    uvicorn.Server(config).run(sockets=[sock])


# -- servers as subprocesses ----------------------------------------------------------------


def bench_env(folder: Path) -> dict:
    """Put the benchmark's recipe plugin in `folder`; the environment that loads it and no
    installed plugin."""
    (folder / "bench_recipes.py").write_text(RECIPES_PLUGIN)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(folder)]),
           "BAKECTL_LOAD_PLUGINS": ""}
    env.pop("BAKECTL_TOKEN", None)
    return env


def start_durable(folder: Path, env: dict, db: Path, *, speed: float
                  ) -> tuple[subprocess.Popen, str]:
    """`bakectl serve` on a free port with the benchmark's recipe, storing into `db`."""
    return start([sys.executable, "-m", "bakectl", "-p", "no:yaml_recipes", "-p",
                  "bench_recipes", "serve", "--port", "0", "--db", str(db), "--speed",
                  f"{speed:g}", "--grace", "0"], folder, env)


def start(command: list[str], cwd: Path, env: dict) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    found: list[str] = []
    ready = threading.Event()

    def read():
        for line in proc.stderr:
            match = LISTENING.search(line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
            elif "listening" not in line:
                print(f"  [server] {line.rstrip()}", file=sys.stderr)
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    ready.wait(30)
    if not found:
        proc.kill()
        raise SystemExit(f"server did not start: {' '.join(command)}")
    return proc, found[0]


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system, all threads) a process has used so far; None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- load generators ------------------------------------------------------------------------


def _duration_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def load_wrk(url: str, duration: float, connections: int, folder: Path) -> dict:
    script = folder / f"post-{uuid.uuid4().hex[:8]}.lua"
    script.write_text(WRK_SCRIPT % {"prefix": script.stem})
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency",
                          "-s", str(script), f"{url}/orders"], capture_output=True, text=True,
                         check=True).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)$", out, re.M)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": _duration_ms(latency["50"]), "p99_ms": _duration_ms(latency["99"]),
            "requests": requests, "ok": requests - (int(non_2xx.group(1)) if non_2xx else 0),
            "socket_errors": errors.group(1) if errors else None}


def load_python(url: str, duration: float, connections: int, folder: Path) -> dict:
    """A keep-alive HTTP/1.1 client on raw asyncio streams (cheaper than any HTTP library)."""
    host, port = url.removeprefix("http://").split(":")
    prefix = uuid.uuid4().hex[:8]
    latencies: list[float] = []
    ok = 0

    async def connection(n: int, deadline: float) -> None:
        nonlocal ok
        reader, writer = await asyncio.open_connection(host, int(port))
        k = 0
        while time.perf_counter() < deadline:
            k += 1
            body = (f'{{"id": "{prefix}-{n}-{k}", "recipe": "sponge", "quantity": 1, '
                    f'"customer": "bench", "due": 120}}').encode()
            request = (f"POST /orders HTTP/1.1\r\nHost: {host}\r\nContent-Type: "
                       f"application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
            began = time.perf_counter()
            writer.write(request + body)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            ok += head.startswith(b"HTTP/1.1 2")
        writer.close()

    async def run() -> float:
        began = time.perf_counter()
        await asyncio.gather(*(connection(n, began + duration) for n in range(connections)))
        return time.perf_counter() - began

    elapsed = asyncio.run(run())
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {"rps": len(latencies) / elapsed, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "requests": len(latencies), "ok": ok, "socket_errors": None}


# -- the run --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=5.0,
                    help="seconds of load per server and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.bare_server:
        run_bare_server()
        return {}
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    load = load_wrk if client == "wrk" else load_python

    results: dict = {"client": client, "connections": args.connections,
                     "duration_s": args.duration}
    with tempfile.TemporaryDirectory(prefix="bakectl-bench-") as tmp:
        folder = Path(tmp)
        env = bench_env(folder)
        db = folder / "bench.db"
        bare, bare_url = start([sys.executable, str(Path(__file__).resolve()), "--bare-server"],
                               folder, env)
        durable, durable_url = start_durable(folder, env, db, speed=1)
        try:
            for url in (bare_url, durable_url):  # warm up: imports, caches, the first pages
                load(url, min(2.0, args.duration), args.connections, folder)
            rounds: dict[str, list[dict]] = {"bare": [], "durable": []}
            for _ in range(args.rounds):
                for name, proc, url in (("bare", bare, bare_url),
                                        ("durable", durable, durable_url)):
                    # The server's CPU time per request: steadier than req/s on a shared machine.
                    began = cpu_seconds(proc.pid)
                    run = load(url, args.duration, args.connections, folder)
                    ended = cpu_seconds(proc.pid)
                    run["cpu_us"] = None if began is None else \
                        (ended - began) / max(1, run["requests"]) * 1e6
                    rounds[name].append(run)
            for name, runs in rounds.items():
                results[name] = {key: statistics.median(r[key] for r in runs)
                                 for key in ("rps", "p50_ms", "p99_ms")}
                if all(r["cpu_us"] is not None for r in runs):
                    results[name]["cpu_us"] = round(statistics.median(r["cpu_us"] for r in runs))
                results[name]["worst_p99_ms"] = max(r["p99_ms"] for r in runs)
                results[name]["ok"] = sum(r["ok"] for r in runs)
                results[name]["requests"] = sum(r["requests"] for r in runs)
            results["ratios"] = [round(d["rps"] / b["rps"], 3)
                                 for b, d in zip(rounds["bare"], rounds["durable"], strict=True)]
            with urllib.request.urlopen(f"{durable_url}/metrics", timeout=10) as response:
                metrics = response.read().decode()
        finally:
            stop(bare)
            stop(durable)
        with sqlite3.connect(db) as conn:
            stored = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    commits = re.search(r"^bakectl_store_commits_total (\d+)", metrics, re.M)
    writes = re.search(r"^bakectl_store_writes_total (\d+)", metrics, re.M)
    if commits and writes:
        results["writes_per_commit"] = round(int(writes.group(1)) / int(commits.group(1)), 1)
    results["stored_orders"] = stored
    acknowledged = results["durable"]["ok"]
    results["ratio"] = round(statistics.median(results["ratios"]), 3)
    # Every 201 of the warm-up and the measured run is in the database.
    results["every_201_stored"] = stored >= acknowledged

    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"client {client}, {args.connections} connections, {args.rounds} rounds of "
              f"{args.duration:g} s each; medians")
        print(f"{'endpoint':<10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'worst p99':>10} "
              f"{'2xx':>8} {'server CPU µs/req':>18}")
        for name in ("bare", "durable"):
            r = results[name]
            print(f"{name:<10} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
                  f"{r['worst_p99_ms']:>10.2f} {r['ok']:>8} {r.get('cpu_us', '?'):>18}")
        print(f"durable / bare = {results['ratio']:.2f} (rounds: "
              f"{', '.join(f'{x:.2f}' for x in results['ratios'])}); "
              f"{results.get('writes_per_commit', '?')} writes per fsync; "
              f"{stored} orders stored, every 201 stored: {results['every_201_stored']}")
    return results


if __name__ == "__main__":
    main()
