"""The command line as a user runs it: a real subprocess on real files."""

from __future__ import annotations

import json
import re

from conftest import RECIPE, ROOT, run_cli

ANSI = re.compile(r"\x1b\[")



def small_bakery(write, orders: str, ovens: int = 2) -> None:
    write("recipes/sponge.yaml", RECIPE.format(name="sponge", mix=10, temp=180, bake=25))
    write("recipes/madeira.yaml", RECIPE.format(name="madeira", mix=12, temp=160, bake=70))
    write("bakery.yaml", f"ovens: {ovens}\n")
    write("orders.yaml", orders)


def test_bake_json_report_follows_the_timing_model(write, tmp_path):
    small_bakery(write, "orders:\n  - {id: o-1, recipe: sponge, quantity: 2, due: 60}\n"
                        "  - {id: o-2, recipe: madeira, due: 100}\n")
    # fifo named explicitly: the numbers below are the seed's first-come-first-served day.
    # 3000x: 125 bakery minutes take 2.5 s, so a busy machine's jitter stays well inside 5 %.
    result = run_cli("bake", "orders.yaml", "--speed", "3000", "--json", "--policy", "fifo",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # stdout holds the report and nothing else
    assert report["mode"] == "real" and report["policy"] == "fifo"
    assert abs(report["makespan_minutes"] - 125.0) / 125.0 < 0.05
    assert [o["status"] for o in report["orders"]] == ["delivered", "delivered"]
    assert [o["late"] for o in report["orders"]] == [False, True]
    assert {c["temperature_c"] for c in report["cakes"] if c["recipe"] == "sponge"} == {180}
    assert report["ovens"][0]["bakes"] + report["ovens"][1]["bakes"] == 3


def test_progress_in_ci_is_plain_lines_on_stderr(write, tmp_path):
    small_bakery(write, "orders:\n  - {id: o-1, recipe: sponge}\n")
    result = run_cli("bake", "orders.yaml", "--simulate", cwd=tmp_path, CI="true",
                     FORCE_COLOR="1", TERM="xterm-256color")
    assert result.returncode == 0, result.stderr
    assert not ANSI.search(result.stdout) and not ANSI.search(result.stderr)
    lines = result.stderr.splitlines()
    assert any("o-1 #1 sponge: mixing" in line for line in lines)
    assert any("o-1 #1 sponge: baking in oven-1" in line for line in lines)
    assert any("order o-1 delivered" in line for line in lines)
    # The summary table is the result: it goes to stdout.
    assert "o-1" in result.stdout and "delivered" in result.stdout


def test_ids_and_names_with_brackets_are_printed_as_written(write, tmp_path):
    # Rich reads "[bold]" as a style and "[/]" as an error: in a table of user data it is text.
    write("recipes/odd.yaml", RECIPE.format(name='"[/]odd"', mix=1, temp=180, bake=5))
    small_bakery(write, 'orders:\n  - {id: "[/]", recipe: sponge, due: 1}\n'
                        '  - {id: "[bold]x", recipe: "[/]odd", due: 1}\n')
    for command in (["bake", "orders.yaml", "--simulate"], ["plan", "orders.yaml"],
                    ["recipes"]):
        result = run_cli(*command, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        if command[0] == "recipes":
            assert "[/]odd" in result.stdout
        else:  # the summary, and the late orders of a plan
            assert "[/]" in result.stdout and "[bold]x" in result.stdout


def test_no_progress_is_quiet(write, tmp_path):
    small_bakery(write, "orders:\n  - {id: o-1, recipe: sponge}\n")
    result = run_cli("bake", "orders.yaml", "--simulate", "--no-progress", "--json",
                     cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    assert json.loads(result.stdout)["makespan_minutes"] == 10 + 16 + 25


FAILING_DRIVER = """\
from bakectl.hookspecs import hookimpl
from bakectl.ovens import ClockDriver


class Driver(ClockDriver):
    def bake(self, oven, mixture, minutes):
        if mixture.recipe.name == "madeira":
            raise RuntimeError("thermostat broke")
        super().bake(oven, mixture, minutes)


@hookimpl
def bakectl_oven_driver(clock):
    return Driver(clock)
"""


def test_a_failing_bake_fails_its_order_and_exits_1(write, tmp_path):
    small_bakery(write, "orders:\n  - {id: o-1, recipe: sponge}\n"
                        "  - {id: o-2, recipe: madeira}\n")
    write("plugins_here/broken_oven.py", FAILING_DRIVER)
    result = run_cli("-p", "broken_oven", "bake", "orders.yaml", "--simulate", "--json",
                     cwd=tmp_path, PYTHONPATH=str(tmp_path / "plugins_here"))
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    status = {o["id"]: o["status"] for o in report["orders"]}
    assert status == {"o-1": "delivered", "o-2": "failed"}
    failed = [c for c in report["cakes"] if c["status"] == "failed"]
    assert failed[0]["error"] == "RuntimeError: thermostat broke"


def test_bad_input_exits_2_with_file_and_line_and_no_traceback(write, tmp_path):
    small_bakery(write, "orders:\n  - {id: o-1, recipe: sponge}\n"
                        "  - {id: o-2, recipe: spnoge}\n")
    for command in ("bake", "validate"):
        result = run_cli(command, "orders.yaml", cwd=tmp_path)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert re.search(r"orders\.yaml:3:\d+: .*spnoge.*did you mean 'sponge'",
                         result.stderr), result.stderr


def test_validate_accepts_the_demo_files():
    result = run_cli("validate", "orders.yaml")
    assert result.returncode == 0, result.stderr
    assert "10 orders, 14 cakes, 3 ovens" in result.stdout


def test_demo_plans_to_a_sensible_day():
    result = run_cli("bake", "orders.yaml", "--simulate", "--json", "--no-progress")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["delivered"] == 10
    # The quick start bakes at 900x: keep the demo well under 30 s of wall time.
    assert report["makespan_minutes"] * 60 / 900 < 20


def test_recipes_lists_each_recipe_with_its_source(tmp_path):
    result = run_cli("recipes", "--json", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert {"sponge", "madeira", "chocolate"} <= set(rows) and len(rows) >= 8
    assert rows["sponge"]["source"].endswith("recipes/sponge.yaml")
    assert rows["sponge"]["temperature_c"] == 180


def test_two_recipe_files_with_one_name_is_an_error_naming_both(write, tmp_path):
    small_bakery(write, "orders:\n  - {id: o-1, recipe: sponge}\n")
    write("more/sponge2.yaml", RECIPE.format(name="sponge", mix=5, temp=170, bake=20))
    result = run_cli("validate", "orders.yaml", "--recipes", "more", cwd=tmp_path)
    assert result.returncode == 2
    assert "recipe 'sponge' is defined twice" in result.stderr
    assert "recipes/sponge.yaml" in result.stderr and "more/sponge2.yaml" in result.stderr


PLUGIN_BREAD = """\
from bakectl.hookspecs import hookimpl
from bakectl.model import Ingredient, Recipe


@hookimpl
def bakectl_recipes():
    return [Recipe("{name}", (Ingredient("flour", 500, "g"),), mix_minutes={mix},
                   temperature_c=200, bake_minutes=30, override={override})]
"""


def recipes_json(*args: str, cwd, plugins: tuple[str, ...] = ()) -> dict[str, dict]:
    """`bakectl -p PLUGIN... recipes --json ARGS`, by recipe name (plugins from `cwd`)."""
    options = [word for plugin in plugins for word in ("-p", plugin)]
    result = run_cli(*options, "recipes", "--json", *args, cwd=cwd, PYTHONPATH=str(cwd))
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


def test_a_recipe_that_says_override_replaces_the_earlier_one(write, tmp_path):
    small_bakery(write, "orders:\n  - {id: o-1, recipe: sponge}\n")
    write("more/sponge.yaml", "override: true\n" + RECIPE.format(name="sponge", mix=3, temp=170,
                                                                  bake=20))
    rows = recipes_json("--recipes", "more", cwd=tmp_path)
    assert rows["sponge"]["mix_minutes"] == 3
    assert rows["sponge"]["source"] == "more/sponge.yaml"
    assert rows["sponge"]["overrides"] == "recipes/sponge.yaml"
    assert rows["madeira"]["overrides"] is None
    table = run_cli("recipes", "--recipes", "more", cwd=tmp_path).stdout
    assert "more/sponge.yaml (overrides" in table and "recipes/sponge.yaml)" in table
    result = run_cli("plan", "orders.yaml", "--recipes", "more", "--json", cwd=tmp_path)
    assert json.loads(result.stdout)["cakes"][0]["mix_end"] == 3, result.stderr
    # A YAML file overrides a plugin's recipe; a plugin overrides an earlier plugin's.
    write("bread_a.py", PLUGIN_BREAD.format(name="bread", mix=1, override=False))
    write("bread_b.py", PLUGIN_BREAD.format(name="bread", mix=2, override=True))
    rows = recipes_json(cwd=tmp_path, plugins=("bread_a", "bread_b"))
    assert (rows["bread"]["mix_minutes"], rows["bread"]["overrides"]) == (2, "plugin bread_a")
    write("recipes/bread.yaml", "override: true\n" + RECIPE.format(name="bread", mix=4, temp=170,
                                                                    bake=20))
    rows = recipes_json(cwd=tmp_path, plugins=("bread_a",))
    assert (rows["bread"]["mix_minutes"], rows["bread"]["overrides"]) == (4, "plugin bread_a")


def test_an_override_of_nothing_or_a_second_override_is_an_error_at_it(write, tmp_path):
    small_bakery(write, "orders:\n  - {id: o-1, recipe: sponge}\n")
    write("more/lemon.yaml", "override: true\n" + RECIPE.format(name="lemon", mix=3, temp=170,
                                                                 bake=20))
    write("more/sponge.yaml", "override: true\n" + RECIPE.format(name="sponge", mix=3, temp=170,
                                                                  bake=20))
    write("more/sponge2.yaml", "override: yes\n" + RECIPE.format(name="sponge", mix=4, temp=170,
                                                                  bake=20))
    result = run_cli("validate", "orders.yaml", "--recipes", "more", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "more/lemon.yaml:1:11: recipe 'lemon' says override: true, but no earlier source"
        " defines it (the order: Python plugins, recipes/ beside the orders file, the current"
        " directory, each --recipes DIR)\n"
        "more/sponge2.yaml:1:11: recipe 'sponge' is overridden twice: first by"
        " more/sponge.yaml:1:11, then here; keep one override\n")


def test_identical_recipe_files_are_one_recipe_and_a_conflict_hints_at_override(write,
                                                                                 tmp_path):
    small_bakery(write, "orders:\n  - {id: o-1, recipe: sponge}\n")
    copy = write("more/sponge.yaml", (tmp_path / "recipes/sponge.yaml").read_text())
    rows = recipes_json("--recipes", "more", cwd=tmp_path)
    assert rows["sponge"]["source"] == "recipes/sponge.yaml"
    copy.write_text(copy.read_text() + "# changed\n")
    result = run_cli("validate", "orders.yaml", "--recipes", "more", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.endswith("add 'override: true' to the second to make it replace the"
                                  " first\n"), result.stderr


def test_recipes_lists_the_good_recipes_and_says_what_is_wrong_with_the_bad(write, tmp_path):
    small_bakery(write, "orders: []\n")
    write("recipes/broken.yaml", "name: broken\n")
    result = run_cli("recipes", "--json", cwd=tmp_path)
    assert result.returncode == 2
    assert [row["name"] for row in json.loads(result.stdout)] == ["madeira", "sponge"]
    assert result.stderr.splitlines() == [
        "recipes/broken.yaml:1:1: missing required field 'ingredients'",
        "recipes/broken.yaml:1:1: missing required field 'mix_minutes'",
    ]


def test_a_symlink_loop_in_the_recipes_folder_is_one_bad_file_not_all(write, tmp_path):
    small_bakery(write, "orders:\n  - {id: o-1, recipe: sponge}\n")
    (tmp_path / "recipes" / "loop.yaml").symlink_to("loop.yaml")
    result = run_cli("recipes", "--json", cwd=tmp_path)
    assert result.returncode == 2
    assert [row["name"] for row in json.loads(result.stdout)] == ["madeira", "sponge"]
    assert result.stderr.splitlines() == [
        "recipes/loop.yaml: cannot read this file: Too many levels of symbolic links"]


def test_recipes_with_an_orders_file_that_is_not_there_is_one_line_and_exit_2(write,
                                                                               tmp_path):
    small_bakery(write, "orders: []\n")
    result = run_cli("recipes", "--orders", "nonexist.yaml", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == ("nonexist.yaml: no such file (--orders names the orders file whose"
                             " recipes/ to read)\n")
    assert run_cli("recipes", "--orders", "orders.yaml", cwd=tmp_path).returncode == 0


def test_missing_recipe_folder_and_usage_errors_exit_2(write, tmp_path):
    small_bakery(write, "orders:\n  - {id: o-1, recipe: sponge}\n")
    result = run_cli("bake", "orders.yaml", "--recipes", "nowhere", cwd=tmp_path)
    assert result.returncode == 2 and "nowhere: recipe folder not found" in result.stderr
    assert run_cli("bake", "orders.yaml", "--speed", "0", cwd=tmp_path).returncode == 2
    assert run_cli("bake", cwd=tmp_path).returncode == 2
    assert run_cli("bake", "missing.yaml", cwd=tmp_path).returncode == 2


def test_version_and_help():
    result = run_cli("--version")
    assert result.returncode == 0 and re.fullmatch(r"bakectl \d+\.\d+\.\d+\n", result.stdout)
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("bake", "validate", "recipes"):
        assert command in result.stdout


def test_help_names_the_server_commands_without_loading_them():
    import typer

    from bakectl.default_plugins.server_commands import bakectl_commands

    server = typer.Typer()
    bakectl_commands(app=server)  # the commands the built-in plugin adds
    names = [command.callback.__name__ for command in server.registered_commands]
    result = run_cli("--help")
    assert f"Server commands: {', '.join(names)} " in result.stdout
    from conftest import imported_by

    assert imported_by(["--help"], ("pluggy", "fastapi", "httpx",
                                    "bakectl.default_plugins.server_commands")) == []
    served = run_cli("serve", "--help")
    assert served.returncode == 0 and "--port" in served.stdout


def test_help_does_not_import_the_kitchen_or_live_display():
    from conftest import imported_by

    # bakectl.model too: building its dataclasses alone cost --help a tenth of its start-up.
    heavy = ("bakectl.kitchen", "bakectl.clock", "bakectl.ovens", "bakectl.model",
             "rich.progress", "rich.live", "asyncio")
    assert imported_by(["--help"], heavy) == []


def test_every_problem_is_reported_at_once(write, tmp_path):
    # A field error in one order must not hide an unknown recipe in another.
    small_bakery(write, "orders:\n  - {id: o-1, recipe: sponge, qty: 2}\n"
                        "  - {id: o-2, recipe: madera}\n"
                        "  - {id: o-3, recipe: sponge, quantity: 0}\n")
    result = run_cli("validate", "orders.yaml", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 3, result.stderr
    assert lines[0].startswith("orders.yaml:2:") and "unknown field 'qty'" in lines[0]
    assert lines[1].startswith("orders.yaml:3:") and "did you mean 'madeira'" in lines[1]
    assert lines[2].startswith("orders.yaml:4:") and "at least 1" in lines[2]
