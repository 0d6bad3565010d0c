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
from dataclasses import replace

from bakectl.background import background_tasks, run_in_background, run_in_foreground
from bakectl.model import Bake, Bakery, Cake, Ingredient, Mixture, Order, Recipe, Rest
from bakectl.ovens import ClockDriver, FifoPolicy, Oven, OvenPool
from bakectl.report import CakeRecord, OrderRecord, StepRecord, build_report

# The stages a cake goes through, in order; "failed" can follow any of them. A recipe with
# steps (model.Rest) adds its own between mixing and baking, e.g. "proofing".
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
    # Then the recipe's process: most recipes go straight into the oven; some rest first
    # (a bread proofs), or bake twice at two temperatures (biscotti)
    bakes = []
    for step in recipe.process:
        if isinstance(step, Rest):
            await rest(kitchen, cake, step)
        else:
            bakes.append(await bake(kitchen, cake, mixture, step))
    baked = bakes[0] if len(bakes) == 1 else Cake(
        recipe, bakes[-1].oven, bakes[-1].temperature_c, bakes[0].bake_start, bakes[-1].bake_end)
    kitchen.stage(cake, "baked", baked)
    return baked


# This task may be interleaved with other activities
async def bake(kitchen: Kitchen, cake: CakeRecord, mixture: Mixture, step: Bake) -> Cake:
    """One bake of the recipe's process: wait for an oven, configure it, bake, give it back."""
    recipe = _for_bake(mixture.recipe, step)
    # We wait for a free oven (it goes back to the pool however we leave this block)...
    kitchen.stage(cake, "waiting")
    async with kitchen.ovens.oven_for(cake, recipe) as oven:
        oven_start = kitchen.clock.now()
        # ...then configure it for our recipe: one temperature at a time, changing it takes time
        kitchen.stage(cake, "preheating", oven)
        await run_in_background(oven.configure, recipe)
        # Baking is synchronous for the *oven*, but *we* don't want to sit around waiting for it
        kitchen.stage(cake, "baking", oven)
        baked = await run_in_background(oven.bake, Mixture(recipe, mixture.ingredients))
    cake.steps.append(StepRecord("bake", "baking", baked.bake_start, baked.bake_end,
                                 oven=baked.oven, oven_start=oven_start,
                                 temperature_c=baked.temperature_c))
    return baked


# This task may be interleaved with other activities
async def rest(kitchen: Kitchen, cake: CakeRecord, step: Rest) -> None:
    """A rest of the recipe's process (proofing, cooling): time passes, no oven is held."""
    kitchen.stage(cake, step.stage)
    start = kitchen.clock.now()
    await kitchen.clock.sleep_until(start + step.minutes)
    cake.steps.append(StepRecord("rest", step.stage, start, kitchen.clock.now()))


def _for_bake(recipe: Recipe, step: Bake) -> Recipe:
    """The recipe as one bake sees it (ovens configure for and bake a Recipe)."""
    if (step.temperature_c, step.minutes) == (recipe.temperature_c, recipe.bake_minutes):
        return recipe
    return replace(recipe, temperature_c=step.temperature_c, bake_minutes=step.minutes,
                   steps=())


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
        self._orders_by_id: dict[str, OrderRecord] = {}
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
        elif cake.mix_end is None and stage not in ("failed", "baked"):
            cake.mix_end = now  # mixing is over: the cake waits for an oven, or rests
        if stage == "preheating":
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
        for index in range(1, order.quantity + 1):
            cake = CakeRecord(order.id, order.recipe, index)
            record.cakes.append(cake)
            self.cakes.append(cake)
            run_in_background(self._make(cake, recipe))
        return record

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
    from bakectl.plugins import PluginError, notifier, oven_driver

    driver = oven_driver(plugins, clock)
    kitchen = Kitchen(bakery, clock, plugins=plugins, policy=policy, driver=driver)
    started = time.perf_counter()
    interrupted = False
    try:
        run_in_foreground(kitchen.run(orders, recipes), clock=clock)
    except KeyboardInterrupt:
        interrupted = True
    except BaseExceptionGroup as group:
        # A plugin failure that must stop the run (BAKECTL_RAISE_PLUGIN_ERRORS) comes out of
        # the kitchen's task group wrapped: raise it as itself.
        plugin_errors = group.subgroup(PluginError)
        if plugin_errors is None:
            raise
        while isinstance(plugin_errors, BaseExceptionGroup):
            plugin_errors = plugin_errors.exceptions[0]
        raise plugin_errors from plugin_errors.__cause__
    finally:
        clock.stopping.set()  # background bakes stop now instead of holding the exit
    report = build_report(kitchen, wall_seconds=time.perf_counter() - started)
    report["interrupted"] = interrupted
    finished = notifier(plugins, "bakectl_run_finished")
    if finished is not None:
        finished(kitchen=kitchen, report=report)
    return report
