"""The kitchen: the seed's story, top to bottom.

Every cake is made concurrently by ``make_cake``: gather the ingredients (synchronous, we stay
focused), mix them (asynchronous: other cakes are mixed meanwhile), wait for a free oven,
configure it for the recipe, and bake (synchronous for the oven, so it runs in the
background while the kitchen goes on). The same code runs on a real and a simulated clock.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable

from bakectl.background import background_tasks, run_in_background, run_in_foreground
from bakectl.model import Bakery, Cake, Ingredient, Mixture, Order, Recipe
from bakectl.ovens import ClockDriver, FifoPolicy, Oven, OvenPool
from bakectl.report import CakeRecord, OrderRecord, build_report

# The stages a cake goes through, in order; "failed" can follow any of them.
STAGES = ("queued", "mixing", "waiting", "preheating", "baking", "baked")


# We stay focused on this task
def gather_ingredients(recipe: Recipe) -> tuple[Ingredient, ...]:
    """Take the recipe's ingredients from the pantry (instant, synchronous)."""
    return tuple(recipe.ingredients)


# This task may be interleaved with other activities
async def mix_ingredients(recipe: Recipe, ingredients: tuple[Ingredient, ...], clock) -> Mixture:
    """Stir the ingredients in one by one over `mix_minutes`, letting other cakes mix meanwhile."""
    start = clock.now()
    count = len(ingredients)
    if count == 0:
        await clock.sleep_until(start + recipe.mix_minutes)
    for k in range(1, count + 1):
        # Absolute deadlines, so the mix takes exactly mix_minutes however it is divided.
        await clock.sleep_until(start + recipe.mix_minutes * k / count)
    return Mixture(recipe, ingredients)


# This task may be interleaved with other activities
async def make_cake(kitchen: Kitchen, cake: CakeRecord, recipe: Recipe) -> Cake:
    """Make one cake of `recipe`, reporting each stage on `cake`."""
    # First, we gather and start mixing the ingredients
    ingredients = gather_ingredients(recipe)
    async with kitchen.mixer():
        kitchen.stage(cake, "mixing")
        mixture = await mix_ingredients(recipe, ingredients, kitchen.clock)
    # We wait for a free oven (it goes back to the pool however we leave this block)...
    kitchen.stage(cake, "waiting")
    async with kitchen.ovens.oven_for(cake, recipe) as oven:
        # ...then configure it for our recipe: one temperature at a time, changing it takes time
        kitchen.stage(cake, "preheating", oven)
        await run_in_background(oven.configure, recipe)
        # Baking is synchronous for the *oven*, but *we* don't want to sit around waiting for it
        kitchen.stage(cake, "baking", oven)
        baked = await run_in_background(oven.bake, mixture)
    kitchen.stage(cake, "baked", baked)
    return baked


