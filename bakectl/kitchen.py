"""The kitchen: the seed's story, top to bottom.

Every cake is made concurrently by ``make_cake``: gather the ingredients (synchronous, we stay
focused), mix them (asynchronous: other cakes are mixed meanwhile), wait for a free oven,
configure it for the recipe, and bake (synchronous for the oven, so it runs in the
background while the kitchen goes on). The same code runs on a real and a simulated clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import itertools
import signal
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import replace

from bakectl.background import (
    background_tasks,
    interrupts_kept,
    run_in_background,
    run_in_foreground,
    stop_foreground,
)
from bakectl.journal import BAKED_FIELDS, JournalError
from bakectl.limits import MAX_QUANTITY
from bakectl.model import Bake, Bakery, Cake, Ingredient, Mixture, Order, Recipe, Rest
from bakectl.ovens import (
    BROKEN_AFTER,
    ClockDriver,
    FifoPolicy,
    NoOvenError,
    Oven,
    OvenFault,
    OvenPool,
)
from bakectl.report import CakeRecord, OrderRecord, StepRecord, build_report

# The stages a cake goes through, in order; "failed" can follow any of them, and "retrying"
# (back to "mixing" after a failed try) any but "baked". A recipe with steps (model.Rest)
# adds its own between mixing and baking, e.g. "proofing".
STAGES = ("queued", "mixing", "waiting", "preheating", "baking", "baked")

#: seconds a running bake gets to finish after the first Ctrl-C or SIGTERM (--grace)
DEFAULT_GRACE_SECONDS = 10.0
#: bakery minutes before a failed cake's first retry; doubles each try, up to the maximum
RETRY_BACKOFF_MINUTES = 1.0
RETRY_BACKOFF_MAX_MINUTES = 30.0


#: the name of every cake's task (one string for all: a name per task would be 60 bytes each)
CAKE_TASK_NAME = "bakectl-cake"

#: what a cake holds while mixing when mixers are unlimited (one for all: it holds nothing)
_NO_MIXER_NEEDED = contextlib.nullcontext()


class _CakeTask(asyncio.Task):
    """A try of one cake, which knows the cake for the kitchen's done callback."""

    __slots__ = ("cake", "recipe")


def retry_backoff(tries: int) -> float:
    """Bakery minutes to wait before try number `tries` + 1 of a cake (1, 2, 4 ... 30)."""
    return min(RETRY_BACKOFF_MINUTES * 2 ** (tries - 1), RETRY_BACKOFF_MAX_MINUTES)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


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
    first_bake = baked = None
    for step in recipe.process:
        if isinstance(step, Rest):
            await rest(kitchen, cake, step)
            continue
        # We wait for a free oven (it goes back to the pool however we leave this block)...
        kitchen.stage(cake, "waiting")
        recipe_for_bake = _for_bake(recipe, step)
        async with kitchen.ovens.oven_for(cake, recipe_for_bake) as oven:
            # ...then configure it for our recipe and bake
            baked = await bake(kitchen, cake, oven, Mixture(recipe_for_bake, mixture.ingredients))
        first_bake = first_bake or baked
    if first_bake is not baked:  # baked twice: from the first bake's start to the last's end
        baked = Cake(recipe, baked.oven, baked.temperature_c, first_bake.bake_start,
                     baked.bake_end)
    # Finally it is baked: its order is delivered with its last cake
    kitchen.cake_baked(cake, baked)
    return baked


# This task may be interleaved with other activities
async def bake(kitchen: Kitchen, cake: CakeRecord, oven: Oven, mixture: Mixture) -> Cake:
    """One bake of the recipe's process, in the oven the cake was given: configure, bake."""
    oven_start = kitchen.clock.now()
    # Configure the oven for our recipe: one temperature at a time, changing it takes time
    kitchen.stage(cake, "preheating", oven=oven)
    await run_in_background(oven.configure, mixture.recipe)
    # Baking is synchronous for the *oven*, but *we* don't want to sit around waiting for it
    kitchen.stage(cake, "baking", oven=oven)
    baked = await run_in_background(oven.bake, mixture)
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


