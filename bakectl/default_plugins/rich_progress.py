"""Built-in plugin: a live view on an interactive terminal (orders, ovens, overall progress).

Registered only when stderr is a terminal a person watches (see bakectl.output.interactive);
everything else gets the plain-lines plugin."""

from __future__ import annotations

from bakectl.hookspecs import hookimpl

#: How a stage reads in the orders table.
STAGE_LABELS = {
    "queued": "queued", "retrying": "retrying", "mixing": "mixing",
    "waiting": "waiting for an oven",
    "preheating": "preheating", "baking": "baking", "baked": "baked", "failed": "failed",
}
MAX_ORDER_ROWS = 12


def _rank(stage: str) -> int:
    order = list(STAGE_LABELS)
    return order.index(stage if stage in STAGE_LABELS else "waiting")


class RichProgress:
    def __init__(self, console):
        self.console = console
        self.kitchen = None
        self.live = None
        self.progress = None
        self.task = None
        self.baked = 0

    @hookimpl
    def bakectl_run_started(self, kitchen):
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.kitchen = kitchen
        self.progress = Progress(
            TextColumn("[bold]cakes"), BarColumn(), MofNCompleteColumn(),
            TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), console=self.console)
        # A resumed run counts the cakes an earlier run baked: they send no stage now.
        self.baked = sum(1 for cake in kitchen.cakes if cake.status is not None)
        self.task = self.progress.add_task("cakes", total=len(kitchen.cakes),
                                           completed=self.baked)
        self.live = Live(get_renderable=self.render, console=self.console,
                         refresh_per_second=8, transient=False)
        self.live.start()

    @hookimpl
    def bakectl_cake_stage(self, cake, stage, minute):
        if stage in ("baked", "failed"):
            self.baked += 1
            self.progress.update(self.task, completed=self.baked)

    @hookimpl
    def bakectl_run_finished(self, report):
        self.close()

    def close(self) -> None:
        if self.live is not None:
            self.live.refresh()
            self.live.stop()
            self.live = None

    def render(self):
        from rich.console import Group
        from rich.markup import escape
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        kitchen = self.kitchen
        minute = kitchen.clock.now()
        orders = Table(expand=True, box=None, padding=(0, 1))
        for column in ("order", "recipe", "cakes", "stage", "due"):
            orders.add_column(column)
        # Orders in progress first, then the most recently finished.
        active = [r for r in kitchen.orders if r.status is None]
        done = [r for r in kitchen.orders if r.status is not None]
        done.sort(key=lambda r: r.done_minutes or 0.0, reverse=True)
        shown = (active + done)[:MAX_ORDER_ROWS]
        for record in shown:
            stages = [c.stage for c in record.cakes]
            if record.status is not None:
                stage = ("[green]delivered" if record.status == "delivered" else "[red]failed")
                if record.late:
                    stage += " [yellow](late)"
            else:
                # The furthest-behind cake says what the order is waiting for; a recipe's
                # own stages (proofing, cooling...) rank with waiting for an oven.
                stage = min(stages, key=_rank)
                stage = STAGE_LABELS.get(stage, stage)
            baked = sum(1 for c in record.cakes if c.status == "baked")
            due = record.order.due
            due_text = "" if due is None else f"{due:g} min"
            if due is not None and record.status is None and minute > due:
                due_text = f"[yellow]{due_text}"
            orders.add_row(Text(record.order.id), Text(record.order.recipe),
                           f"{baked}/{len(record.cakes)}", stage, due_text)
        hidden = len(kitchen.orders) - len(shown)
        caption = f"… and {hidden} more orders" if hidden > 0 else None
        orders.caption = caption

        ovens = Table(expand=True, box=None, padding=(0, 1))
        for column in ("oven", "°C", "doing"):
            ovens.add_column(column)
        for oven in kitchen.ovens.ovens:
            if oven.activity == "baking" and oven.baking is not None:
                doing = f"[magenta]baking {escape(oven.baking.name)}"
            elif oven.activity:
                doing = f"[yellow]{escape(oven.activity)}"
            else:
                doing = "[dim]idle"
            temperature = f"{oven.temperature_c:g}"
            target = getattr(oven, "target_c", None)
            if oven.activity in ("heating", "cooling") and target is not None:
                temperature += f" → {target:g}"  # the panel lasts the whole preheat
            ovens.add_row(Text(oven.name), temperature, doing)
        waiting = kitchen.ovens.waiting
        return Group(
            Panel(orders, title=f"orders · bakery minute {minute:.0f}"),
            Panel(ovens, title=f"ovens · {waiting} cake{'s' if waiting != 1 else ''} waiting"),
            self.progress,
        )