class Kitchen:
    """Everything the cakes share: the clock, the mixers, the oven pool, and the record of
    what happened, announced to plugins as it happens."""

    def __init__(self, bakery: Bakery, clock, *, plugins=None, policy=None, driver=None):
        from bakectl.plugins import notifier

        self.bakery = bakery
        self.clock = clock
        driver = driver if driver is not None else ClockDriver(clock)
        self.ovens = OvenPool(
            [Oven(spec, k, bakery.ambient_c, driver, clock)
             for k, spec in enumerate(bakery.ovens)],
            policy if policy is not None else FifoPolicy(), clock)
        self._mixers = None
        self.orders: list[OrderRecord] = []
        self.cakes: list[CakeRecord] = []
        #: the recipes of the cakes added, by name
        self.recipes: dict[str, Recipe] = {}
        self._orders_by_id: dict[str, OrderRecord] = {}
        #: each unfinished order's cake tasks, so that an order can be cancelled
        self._tasks: dict[str, list] = {}
        self._open = False
        # Hooks nobody implements are not called: a 100,000-cake plan makes millions of events.
        self._on_started = notifier(plugins, "bakectl_run_started")
        self._on_stage = notifier(plugins, "bakectl_cake_stage")
        self._on_baked = notifier(plugins, "bakectl_cake_baked")
        self._on_delivered = notifier(plugins, "bakectl_order_delivered")

    def mixer(self):
        """Hold one mixer while mixing (no limit: nothing to hold)."""
        if self._mixers is None:
            return contextlib.nullcontext()
        return self._mixers

    def stage(self, cake: CakeRecord, stage: str, where: Oven | Cake | None = None) -> None:
        """Record that `cake` entered `stage` now (at `where`: its oven, or once baked the
        cake, which knows when the oven really baked it) and tell the plugins."""
        oven = where
        now = self.clock.now()
        cake.stage = stage
        if stage == "mixing":
            cake.mix_start = now
        elif stage == "waiting":
            cake.mix_end = now
        elif stage == "preheating":
            cake.oven = oven.name
            cake.oven_start = now
        elif stage == "baking":
            cake.bake_start = now
            cake.temperature_c = oven.temperature_c
        elif stage == "baked":
            cake.bake_start, cake.bake_end = where.bake_start, where.bake_end
            cake.status = "baked"
        if self._on_stage is not None:
            self._on_stage(cake=cake, stage=stage, minute=now)

    async def run(self, orders: Iterable[Order], recipes: dict[str, Recipe]) -> list[OrderRecord]:
        """Make every cake of every order concurrently; return when all are done or failed."""
        async with self.open():
            for order in orders:
                self.add_order(order, recipes[order.recipe])
            if self._on_started is not None:
                self._on_started(kitchen=self)
        return self.orders

    @contextlib.asynccontextmanager
    async def open(self):
        """Open the kitchen: orders can be added until the block ends, which waits for every
        cake to be finished (a server keeps it open; a batch closes it at once)."""
        import asyncio

        if self.bakery.mixers is not None:
            self._mixers = asyncio.Semaphore(self.bakery.mixers)
        if self.clock.simulated:
            asyncio.get_running_loop().describe_deadlock = self.describe_waiting
        async with background_tasks():
            self._open = True
            try:
                yield self
            finally:
                self._open = False

    def add_order(self, order: Order, recipe: Recipe) -> OrderRecord:
        """Start making every cake of `order` (the kitchen must be open)."""
        if not self._open:
            raise RuntimeError("the kitchen is not open: use `async with kitchen.open()`")
        record = OrderRecord(order)
        self.orders.append(record)
        self._orders_by_id[order.id] = record
        self.recipes[recipe.name] = recipe
        tasks = self._tasks[order.id] = []
        for index in range(1, order.quantity + 1):
            cake = CakeRecord(order.id, order.recipe, index, position=len(self.cakes),
                              due=order.due, priority=order.priority)
            record.cakes.append(cake)
            self.cakes.append(cake)
            tasks.append(run_in_background(self._make(cake, recipe)))
        return record

    def cancel_order(self, order_id: str, *, in_oven: bool = False) -> bool:
        """Stop every cake of an unfinished order; True if it was stopped.

        An order with a cake in an oven is not stopped (False) unless `in_oven` is true (a
        shutdown): a cake is not taken out half-baked. Mixers and ovens go back to the kitchen
        as the cancelled cakes leave their ``async with`` blocks."""
        record = self._orders_by_id.get(order_id)
        if record is None or record.status is not None:
            return False
        if not in_oven and any(c.stage not in ("queued", "mixing", "waiting")
                               for c in record.cakes):
            return False
        for task in self._tasks.pop(order_id, ()):
            task.cancel()
        record.status = "cancelled"
        return True

    async def _make(self, cake: CakeRecord, recipe: Recipe) -> None:
        try:
            await make_cake(self, cake, recipe)
        except Exception as exc:  # a failing cake fails its order, not the batch
            cake.status = "failed"
            cake.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self.stage(cake, "failed")
        else:
            if self._on_baked is not None:
                self._on_baked(cake=cake)
        self._account(cake)

    def _account(self, cake: CakeRecord) -> None:
        """Count a finished cake; an order is delivered (or failed) with its last cake."""
        record = self._orders_by_id[cake.order]
        record.finished += 1
        if record.finished == len(record.cakes):
            self._tasks.pop(cake.order, None)
            record.done_minutes = max((c.bake_end or 0.0) for c in record.cakes)
            failed = any(c.status == "failed" for c in record.cakes)
            record.status = "failed" if failed else "delivered"
            if not failed and self._on_delivered is not None:
                self._on_delivered(order=record)

    def describe_waiting(self) -> str:
        stuck = [c for c in self.cakes if c.status not in ("baked", "failed")]
        names = ", ".join(f"{c.order}#{c.index} ({c.stage})" for c in stuck[:10])
        more = f" and {len(stuck) - 10} more" if len(stuck) > 10 else ""
        return f"deadlock: nothing can ever progress; waiting: {names}{more}"


def bake_orders(orders: list[Order], recipes: dict[str, Recipe], bakery: Bakery, clock, *,
                plugins=None, policy=None) -> dict:
    """Bake every order and return the JSON report (see docs/report.md).

    Ctrl-C stops the run: running bakes are told to stop, and the report covers what was done,
    with ``"interrupted": true``."""
    from bakectl.plugins import notifier

    driver = None
    if plugins is not None:
        driver = plugins.hook.bakectl_oven_driver(clock=clock)
    kitchen = Kitchen(bakery, clock, plugins=plugins, policy=policy, driver=driver)
    started = time.perf_counter()
    interrupted = False
    try:
        run_in_foreground(kitchen.run(orders, recipes), clock=clock)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        clock.stopping.set()  # background bakes stop now instead of holding the exit
    report = build_report(kitchen, wall_seconds=time.perf_counter() - started)
    report["interrupted"] = interrupted
    finished = notifier(plugins, "bakectl_run_finished")
    if finished is not None:
        finished(kitchen=kitchen, report=report)
    return report