def check_recipes(orders: Iterable[Order], recipes: dict[str, Recipe]) -> None:
    """Raise ValueError naming the first order whose recipe is not in `recipes`, whose id an
    earlier order has, or whose quantity an orders file would refuse (files.py's words)."""
    from bakectl.files import range_problem

    seen: set[str] = set()
    for order in orders:
        if order.recipe not in recipes:
            known = ", ".join(sorted(recipes)) or "none"
            raise ValueError(f"order {order.id!r}: unknown recipe {order.recipe!r} "
                             f"(recipes: {known})")
        # Checked before anything starts: the kitchen keys orders by id, and counts cakes by
        # range(quantity); either mistake would come out of its task group as a TypeError.
        if order.id in seen:
            raise ValueError(f"order {order.id!r}: duplicate order id {order.id!r}")
        seen.add(order.id)
        quantity = order.quantity
        if quantity.__class__ is not int:  # not a bool, not 2.0 or "2"
            raise ValueError(f"order {order.id!r}: quantity must be an integer, got "
                             f"{type(quantity).__name__} {quantity!r}")
        problem = range_problem(quantity, str(quantity), 1, MAX_QUANTITY)
        if problem is not None:
            raise ValueError(f"order {order.id!r}: quantity {problem}")


class Kitchen:
    """Everything the cakes share: the clock, the mixers, the oven pool, and the record of
    what happened, written to the journal (if any) and then announced to plugins.

    `retries`: how many more times a cake whose making raises is made again (after a
    backoff of `retry_backoff(n)` bakery minutes). `fail_fast`: the first cake that fails
    for good stops the run. `restored`: cakes an earlier run baked ((order id, index) ->
    journal record), taken as they are instead of being made again; `delivered`: the ids of
    orders an earlier run delivered, reported as delivered but not delivered again.
    `deliver`: whether finished orders are delivered (announced to plugins); a plan, a what-if,
    delivers nothing."""

    def __init__(self, bakery: Bakery, clock, *, plugins=None, policy=None, driver=None,
                 journal=None, retries: int = 0, fail_fast: bool = False,
                 restored: dict[tuple[str, int], dict] | None = None,
                 delivered: Iterable[str] = (), deliver: bool = True):
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
        #: each new cake's position: unique and increasing, even once `forget_order` has
        #: taken earlier cakes out of `cakes`
        self._positions = itertools.count()
        self._open = False
        self.journal = journal
        self.retries = retries
        self.fail_fast = fail_fast
        self._restored = restored or {}
        #: restored cakes not yet counted as finished (see `open`)
        self._restored_to_count: list[CakeRecord] = []
        self._delivered_before = set(delivered)
        #: False in a plan: orders are reported as delivered, and no plugin hears of it
        self.deliver = deliver
        #: True once the run was asked to stop (Ctrl-C, SIGTERM): no new cake is started
        self.interrupted = False
        #: why --fail-fast stopped the run, once it has
        self._stopped_by: str | None = None
        #: each unfinished cake's task (its try, or its wait for the next): to stop it
        #: (Ctrl-C, --fail-fast, a cancelled order), and to wait for every cake
        self._tasks: dict[CakeRecord, asyncio.Task] = {}
        #: (tries, oven faults) of the cakes whose making has raised, while they are retried
        self._failures: dict[CakeRecord, tuple[int, int]] = {}
        # Set by `open`: the loop, the task that opened the kitchen, and the context the
        # kitchen's own callbacks run in.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._owner: asyncio.Task | None = None
        self._context: contextvars.Context | None = None
        #: resolved once no cake is left (while `open` waits for that)
        self._all_done: asyncio.Future | None = None
        #: what went wrong in looking after the cakes (not in making one): it stops the kitchen
        self._error: BaseException | None = None
        self._owner_cancelled = False
        #: True from `open` until it has waited for the last cake
        self._active = False
        #: True once `open` stops every cake (its block failed or was cancelled)
        self._closing = False
        self._on_cake_done = self._cake_done  # one bound method for all: 64 bytes a cake
        # Hooks nobody implements are not called: a 100,000-cake plan makes millions of events.
        self._on_started = notifier(plugins, "bakectl_run_started")
        self._on_stage = notifier(plugins, "bakectl_cake_stage")
        self._on_baked = notifier(plugins, "bakectl_cake_baked")
        self._on_delivered = notifier(plugins, "bakectl_order_delivered")

    def mixer(self):
        """Hold one mixer while mixing (no limit: nothing to hold)."""
        if self._mixers is None:
            return _NO_MIXER_NEEDED
        return self._mixers

    def stage(self, cake: CakeRecord, stage: str, *, oven: Oven | None = None,
              baked: Cake | None = None) -> None:
        """Record that `cake` entered `stage` now and tell the plugins. `oven`: the oven it
        preheats or bakes in; `baked`: once baked, the cake as the oven made it (which knows
        when the oven really baked it)."""
        now = self.clock.now()
        cake.stage = stage
        if stage == "retrying":
            # The cake is made again from the start: the failed try's times are not its own.
            cake.mix_end = cake.oven = cake.oven_start = cake.bake_start = None
            cake.temperature_c = None
        elif stage == "mixing":
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
            cake.bake_start, cake.bake_end = baked.bake_start, baked.bake_end
            cake.status = "baked"
            cake.error = None  # a failed try that was retried is not why anything failed
        if self.journal is not None:
            self._journal_stage(cake, stage, now, baked)
        if self._on_stage is not None:
            self._on_stage(cake=cake, stage=stage, minute=now)

    def cake_baked(self, cake: CakeRecord, baked: Cake) -> None:
        """`cake` came out of its last bake as `baked`: record it, tell the plugins, and count
        it (its order is delivered, or failed, with its last cake)."""
        self.stage(cake, "baked", baked=baked)
        if self._on_baked is not None:
            self._on_baked(cake=cake)
        self._account(cake)

    def _journal_stage(self, cake: CakeRecord, stage: str, now: float,
                       baked: Cake | None) -> None:
        # Written (and synced) before anyone hears of the change: see bakectl/journal.py.
        record = {"event": stage, "m": round(now, 6), "order": cake.order, "index": cake.index}
        if stage == "preheating":
            record["oven"] = cake.oven
        elif stage == "baked":
            for name in BAKED_FIELDS[:-1]:
                record[name] = getattr(cake, name)
            record["bake_minutes"] = baked.recipe.bake_minutes
            record["steps"] = [dataclasses.asdict(step) for step in cake.steps]
        elif stage in ("failed", "retrying"):
            record["error"] = cake.error
        self.journal.write(record)

    async def run(self, orders: Iterable[Order], recipes: dict[str, Recipe]) -> list[OrderRecord]:
        """Make every cake of every order concurrently; return when all are done or failed.

        An order for a recipe not in `recipes` is a ValueError, before any cake starts."""
        orders = list(orders)
        check_recipes(orders, recipes)
        again = next((o.id for o in orders if o.id in self._orders_by_id), None)
        if again is not None:  # a second run of one kitchen: before anything starts
            raise ValueError(f"order {again!r} is in this kitchen already")
        async with self.open():
            for order in orders:
                self.add_order(order, recipes[order.recipe])
            if self._on_started is not None:
                self._on_started(kitchen=self)
        return self.orders

    @contextlib.asynccontextmanager
    async def open(self):
        """Open the kitchen: orders can be added until the block ends, which waits for every
        cake to be finished (a server keeps it open; a batch closes it at once).

        The kitchen owns its cakes' tasks as a task group would: a block that raises or is
        cancelled stops every cake, and waits for them; a failure in looking after a cake
        (a plugin's, when plugin errors are raised) stops every cake and the block, and is
        raised here. Not an asyncio.TaskGroup for the cakes: its bookkeeping (a set entry, a
        callback and a context per task) and a retry wrapper around make_cake were half of
        what a cake waiting for an oven cost, and 100,000 cakes wait at once in a big plan.
        What plugins start in the background is in a task group of the kitchen's."""
        loop = asyncio.get_running_loop()
        if self.bakery.mixers is not None:
            self._mixers = asyncio.Semaphore(self.bakery.mixers)
        if self.clock.simulated:
            loop.describe_deadlock = self.describe_waiting
        self._loop, self._owner = loop, asyncio.current_task()
        self._error, self._owner_cancelled, self._closing = None, False, False
        try:
            # What plugins start with run_in_background() as they hear of the cakes (a
            # server storing a delivery) belongs to the kitchen too: the block ends after it.
            async with background_tasks():
                self._context = contextvars.copy_context()  # the cakes' callbacks see it
                self._open = self._active = True
                try:
                    yield self
                    # Orders an earlier run baked count as finished (and are delivered, if
                    # the journal does not say they were) only now: after
                    # bakectl_run_started, which plugins may need before any delivery.
                    for cake in self._restored_to_count:
                        self._account(cake)
                    self._restored_to_count.clear()
                except asyncio.CancelledError:
                    self._cancel_all()  # no cake outlives the block
                    if not self._owner_cancelled:
                        raise
                    # else `_abort` stopped the block: its error is raised below
                except BaseException:
                    self._cancel_all()
                    raise
                finally:
                    self._open = False
                    try:
                        await self._wait_for_cakes()
                    finally:
                        self._active = False
                if self._error is not None:
                    raise self._error  # and the task group stops what plugins started
        except BaseException:
            # What stopped the kitchen comes first, as an error does before a cancellation
            # in a task group; what else came out is its context.
            if self._error is None:
                raise
            raise self._error  # noqa: B904

    async def _wait_for_cakes(self) -> None:
        """Until no cake is left. Cancelled meanwhile, it stops every cake and raises the
        cancellation once they have stopped (unless `_abort` cancelled it)."""
        cancelled = None
        while self._tasks:
            self._all_done = self._loop.create_future()
            try:
                await self._all_done
            except asyncio.CancelledError as exc:
                if not self._owner_cancelled:  # from outside (Ctrl-C in a plan)
                    cancelled = exc
                self._cancel_all()
        if self._owner_cancelled:  # by `_abort`: the block's task itself was not cancelled
            self._owner_cancelled = False
            self._owner.uncancel()
        if cancelled is not None:
            raise cancelled

    def add_order(self, order: Order, recipe: Recipe) -> OrderRecord:
        """Start making every cake of `order` (the kitchen must be open); cakes an earlier
        run baked are taken from the journal as they are."""
        if not self._open:
            raise RuntimeError("the kitchen is not open: use `async with kitchen.open()`")
        if order.id in self._orders_by_id:  # its records are keyed by id
            raise ValueError(f"order {order.id!r} is in this kitchen already")
        if recipe.name != order.recipe:
            raise ValueError(f"order {order.id!r} is for {order.recipe!r}, not the recipe "
                             f"given, {recipe.name!r}")
        if order.quantity.__class__ is not int or not 1 <= order.quantity <= MAX_QUANTITY:
            check_recipes([order], {recipe.name: recipe})  # raises, in its words
        record = OrderRecord(order)
        self.orders.append(record)
        self._orders_by_id[order.id] = record
        self.recipes[recipe.name] = recipe
        restored = []
        for index in range(1, order.quantity + 1):
            cake = CakeRecord(order.id, order.recipe, index, position=next(self._positions),
                              due=order.due, priority=order.priority)
            record.cakes.append(cake)
            self.cakes.append(cake)
            done = self._restored.get((order.id, index))
            if done is not None:
                self._restore(cake, done)
                restored.append(cake)
            else:
                self._start(cake, recipe)
        for cake in restored:  # once every cake of the order is known
            self.ovens.cake_finished(cake)
        self._restored_to_count.extend(restored)
        return record

    def _restore(self, cake: CakeRecord, done: dict) -> None:
        for name in BAKED_FIELDS[:-1]:
            setattr(cake, name, done[name])
        cake.stage = cake.status = "baked"
        cake.steps = [StepRecord(**step) for step in done.get("steps", ())]
        # The ovens' totals cover the whole timeline. A cake baked twice has a step per bake,
        # each on its own oven (its row has the last bake's oven and the first's start).
        bakes = [(step.oven, step.end - step.start, step.start - step.oven_start)
                 for step in cake.steps if step.step == "bake"]
        if len(bakes) <= 1:
            bakes = [(cake.oven, done["bake_minutes"], cake.bake_start - cake.oven_start)]
        for name, busy, setup in bakes:
            oven = next((o for o in self.ovens.ovens if o.name == name), None)
            if oven is not None:
                oven.bakes += 1
                oven.busy_minutes += busy
                oven.setup_minutes_total += setup

    def cancel_order(self, order_id: str, *, in_oven: bool = False) -> bool:
        """Stop every cake of an unfinished order; True if it was stopped.

        An order with a cake in an oven (preheating or baking) is not stopped (False) unless
        `in_oven` is true (a shutdown): a cake is not taken out half-baked. Every other stage
        holds no oven, and is stopped: queued, mixing, waiting, a recipe's rests (proofing...),
        retrying. Mixers and ovens go back to the kitchen as the cancelled cakes leave their
        ``async with`` blocks."""
        record = self._orders_by_id.get(order_id)
        if record is None or record.status is not None:
            return False
        if not in_oven and any(c.stage in ("preheating", "baking") for c in record.cakes):
            return False
        for cake in record.cakes:
            task = self._tasks.get(cake)
            if task is not None:
                task.cancel()
                self.ovens.cake_finished(cake)  # a plan's ovens stop waiting for its turn
        record.status = "cancelled"
        return True

    def _start(self, cake: CakeRecord, recipe: Recipe, pause: float = 0.0) -> None:
        """Make `cake` in a task of its own (again after `pause` bakery minutes, a retry)."""
        work = make_cake(self, cake, recipe) if not pause else self._retry(cake, recipe, pause)
        task = _CakeTask(work, loop=self._loop, name=CAKE_TASK_NAME)
        task.cake, task.recipe = cake, recipe
        self._tasks[cake] = task
        task.add_done_callback(self._on_cake_done, context=self._context)

    async def _retry(self, cake: CakeRecord, recipe: Recipe, pause: float) -> Cake:
        await self.clock.sleep(pause)
        return await make_cake(self, cake, recipe)

    def _cake_done(self, task: _CakeTask) -> None:
        """A try of a cake has ended: count the cake as made, make it again, or fail it."""
        cake, recipe = task.cake, task.recipe
        del self._tasks[cake]  # until now: `open` waits for every try to have been heard of
        if not self._tasks:  # an emptied dict keeps its table: 5 MiB after 100,000 cakes
            self._tasks = {}
        try:
            self._after_try(cake, recipe, task)
        except BaseException as exc:  # noqa: B036 - looking after cakes failed: stop the kitchen
            if not self._active:
                raise  # nobody waits for the kitchen any more: the loop's handler reports it
            self._abort(exc)
        if not self._tasks and self._all_done is not None and not self._all_done.done():
            self._all_done.set_result(None)

    def _after_try(self, cake: CakeRecord, recipe: Recipe, task: asyncio.Task) -> None:
        """A failure for good fails the cake (and its order), not the batch, unless
        --fail-fast; while retries last, the cake is made again after a backoff.

        It runs a turn of the loop after the try ended, so it looks again at what may have
        happened meanwhile: the order cancelled (or forgotten), the run stopped."""
        exc = None if task.cancelled() else task.exception()
        if exc is not None and (not isinstance(exc, Exception) or isinstance(exc, JournalError)
                                or cake.status == "baked"):
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                return  # asyncio has raised it out of the loop already: the run is over
            # A plugin error bakectl may not go on after, a journal that cannot be written,
            # or a failure in counting a cake already baked: not a failed try.
            raise exc
        tries, oven_faults = self._failures.pop(cake, (0, 0))  # kept again for a retry
        record = self._orders_by_id.get(cake.order)
        if record is None or record.status == "cancelled":
            return
        if task.cancelled():
            if self._stopped_by is not None and cake.status is None:
                cake.error = f"not made: {self._stopped_by}"
                self._fail(cake)
            return
        if exc is None:  # baked, and counted as such by cake_baked
            return
        if self._closing:
            return  # the kitchen is stopping every cake: unfinished
        if self._stopped_by is None and (self.interrupted or self.clock.stopping.is_set()):
            return  # stopped by a signal: unfinished, made again on --resume
        if isinstance(exc, OvenFault):
            # Not the cake's fault: straight back to the queue for another oven. Bounded, in
            # case the cake is what breaks every oven it meets.
            oven_faults += 1
            give_up = oven_faults > BROKEN_AFTER * len(self.ovens.ovens)
            pause = 0.0
        else:
            tries += 1
            give_up = tries > self.retries or isinstance(exc, NoOvenError)
            pause = retry_backoff(tries)
        cake.error = _describe(exc)
        if give_up or self._stopped_by is not None:
            self._fail(cake)
            return
        self._failures[cake] = (tries, oven_faults)
        self.stage(cake, "retrying")
        cake.steps.clear()  # the failed try's rests and bakes are not this cake's
        self._start(cake, recipe, pause)

    def _abort(self, error: BaseException) -> None:
        """Looking after the cakes failed: stop every cake, and the block that opened the
        kitchen, whose `open` raises `error`."""
        if self._error is None:
            self._error = error
        self._cancel_all()
        owner = self._owner
        if owner is not None and not owner.done() and not self._owner_cancelled:
            self._owner_cancelled = True
            owner.cancel()

    def _cancel_all(self) -> None:
        self._closing = True  # and no try that is just ending starts again
        for task in self._tasks.values():
            task.cancel()

    def _fail(self, cake: CakeRecord) -> None:
        cake.status = "failed"
        self.stage(cake, "failed")
        self.ovens.cake_finished(cake)
        self._account(cake)
        if self.fail_fast and self._stopped_by is None:
            self._stopped_by = f"--fail-fast after {cake.order} #{cake.index} failed"
            self.clock.stopping.set()  # bakes in the oven stop too
            for other, task in self._tasks.items():
                if other is not cake:
                    task.cancel()

    def interrupt(self, grace_seconds: float) -> None:
        """Stop starting new work: cakes not yet in an oven stop now, bakes in an oven get
        `grace_seconds` (wall clock) to finish, then are stopped too (see `stop_now`)."""
        self.stop_new_work()
        if self.clock.simulated:
            self.stop_now()  # simulated bakes take no wall time: nothing to wait for
        else:
            asyncio.get_running_loop().call_later(grace_seconds, self.stop_now)

    def stop_new_work(self) -> None:
        """Stop every cake that is not in an oven (unfinished: made again on --resume, or on
        a server's next start); bakes in an oven go on."""
        self.interrupted = True
        for cake, task in self._tasks.items():
            if cake.stage not in ("preheating", "baking"):
                task.cancel()

    def stop_now(self) -> None:
        """Stop everything at once: bakes in an oven are told to stop, every cake's task is
        cancelled (its oven goes back to the pool as its `async with` block unwinds)."""
        self.interrupted = True
        self.clock.stopping.set()
        self._cancel_all()

    def _account(self, cake: CakeRecord) -> None:
        """Count a finished cake; an order is delivered (or failed) with its last cake."""
        record = self._orders_by_id[cake.order]
        record.finished += 1
        if record.finished == len(record.cakes):
            failed = any(c.status == "failed" for c in record.cakes)
            # Done when its last cake came out of the oven; a failed order never was.
            record.done_minutes = None if failed else max(c.bake_end for c in record.cakes)
            record.status = "failed" if failed else "delivered"
            if not failed and self.deliver and cake.order not in self._delivered_before:
                self._deliver(record)

    def _deliver(self, record: OrderRecord) -> None:
        """Tell the plugins that an order is delivered, then journal that they were told.

        In this order, unlike every other record: a crash in between tells them again on
        resume (at least once) rather than never (docs/reliability.md)."""
        if self._on_delivered is not None:
            self._on_delivered(order=record)
        if self.journal is not None:
            self.journal.write({"event": "delivered", "m": round(self.clock.now(), 6),
                                "order": record.order.id})

    def describe_waiting(self) -> str:
        stuck = [c for c in self.cakes if c.status not in ("baked", "failed")]
        names = ", ".join(f"{c.order}#{c.index} ({c.stage})" for c in stuck[:10])
        more = f" and {len(stuck) - 10} more" if len(stuck) > 10 else ""
        return f"deadlock: nothing can ever progress; waiting: {names}{more}"

    def forget_order(self, order_id: str) -> None:
        """Drop a finished (delivered, failed or cancelled) order and its cakes, if the
        kitchen still holds it. A server asks for it once the order is stored, so that a
        kitchen open for days holds only unfinished orders; a batch forgets nothing (its
        report needs every order)."""
        record = self._orders_by_id.get(order_id)
        if record is None:
            return
        if record.status is None:
            raise ValueError(f"order {order_id!r} is not finished: it cannot be forgotten")
        del self._orders_by_id[order_id]
        self.orders.remove(record)
        for cake in record.cakes:
            self.cakes.remove(cake)


