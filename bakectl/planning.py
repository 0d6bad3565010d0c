"""`bakectl plan`: run the day in simulated time and show it (summary, Gantt chart, late
orders), or every policy side by side (``--compare``)."""

from __future__ import annotations

import contextlib
import gc
import sys
import time

#: Late orders listed under the chart (the JSON report has them all).
MAX_LATE_ROWS = 10


def run_plan(pm, inputs, policy, *, progress: bool = False) -> dict:
    """The report of one simulated run of `inputs` with `policy`. The plugins take part
    (recipes, oven drivers, displays), but nothing is delivered: a plan is a what-if.
    Raises KeyboardInterrupt if Ctrl-C or SIGTERM stopped it (as planner.simulate does): a
    part of a day is no plan."""
    from bakectl.clock import SimulatedClock
    from bakectl.kitchen import bake_orders

    reporter = None
    if progress:
        from bakectl.default_plugins.plain_progress import PlainProgress

        reporter = PlainProgress(sys.stderr)
        pm.register(reporter, name="progress")
    try:
        with paused_gc():
            report = bake_orders(inputs.orders, inputs.recipes, inputs.bakery,
                                 SimulatedClock(), plugins=pm, policy=policy, deliver=False)
        if report["interrupted"]:
            raise KeyboardInterrupt
        return report
    finally:
        if reporter is not None:
            pm.unregister(reporter)


@contextlib.contextmanager
def paused_gc():
    """No cyclic garbage collection in the block (the simulated loop pauses it too).

    The report of a big plan is built and written while millions of objects are alive;
    each full collection would walk them all again. Nothing here makes reference cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def compare_policies(pm, inputs) -> list[dict]:
    """One summary row per policy, each from its own simulated run (planning included in
    its seconds)."""
    from bakectl.scheduling import POLICY_NAMES, make_policy

    rows = []
    for name in POLICY_NAMES:
        started = time.perf_counter()
        policy = make_policy(name, inputs.orders, inputs.recipes, inputs.bakery)
        report = run_plan(pm, inputs, policy)
        rows.append({
            "policy": name,
            "makespan_minutes": report["makespan_minutes"],
            "lower_bound_minutes": report["lower_bound_minutes"],
            "efficiency": report["efficiency"],
            "late_orders": report["late_orders"],
            "total_lateness_minutes": report["total_lateness_minutes"],
            "setup_minutes": round(sum(o["setup_minutes"] for o in report["ovens"]), 6),
            "failed_orders": report["summary"]["failed"],
            "wall_seconds": round(time.perf_counter() - started, 3),
        })
    return rows


def show_comparison(rows: list[dict], *, json_report: bool) -> None:
    if json_report:
        import json

        print(json.dumps({"policies": rows}, indent=2))
        return
    from rich.table import Table

    from bakectl.output import console

    best = min(rows, key=lambda r: (r["makespan_minutes"], r["total_lateness_minutes"]))
    punctual = min(rows, key=lambda r: (r["total_lateness_minutes"], r["makespan_minutes"]))
    table = Table(title=f"policies compared · lower bound "
                        f"{_m(rows[0]['lower_bound_minutes'])}")
    for column in ("policy", "makespan", "efficiency", "late orders", "lateness", "set-up",
                   "seconds"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for r in rows:
        mark = (" *" if r is best else "") + (" †" if r is punctual else "")
        table.add_row(r["policy"] + mark, _m(r['makespan_minutes']),
                      f"{r['efficiency']:.1%}" if r["efficiency"] else "",
                      str(r["late_orders"]), _m(r['total_lateness_minutes']),
                      _m(r['setup_minutes']), f"{r['wall_seconds']:.2f}")
    out = console(sys.stdout)
    out.print(table)
    out.print(f"* shortest day: {best['policy']}   † fewest minutes late: {punctual['policy']}")


def _m(minutes: float) -> str:
    """Minutes for people: one decimal at most."""
    return f"{round(minutes, 1):g} min"


def show_plan(report: dict, *, json_report: bool) -> None:
    """The report as JSON, or a summary, the ovens' Gantt chart and the late orders."""
    if json_report:
        from bakectl.report import write_json

        with paused_gc():
            write_json(report, sys.stdout)
        return
    from rich.table import Table

    from bakectl.gantt import terminal_chart
    from bakectl.output import console, interactive, plural
    from bakectl.report import failure_lines

    out = console(sys.stdout)
    s = report["summary"]
    efficiency = report["efficiency"]
    out.print(f"policy {report['policy']}: {plural(s['cakes'], 'cake')}, "
              f"{plural(s['orders'], 'order')} · "
              f"makespan {_m(report['makespan_minutes'])} · lower bound "
              f"{_m(report['lower_bound_minutes'])}"
              + (f" (efficiency {efficiency:.1%})" if efficiency else ""), markup=False)
    out.print(f"{plural(report['late_orders'], 'late order')}, total lateness "
              f"{_m(report['total_lateness_minutes'])}; {s['failed']} failed", markup=False)
    names = max((len(o["name"]) for o in report["ovens"]), default=4)
    width = max(20, min(100, (out.width or 80) - names - 4))
    out.print(terminal_chart(report, width=width, colour=interactive(sys.stdout)))
    ovens = Table(title="ovens")
    for column in ("oven", "bakes", "baking", "set-up", "utilization"):
        ovens.add_column(column, justify="left" if column == "oven" else "right")
    for o in report["ovens"]:
        ovens.add_row(o["name"], str(o["bakes"]), _m(o['busy_minutes']),
                      _m(o['setup_minutes']), f"{o['utilization']:.0%}")
    out.print(ovens)
    late = [o for o in report["orders"] if o["late"]]
    if late:
        late.sort(key=lambda o: (o["due_minutes"] - o["done_minutes"], o["id"]))
        table = Table(title=f"late orders ({len(late)}"
                            + (f", latest {MAX_LATE_ROWS} shown)" if len(late) > MAX_LATE_ROWS
                               else ")"))
        for column in ("order", "recipe", "cakes", "due", "ready", "late by"):
            table.add_column(column)
        for o in late[:MAX_LATE_ROWS]:
            table.add_row(o["id"], o["recipe"], str(o["cakes"]), _m(o['due_minutes']),
                          _m(o['done_minutes']), _m(o['done_minutes'] - o['due_minutes']))
        out.print(table)
    for line in failure_lines(report):
        out.print(line, markup=False)
