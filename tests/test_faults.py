"""Faults and signals: retries with backoff, broken ovens, --fail-fast, the chaos plugin, and
Ctrl-C / SIGTERM on a real `bakectl bake` subprocess."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, cli_env, run_cli

from bakectl.background import run_in_foreground
from bakectl.clock import SimulatedClock
from bakectl.errors import BakeryError
from bakectl.kitchen import Kitchen, bake_orders, retry_backoff
from bakectl.model import Bakery, Ingredient, Order, Recipe
from bakectl.ovens import BROKEN_AFTER, ClockDriver, OvenFault
from bakectl.plugins import PluginManager

FLOUR = (Ingredient("flour", 200, "g"),)
SPONGE = Recipe("sponge", FLOUR, 10, 180, 25)
SCONES = Recipe("scones", FLOUR, 8, 220, 12)
RECIPES = {r.name: r for r in (SPONGE, SCONES)}


class DriverPlugin:
    from bakectl.hookspecs import hookimpl

    def __init__(self, driver):
        self.driver = driver

    @hookimpl
    def bakectl_oven_driver(self, clock):
        self.driver.clock = clock
        return self.driver


def bake(orders, driver, ovens=2, **options):
    pm = PluginManager()
    pm.register(DriverPlugin(driver), name="test-driver")
    return bake_orders(orders, RECIPES, Bakery.default(ovens), SimulatedClock(), plugins=pm,
                       **options)


class FlakyDriver(ClockDriver):
    """The first `failures` sponge bakes collapse; the rest are fine."""

    def __init__(self, failures):
        super().__init__(None)
        self.failures = failures

    def bake(self, oven, mixture, minutes):
        if mixture.recipe.name == "sponge" and self.failures > 0:
            self.failures -= 1
            raise BakeryError("the sponge collapsed")
        super().bake(oven, mixture, minutes)


def test_a_failing_cake_is_made_again_after_a_backoff_while_retries_last():
    report = bake([Order("o-1", "sponge")], FlakyDriver(2), retries=2)
    [cake] = report["cakes"]
    assert cake["status"] == "baked" and cake["error"] is None
    # Each try: mix 10, heat 16 (first only), bake raises at once; then back off 1, 2 minutes.
    assert cake["mix_start"] == 10 + 16 + 1 + 10 + 2
    assert [retry_backoff(n) for n in (1, 2, 3, 6, 7)] == [1, 2, 4, 30, 30]


def test_a_cake_that_still_fails_fails_its_order_and_the_others_go_on():
    report = bake([Order("o-1", "sponge"), Order("o-2", "scones", 2)], FlakyDriver(3),
                  retries=2)
    assert {o["id"]: o["status"] for o in report["orders"]} == {"o-1": "failed",
                                                               "o-2": "delivered"}
    assert report["cakes"][0]["error"] == "BakeryError: the sponge collapsed"


class BrokenOvenDriver(ClockDriver):
    """Ovens named in `broken` fault on every bake."""

    def __init__(self, *broken):
        super().__init__(None)
        self.broken = broken

    def bake(self, oven, mixture, minutes):
        if oven.name in self.broken:
            raise OvenFault(f"{oven.name}: the element burnt out")
        super().bake(oven, mixture, minutes)


def test_an_oven_that_keeps_failing_leaves_the_pool_and_its_cakes_go_elsewhere():
    report = bake([Order("o-1", "sponge", 3), Order("o-2", "scones", 2)],
                  BrokenOvenDriver("oven-1"))
    assert report["summary"]["delivered"] == 2  # oven faults do not use up --retries (0)
    assert {c["oven"] for c in report["cakes"]} == {"oven-2"}
    ovens = {o["name"]: o for o in report["ovens"]}
    assert ovens["oven-1"]["broken"] == "oven-1: the element burnt out"
    assert ovens["oven-1"]["bakes"] == 0 and ovens["oven-2"]["broken"] is None


def test_when_no_oven_can_bake_a_recipe_any_more_its_orders_fail_instead_of_hanging():
    report = bake([Order("o-1", "sponge", 2), Order("o-2", "scones")],
                  BrokenOvenDriver("oven-1", "oven-2"))
    assert report["summary"]["failed"] == 2
    for cake in report["cakes"]:
        assert cake["status"] == "failed"
        assert cake["error"].startswith("NoOvenError: no working oven can bake")
        assert "broken down: oven-1, oven-2" in cake["error"]
    # Each oven took BROKEN_AFTER faults in a row before it left the pool.
    assert all(o["broken"] for o in report["ovens"]) and BROKEN_AFTER == 3


def test_fail_fast_stops_the_run_at_the_first_failure():
    report = bake([Order("o-1", "sponge"), Order("o-2", "scones", 3)], FlakyDriver(1),
                  ovens=2, fail_fast=True)
    # Two scones bake first; the sponge fails at minute 48 while the third is in an oven.
    assert report["summary"]["failed"] == 2
    errors = [c["error"] for c in report["cakes"] if c["status"] == "failed"]
    assert errors[0] == "BakeryError: the sponge collapsed"
    assert errors[1:] and all(e == "not made: --fail-fast after o-1 #1 failed"
                              for e in errors[1:])


def test_fail_fast_counts_every_cake_that_failed_in_the_same_minute():
    # Three cakes collapse at the same minute on three ovens: whichever is heard of first
    # stops the run, and the other two are failed too, not left unfinished.
    report = bake([Order("a", "sponge", 2), Order("b", "sponge")], FlakyDriver(3), ovens=3,
                  fail_fast=True)
    assert [c["status"] for c in report["cakes"]] == ["failed"] * 3
    assert [o["status"] for o in report["orders"]] == ["failed", "failed"]
    assert report["summary"]["failed"] == 2 and not report["interrupted"]


def test_an_order_cancelled_while_its_failed_try_is_heard_of_stays_cancelled():
    # The kitchen hears of a failed try a turn of the loop after it ended: a cancel that comes
    # in between wins, as it would have a moment earlier (no retry, no delivery after it).
    cancels, bakes = [], []

    class FailOnceThenCancel(ClockDriver):
        def bake(self, oven, mixture, minutes):
            bakes.append(mixture.recipe.name)
            if len(bakes) == 1:
                loop = asyncio.get_running_loop()
                # Two turns after this minute's timers: after the failure reaches the cake.
                loop.call_at(loop.time(), loop.call_soon, loop.call_soon, lambda: cancels.append(
                    kitchen.cancel_order("a", in_oven=True)))
                raise BakeryError("the sponge collapsed")
            super().bake(oven, mixture, minutes)

    kitchen = Kitchen(Bakery.default(1), SimulatedClock(), driver=FailOnceThenCancel(None),
                      retries=1)
    kitchen.ovens.ovens[0].driver.clock = kitchen.clock
    run_in_foreground(kitchen.run([Order("a", "sponge")], RECIPES), clock=kitchen.clock)
    assert cancels == [True] and bakes == ["sponge"]
    assert kitchen.orders[0].status == "cancelled"


def test_a_journal_that_cannot_record_a_delivery_stops_the_run_and_counts_once():
    class FullDisk:
        def __init__(self):
            self.records = []

        def write(self, record):
            if record["event"] == "delivered":
                raise OSError(28, "No space left on device")
            self.records.append(record)

    journal = FullDisk()
    kitchen = Kitchen(Bakery.default(1), SimulatedClock(), journal=journal, retries=1)
    with pytest.raises(OSError, match="No space left"):
        run_in_foreground(kitchen.run([Order("a", "sponge")], RECIPES), clock=kitchen.clock)
    assert [r["event"] for r in journal.records].count("baked") == 1
    assert kitchen.orders[0].finished == 1


def test_a_delivery_the_journal_cannot_record_is_raised_even_if_the_block_ends_then():
    class FullDisk:
        def write(self, record):
            if record["event"] == "delivered":
                raise OSError(28, "No space left on device")

    kitchen = Kitchen(Bakery.default(1), SimulatedClock(), journal=FullDisk())

    async def serve_until_51():  # the sponge is out of the oven at 51: the block ends then
        async with kitchen.open():
            kitchen.add_order(Order("a", "sponge"), SPONGE)
            await kitchen.clock.sleep_until(30)
            await kitchen.clock.sleep_until(51)

    with pytest.raises(OSError, match="No space left"):
        run_in_foreground(serve_until_51(), clock=kitchen.clock)


def test_a_kitchen_stopped_once_makes_the_next_run_as_usual():
    kitchen = Kitchen(Bakery.default(1), SimulatedClock(), driver=FlakyDriver(1), retries=1)
    kitchen.ovens.ovens[0].driver.clock = kitchen.clock

    async def two_runs():
        with pytest.raises(TimeoutError):  # stopped at minute 30, a cake in the oven
            await asyncio.wait_for(kitchen.run([Order("first", "scones", 3)], RECIPES), 30)
        # The next run's failed try is retried and its order delivered.
        return await kitchen.run([Order("second", "sponge")], RECIPES)

    records = run_in_foreground(two_runs(), clock=kitchen.clock)
    assert {r.order.id: r.status for r in records}["second"] == "delivered"


# --- the CLI --------------------------------------------------------------------------------

RECIPE = ("name: {name}\ningredients: [{{name: flour, quantity: 1, unit: g}}]\n"
          "mix_minutes: {mix}\noven: {{temperature_c: {temp}, bake_minutes: {bake}}}\n")


def workload(tmp_path, orders: str, *, bake_minutes=25, ovens=2):
    (tmp_path / "recipes").mkdir(exist_ok=True)
    (tmp_path / "recipes" / "sponge.yaml").write_text(
        RECIPE.format(name="sponge", mix=10, temp=180, bake=bake_minutes))
    (tmp_path / "recipes" / "scones.yaml").write_text(
        RECIPE.format(name="scones", mix=8, temp=220, bake=12))
    (tmp_path / "bakery.yaml").write_text(f"ovens: {ovens}\n")
    (tmp_path / "orders.yaml").write_text(orders)


ORDERS = "orders:\n" + "".join(f"  - {{id: o-{k}, recipe: {'sponge' if k % 2 else 'scones'}, "
                               f"quantity: 2}}\n" for k in range(1, 7))


def test_chaos_plugin_is_seeded_and_faults_show_in_the_report(tmp_path):
    workload(tmp_path, ORDERS)
    env = {"BAKECTL_CHAOS_SEED": "7", "BAKECTL_CHAOS_BAKE_FAILURE": "0.4",
           "BAKECTL_CHAOS_OVEN_FAILURE": "0.1"}
    # fifo: the outcome of a seed depends on the policy, and this one is known to recover.
    args = ("-p", "bakectl.chaos", "bake", "orders.yaml", "--simulate", "--json", "--policy",
            "fifo")
    first = run_cli(*args, cwd=tmp_path, **env)
    second = run_cli(*args, cwd=tmp_path, **env)
    assert first.returncode == 1, first.stderr
    one, two = json.loads(first.stdout), json.loads(second.stdout)
    one.pop("wall_seconds"), two.pop("wall_seconds")
    assert one == two  # same seed, same faults
    assert any("chaos:" in (c["error"] or "") for c in one["cakes"])
    # The bound is over the cakes baked: with half of them failed it is still a bound.
    assert one["lower_bound_minutes"] <= one["makespan_minutes"]
    assert 0 < one["efficiency"] <= 1
    retried = run_cli(*args, "--retries", "5", cwd=tmp_path, **env)
    assert retried.returncode == 0, retried.stderr
    assert ": retrying: " in retried.stderr  # plain progress says why
    # A cake made again reports the try that baked it, not a mix of that one and the first.
    for cake in json.loads(retried.stdout)["cakes"]:
        assert (cake["mix_start"] <= cake["mix_end"] <= cake["oven_start"]
                <= cake["bake_start"] < cake["bake_end"]), cake
        assert [step["step"] for step in cake["steps"]] == ["mix", "bake"], cake
        assert cake["steps"][0]["start"] == cake["mix_start"]
        assert cake["steps"][0]["end"] == cake["mix_end"]


def test_chaos_settings_are_checked(tmp_path):
    workload(tmp_path, ORDERS)
    result = run_cli("-p", "bakectl.chaos", "bake", "orders.yaml", "--simulate",
                     cwd=tmp_path, BAKECTL_CHAOS_OVEN_FAILURE="2")
    assert result.returncode == 2
    assert result.stderr == "BAKECTL_CHAOS_OVEN_FAILURE: must be a probability from 0 to 1, " \
                            "not '2'\n"


def test_fail_fast_exits_1_from_the_cli(tmp_path):
    workload(tmp_path, ORDERS)
    result = run_cli("-p", "bakectl.chaos", "bake", "orders.yaml", "--simulate", "--json",
                     "--fail-fast", cwd=tmp_path, BAKECTL_CHAOS_BAKE_FAILURE="0.5")
    assert result.returncode == 1, result.stderr
    errors = [c["error"] for c in json.loads(result.stdout)["cakes"]]
    assert any(e and e.startswith("not made: --fail-fast") for e in errors)


def start_bake(tmp_path, *args):
    """A real `bakectl bake` subprocess; returns once some cake is in an oven, baking."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bakectl", "bake", "orders.yaml", "--json", *args],
        cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in process.stderr:
        seen.append(line)
        if ": baking in " in line:
            return process, seen
    process.kill()
    raise AssertionError("the bake never started: " + "".join(seen))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_an_hour_long_bake_within_the_grace_period(tmp_path, signum):
    # One oven, real time (--speed 1): the sponge bakes for an hour of wall time.
    workload(tmp_path, "orders:\n  - {id: o-1, recipe: sponge}\n  - {id: o-2, recipe: sponge}\n",
             bake_minutes=60, ovens=1)
    (tmp_path / "recipes" / "sponge.yaml").write_text(
        RECIPE.format(name="sponge", mix=0, temp=20, bake=60))  # no mixing, no preheating
    grace = 1.0
    process, _ = start_bake(tmp_path, "--speed", "1", "--grace", str(grace))
    sent = time.monotonic()
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    elapsed = time.monotonic() - sent
    assert process.returncode == 130, err
    assert elapsed < grace + 1.0, f"took {elapsed:.2f} s to stop"
    assert "Traceback" not in err
    report = json.loads(out)
    assert report["interrupted"] is True
    assert [c["status"] for c in report["cakes"]] == ["unfinished", "unfinished"]
    assert "--resume" in err


def test_a_second_ctrl_c_stops_at_once(tmp_path):
    workload(tmp_path, "orders:\n  - {id: o-1, recipe: sponge}\n", ovens=1)
    (tmp_path / "recipes" / "sponge.yaml").write_text(
        RECIPE.format(name="sponge", mix=0, temp=20, bake=60))
    process, _ = start_bake(tmp_path, "--speed", "1", "--grace", "600")
    process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)  # long before the 600 s grace
    assert process.returncode == 130, err
    assert json.loads(out)["interrupted"] is True


def test_new_options_are_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for option in ("--journal FILE", "--resume", "--grace SECONDS", "--retries N",
                   "--fail-fast"):
        assert option in readme