def bake_orders(orders: list[Order], recipes: dict[str, Recipe], bakery: Bakery, clock, *,
                plugins=None, policy=None, journal=None, retries: int = 0,
                fail_fast: bool = False, grace: float = DEFAULT_GRACE_SECONDS,
                deliver: bool = True, restored=None) -> dict:
    """Bake every order and return the JSON report (see docs/report.md). `policy`: a policy
    object or a ``--policy`` name (None: first-come-first-served).

    Ctrl-C or SIGTERM stops the run (docs/reliability.md): the first stops new work and gives
    bakes in an oven `grace` seconds to finish, the second stops at once; the report covers
    what was done, with ``"interrupted": true``. An order for a recipe not in `recipes` is a
    ValueError, raised before anything starts. With a `journal` (bakectl.journal.Journal),
    every change is recorded there first, cakes it says an earlier run baked are not baked
    again and orders it says were delivered are not delivered again: the run's clock carries
    on from the journal's last minute. With `deliver` false (a plan), finished orders are
    reported as delivered but not delivered: ``bakectl_order_delivered`` is not called.
    `restored` (a journal's ``Restored``, without the journal) carries on from what it says
    without recording anything: how the planner tries out the rest of a resumed day."""
    from bakectl.plugins import PluginError, notifier, oven_driver

    orders = list(orders)
    check_recipes(orders, recipes)  # before the journal or any plugin hears of a run
    if journal is not None:
        restored = journal.restored
    if isinstance(policy, str):  # a name, as --policy takes (search plans what is left)
        from bakectl.scheduling import make_policy

        policy = make_policy(policy, orders, recipes, bakery, restored)
    driver = oven_driver(plugins, clock)
    if restored is not None:
        clock.start_minute = restored.last_minute
    kitchen = Kitchen(bakery, clock, plugins=plugins, policy=policy, driver=driver,
                      journal=journal, retries=retries, fail_fast=fail_fast,
                      restored=restored.baked if restored is not None else None,
                      delivered=restored.delivered if restored is not None else (),
                      deliver=deliver)
    if journal is not None:
        journal.write({"event": "run", "m": round(clock.start_minute, 6),
                       "restored_cakes": len(restored.baked)})
    started = time.perf_counter()
    interrupted = False
    with interrupts_kept(raise_at_end=False) as dropped:
        try:
            run_in_foreground(_supervised(kitchen, orders, recipes, grace), clock=clock)
        except KeyboardInterrupt:
            interrupted = True
        except BaseExceptionGroup as group:
            # A plugin failure that must stop the run (BAKECTL_RAISE_PLUGIN_ERRORS), raised in
            # the kitchen's block, comes out of its task group wrapped: raise it as itself.
            plugin_errors = group.subgroup(PluginError)
            if plugin_errors is None:
                raise
            while isinstance(plugin_errors, BaseExceptionGroup):
                plugin_errors = plugin_errors.exceptions[0]
            raise plugin_errors from plugin_errors.__cause__
        finally:
            clock.stopping.set()  # background bakes stop now instead of holding the exit
        interrupted = interrupted or kitchen.interrupted
        if journal is not None:
            journal.write({"event": "interrupted" if interrupted else "finished",
                           "m": round(clock.now(), 6)})
        report = build_report(kitchen, wall_seconds=time.perf_counter() - started)
        # A Ctrl-C that Python dropped as the run's tasks went (they go as the report is
        # built) stops what comes next all the same: a plan, a search's trials.
        report["interrupted"] = interrupted or dropped()
    finished = notifier(plugins, "bakectl_run_finished")
    if finished is not None:
        finished(kitchen=kitchen, report=report)
    return report


