"""The seed's story as a library: make_cake on a real and a simulated clock."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace

import pytest

from bakectl.background import run_in_background, run_in_foreground
from bakectl.clock import RealClock, SimulatedClock
from bakectl.hookspecs import hookimpl
from bakectl.kitchen import Kitchen, bake_orders, mix_ingredients
from bakectl.model import Bakery, Ingredient, Order, OvenSpec, Recipe
from bakectl.ovens import ClockDriver, Oven, OvenBusyError, OvenPool
from bakectl.plugins import PluginManager

INGREDIENTS = (Ingredient("flour", 200, "g"), Ingredient("sugar", 150, "g"),
               Ingredient("eggs", 4, "pcs"))
SPONGE = Recipe("sponge", INGREDIENTS, 10, 180, 25)
MADEIRA = Recipe("madeira", INGREDIENTS, 12, 160, 70)
SCONES = Recipe("scones", INGREDIENTS, 8, 220, 12)
RECIPES = {r.name: r for r in (SPONGE, MADEIRA, SCONES)}


def intervals_overlap(a: tuple[float, float], b: tuple[float, float], eps: float = 1e-9) -> bool:
    return a[0] < b[1] - eps and b[0] < a[1] - eps


def check_schedule(report: dict, ovens: int, eps: float = 1e-6) -> None:
    """The constraints every schedule must keep, read from the JSON report."""
    baked = [c for c in report["cakes"] if c["status"] == "baked"]
    by_oven: dict[str, list[dict]] = {}
    for cake in baked:
        assert cake["temperature_c"] == RECIPES[cake["recipe"]].temperature_c
        assert cake["bake_end"] - cake["bake_start"] == pytest.approx(
            RECIPES[cake["recipe"]].bake_minutes, rel=0.05, abs=eps)
        assert cake["mix_end"] <= cake["bake_start"] + eps
        by_oven.setdefault(cake["oven"], []).append(cake)
    assert len(by_oven) <= ovens
    for cakes in by_oven.values():
        cakes.sort(key=lambda c: c["bake_start"])
        for first, second in zip(cakes, cakes[1:], strict=False):
            assert second["oven_start"] >= first["bake_end"] - eps, "two cakes in one oven"
    # Never more cakes baking at once than there are ovens.
    events = sorted([(c["bake_start"], 1) for c in baked] + [(c["bake_end"], -1) for c in baked],
                    key=lambda e: (e[0], e[1]))
    running = 0
    for _, delta in events:
        running += delta
        assert running <= ovens


def test_known_scenario_follows_the_timing_model_exactly_in_simulated_time():
    # Two cold ovens (20 °C). Both sponges mix 0-10, preheat 16 min, bake 26-51. The madeira
    # mixes 0-12, waits, takes oven-1 at 51 (both free: tie -> listed first), cools
    # 180 -> 160 at 5 °C/min (4 min) and bakes 55-125.
    orders = [Order("o-1", "sponge", 2, due=60), Order("o-2", "madeira", 1, due=100)]
    report = bake_orders(orders, RECIPES, Bakery.default(2), SimulatedClock())
    cakes = {(c["order"], c["index"]): c for c in report["cakes"]}
    assert [(c["bake_start"], c["bake_end"]) for c in report["cakes"]] == [
        (26.0, 51.0), (26.0, 51.0), (55.0, 125.0)]
    assert cakes["o-2", 1]["oven"] == "oven-1"
    assert cakes["o-2", 1]["mix_end"] == 12.0 and cakes["o-2", 1]["oven_start"] == 51.0
    assert report["makespan_minutes"] == 125.0
    orders_by_id = {o["id"]: o for o in report["orders"]}
    assert orders_by_id["o-1"] == {**orders_by_id["o-1"], "status": "delivered",
                                   "done_minutes": 51.0, "late": False}
    assert orders_by_id["o-2"]["late"] is True
    ovens = {o["name"]: o for o in report["ovens"]}
    assert ovens["oven-1"]["setup_minutes"] == 16.0 + 4.0
    assert ovens["oven-2"]["setup_minutes"] == 16.0
    assert ovens["oven-1"]["busy_minutes"] == 25.0 + 70.0


def test_real_time_run_matches_the_timing_model_within_a_few_percent():
    orders = [Order("o-1", "sponge", 2), Order("o-2", "madeira", 1), Order("o-3", "scones", 3)]
    model = bake_orders(orders, RECIPES, Bakery.default(2), SimulatedClock())
    speed = 6000.0  # 125 bakery minutes in about 1.3 s
    started = time.perf_counter()
    real = bake_orders(orders, RECIPES, Bakery.default(2), RealClock(speed))
    wall = time.perf_counter() - started
    assert real["mode"] == "real" and model["mode"] == "simulated"
    assert real["makespan_minutes"] == pytest.approx(model["makespan_minutes"], rel=0.05)
    assert wall * speed / 60 >= model["makespan_minutes"]  # it really waited
    check_schedule(real, ovens=2, eps=1.0)  # 1 minute = 10 ms of a busy machine
    check_schedule(model, ovens=2)


def test_reconfiguring_an_oven_is_charged_per_the_timing_model():
    clock = SimulatedClock()
    oven = Oven(OvenSpec("o", preheat_c_per_min=10, cool_c_per_min=5), 0, 20.0,
                ClockDriver(clock), clock)

    async def configure_all():
        spent = []
        for recipe in (SPONGE, MADEIRA, MADEIRA, SCONES):
            before = clock.now()
            await run_in_background(oven.configure, recipe)
            spent.append(clock.now() - before)
        return spent

    # 20->180 heat 16; 180->160 cool 4; no change 0; 160->220 heat 6.
    assert run_in_foreground(configure_all(), clock=clock) == [16.0, 4.0, 0.0, 6.0]
    assert oven.temperature_c == 220


def test_mixing_of_several_cakes_interleaves():
    clock = RealClock(speed=6000)  # 10 bakery minutes = 0.1 s
    order_of_events = []

    async def mix(name):
        await mix_ingredients(SPONGE, INGREDIENTS, clock)
        order_of_events.append(name)

    async def main():
        started = time.perf_counter()
        await asyncio.gather(mix("a"), mix("b"), mix("c"))
        return time.perf_counter() - started

    wall = run_in_foreground(main(), clock=clock)
    # Three 10-minute mixes side by side take about one mix, not three.
    assert wall < 2 * clock.seconds(10)
    assert sorted(order_of_events) == ["a", "b", "c"]


def test_a_real_clock_wakes_each_sleeper_at_its_minute_whatever_order_they_sleep_in():
    clock = RealClock(speed=6000)  # 1 bakery minute = 10 ms
    woke = []

    async def sleeper(name, minute):
        await clock.sleep_until(minute)
        woke.append((name, minute, clock.now()))

    async def main():
        # Each sleep sooner than all before it: the clock's one timer moves earlier each time.
        for name, minute in (("late", 120), ("cancelled", 60), ("middle", 60), ("early", 5)):
            task = run_in_background(sleeper(name, minute))
            if name == "cancelled":
                await asyncio.sleep(0)
                task.cancel()
        await asyncio.sleep(0)

    for _ in range(2):  # and again on a new loop: the first run's timer is not this one's
        woke.clear()
        run_in_foreground(main(), clock=clock)
        assert [name for name, _, _ in woke] == ["early", "middle", "late"]
        for _, minute, now in woke:
            assert minute <= now < minute + 40  # never early; late only by scheduling


def test_one_real_clock_wakes_the_sleepers_of_two_loops_at_once():
    clock = RealClock(speed=6000)  # 1 bakery minute = 10 ms
    woke = {}

    async def sleepers(name):
        await asyncio.gather(*(clock.sleep(5 + k) for k in range(5)))
        woke[name] = True

    threads = [threading.Thread(target=asyncio.run, args=(sleepers(name),))
               for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert woke == {"first": True, "second": True}


def test_the_simulated_clock_fires_a_minute_in_the_order_its_wake_ups_were_set():
    clock = SimulatedClock()
    fired = []

    async def sleeper(name, minute):
        await clock.sleep_until(minute)
        fired.append((name, clock.now()))

    async def blocking_call():
        def oven():
            clock.block(5)
            return "baked"
        fired.append((await run_in_background(oven), clock.now()))

    async def main():
        loop = asyncio.get_running_loop()
        tasks = [run_in_background(sleeper("a", 5))]
        loop.call_at(5, lambda: fired.append(("timer", loop.time())))
        cancelled = loop.call_at(5, lambda: fired.append(("cancelled timer", loop.time())))
        tasks.append(run_in_background(blocking_call()))  # its result is due at minute 5 too
        tasks += [run_in_background(sleeper("b", 5.0)), run_in_background(sleeper("early", 2)),
                  run_in_background(sleeper("c", 5)), run_in_background(sleeper("gone", 5))]
        await asyncio.sleep(0)  # every task now waits for its minute
        cancelled.cancel()
        tasks[-1].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with pytest.raises(ValueError, match="nan"):
            await clock.sleep_until(float("nan"))

    for _ in range(2):  # and the same again on a fresh loop
        fired.clear()
        run_in_foreground(main(), clock=clock)
        # Minute 5 (5 and 5.0 alike) wakes in the order the waits were set: the timer was set
        # before any task ran, then the tasks' waits in the order the tasks started.
        assert fired == [("early", 2), ("timer", 5), ("a", 5), ("baked", 5), ("b", 5),
                         ("c", 5)]


def test_an_order_whose_last_cake_is_out_of_the_oven_cannot_be_cancelled():
    # As a server's DELETE can come in between: the cake is out, the order is done.
    cancels = []

    class CancelWhenBaked:
        @hookimpl
        def bakectl_cake_stage(self, cake, stage):
            if stage == "baked":
                loop = asyncio.get_running_loop()
                loop.call_soon(lambda: cancels.append(kitchen.cancel_order(cake.order)))

    plugins = PluginManager()
    plugins.register(CancelWhenBaked(), name="canceller")
    kitchen = Kitchen(Bakery.default(1), SimulatedClock(), plugins=plugins)
    run_in_foreground(kitchen.run([Order("a", "sponge")], RECIPES), clock=kitchen.clock)
    assert cancels == [False]
    assert kitchen.orders[0].status == "delivered"


def test_mixing_yields_to_the_kitchen_between_ingredients():
    clock = SimulatedClock()
    steps = []

    async def watcher():
        for _ in range(6):
            steps.append(("kitchen", clock.now()))
            await clock.sleep(10 / 6)

    async def main():
        watch = asyncio.ensure_future(watcher())
        await mix_ingredients(SPONGE, INGREDIENTS, clock)
        steps.append(("mixed", clock.now()))
        await watch

    run_in_foreground(main(), clock=clock)
    mixed_at = steps.index(("mixed", 10.0))
    assert mixed_at > 3  # the kitchen ran several times while the cake was being mixed


def test_an_oven_bakes_one_cake_at_a_time():
    clock = RealClock(speed=600)  # a 25-minute bake blocks for 2.5 s
    oven = Oven(OvenSpec("o"), 0, 180.0, ClockDriver(clock), clock)
    from bakectl.clock import Interrupted
    from bakectl.model import Mixture

    mixture = Mixture(SPONGE, INGREDIENTS)

    def bake_until_stopped():
        with pytest.raises(Interrupted):
            oven.bake(mixture)

    thread = threading.Thread(target=bake_until_stopped, daemon=True)
    thread.start()
    time.sleep(0.2)
    with pytest.raises(OvenBusyError):
        oven.bake(mixture)
    with pytest.raises(OvenBusyError):
        oven.configure(MADEIRA)
    clock.stopping.set()  # let the background bake stop early
    thread.join(5)


def test_a_simulated_oven_also_bakes_one_cake_at_a_time():
    # In simulated time a bake runs inline and its minutes pass afterwards: the oven must stay
    # busy until they have, as a real oven's thread holds it (the test above).
    from bakectl.model import Cake, Mixture

    clock = SimulatedClock()
    oven = Oven(OvenSpec("o"), 0, 180.0, ClockDriver(clock), clock)
    mixture = Mixture(SPONGE, INGREDIENTS)

    async def main():
        at_once = await asyncio.gather(run_in_background(oven.bake, mixture),
                                       run_in_background(oven.bake, mixture),
                                       run_in_background(oven.configure, MADEIRA),
                                       return_exceptions=True)
        later = await run_in_background(oven.bake, mixture)  # minute 25: free again
        return at_once, later

    (first, second, configure), later = run_in_foreground(main(), clock=clock)
    assert isinstance(first, Cake) and (first.bake_start, first.bake_end) == (0.0, 25.0)
    assert isinstance(second, OvenBusyError) and isinstance(configure, OvenBusyError)
    assert (later.bake_start, later.bake_end) == (25.0, 50.0)
    assert oven.bakes == 2


def test_a_simulated_clock_run_again_finds_its_ovens_free():
    # Each run's minutes start again at 0: the oven's busy_until of the last run is no more.
    from bakectl.model import Mixture

    clock = SimulatedClock()
    oven = Oven(OvenSpec("o"), 0, 180.0, ClockDriver(clock), clock)

    async def bake():
        return await run_in_background(oven.bake, Mixture(SPONGE, INGREDIENTS))

    runs = [run_in_foreground(bake(), clock=clock) for _ in range(2)]
    assert [(c.bake_start, c.bake_end) for c in runs] == [(0.0, 25.0), (0.0, 25.0)]


def test_baking_before_configuring_is_refused():
    oven = Oven(OvenSpec("o"), 0, 20.0, ClockDriver(SimulatedClock()), SimulatedClock())
    from bakectl.model import Mixture

    with pytest.raises(RuntimeError, match="configure it first"):
        oven.bake(Mixture(SPONGE, INGREDIENTS))


class FailingDriver(ClockDriver):
    """Every madeira bake raises halfway through."""

    def bake(self, oven, mixture, minutes):
        if mixture.recipe.name == "madeira":
            self.clock.block(minutes / 2)
            raise RuntimeError("the oven door jammed")
        super().bake(oven, mixture, minutes)


class DriverPlugin:
    def __init__(self, driver_cls):
        self.driver_cls = driver_cls

    from bakectl.hookspecs import hookimpl

    @hookimpl
    def bakectl_oven_driver(self, clock):
        return self.driver_cls(clock)


@pytest.mark.parametrize("clock_factory", [SimulatedClock, lambda: RealClock(60000)],
                         ids=["simulated", "real"])
def test_a_cake_whose_bake_raises_fails_only_its_order(clock_factory):
    from bakectl.plugins import PluginManager

    pm = PluginManager()
    pm.register(DriverPlugin(FailingDriver), name="failing-driver")
    orders = [Order("o-1", "sponge", 2), Order("o-2", "madeira", 1), Order("o-3", "scones", 3)]
    # One oven: the failing bake must give it back, or nothing after it could bake.
    report = bake_orders(orders, RECIPES, Bakery.default(1), clock_factory(), plugins=pm)
    status = {o["id"]: o["status"] for o in report["orders"]}
    assert status == {"o-1": "delivered", "o-2": "failed", "o-3": "delivered"}
    failed = [c for c in report["cakes"] if c["status"] == "failed"]
    assert len(failed) == 1 and "the oven door jammed" in failed[0]["error"]
    assert report["summary"] == {"orders": 3, "delivered": 2, "failed": 1, "late": 0, "cakes": 6}


@pytest.mark.parametrize("clock_factory", [SimulatedClock, lambda: RealClock(60000)],
                         ids=["simulated", "real"])
def test_a_clock_can_run_one_batch_after_another(clock_factory):
    # Each run stops its clock at the end (clock.stopping): the next run starts it again.
    from bakectl.plugins import PluginManager

    pm = PluginManager()
    pm.register(DriverPlugin(FailingDriver), name="failing-driver")
    clock = clock_factory()
    orders = [Order("o-1", "sponge", 2), Order("o-2", "madeira", 1)]
    for _ in range(2):
        report = bake_orders(orders, RECIPES, Bakery.default(2), clock, plugins=pm)
        assert not report["interrupted"]
        cakes = {(c["order"], c["index"]): c for c in report["cakes"]}
        assert cakes["o-1", 1]["status"] == cakes["o-1", 2]["status"] == "baked"
        # The failing madeira fails as itself, not as "the bakery is shutting down".
        assert cakes["o-2", 1]["status"] == "failed"
        assert "the oven door jammed" in cakes["o-2", 1]["error"]


def test_an_order_for_an_unknown_recipe_is_refused_before_any_cake_starts():
    from bakectl.kitchen import Kitchen

    orders = [Order("o-1", "sponge"), Order("x", "nope")]
    with pytest.raises(ValueError, match="order 'x': unknown recipe 'nope'"):
        bake_orders(orders, RECIPES, Bakery.default(1), SimulatedClock())
    clock = SimulatedClock()
    kitchen = Kitchen(Bakery.default(1), clock)
    with pytest.raises(ValueError, match="order 'x': unknown recipe 'nope'"):
        run_in_foreground(kitchen.run(iter(orders), RECIPES), clock=clock)
    assert kitchen.cakes == []


def test_only_a_delivered_order_has_a_done_minute():
    from bakectl.plugins import PluginManager

    pm = PluginManager()
    pm.register(DriverPlugin(FailingDriver), name="failing-driver")
    orders = [Order("o-1", "sponge", 2), Order("o-2", "madeira", 1)]
    report = bake_orders(orders, RECIPES, Bakery.default(1), SimulatedClock(), plugins=pm)
    by_id = {o["id"]: o for o in report["orders"]}
    assert by_id["o-2"]["status"] == "failed" and by_id["o-2"]["done_minutes"] is None
    last = max(c["bake_end"] for c in report["cakes"] if c["order"] == "o-1")
    assert by_id["o-1"]["status"] == "delivered" and by_id["o-1"]["done_minutes"] == last


def test_a_mixer_limit_serialises_mixing():
    bakery = Bakery(Bakery.default(3).ovens, mixers=1)
    orders = [Order("o-1", "sponge", 3)]
    report = bake_orders(orders, RECIPES, bakery, SimulatedClock())
    mixes = sorted((c["mix_start"], c["mix_end"]) for c in report["cakes"])
    assert mixes == [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0)]


def test_pool_gives_an_oven_back_when_its_waiter_is_cancelled():
    clock = SimulatedClock()
    oven = Oven(OvenSpec("only"), 0, 20.0, ClockDriver(clock), clock)
    pool = OvenPool([oven], clock=clock)

    async def main():
        async with pool.oven_for("first", SPONGE):
            waiter = asyncio.ensure_future(pool.acquire("second", SPONGE))
            await asyncio.sleep(0)
            waiter.cancel()
            third = asyncio.ensure_future(pool.acquire("third", SPONGE))
            await asyncio.sleep(0)
        got = await third
        return got

    assert run_in_foreground(main(), clock=clock) is oven


class _HeldPreheat(ClockDriver):
    """The built-in driver, but the first preheat waits for the test's word (real time): the
    test cancels a cake while its oven is surely heating, however busy the machine is."""

    def __init__(self, clock):
        super().__init__(clock)
        self.heating = threading.Event()
        self.go_on = threading.Event()

    def set_temperature(self, oven, temperature_c, minutes):
        if not self.heating.is_set():
            self.heating.set()
            assert self.go_on.wait(30), "the test never let the preheat go on"
        super().set_temperature(oven, temperature_c, minutes)


@pytest.mark.parametrize("clock_factory", [SimulatedClock, lambda: RealClock(6000)],
                         ids=["simulated", "real"])
def test_a_cake_stopped_mid_preheat_frees_its_oven_only_once_the_oven_is_done(clock_factory):
    # One oven. The sponge takes it at 10 and preheats 20 -> 180 until 26; its order is
    # cancelled meanwhile. The oven goes on heating in the background: the madeira (mixed at
    # 12) must get it only then, not fail with OvenBusyError.
    from bakectl.kitchen import Kitchen

    clock = clock_factory()
    driver = None if clock.simulated else _HeldPreheat(clock)
    kitchen = Kitchen(Bakery.default(1), clock, driver=driver)

    async def main():
        async with kitchen.open():
            sponge = kitchen.add_order(Order("o-1", "sponge"), SPONGE).cakes[0]
            madeira = kitchen.add_order(Order("o-2", "madeira"), MADEIRA).cakes[0]
            if clock.simulated:
                await clock.sleep_until(11)  # preheating since 10
            else:  # polling for the stage could miss it on a loaded machine: ask the oven
                await asyncio.to_thread(driver.heating.wait, 30)
            assert sponge.stage == "preheating"
            assert kitchen.cancel_order("o-1", in_oven=True)
            if driver is not None:
                await clock.sleep(1)  # the cancellation is through: the oven heats on
                driver.go_on.set()
        return sponge, madeira

    sponge, madeira = run_in_foreground(main(), clock=clock)
    assert sponge.status is None and kitchen.orders[0].status == "cancelled"
    assert madeira.status == "baked", madeira.error
    if clock.simulated:
        assert (madeira.oven_start, madeira.bake_start) == (26.0, 30.0)  # 180 -> 160: 4 min


def test_a_kitchen_forgets_a_finished_order_when_asked_and_numbers_new_cakes_on():
    # What a server does once an order's final status is stored: nothing of the order may stay
    # alive in the kitchen (a server runs for days), and later cakes still get new positions.
    import gc

    from bakectl.kitchen import Kitchen
    from bakectl.report import CakeRecord

    clock = SimulatedClock()
    kitchen = Kitchen(Bakery.default(1), clock)

    def alive(*order_ids):
        gc.collect()
        return [o for o in gc.get_objects()
                if isinstance(o, CakeRecord) and o.order in order_ids]

    async def main():
        async with kitchen.open():
            kitchen.add_order(Order("forget-1", "sponge", 2), SPONGE)
            kitchen.add_order(Order("forget-2", "madeira"), MADEIRA)  # waits for the oven
            await clock.sleep(15)
            assert kitchen.cancel_order("forget-2")
            with pytest.raises(ValueError, match="not finished"):
                kitchen.forget_order("forget-1")
            while kitchen.orders[0].status is None:
                await clock.sleep(1)
            kitchen.forget_order("forget-1")
            kitchen.forget_order("forget-2")
            assert kitchen.orders == [] and kitchen.cakes == []
            later = kitchen.add_order(Order("forget-3", "sponge", 2), SPONGE)
        return [cake.position for cake in later.cakes]

    assert run_in_foreground(main(), clock=clock) == [3, 4]
    assert [r.order.id for r in kitchen.orders] == ["forget-3"]
    assert alive("forget-1", "forget-2") == []


def test_kitchen_stage_is_told_the_oven_and_the_baked_cake_by_name():
    from bakectl.kitchen import Kitchen
    from bakectl.model import Cake
    from bakectl.report import CakeRecord

    clock = SimulatedClock()
    kitchen = Kitchen(Bakery.default(1), clock)
    oven = kitchen.ovens.ovens[0]
    record = CakeRecord("o-1", "sponge", 1)

    async def main():
        kitchen.stage(record, "preheating", oven=oven)
        kitchen.stage(record, "baking", oven=oven)
        kitchen.stage(record, "baked", baked=Cake(SPONGE, oven.name, 180, 16.0, 41.0))

    run_in_foreground(main(), clock=clock)
    assert (record.oven, record.temperature_c) == ("oven-1", 20.0)
    assert (record.bake_start, record.bake_end, record.status) == (16.0, 41.0, "baked")


def test_the_rich_oven_panel_shows_where_a_heating_oven_is_going():
    import io

    from rich.console import Console

    from bakectl.default_plugins.rich_progress import RichProgress
    from bakectl.plugins import PluginManager

    progress = RichProgress(Console(file=io.StringIO(), width=100))
    seen = []

    class Watching(ClockDriver):
        def set_temperature(self, oven, temperature_c, minutes):
            # Runs while the oven heats (inline, in simulated time): what the panel shows.
            screen = Console(file=io.StringIO(), width=100, record=True)
            screen.print(progress.render())
            seen.append(screen.export_text())
            super().set_temperature(oven, temperature_c, minutes)

    pm = PluginManager()
    pm.register(progress, name="rich")
    pm.register(DriverPlugin(Watching), name="watching")
    bake_orders([Order("o-1", "sponge")], RECIPES, Bakery.default(1), SimulatedClock(),
                plugins=pm)
    assert len(seen) == 1 and "20 → 180" in seen[0]


def test_the_rich_progress_of_a_resumed_run_counts_the_cakes_baked_before():
    import io

    from rich.console import Console

    from bakectl.default_plugins.rich_progress import RichProgress
    from bakectl.plugins import PluginManager

    progress = RichProgress(Console(file=io.StringIO(), width=100))
    pm = PluginManager()
    pm.register(progress, name="rich")
    baked_before = {"oven": "oven-1", "mix_start": 0.0, "mix_end": 10.0, "oven_start": 10.0,
                    "bake_start": 26.0, "bake_end": 51.0, "temperature_c": 180.0,
                    "bake_minutes": 25.0}
    clock = SimulatedClock()
    clock.start_minute = 51.0
    kitchen = Kitchen(Bakery.default(1), clock, plugins=pm,
                      restored={("o-1", 1): baked_before})
    run_in_foreground(kitchen.run([Order("o-1", "sponge", 2)], RECIPES), clock=clock)
    task = progress.progress.tasks[0]
    assert (task.completed, task.total) == (2, 2)


def test_the_rich_live_view_shows_ids_with_brackets_as_written():
    import io

    from rich.console import Console

    from bakectl.default_plugins.rich_progress import RichProgress
    from bakectl.plugins import PluginManager

    screen = io.StringIO()
    progress = RichProgress(Console(file=screen, width=100, markup=True))
    pm = PluginManager()
    pm.register(progress, name="rich")
    odd = replace(SPONGE, name="[/]odd")
    bake_orders([Order("[bold]x", "[/]odd")], {"[/]odd": odd}, Bakery.default(1),
                SimulatedClock(), plugins=pm)
    shown = io.StringIO()
    Console(file=shown, width=100).print(progress.render())
    assert "[bold]x" in shown.getvalue() and "[/]odd" in shown.getvalue()


def test_library_misuse_gets_a_clear_error():
    import warnings

    clock = SimulatedClock()
    assert clock.now() == 0.0  # before a run: the minute it will start at
    with pytest.raises(RuntimeError, match="only inside run_in_foreground"):
        clock.sleep(5)

    async def nap():
        await asyncio.sleep(0)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "coroutine was never awaited" on top
        with pytest.raises(RuntimeError, match="needs an owner"):
            run_in_background(nap())

    kitchen = Kitchen(Bakery.default(1), clock)
    orders = [Order("o-1", "sponge")]
    run_in_foreground(kitchen.run(orders, RECIPES), clock=clock)
    with pytest.raises(ValueError, match="'o-1' is in this kitchen already"):
        run_in_foreground(kitchen.run(orders, RECIPES), clock=clock)


def test_add_order_refuses_a_recipe_that_is_not_the_orders_and_a_bad_quantity():
    clock = SimulatedClock()
    kitchen = Kitchen(Bakery.default(1), clock)
    refused = []

    async def add():
        async with kitchen.open():
            for order, recipe in ((Order("c", "sponge"), MADEIRA),
                                  (Order("d", "sponge", quantity=0), SPONGE),
                                  (Order("e", "sponge", quantity=True), SPONGE)):
                with pytest.raises(ValueError) as caught:
                    kitchen.add_order(order, recipe)
                refused.append(str(caught.value))
            kitchen.add_order(Order("f", "sponge"), SPONGE)

    run_in_foreground(add(), clock=clock)
    assert refused == ["order 'c' is for 'sponge', not the recipe given, 'madeira'",
                       "order 'd': quantity must be at least 1, got 0",
                       "order 'e': quantity must be an integer, got bool True"]
    # Nothing of them was kept: the kitchen made the one good order and closed.
    assert [o.order.id for o in kitchen.orders] == ["f"]
    assert [o.status for o in kitchen.orders] == ["delivered"]


def test_pool_takes_an_oven_back_from_a_waiter_cancelled_after_it_was_handed_over():
    clock = SimulatedClock()
    oven = Oven(OvenSpec("only"), 0, 20.0, ClockDriver(clock), clock)
    pool = OvenPool([oven], clock=clock)
    entered = []

    async def second():
        async with pool.oven_for("second", SPONGE):
            entered.append("second")  # never: cancelled before it could take the oven

    async def main():
        async with pool.oven_for("first", SPONGE):
            waiter = asyncio.ensure_future(second())
            await asyncio.sleep(0)
        await asyncio.sleep(0)  # the pool hands the oven to "second", which has not run yet
        assert pool.free == []
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert pool.free == [oven]
        return await pool.acquire("third", SPONGE)

    assert run_in_foreground(main(), clock=clock) is oven
    assert entered == []


def test_simulated_runs_are_deterministic_and_take_no_wall_time():
    orders = [Order(f"o-{k}", ("sponge", "madeira", "scones")[k % 3], 1 + k % 3, due=60 + k)
              for k in range(200)]
    first = bake_orders(orders, RECIPES, Bakery.default(4), SimulatedClock())
    second = bake_orders(orders, RECIPES, Bakery.default(4), SimulatedClock())
    first.pop("wall_seconds"), second.pop("wall_seconds")
    assert first == second
    assert first["makespan_minutes"] > 1000  # a long bakery day ...
    check_schedule(first, ovens=4)


def test_run_in_foreground_owns_and_waits_for_what_it_starts_in_the_background():
    clock = SimulatedClock()
    done = []

    async def later():
        await clock.sleep(5)
        done.append(clock.now())

    async def main():
        run_in_background(later())  # not awaited here: run_in_foreground owns it
        return "main"

    assert run_in_foreground(main(), clock=clock) == "main"
    assert done == [5.0]


def test_run_in_foreground_raises_the_foregrounds_own_exception_as_itself():
    async def main():
        raise ValueError("no flour")

    with pytest.raises(ValueError, match="no flour"):
        run_in_foreground(main(), clock=SimulatedClock())


def test_run_in_background_outside_any_task_group_is_refused_not_orphaned():
    async def later():
        return 1

    async def main():
        with pytest.raises(RuntimeError, match="needs an owner"):
            run_in_background(later())
        return "checked"

    assert asyncio.run(main()) == "checked"


def test_a_state_where_nothing_can_progress_is_a_deadlock_error():
    from bakectl.errors import DeadlockError

    async def stuck():
        await asyncio.get_running_loop().create_future()

    with pytest.raises(DeadlockError):
        run_in_foreground(stuck(), clock=SimulatedClock())


def test_bake_orders_takes_a_policy_by_its_command_line_name():
    orders = [Order("o-1", "sponge", 2), Order("o-2", "madeira")]
    by_name = bake_orders(orders, RECIPES, Bakery.default(1), SimulatedClock(), policy="edf")
    assert by_name["policy"] == "edf"
    with pytest.raises(ValueError, match="unknown policy 'fastest' \\(choose from fifo, "):
        bake_orders(orders, RECIPES, Bakery.default(1), SimulatedClock(), policy="fastest")
