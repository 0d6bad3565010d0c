"""Built-in plugin: progress as plain lines on stderr, one per event (CI logs, pipes)."""

from __future__ import annotations

import sys
from typing import TextIO

from bakectl.hookspecs import hookimpl
from bakectl.output import plural


def _stamp(minute: float) -> str:
    return f"[{minute:8.1f} min]"


class PlainProgress:
    """One line per stage change, order delivered and run end; no escapes, greppable."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream if stream is not None else sys.stderr

    def _say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    @hookimpl
    def bakectl_run_started(self, kitchen):
        # A resumed run starts where the journal ended, with some cakes baked already.
        earlier = sum(1 for cake in kitchen.cakes if cake.status is not None)
        resumed = f" ({earlier} baked by an earlier run)" if earlier else ""
        self._say(f"{_stamp(kitchen.clock.now())} baking {plural(len(kitchen.cakes), 'cake')} "
                  f"for {plural(len(kitchen.orders), 'order')} on "
                  f"{plural(len(kitchen.ovens.ovens), 'oven')}{resumed}")

    @hookimpl
    def bakectl_cake_stage(self, cake, stage, minute):
        what = f"{cake.order} #{cake.index} {cake.recipe}"
        if stage in ("preheating", "baking"):
            detail = f" in {cake.oven}"
        elif stage in ("failed", "retrying"):
            detail = f": {cake.error}"
        else:
            detail = ""
        self._say(f"{_stamp(minute)} {what}: {stage}{detail}")

    @hookimpl
    def bakectl_order_delivered(self, order):
        late = " (late)" if order.late else ""
        self._say(f"{_stamp(order.done_minutes)} order {order.order.id} delivered{late}")

    @hookimpl
    def bakectl_run_finished(self, kitchen, report):
        s = report["summary"]
        if report.get("interrupted"):
            # Not the makespan: the run stopped now, with cakes unfinished.
            minute = kitchen.clock.now()
            # Only a run with a journal can be carried on (a simulated one keeps none unless
            # asked: --journal).
            resume = ", carry on with --resume" if kitchen.journal is not None else ""
            self._say(f"{_stamp(minute)} interrupted at minute {minute:.1f}: "
                      f"{s['delivered']}/{s['orders']} orders delivered{resume}")
            return
        self._say(f"{_stamp(report['makespan_minutes'])} done: {s['delivered']}/{s['orders']} "
                  f"orders delivered, {s['failed']} failed, {s['late']} late")
