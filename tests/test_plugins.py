"""Plugins: every hook called as documented, discovery and blocking, failures that break only
the plugin that failed, and the docs/plugins.md reference kept exact.

Hooks are tested by functions named ``test_hook_<hook name>``: test_every_hook_is_tested
checks that each hook has one (datasette does the same).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
import json
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
from conftest import RECIPE, ROOT, cli_env, run_cli

from bakectl import (
    Bake,
    Bakery,
    Ingredient,
    Kitchen,
    Order,
    Recipe,
    Rest,
    SimulatedClock,
    hookimpl,
    hookspecs,
    run_in_background,
    run_in_foreground,
)
from bakectl.errors import InputErrors
from bakectl.kitchen import bake_orders
from bakectl.plugins import PluginError, get_plugin_manager, oven_driver
from bakectl.recipebook import collect_recipes

SPONGE = Recipe("sponge", (Ingredient("flour", 200, "g"),), 10, 180, 25)
BREAD = Recipe("bread", (Ingredient("flour", 500, "g"),), 15,
               steps=(Rest(60, "proofing"), Bake(230, 40)))
HOOKS = sorted(name for name in vars(hookspecs) if name.startswith("bakectl_"))


class Recorder:
    """A plugin that writes down every event it gets."""

    def __init__(self):
        self.events = []

    @hookimpl
    def bakectl_run_started(self, kitchen):
        self.events.append(("started", len(kitchen.cakes), len(kitchen.orders)))

    @hookimpl
    def bakectl_cake_stage(self, cake, stage, minute):
        self.events.append(("stage", cake.recipe, stage, minute))

    @hookimpl
    def bakectl_cake_baked(self, cake):
        self.events.append(("baked", cake.recipe, cake.bake_end))

    @hookimpl
    def bakectl_order_delivered(self, order):
        self.events.append(("delivered", order.order.id, order.done_minutes))

    @hookimpl
    def bakectl_run_finished(self, kitchen, report):
        self.events.append(("finished", report["makespan_minutes"]))


@pytest.fixture(scope="module")
def recorded():
    recorder = Recorder()
    pm = get_plugin_manager(installed=False)
    pm.register(recorder)
    report = bake_orders([Order("o-1", "bread"), Order("o-2", "sponge")],
                         {"bread": BREAD, "sponge": SPONGE}, Bakery.default(1),
                         SimulatedClock(), plugins=pm)
    return recorder.events, report


# ---------------------------------------------------------------------------------------------
# Every hook


def test_hook_bakectl_recipes(bakectl_bake):
    class Bakery_:
        @hookimpl
        def bakectl_recipes(self):  # takes none of the arguments: allowed
            return [BREAD]

    class WithDirs:
        @hookimpl
        def bakectl_recipes(self, recipe_dirs):
            assert recipe_dirs == []
            return [SPONGE]

    report = bakectl_bake(["bread", "sponge"], plugins=[Bakery_(), WithDirs()])
    assert [c["status"] for c in report["cakes"]] == ["baked", "baked"]


def test_hook_bakectl_commands(write, tmp_path):
    write("hello_cmd.py", "from bakectl import hookimpl\n\n@hookimpl\ndef bakectl_commands(app):"
          "\n    @app.command()\n    def hello(name: str = 'you'):\n        'Say hello.'\n"
          "        print(f'hello {name}')\n")
    result = run_cli("-p", "hello_cmd", "hello", "--name", "Ada", PYTHONPATH=str(tmp_path))
    assert (result.returncode, result.stdout, result.stderr) == (0, "hello Ada\n", "")
    listed = run_cli("-p", "hello_cmd", "--help", PYTHONPATH=str(tmp_path))
    assert re.search(r"hello\s+Say hello\.", listed.stdout)


CLASHING_COMMANDS = (
    "from bakectl import hookimpl\n\n@hookimpl\ndef bakectl_commands(app):\n"
    "    @app.command()\n    def bake(anything: str = ''):\n        print('not a bake')\n"
    "    @app.command()\n    def hello():\n        print('hello')\n")


def clash_line(name: str) -> str:
    return (f"bakectl: plugin '{name}' failed in bakectl_commands: command 'bake' is one of "
            "bakectl's own: the built-in one is kept; give yours another name (disable it with "
            f"-p no:{name} or BAKECTL_DISABLE_PLUGINS={name})\n")


def test_a_plugin_command_named_as_a_built_in_one_is_refused(write, tmp_path):
    write("clash.py", CLASHING_COMMANDS)
    write("recipes/sponge.yaml", RECIPE.format(name="sponge", mix=10, temp=180, bake=25))
    write("orders.yaml", "orders:\n  - {id: o-1, recipe: sponge}\n")
    baked = run_cli("-p", "clash", "bake", "orders.yaml", "--simulate", "--no-progress",
                    "--json", cwd=tmp_path, PYTHONPATH=str(tmp_path))
    assert (baked.returncode, baked.stderr) == (0, clash_line("clash"))
    assert json.loads(baked.stdout)["summary"]["delivered"] == 1  # the built-in bake ran
    hello = run_cli("-p", "clash", "hello", cwd=tmp_path, PYTHONPATH=str(tmp_path))
    assert (hello.returncode, hello.stdout, hello.stderr) == (0, "hello\n", clash_line("clash"))
    # Installed, the same plugin is refused the same way when it is consulted (for a command
    # that is not built in); for a built-in command it is not even loaded.
    installed_on_path(tmp_path / "site", "clash", "clash_plugin", CLASHING_COMMANDS)
    env = {"PYTHONPATH": str(tmp_path / "site"), "BAKECTL_LOAD_PLUGINS": "clash"}
    hello = run_cli("hello", cwd=tmp_path, **env)
    assert (hello.returncode, hello.stdout, hello.stderr) == (0, "hello\n", clash_line("clash"))
    baked = run_cli("bake", "orders.yaml", "--simulate", "--no-progress", "--json",
                    cwd=tmp_path, **env)
    assert (baked.returncode, baked.stderr) == (0, "")


def test_hook_bakectl_oven_driver():
    calls = []

    class Driver:
        def __init__(self, clock):
            self.clock = clock

        def set_temperature(self, oven, temperature_c, minutes):
            calls.append(("heat", oven.name, temperature_c, minutes))
            self.clock.block(minutes)

        def bake(self, oven, mixture, minutes):
            calls.append(("bake", oven.name, mixture.recipe.name, minutes))
            self.clock.block(minutes)

    class Plugin:
        @hookimpl
        def bakectl_oven_driver(self, clock):
            return Driver(clock)

    pm = get_plugin_manager(installed=False)
    pm.register(Plugin())
    report = bake_orders([Order("o-1", "bread")], {"bread": BREAD}, Bakery.default(1),
                         SimulatedClock(), plugins=pm)
    assert calls == [("heat", "oven-1", 230, 21.0), ("bake", "oven-1", "bread", 40)]
    assert report["makespan_minutes"] == 15 + 60 + 21 + 40


def test_hook_bakectl_run_started(recorded):
    events, _ = recorded
    assert events[0] == ("started", 2, 2)


def test_hook_bakectl_cake_stage(recorded):
    events, _ = recorded
    bread = [(e[2], e[3]) for e in events if e[0] == "stage" and e[1] == "bread"]
    # The bread proofs 15-75 while the sponge has the only oven (10-51).
    assert bread == [("mixing", 0.0), ("proofing", 15.0), ("waiting", 75.0),
                     ("preheating", 75.0), ("baking", 80.0), ("baked", 120.0)]


def test_hook_bakectl_cake_baked(recorded):
    events, _ = recorded
    assert [e for e in events if e[0] == "baked"] == [("baked", "sponge", 51.0),
                                                      ("baked", "bread", 120.0)]


def test_hook_bakectl_order_delivered(recorded):
    events, _ = recorded
    assert [e for e in events if e[0] == "delivered"] == [("delivered", "o-2", 51.0),
                                                          ("delivered", "o-1", 120.0)]


def test_hook_bakectl_run_finished(recorded):
    events, report = recorded
    assert events[-1] == ("finished", 120.0) == ("finished", report["makespan_minutes"])


def test_every_hook_is_tested():
    sources = [*(ROOT / "tests").glob("test_*.py"), *(ROOT / "plugins").glob("*/tests/*.py")]
    tested = set()
    for path in sources:
        tested |= set(re.findall(r"def test_hook_(bakectl_\w+)", path.read_text()))
    assert set(HOOKS) - tested == set()


def signature(name: str) -> str:
    sig = inspect.signature(getattr(hookspecs, name))
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"{name}({params}) -> {sig.return_annotation}"


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_documented_with_its_exact_signature(name):
    docs = (ROOT / "docs" / "plugins.md").read_text()
    assert f"`{signature(name)}`" in docs


def test_hooks_are_prefixed_and_say_when_they_are_called():
    for name in HOOKS:
        doc = getattr(hookspecs, name).__doc__
        assert doc.startswith("Called"), name


# ---------------------------------------------------------------------------------------------
# Recipes with their own process


def test_a_recipe_with_steps_derives_its_temperature_and_bake_time():
    biscotti = Recipe("biscotti", (), 10, steps=[Bake(175, 25), Rest(15, "cooling"),
                                                 Bake(150, 12)])
    assert (biscotti.temperature_c, biscotti.bake_minutes, biscotti.hottest_c) == (175, 37, 175)
    assert isinstance(biscotti.steps, tuple) and SPONGE.process == (Bake(180, 25),)


@pytest.mark.parametrize("make, message", [
    (lambda: Recipe("x", (), 10), "needs temperature_c and bake_minutes, or steps"),
    (lambda: Recipe("x", (), 10, steps=(Rest(5, "proofing"),)), "at least one Bake"),
    (lambda: Recipe("x", (), 10, 200, steps=(Bake(180, 5),)), "temperature_c is 200"),
    (lambda: Recipe("x", (), 10, steps=("bake",)), "must be a Rest or a Bake"),
    (lambda: Rest(5, "baking"), "one of the kitchen's own"),
    (lambda: Rest(5, "retrying"), "one of the kitchen's own"),
    (lambda: Rest(5, "cancelled"), "one of the kitchen's own"),
    (lambda: Bake(180, 0), "minutes must be more than 0"),
])
def test_bad_steps_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_steps_run_the_same_on_the_real_clock():
    from bakectl.clock import RealClock

    simulated = bake_orders([Order("o-1", "bread", 2)], {"bread": BREAD}, Bakery.default(1),
                            SimulatedClock())
    real = bake_orders([Order("o-1", "bread", 2)], {"bread": BREAD}, Bakery.default(1),
                       RealClock(60000.0))
    assert [[s["stage"] for s in c["steps"]] for c in real["cakes"]] == [
        [s["stage"] for s in c["steps"]] for c in simulated["cakes"]]
    assert [c["oven"] for c in real["cakes"]] == ["oven-1", "oven-1"]


# ---------------------------------------------------------------------------------------------
# Discovery, blocking and failures


class FakeEntryPoint:
    def __init__(self, name, package, target):
        self.name, self.target = name, target
        self.dist = types.SimpleNamespace(name=package, version="1.2.3")

    def load(self):
        if isinstance(self.target, Exception):
            raise self.target
        return self.target


def plugin_with(*recipes):
    module = types.ModuleType("fake_plugin")

    @hookimpl
    def bakectl_recipes():
        return list(recipes)

    module.bakectl_recipes = bakectl_recipes
    return module


@pytest.fixture
def installed(monkeypatch):
    """Pretend these entry points are installed: installed(FakeEntryPoint, ...)."""

    def install(*entries):
        monkeypatch.setattr(importlib.metadata, "entry_points",
                            lambda group: list(entries) if group == "bakectl" else [])

    for name in ("BAKECTL_LOAD_PLUGINS", "BAKECTL_DISABLE_PLUGINS",
                 "BAKECTL_RAISE_PLUGIN_ERRORS"):
        monkeypatch.delenv(name, raising=False)
    return install


def test_installed_plugins_load_each_in_its_own_try(installed, capsys):
    installed(FakeEntryPoint("broken", "bakectl-broken", ImportError("no module named 'numpy'")),
              FakeEntryPoint("bread", "bakectl-bread", plugin_with(BREAD)))
    pm = get_plugin_manager()
    assert collect_recipes(pm, []).keys() == {"bread"}
    assert capsys.readouterr().err == (
        "bakectl: plugin 'broken' failed to load: ImportError: no module named 'numpy' "
        "(disable it with -p no:broken or BAKECTL_DISABLE_PLUGINS=broken)\n")
    infos = {info.name: info for info in pm.describe()}
    assert (infos["bread"].package, infos["bread"].version, infos["bread"].hooks) == (
        "bakectl-bread", "1.2.3", ["bakectl_recipes"])
    assert infos["broken"].error == "failed to load: ImportError: no module named 'numpy'"


@pytest.mark.parametrize("env, options, loaded", [
    ({}, [], {"bread", "sponge"}),
    ({"BAKECTL_LOAD_PLUGINS": ""}, [], set()),
    ({"BAKECTL_LOAD_PLUGINS": "bread"}, [], {"bread"}),
    ({"BAKECTL_LOAD_PLUGINS": "bakectl-sponge"}, [], {"sponge"}),  # by package name too
    ({"BAKECTL_DISABLE_PLUGINS": "bread, sponge"}, [], set()),
    ({}, ["no:bakectl-bread"], {"sponge"}),
])
def test_load_only_and_block(installed, monkeypatch, env, options, loaded):
    installed(FakeEntryPoint("bread", "bakectl-bread", plugin_with(BREAD)),
              FakeEntryPoint("sponge", "bakectl-sponge", plugin_with(SPONGE)))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    pm = get_plugin_manager(options)
    assert {p.name for p in pm.describe() if p.kind == "installed"} == loaded


def test_a_plugin_named_in_load_plugins_but_missing_is_reported(installed, monkeypatch, capsys):
    installed()
    monkeypatch.setenv("BAKECTL_LOAD_PLUGINS", "nope")
    get_plugin_manager()
    assert "BAKECTL_LOAD_PLUGINS names 'nope', which is not installed" in capsys.readouterr().err


def test_two_plugins_defining_one_recipe_is_an_error_naming_both(installed):
    installed(FakeEntryPoint("a", "bakectl-a", plugin_with(BREAD)),
              FakeEntryPoint("b", "bakectl-b", plugin_with(BREAD)))
    with pytest.raises(InputErrors) as caught:
        collect_recipes(get_plugin_manager(), [])
    message = str(caught.value)
    assert "recipe 'bread' is defined twice" in message
    assert "plugin a" in message and "plugin b" in message


def test_strict_mode_makes_failures_fatal(installed, monkeypatch):
    installed(FakeEntryPoint("broken", "bakectl-broken", ImportError("nope")))
    monkeypatch.setenv("BAKECTL_RAISE_PLUGIN_ERRORS", "1")
    with pytest.raises(PluginError, match="plugin 'broken' failed to load") as caught:
        get_plugin_manager()
    assert isinstance(caught.value.__cause__, ImportError)


def test_an_event_hook_that_raises_is_reported_once_and_the_bake_goes_on(capsys):
    class Broken:
        @hookimpl
        def bakectl_cake_stage(self, stage):
            raise KeyError(stage)

    pm = get_plugin_manager(installed=False)
    pm.register(Broken(), name="broken")
    report = bake_orders([Order("o-1", "sponge", 3)], {"sponge": SPONGE}, Bakery.default(),
                         SimulatedClock(), plugins=pm)
    assert report["summary"]["delivered"] == 1
    assert capsys.readouterr().err.count("plugin 'broken' failed in bakectl_cake_stage") == 1


def test_a_plugin_that_raises_in_one_hook_is_not_called_in_its_others(capsys):
    heard = []

    class HalfBroken:
        @hookimpl
        def bakectl_run_started(self):
            raise ConnectionError("webhook unreachable")

        @hookimpl
        def bakectl_cake_stage(self, stage):
            heard.append(stage)

        @hookimpl
        def bakectl_order_delivered(self, order):
            heard.append(order.order.id)

    pm = get_plugin_manager(installed=False)
    pm.register(HalfBroken(), name="halfbroken")
    report = bake_orders([Order("o-1", "sponge")], {"sponge": SPONGE}, Bakery.default(),
                         SimulatedClock(), plugins=pm)
    assert report["summary"]["delivered"] == 1
    # "bakectl goes on without it": one line, and none of its hooks is called after that.
    err = capsys.readouterr().err
    assert err.count("plugin 'halfbroken' failed in bakectl_run_started") == 1
    assert heard == []  # bakectl_run_started comes before any cake starts


def strict_plugins(monkeypatch, **plugins):
    """A plugin manager of `plugins` (name=plugin, registered in that order), with plugin
    errors made fatal (BAKECTL_RAISE_PLUGIN_ERRORS=1)."""
    monkeypatch.setenv("BAKECTL_RAISE_PLUGIN_ERRORS", "1")
    pm = get_plugin_manager(installed=False)
    for name, plugin in plugins.items():
        pm.register(plugin, name=name)
    return pm


def test_an_event_hook_that_raises_in_strict_mode_stops_the_run(monkeypatch):
    class Broken:
        @hookimpl
        def bakectl_cake_stage(self, stage):
            if stage == "baking":
                raise KeyError(stage)

    pm = strict_plugins(monkeypatch, broken=Broken())
    with pytest.raises(PluginError, match="'broken' failed in bakectl_cake_stage: KeyError"):
        bake_orders([Order("o-1", "sponge", 2)], {"sponge": SPONGE}, Bakery.default(),
                    SimulatedClock(), plugins=pm)


def test_a_strict_plugin_error_in_an_open_kitchen_stops_its_block_and_every_cake(monkeypatch):
    # A server keeps its kitchen open: the error must end that block, not wait behind it.
    class Broken:
        @hookimpl
        def bakectl_order_delivered(self, order):
            raise ConnectionError("courier API down")

    pm = strict_plugins(monkeypatch, broken=Broken())
    kitchen = Kitchen(Bakery.default(1), SimulatedClock(), plugins=pm)
    seen = {}

    async def serve_forever():
        async with kitchen.open():
            kitchen.add_order(Order("quick", "sponge"), SPONGE)
            kitchen.add_order(Order("slow", "sponge", 5), SPONGE)
            try:
                await kitchen.clock.sleep(10**6)  # until stopped
            except asyncio.CancelledError:
                seen["block"] = "cancelled"
                raise

    with pytest.raises(PluginError, match="'broken' failed in bakectl_order_delivered"):
        run_in_foreground(serve_forever(), clock=kitchen.clock)
    assert seen == {"block": "cancelled"}
    slow = next(o for o in kitchen.orders if o.order.id == "slow")
    assert slow.status is None and not any(c.status == "baked" for c in slow.cakes[2:])
    assert kitchen.clock.now() < 10**6  # it did not wait for the block's own end


def test_a_strict_plugin_error_comes_first_when_a_hooks_background_task_fails_too(
        monkeypatch):
    async def post():
        raise ConnectionError("webhook down")

    class Webhook:  # registered last: called first
        @hookimpl
        def bakectl_order_delivered(self, order):
            run_in_background(post())

    class Broken:
        @hookimpl
        def bakectl_order_delivered(self, order):
            raise KeyError("oops")

    pm = strict_plugins(monkeypatch, broken=Broken(), webhook=Webhook())
    with pytest.raises(PluginError, match="'broken' failed in bakectl_order_delivered"):
        bake_orders([Order("o-1", "sponge")], {"sponge": SPONGE}, Bakery.default(),
                    SimulatedClock(), plugins=pm)


def test_a_strict_plugin_error_is_raised_even_if_its_cakes_order_is_cancelled_meanwhile(
        monkeypatch):
    class CancelThenBreak:  # a server's DELETE comes in the same turn as the error
        @hookimpl
        def bakectl_cake_stage(self, cake, stage):
            if cake.order == "a" and stage == "mixing":
                asyncio.get_running_loop().call_soon(kitchen.cancel_order, "a")
                raise KeyError(stage)

    pm = strict_plugins(monkeypatch, broken=CancelThenBreak())
    kitchen = Kitchen(Bakery.default(1), SimulatedClock(), plugins=pm)
    with pytest.raises(PluginError, match="'broken' failed in bakectl_cake_stage"):
        run_in_foreground(kitchen.run([Order("a", "sponge"), Order("b", "sponge")],
                                      {"sponge": SPONGE}), clock=kitchen.clock)


def test_a_strict_plugin_error_stops_what_plugins_started_in_the_background(monkeypatch):
    clock = SimulatedClock()
    stopped = []

    async def watch_until_500():
        try:
            await clock.sleep_until(500)
        except asyncio.CancelledError:
            stopped.append(clock.now())
            raise

    class Watcher:
        @hookimpl
        def bakectl_run_started(self):
            run_in_background(watch_until_500())

    class Broken:
        @hookimpl
        def bakectl_cake_stage(self, cake, stage):
            if cake.order == "b" and stage == "baking":
                raise KeyError(stage)

    pm = strict_plugins(monkeypatch, watcher=Watcher(), broken=Broken())
    with pytest.raises(PluginError, match="'broken' failed in bakectl_cake_stage"):
        bake_orders([Order("a", "sponge"), Order("b", "sponge")], {"sponge": SPONGE},
                    Bakery.default(1), clock, plugins=pm)
    assert stopped and stopped[0] < 500  # stopped with the run, not waited for


def test_the_bake_fixture_bakes_as_bake_does_unless_told_a_policy(bakectl_bake, bakectl_cli,
                                                                   tmp_path):
    # Three sponges and a madeira on two ovens: the policies differ on this day.
    madeira = Recipe("madeira", (Ingredient("flour", 200, "g"),), 12, 160, 70)
    orders = [{"id": "o-1", "recipe": "sponge", "quantity": 3},
              {"id": "o-2", "recipe": "madeira"}]
    default = bakectl_bake(orders, recipes=[SPONGE, madeira], ovens=2)
    fifo = bakectl_bake(orders, recipes=[SPONGE, madeira], ovens=2, policy="fifo")
    assert (default["policy"], fifo["policy"]) == ("search", "fifo")
    assert default["makespan_minutes"] < fifo["makespan_minutes"]
    # What `bakectl bake --simulate` says of the same day.
    (tmp_path / "recipes").mkdir()
    for name, (mix, temp, bake) in {"sponge": (10, 180, 25), "madeira": (12, 160, 70)}.items():
        (tmp_path / "recipes" / f"{name}.yaml").write_text(
            f"name: {name}\ningredients: [{{name: flour, quantity: 200, unit: g}}]\n"
            f"mix_minutes: {mix}\noven: {{temperature_c: {temp}, bake_minutes: {bake}}}\n")
    (tmp_path / "orders.yaml").write_text(
        "orders:\n  - {id: o-1, recipe: sponge, quantity: 3}\n  - {id: o-2, recipe: madeira}\n")
    result = bakectl_cli("bake", "orders.yaml", "--simulate", "--ovens", "2", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["makespan_minutes"] == default["makespan_minutes"]


def test_the_bake_fixture_names_a_plugin_object_by_its_class(bakectl_bake):
    class Broken:
        @hookimpl
        def bakectl_cake_stage(self, stage):
            raise KeyError(stage)

    class Quiet:
        pass

    # Two objects of one class take part as two plugins, each with a name of its own.
    with pytest.raises(PluginError) as caught:
        bakectl_bake(["sponge"], plugins=[Quiet(), Quiet(), Broken()], recipes=[SPONGE])
    assert str(caught.value).startswith(
        f"plugin '{__name__}.Broken' failed in bakectl_cake_stage: KeyError")


@pytest.mark.parametrize("orders, errors", [
    ([{"id": "x", "recipe": "sponge"}, Order("x", "sponge", quantity=2)],
     ["orders:2:1: duplicate order id 'x' (first at line 1)"]),
    ([{"recipe": "sponge", "quantity": 0}], ["orders:1:1: quantity must be at least 1, got 0"]),
    (["sponge", {"recipe": "sponge", "quantity": "2"}],
     ["orders:2:1: quantity must be an integer, got '2' (quoted, so it is text)"]),
    ([{"recipe": "sponge", "due": float("nan")}, {"recipe": "sponge", "quantty": 2}],
     ["orders:1:1: due must be a finite number, got .nan",
      "orders:2:1: unknown field 'quantty' (did you mean 'quantity'?)"]),
    (["sponge", "spnge"], ["orders:2:1: unknown recipe 'spnge' (did you mean 'sponge'?)"]),
])
def test_the_bake_fixture_checks_orders_as_an_orders_file_is_checked(bakectl_bake, orders,
                                                                     errors):
    with pytest.raises(InputErrors) as caught:
        bakectl_bake(orders, recipes=[SPONGE])
    assert [str(error) for error in caught.value.errors] == errors


def test_the_bake_fixture_lets_recipes_override_a_plugin_s(bakectl_bake):
    class Plugin:
        @hookimpl
        def bakectl_recipes(self):
            return [SPONGE]

    quick = Recipe("sponge", (), 1, 180, 5, override=True)
    report = bakectl_bake(["sponge"], plugins=[Plugin()], recipes=[quick])
    assert report["makespan_minutes"] == 1 + 16 + 5  # mix, preheat to 180 °C, bake
    with pytest.raises(InputErrors, match="recipe 'sponge' is defined twice: first in plugin "
                                          f"{__name__}.Plugin, then by recipes="):
        bakectl_bake(["sponge"], plugins=[Plugin()], recipes=[SPONGE])
    with pytest.raises(InputErrors, match=r"^recipes=: recipe 'sponge': mix_minutes must be a "
                                          "number, got str '10'$"):
        bakectl_bake(["sponge"], recipes=[Recipe("sponge", (), "10", 180, 5)])


@pytest.mark.parametrize("orders, error", [
    ([Order("x", "sponge"), Order("x", "sponge", quantity=2)],
     "order 'x': duplicate order id 'x'"),
    ([Order("o-1", "sponge", quantity=0)], "order 'o-1': quantity must be at least 1, got 0"),
    ([Order("o-1", "sponge", quantity="2")],
     "order 'o-1': quantity must be an integer, got str '2'"),
    ([Order("o-1", "sponge", quantity=100_001)],
     "order 'o-1': quantity must be at most 100000, got 100001"),
])
def test_the_library_refuses_bad_orders_before_anything_starts(orders, error):
    recorder = Recorder()
    pm = get_plugin_manager(installed=False)
    pm.register(recorder)
    with pytest.raises(ValueError) as caught:
        bake_orders(orders, {"sponge": SPONGE}, Bakery.default(1), SimulatedClock(),
                    plugins=pm)
    assert (str(caught.value), recorder.events) == (error, [])
    with pytest.raises(ValueError, match=re.escape(error)):
        kitchen = Kitchen(Bakery.default(1), SimulatedClock())
        run_in_foreground(kitchen.run(orders, {"sponge": SPONGE}), clock=kitchen.clock)
    assert kitchen.cakes == []


def test_a_driver_hook_that_raises_stops_the_run(monkeypatch):
    class Broken:
        @hookimpl
        def bakectl_oven_driver(self):
            raise OSError("no serial port")

    pm = get_plugin_manager(installed=False)
    pm.register(Broken(), name="ovens")
    with pytest.raises(PluginError, match="'ovens' failed in bakectl_oven_driver: OSError"):
        oven_driver(pm, SimulatedClock())


def test_a_driver_hook_that_returns_no_driver_stops_the_run_naming_the_plugin(write, tmp_path):
    write("gas_driver.py", "from bakectl import hookimpl\n\n@hookimpl\n"
                           "def bakectl_oven_driver(clock):\n    return 'gas'\n")
    write("recipes/sponge.yaml", RECIPE.format(name="sponge", mix=10, temp=180, bake=25))
    write("orders.yaml", "orders:\n  - {id: o-1, recipe: sponge}\n")
    result = run_cli("-p", "gas_driver", "bake", "orders.yaml", "--simulate", cwd=tmp_path,
                     PYTHONPATH=str(tmp_path))
    # Before any cake starts: no cake is shown failing with an AttributeError.
    assert (result.returncode, result.stdout, result.stderr) == (2, "", (
        "bakectl: plugin 'gas_driver' failed in bakectl_oven_driver: TypeError: returned str "
        "'gas', not an oven driver (it has no set_temperature() or bake()) (disable it with "
        "-p no:gas_driver or BAKECTL_DISABLE_PLUGINS=gas_driver)\n"))


def test_progress_is_a_plugin_that_can_be_blocked(write, tmp_path):
    write("recipes/sponge.yaml", "name: sponge\ningredients: []\nmix_minutes: 10\n"
                                 "oven: {temperature_c: 180, bake_minutes: 25}\n")
    write("orders.yaml", "orders:\n  - {id: o-1, recipe: sponge}\n")
    shown = run_cli("bake", "orders.yaml", "--simulate", cwd=tmp_path)
    blocked = run_cli("-p", "no:progress", "bake", "orders.yaml", "--simulate", cwd=tmp_path)
    assert "o-1 #1 sponge: baking in oven-1" in shown.stderr
    assert (blocked.returncode, blocked.stderr) == (0, "")


def installed_on_path(folder, name: str, module: str, source: str) -> None:
    """An installed plugin, for real: a dist-info with an entry point, on PYTHONPATH."""
    info = folder / f"bakectl_{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: bakectl-{name}\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text(f"[bakectl]\n{name} = {module}\n")
    (folder / f"{module}.py").write_text(source)


def test_a_broken_installed_plugin_does_not_stop_help_recipes_or_a_bake(write, tmp_path):
    installed_on_path(tmp_path / "site", "broken", "broken_plugin",
                      "import numpy_that_is_not_there\n")
    write("recipes/sponge.yaml", "name: sponge\ningredients: []\nmix_minutes: 10\n"
                                 "oven: {temperature_c: 180, bake_minutes: 25}\n")
    write("orders.yaml", "orders:\n  - {id: o-1, recipe: sponge}\n")
    env = {"PYTHONPATH": str(tmp_path / "site"), "cwd": tmp_path,
           "BAKECTL_LOAD_PLUGINS": "broken"}
    line = ("bakectl: plugin 'broken' failed to load: ModuleNotFoundError: No module "
            "named 'numpy_that_is_not_there' (disable it with -p no:broken or "
            "BAKECTL_DISABLE_PLUGINS=broken)\n")
    assert (run_cli("--help", **env).returncode, run_cli("--help", **env).stderr) == (0, "")
    for args in (["recipes"], ["bake", "orders.yaml", "--simulate", "--no-progress"]):
        result = run_cli(*args, **env)
        assert (result.returncode, result.stderr) == (0, line), args
    listed = run_cli("plugins", "--json", **env)
    [broken] = [p for p in json.loads(listed.stdout) if p["name"] == "broken"]
    assert broken["error"].startswith("failed to load: ModuleNotFoundError")
    # A plugin command builds the plugins once, as the built-in commands do: one warning.
    served = run_cli("serve", "--recipes", "empty", **{**env, "cwd": tmp_path / "site"})
    assert served.stderr.count("plugin 'broken' failed to load") == 1, served.stderr
    strict = run_cli("recipes", BAKECTL_RAISE_PLUGIN_ERRORS="1", **env)
    assert strict.returncode == 2 and strict.stderr.startswith(line)
    assert "Traceback" in strict.stderr  # plugin authors asked for it


#: plugins whose hooks do not fit bakectl's, and the problem bakectl names
MISFITS = {
    "an argument the hook lacks": (
        "from bakectl import hookimpl\n\n@hookimpl\ndef bakectl_cake_stage(cake, stage, when):"
        "\n    pass\n",
        "bakectl_cake_stage takes 'when', which the hook does not pass (it passes cake, stage, "
        "minute)"),
    "a misspelt hook name": (
        "from bakectl import hookimpl\n\n@hookimpl\ndef bakectl_recipe():\n    return []\n",
        "unknown hook bakectl_recipe (did you mean bakectl_recipes?)"),
    # pluggy would call it and drop the coroutine unawaited: the hook would never run.
    "an async def hook": (
        "from bakectl import hookimpl\n\n@hookimpl\nasync def bakectl_order_delivered(order):"
        "\n    pass\n",
        "bakectl_order_delivered is an async def: hooks are called synchronously; make it a "
        "plain def (hand slow work to a thread)"),
}


@pytest.mark.parametrize("source, problem", list(MISFITS.values()), ids=list(MISFITS))
def test_a_plugin_whose_hooks_do_not_fit_fails_to_load_and_only_it(write, tmp_path, source,
                                                                    problem):
    installed_on_path(tmp_path / "site", "misfit", "misfit_plugin", source)
    write("recipes/sponge.yaml", RECIPE.format(name="sponge", mix=10, temp=180, bake=25))
    write("orders.yaml", "orders:\n  - {id: o-1, recipe: sponge}\n")
    env = {"PYTHONPATH": str(tmp_path / "site"), "cwd": tmp_path,
           "BAKECTL_LOAD_PLUGINS": "misfit"}
    line = (f"bakectl: plugin 'misfit' failed to load: {problem} (disable it with -p no:misfit "
            "or BAKECTL_DISABLE_PLUGINS=misfit)\n")
    for args in (["recipes"], ["bake", "orders.yaml", "--simulate", "--no-progress"]):
        result = run_cli(*args, **env)
        assert (result.returncode, result.stderr) == (0, line), args
    listed = run_cli("plugins", "--json", **env)
    [misfit] = [p for p in json.loads(listed.stdout) if p["name"] == "misfit"]
    assert (misfit["package"], misfit["error"]) == ("bakectl-misfit", f"failed to load: {problem}")
    # Asked for by name with -p: one line and exit 2, as for a module that cannot be imported.
    explicit = run_cli("-p", "misfit_plugin", "recipes", PYTHONPATH=str(tmp_path / "site"),
                       cwd=tmp_path)
    assert (explicit.returncode, explicit.stderr, explicit.stdout) == (
        2, f"bakectl: -p misfit_plugin: cannot load the plugin module: {problem}\n", "")


@pytest.mark.parametrize("returned, wrong", [
    ('{"name": "x"}', "returned dict {'name': 'x'}, not a list of Recipe objects"),
    ('["sponge", None]', "returned a list holding str 'sponge', not only Recipe objects"),
])
def test_a_recipes_hook_that_returns_no_recipes_is_one_line_naming_it(write, tmp_path,
                                                                      returned, wrong):
    write("odd.py", f"from bakectl import hookimpl\n\n@hookimpl\ndef bakectl_recipes():\n"
                    f"    return {returned}\n")
    write("recipes/sponge.yaml", RECIPE.format(name="sponge", mix=10, temp=180, bake=25))
    write("orders.yaml", "orders:\n  - {id: o-1, recipe: sponge}\n")
    line = (f"bakectl: plugin 'odd' failed in bakectl_recipes: TypeError: {wrong} (disable it "
            "with -p no:odd or BAKECTL_DISABLE_PLUGINS=odd)\n")
    listed, baked = (run_cli("-p", "odd", *args, PYTHONPATH=str(tmp_path), cwd=tmp_path)
                     for args in (["recipes", "--json"],
                                  ["bake", "orders.yaml", "--simulate", "--no-progress"]))
    assert (listed.returncode, listed.stderr) == (0, line)
    assert [recipe["name"] for recipe in json.loads(listed.stdout)] == ["sponge"]
    assert (baked.returncode, baked.stderr) == (0, line)


BAD_RECIPES = '''\
from bakectl import Ingredient, Recipe, hookimpl


@hookimpl
def bakectl_recipes():
    return [Recipe("strmix", (), "10", 100, 1),
            Recipe("infbake", (), 1, 100, float("inf")),
            Recipe("nanmix", (), float("nan"), 100, 1),
            Recipe("cold", (Ingredient("flour", 0, "g"),), -1, -500, 10),
            Recipe("fine", (), 1, 100, 1)]
'''

GOOD_RECIPES = (
    "from bakectl import Recipe, hookimpl\n\n@hookimpl\ndef bakectl_recipes():\n"
    "    return [Recipe('good', (), 5, 180, 20)]\n")


def test_a_plugin_s_bad_recipes_are_refused_as_bad_recipe_files_are(write, tmp_path):
    write("bad_recipes.py", BAD_RECIPES)
    write("good_recipes.py", GOOD_RECIPES)
    write("orders.yaml", "orders:\n  - {id: o-1, recipe: good}\n")
    lines = [f"plugin 'bad_recipes': recipe {problem} (disable the plugin with -p no:bad_recipes "
             "or BAKECTL_DISABLE_PLUGINS=bad_recipes)\n" for problem in (
                 "'strmix': mix_minutes must be a number, got str '10'",
                 "'infbake': bake_minutes must be a finite number, got inf",
                 "'nanmix': mix_minutes must be a finite number, got nan",
                 "'cold': ingredients[0].quantity must be more than 0, got 0; mix_minutes must "
                 "be at least 0, got -1; temperature_c must be at least -273.15, got -500")]
    runs = {" ".join(args): run_cli("-p", "good_recipes", "-p", "bad_recipes", *args,
                                    cwd=tmp_path, PYTHONPATH=str(tmp_path))
            for args in (["recipes", "--json"], ["validate", "orders.yaml"],
                         ["plan", "orders.yaml", "--json"],
                         ["bake", "orders.yaml", "--simulate", "--no-progress"])}
    for args, result in runs.items():
        # Exit 2 and one line per bad recipe, as for bad recipe files; no traceback, no JSON
        # with Infinity in it.
        assert (result.returncode, result.stderr) == (2, "".join(lines)), args
    # The good recipes, the other plugin's and the bad plugin's own, are still listed.
    assert [r["name"] for r in json.loads(runs["recipes --json"].stdout)] == ["fine", "good"]
    assert runs["plan orders.yaml --json"].stdout == ""


#: a recipe field out of its range: (recipe file text, the same recipe as a Recipe, the words)
OUT_OF_RANGE = [
    ("mix_minutes: -1\noven: {temperature_c: 180, bake_minutes: 25}",
     Recipe("r", (), -1, 180, 25), "mix_minutes must be at least 0, got -1"),
    ("mix_minutes: 20000000\noven: {temperature_c: 180, bake_minutes: 25}",
     Recipe("r", (), 20_000_000, 180, 25), "mix_minutes must be at most 10000000, got 20000000"),
    ("mix_minutes: 1\noven: {temperature_c: 2001, bake_minutes: 25}",
     Recipe("r", (), 1, 2001, 25), "temperature_c must be at most 2000, got 2001"),
    ("mix_minutes: 1\noven: {temperature_c: 180, bake_minutes: 20000000}",
     Recipe("r", (), 1, 180, 20_000_000), "bake_minutes must be at most 10000000, got 20000000"),
    ("mix_minutes: 1\nsteps: [bake: {temperature_c: -300, minutes: 5}]",
     Recipe("r", (), 1, steps=(Bake(-300, 5),)),
     "temperature_c must be at least -273.15, got -300"),
]


@pytest.mark.parametrize("ingredient, words", [
    (2_000_000_000, "quantity must be at most 1e+09, got 2000000000"),
    (1_000_000_000, None),
])
def test_a_plugin_s_ingredients_have_the_limits_of_a_recipe_file(tmp_path, ingredient, words):
    text = (f"name: r\ningredients: [{{name: flour, quantity: {ingredient}, unit: g}}]\n"
            "mix_minutes: 1\noven: {temperature_c: 180, bake_minutes: 25}\n")
    recipe = Recipe("r", (Ingredient("flour", ingredient, "g"),), 1, 180, 25)
    assert _refusal(text, recipe, tmp_path, words) == words


@pytest.mark.parametrize("text, recipe, words", OUT_OF_RANGE)
def test_a_plugin_s_recipe_is_held_to_the_rules_of_a_recipe_file(tmp_path, text, recipe, words):
    assert _refusal(f"name: r\ningredients: []\n{text}\n", recipe, tmp_path, words) == words


def _refusal(text: str, recipe: Recipe, tmp_path, words: str | None) -> str | None:
    """`words` if both the recipe file `text` and the plugin's `recipe` are refused with
    them; None if both are accepted; fails the test if the two disagree."""
    from bakectl.files import load_recipe

    (tmp_path / "r.yaml").write_text(text)
    try:
        load_recipe(tmp_path / "r.yaml")
        from_file = None
    except InputErrors as exc:
        [from_file] = [error.message for error in exc.errors]

    class Plugin:
        @hookimpl
        def bakectl_recipes(self):
            return [recipe]

    pm = get_plugin_manager(installed=False)
    pm.register(Plugin(), name="python")
    try:
        collect_recipes(pm, [])
        from_plugin = None
    except InputErrors as exc:
        [from_plugin] = [error.message for error in exc.errors]
    if words is None:
        assert (from_file, from_plugin) == (None, None)
        return None
    assert words in from_file and words in from_plugin, (from_file, from_plugin)
    return words


def test_a_p_module_that_cannot_be_imported_is_one_line_and_exit_2(write, tmp_path):
    # Asked for by name: going on without it would run something else than was asked.
    write("broken_plugin.py", "import numpy_that_is_not_there\n")
    write("orders.yaml", "orders: []\n")
    line = ("bakectl: -p broken_plugin: cannot import the plugin module: ModuleNotFoundError: "
            "No module named 'numpy_that_is_not_there'\n")
    for args in (["--help"], ["plugins"], ["recipes"], ["validate", "orders.yaml"],
                 ["bake", "orders.yaml", "--simulate"], ["serve"]):
        result = run_cli("-p", "broken_plugin", *args, PYTHONPATH=str(tmp_path), cwd=tmp_path)
        assert (result.returncode, result.stderr, result.stdout) == (2, line, ""), args
    missing = run_cli("-p", "no_such_module", "recipes", cwd=tmp_path)
    assert (missing.returncode, missing.stderr) == (2, (
        "bakectl: -p no_such_module: cannot import the plugin module: ModuleNotFoundError: "
        "No module named 'no_such_module'\n"))


def test_the_console_script_finds_a_p_module_in_the_current_directory(write, tmp_path):
    # `python -m bakectl` has the current directory on sys.path; the installed script does not.
    script = Path(sys.executable).with_name("bakectl")
    if not script.exists():
        pytest.skip("bakectl is not installed as a console script in this environment")
    write("mymodule.py", "from bakectl import hookimpl\n\n@hookimpl\ndef bakectl_commands(app):"
                         "\n    @app.command()\n    def hi():\n        print('hi from here')\n")
    result = subprocess.run([str(script), "-p", "mymodule", "hi"], cwd=tmp_path,
                            env=cli_env(PYTHONPATH=""), capture_output=True, text=True,
                            timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "hi from here\n", "")


def test_plugins_command_lists_builtins_with_their_hooks():
    result = run_cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["yaml_recipes"] == {"name": "yaml_recipes", "kind": "builtin",
                                    "package": "bakectl", "version": "0.1.0",
                                    "hooks": ["bakectl_recipes"], "error": None}
    assert "bakectl_cake_stage" in rows["progress"]["hooks"]


def test_help_and_version_import_no_plugin_machinery():
    code = ("import sys\nfrom bakectl import cli\nfor argv in (['--help'], ['--version']):\n"
            "    try:\n        cli.main(argv)\n    except SystemExit:\n        pass\n"
            "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True,
                            text=True, timeout=60)
    modules = set(result.stderr.split())
    heavy = {"pluggy", "bakectl.plugins", "bakectl.kitchen", "rich.progress", "importlib.metadata",
             "asyncio", "yaml"}
    assert heavy & modules == set()
    assert "bakectl" in result.stdout  # --version printed