async def _supervised(kitchen: Kitchen, orders, recipes, grace: float) -> None:
    with _stop_on_signals(kitchen, grace):
        await kitchen.run(orders, recipes)


@contextlib.contextmanager
def _stop_on_signals(kitchen: Kitchen, grace: float):
    """Ctrl-C and SIGTERM, first: stop new work, give running bakes `grace` seconds; again:
    stop at once.

    asyncio.Runner's own Ctrl-C handling cancels everything on the first one, running bakes
    included, which is what the second one is for. A simulated loop never waits for I/O, so
    it never sees signals through the loop: there Ctrl-C keeps the Runner's handling (a
    simulated bake takes no wall time anyway) and SIGTERM is turned into Ctrl-C."""
    if kitchen.clock.simulated:
        with sigterm_as_sigint():
            yield
        return
    loop = asyncio.get_running_loop()
    received = 0

    def on_signal() -> None:
        nonlocal received
        received += 1
        if received == 1:
            print(f"bakectl: stopping: no new cakes; bakes in an oven have {grace:g} s to "
                  "finish (Ctrl-C again to stop at once)", file=sys.stderr, flush=True)
            kitchen.interrupt(grace)
        else:
            kitchen.stop_now()

    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, on_signal)
        except (ValueError, RuntimeError, NotImplementedError):
            continue  # not the main thread (a server runs us elsewhere), or no Unix signals
        installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _sigterm_as_sigint(signum, frame):
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        # Started in the background (`cmd &`): the shell ignores Ctrl-C for it, so a raised
        # SIGINT would do nothing. SIGTERM must still stop it: a run in progress as asyncio
        # stops one on Ctrl-C, anything else at once.
        if not stop_foreground():
            raise KeyboardInterrupt
        return
    signal.raise_signal(signal.SIGINT)  # through asyncio's own Ctrl-C handling, if any


_sigterm_blocks = 0
_sigterm_before = None


@contextlib.contextmanager
def sigterm_as_sigint():
    """SIGTERM in the block does what Ctrl-C does (main thread only), and neither is lost:
    one that Python dropped is raised as the block ends (`interrupts_kept`). Blocks may end
    in any order (a run's coroutine closed late): SIGTERM's handler is put back when the
    last one ends."""
    global _sigterm_blocks, _sigterm_before
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _sigterm_blocks == 0:
        _sigterm_before = signal.signal(signal.SIGTERM, _sigterm_as_sigint)
    _sigterm_blocks += 1
    try:
        with interrupts_kept():
            yield
    finally:
        _sigterm_blocks -= 1
        if _sigterm_blocks == 0 and signal.getsignal(signal.SIGTERM) is _sigterm_as_sigint:
            signal.signal(signal.SIGTERM, _sigterm_before)
