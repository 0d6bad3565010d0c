"""What happened in a run, as records filled in while it runs and as the JSON report.

The report's shape is a contract (ARCHITECTURE.md, "Contracts"): fields may be added, never
renamed. Times are bakery minutes from the start of the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bakectl import __version__
from bakectl.model import Order


@dataclass(slots=True)
class StepRecord:
    """One step of a cake's process after mixing, as it happened: a rest or a bake."""

    #: "rest" or "bake" (the report's cake rows start with a "mix" step, from the record)
    step: str
    #: the stage it showed as: "proofing", "cooling", ... or "baking"
    stage: str
    start: float
    end: float
    oven: str | None = None
    #: when the bake got its oven (set-up began)
    oven_start: float | None = None
    temperature_c: float | None = None


@dataclass(slots=True, eq=False)
class CakeRecord:
    """One cake's life: filled in stage by stage by the kitchen."""

    order: str
    recipe: str
    index: int
    stage: str = "queued"
    #: "baked" or "failed" once finished; None while in progress
    status: str | None = None
    oven: str | None = None
    mix_start: float | None = None
    mix_end: float | None = None
    oven_start: float | None = None
    bake_start: float | None = None
    bake_end: float | None = None
    temperature_c: float | None = None
    error: str | None = None
    #: the cake's place among all cakes, in orders-file order (policies break ties with it)
    position: int = 0
    #: the order's due minute and priority, for policies that weigh them
    due: float | None = None
    priority: int = 0
    #: rests and bakes after mixing, in order
    steps: list[StepRecord] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class OrderRecord:
    order: Order
    cakes: list[CakeRecord] = field(default_factory=list)
    finished: int = 0
    #: "delivered" or "failed" once its last cake is finished; None before
    status: str | None = None
    done_minutes: float | None = None

    @property
    def late(self) -> bool:
        due = self.order.due
        return due is not None and self.done_minutes is not None and self.done_minutes > due


def _minutes(value: float | None) -> float | None:
    # Rounded so that float noise (94.99999999) does not leak into a contract.
    if value is None or value.__class__ is int or value.is_integer():
        return value  # round() writes the float out in decimal: whole minutes skip that
    return round(value, 6)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _steps(cake: CakeRecord) -> list[dict]:
    """A cake's process as it happened: the mix, then each rest and bake."""
    steps = []
    if cake.mix_start is not None and cake.mix_end is not None:
        steps.append({"step": "mix", "stage": "mixing", "start": _minutes(cake.mix_start),
                      "end": _minutes(cake.mix_end), "oven": None, "oven_start": None,
                      "temperature_c": None})
    for s in cake.steps:
        steps.append({"step": s.step, "stage": s.stage, "start": _minutes(s.start),
                      "end": _minutes(s.end), "oven": s.oven, "oven_start": _minutes(s.oven_start),
                      "temperature_c": None if s.temperature_c is None
                      else _number(s.temperature_c)})
    return steps


def build_report(kitchen, *, wall_seconds: float) -> dict:
    """The JSON report of a finished (or interrupted) run."""
    cakes = kitchen.cakes
    ends = [c.bake_end for c in cakes if c.bake_end is not None]
    makespan = max(ends, default=0.0)
    orders = []
    for record in kitchen.orders:
        order = record.order
        orders.append({
            "id": order.id,
            "status": record.status or "unfinished",
            "cakes": len(record.cakes),
            "recipe": order.recipe,
            "customer": order.customer,
            "due_minutes": _minutes(order.due),
            "done_minutes": _minutes(record.done_minutes),
            "late": record.late,
        })
    cake_rows = [{
        "order": c.order,
        "recipe": c.recipe,
        "index": c.index,
        "status": c.status or "unfinished",
        "oven": c.oven,
        "mix_start": _minutes(c.mix_start),
        "mix_end": _minutes(c.mix_end),
        "oven_start": _minutes(c.oven_start),
        "bake_start": _minutes(c.bake_start),
        "bake_end": _minutes(c.bake_end),
        "temperature_c": None if c.temperature_c is None else _number(c.temperature_c),
        "error": c.error,
        "steps": _steps(c),
    } for c in cakes]
    ovens = [{
        "name": oven.name,
        "bakes": oven.bakes,
        "busy_minutes": _minutes(oven.busy_minutes),
        "setup_minutes": _minutes(oven.setup_minutes_total),
        "utilization": round(oven.busy_minutes / makespan, 4) if makespan else 0.0,
        "broken": getattr(oven, "broken", None),
    } for oven in kitchen.ovens.ovens]
    from bakectl.scheduling import cake_jobs, lower_bound

    bound = lower_bound(cake_jobs(kitchen), kitchen.bakery)
    lateness = sum(max(0.0, o["done_minutes"] - o["due_minutes"]) for o in orders
                   if o["late"])
    return {
        "bakectl": __version__,
        "mode": "simulated" if kitchen.clock.simulated else "real",
        "policy": kitchen.ovens.policy.name,
        "speed": None if kitchen.clock.simulated else kitchen.clock.speed,
        "makespan_minutes": _minutes(makespan),
        "wall_seconds": round(wall_seconds, 3),
        #: no schedule of these cakes on this bakery can finish sooner (docs/plan.md)
        "lower_bound_minutes": _minutes(bound),
        #: lower bound / makespan: 1.0 means provably optimal
        "efficiency": round(bound / makespan, 4) if makespan else None,
        "late_orders": sum(1 for o in orders if o["late"]),
        "total_lateness_minutes": _minutes(lateness),
        "summary": {
            "orders": len(orders),
            "delivered": sum(1 for o in orders if o["status"] == "delivered"),
            "failed": sum(1 for o in orders if o["status"] == "failed"),
            "late": sum(1 for o in orders if o["late"]),
            "cakes": len(cake_rows),
        },
        "orders": orders,
        "cakes": cake_rows,
        "ovens": ovens,
    }


def write_json(report: dict, stream) -> None:
    """Write `report` as JSON: the top level indented, one line per order, cake and oven.

    Byte-for-byte the same for the same report. Rows are encoded by orjson, a few thousand
    at a time: the standard library's encoder took 1.2 s of a 100,000-cake plan's 8 (its
    ``indent=`` even falls back to pure Python), orjson a third of that. Chunks are written
    as they go, so the whole document never sits in memory at once."""
    import orjson

    def dumps(value) -> bytes:  # keys that are not strings become strings, as json does
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)

    stream.write("{")
    first = True
    for key, value in report.items():
        stream.write("\n  " if first else ",\n  ")
        first = False
        stream.write(dumps(key).decode() + ": ")
        if isinstance(value, list) and value and isinstance(value[0], dict):
            stream.write("[\n    ")
            for start in range(0, len(value), _ROWS_AT_ONCE):
                if start:
                    stream.write(",\n    ")
                rows = value[start:start + _ROWS_AT_ONCE]
                stream.write(b",\n    ".join(map(dumps, rows)).decode())
            stream.write("\n  ]")
        else:
            stream.write(dumps(value).decode())
    stream.write("\n}\n")


#: rows of a list encoded and written at once by write_json
_ROWS_AT_ONCE = 2048


def failure_lines(report: dict) -> list[str]:
    """One line per failed cake of a report, saying which and why (for summaries)."""
    return [f"failed: {c['order']} #{c['index']} {c['recipe']}: {c['error']}"
            for c in report["cakes"] if c["status"] == "failed"]
