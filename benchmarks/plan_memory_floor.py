"""Memory per cake waiting for an oven: bakectl, SimPy, and the floor of one asyncio task.

  python benchmarks/plan_memory_floor.py [--cakes 100000]

Why `plan`'s peak memory is above SimPy's (benchmarks/plan_throughput.py): at the peak every
cake has finished mixing and waits for an oven, each as a suspended coroutine. This measures,
each in a fresh process, how much resident memory one more waiting cake costs:

- ``simpy``: a SimPy process waiting on a Resource request (as ../shared/bench/simpy_bakery.py);
- ``asyncio floor``: an asyncio task whose one coroutine awaits a future: the least any design
  with one task per cake can cost, before it records anything about the cake;
- ``recorded floor``: the same, plus what any kitchen must keep about a waiting cake: its
  record (bakectl's `CakeRecord`) and its place in the oven queue (a `Waiter` in a deque);
- ``bakectl``: a cake of ``bakectl plan --policy fifo`` waiting for an oven (its task, the
  frames of make_cake and what it awaits, its record, its place in the oven queue).

It prints bytes per waiting cake and the ratios to SimPy's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Resident bytes of this process now (not the peak): /proc/self/statm counts pages.
RSS = """
import os
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
"""

SIMPY = RSS + """
import simpy
env = simpy.Environment()
ovens = simpy.Resource(env, capacity=1)
def cake():
    yield env.timeout(10)  # mixing
    with ovens.request() as req:
        yield req
        yield env.timeout(25)
before = rss()
for _ in range(N):
    env.process(cake())
env.run(until=11)  # every cake has mixed; one bakes, the others wait
print((rss() - before) / N)
"""

ASYNCIO_FLOOR = RSS + """
import asyncio
async def cake(waiting):
    await waiting
async def main():
    loop = asyncio.get_running_loop()
    before = rss()
    futures = [loop.create_future() for _ in range(N)]
    tasks = [loop.create_task(cake(f)) for f in futures]
    await asyncio.sleep(0)  # every task has started and waits
    print((rss() - before) / N)
    for f in futures:
        f.set_result(None)
    await asyncio.gather(*tasks)
asyncio.run(main())
"""

RECORDED_FLOOR = RSS + """
import asyncio
from collections import deque
from bakectl.ovens import Waiter
from bakectl.report import CakeRecord
queue = deque()
async def cake(record):
    waiter = Waiter(record, None, record.position, asyncio.get_running_loop().create_future(),
                    10.0)
    queue.append(waiter)
    await waiter.future
async def main():
    loop = asyncio.get_running_loop()
    before = rss()
    tasks = [loop.create_task(cake(CakeRecord(f"o-{k // 2}", "sponge", k % 2 + 1, position=k)))
             for k in range(N)]
    await asyncio.sleep(0)  # every task has started and waits
    print((rss() - before) / N)
    for waiter in queue:
        waiter.future.set_result(None)
    await asyncio.gather(*tasks)
asyncio.run(main())
"""

BAKECTL = RSS + """
from bakectl.clock import SimulatedClock
from bakectl.hookspecs import hookimpl
from bakectl.kitchen import bake_orders
from bakectl.model import Bakery, Ingredient, Order, Recipe
from bakectl.ovens import FifoPolicy
from bakectl.plugins import PluginManager

class Measure:
    waiting = 0
    per_cake = None
    @hookimpl
    def bakectl_cake_stage(self, cake, stage, minute):
        if stage == "waiting":
            self.waiting += 1
            if self.waiting == N:  # the last one to finish mixing: all wait but one
                self.per_cake = (rss() - before) / N

recipe = Recipe("sponge", (Ingredient("flour", 200, "g"), Ingredient("eggs", 4, "pcs")),
                10, 180, 25)
orders = [Order(f"o-{k}", "sponge") for k in range(N)]
measure = Measure()
plugins = PluginManager()
plugins.register(measure, name="measure")
before = rss()
bake_orders(orders, {"sponge": recipe}, Bakery.default(1), SimulatedClock(), plugins=plugins,
            policy=FifoPolicy(), deliver=False)
print(measure.per_cake)
"""


def per_cake(code: str, cakes: int) -> float:
    out = subprocess.run([sys.executable, "-c", f"N = {cakes}\n{code}"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return float(out.split()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cakes", type=int, default=100_000)
    a = ap.parse_args(argv)
    simpy = per_cake(SIMPY, a.cakes)
    floor = per_cake(ASYNCIO_FLOOR, a.cakes)
    recorded = per_cake(RECORDED_FLOOR, a.cakes)
    ours = per_cake(BAKECTL, a.cakes)
    print(json.dumps({
        "cakes": a.cakes,
        "simpy_bytes_per_waiting_cake": round(simpy),
        "asyncio_floor_bytes_per_waiting_cake": round(floor),
        "recorded_floor_bytes_per_waiting_cake": round(recorded),
        "bakectl_bytes_per_waiting_cake": round(ours),
        "floor_over_simpy": round(floor / simpy, 2),
        "recorded_floor_over_simpy": round(recorded / simpy, 2),
        "bakectl_over_simpy": round(ours / simpy, 2),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
