"""Defects an independent review found in the command line, each checked as a user meets it:
`bakectl` as a real subprocess on real files."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest
from conftest import cli_env, run_cli

RECIPE = """\
name: {name}
ingredients:
  - {{name: flour, quantity: 200, unit: g}}
mix_minutes: 10
oven:
  temperature_c: 180
  bake_minutes: 25
"""


def small_bakery(write, orders: str, bakery: str = "ovens: 2\n") -> None:
    write("recipes/sponge.yaml", RECIPE.format(name="sponge"))
    write("recipes/madeira.yaml", RECIPE.format(name="madeira"))
    write("bakery.yaml", bakery)
    write("orders.yaml", orders)


def test_a_time_of_day_in_due_is_not_read_as_base_60_minutes(write, tmp_path):
    # YAML 1.1 reads `12:30` as 12 * 60 + 30 = 750: the order would silently be due at 750.
    small_bakery(write, "orders:\n  - {id: o-1, recipe: sponge, due: 12:30}\n"
                        "  - {id: o-2, recipe: sponge, priority: 1:30}\n",
                 bakery="ovens:\n  - {name: a, max_temperature_c: 3:20}\n")
    result = run_cli("validate", "orders.yaml", cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    lines = result.stderr.splitlines()
    assert lines == [
        "bakery.yaml:2:34: ovens[0].max_temperature_c: '3:20' would be read as a base-60 number"
        " (YAML 1.1): write a plain number",
        "orders.yaml:2:36: due: '12:30' would be read as a base-60 number (YAML 1.1): write"
        " minutes as a plain number, or a date-time such as 2026-11-25T12:30",
        "orders.yaml:3:41: priority: '1:30' would be read as a base-60 number (YAML 1.1):"
        " write a plain number",
    ], result.stderr
    # Quoted, or in a text field, it is just text.
    small_bakery(write, "orders:\n  - {id: '12:30', recipe: sponge, customer: 12:30}\n")
    assert run_cli("validate", "orders.yaml", cwd=tmp_path).returncode == 0


def test_a_due_date_time_already_past_is_baked_late_and_said_once_per_order(write, tmp_path):
    write("recipes/sponge.yaml", RECIPE.format(name="sponge"))
    write("orders.yaml", "orders:\n  - {id: o-1, recipe: sponge, due: 2020-01-01T10:00}\n"
                         "  - id: o-2\n    recipe: sponge\n    due: 2021-06-01T10:00:00\n"
                         "  - {id: o-3, recipe: sponge, due: 90}\n")
    said = ("orders.yaml:2:36: due 2020-01-01T10:00 is before the start of the run: the order"
            " is late already\n"
            "orders.yaml:5:10: due 2021-06-01T10:00:00 is before the start of the run: the order"
            " is late already\n")
    result = run_cli("validate", "orders.yaml", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, said)
    result = run_cli("plan", "orders.yaml", "--json", cwd=tmp_path)
    assert result.stderr == said
    late = {order["id"]: order["late"] for order in json.loads(result.stdout)["orders"]}
    assert late == {"o-1": True, "o-2": True, "o-3": False}


def test_two_ovens_with_one_name_are_an_error_at_the_second_naming_the_first(write, tmp_path):
    orders = "orders:\n  - {id: o-1, recipe: sponge}\n"
    small_bakery(write, orders, bakery="ovens: [{name: o1}, {name: o1}]\n")
    result = run_cli("validate", "orders.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == ("bakery.yaml:1:28: duplicate oven name 'o1'"
                             " (first at line 1, column 16)\n")
    # A mistake in another oven does not hide the duplicate.
    small_bakery(write, orders,
                 bakery="ovens:\n  - {name: o1}\n  - {name: o1, max_temperature_c: 3000}\n")
    result = run_cli("validate", "orders.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "bakery.yaml:3:12: duplicate oven name 'o1' (first at line 2)",
        "bakery.yaml:3:35: ovens[1].max_temperature_c must be at most 2000, got 3000"]


def test_recipes_option_given_a_file_says_it_wants_the_folder(write, tmp_path):
    small_bakery(write, "orders:\n  - {id: o-1, recipe: sponge}\n")
    result = run_cli("validate", "orders.yaml", "--recipes", "recipes/sponge.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == ("recipes/sponge.yaml: is a file, not a folder (give the folder that"
                             " holds recipe files)\n")
    result = run_cli("validate", "orders.yaml", "--recipes", "nowhere", cwd=tmp_path)
    assert result.stderr == "nowhere: recipe folder not found\n"


def test_recipes_defined_twice_point_at_the_second_name_and_say_how_to_settle_it(write,
                                                                                  tmp_path):
    # The orders' own folder has recipes/, and so has the folder bakectl runs from.
    write("shop/recipes/sponge.yaml", RECIPE.format(name="sponge"))
    write("shop/orders.yaml", "orders:\n  - {id: o-1, recipe: sponge}\n")
    write("recipes/sponge.yaml", "# the same name, another cake\n" + RECIPE.format(name="sponge"))
    result = run_cli("validate", "shop/orders.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "recipes/sponge.yaml:2:7: recipe 'sponge' is defined twice: first in"
        " shop/recipes/sponge.yaml:1:7, then here; both shop/recipes/ (beside the orders file)"
        " and recipes/ (in the current directory) are read: run bakectl from shop/ to use only"
        " its recipes, or rename one of the two\n")
    # As it says: from the orders' folder, only its own recipes are read.
    assert run_cli("validate", "orders.yaml", cwd=tmp_path / "shop").returncode == 0


def test_orders_are_still_checked_against_the_recipes_that_loaded(write, tmp_path):
    small_bakery(write, "orders:\n  - {id: o-1, recipe: sponge}\n"
                        "  - {id: o-2, recipe: madera}\n"  # a typo: must be reported
                        "  - {id: o-3, recipe: broken}\n"  # its file is wrong: said there
                        "  - {id: o-4, recipe: unreadable}\n"
                        "  - {id: o-5, recipe: twice}\n")  # defined twice: said there
    write("recipes/broken.yaml", "name: broken\ningredients: []\nmix_minutes: soon\n"
                                 "oven: {temperature_c: 180, bake_minutes: 25}\n")
    write("recipes/unreadable.yaml", "name: [\n")
    write("recipes/twice.yaml", RECIPE.format(name="twice"))
    write("recipes/twice_again.yaml", "# another cake\n" + RECIPE.format(name="twice"))
    result = run_cli("validate", "orders.yaml", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == "orders.yaml:3:23: unknown recipe 'madera' (did you mean 'madeira'?)"
    assert [line.split(":")[0] for line in lines[1:]] == [
        "recipes/broken.yaml", "recipes/twice_again.yaml", "recipes/unreadable.yaml"], lines
    # Without a bakery (it failed to load), orders are still checked against the recipes.
    write("bakery.yaml", "ovens: many\n")
    result = run_cli("validate", "orders.yaml", cwd=tmp_path)
    assert "orders.yaml:3:23: unknown recipe 'madera'" in result.stderr


def run_to(stdout, *args: str, cwd) -> subprocess.CompletedProcess:
    """`bakectl ARGS` with its stdout on an open file or pipe end given by the test."""
    return subprocess.run([sys.executable, "-m", "bakectl", *args], cwd=cwd, env=cli_env(),
                          stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=60)


@pytest.mark.parametrize("args", [["bake", "orders.yaml", "--simulate", "--no-progress", "--json"],
                                  ["bake", "orders.yaml", "--simulate", "--no-progress"],
                                  ["validate", "orders.yaml"]], ids=["json", "table", "validate"])
def test_a_reader_that_went_away_is_exit_141_and_no_noise(write, tmp_path, args):
    # `bakectl ... | head -1`: exit 1 would say an order failed; 141 is what shells report.
    small_bakery(write, "orders:\n  - {id: o-1, recipe: sponge}\n")
    read, written = os.pipe()
    os.close(read)  # closed before bakectl writes a byte: its first write meets EPIPE
    try:
        result = run_to(written, *args, cwd=tmp_path)
    finally:
        os.close(written)
    assert (result.returncode, result.stderr) == (141, "")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
@pytest.mark.parametrize("args", [["bake", "orders.yaml", "--simulate", "--json"],
                                  ["plan", "orders.yaml"], ["--help"]], ids=str)
def test_stdout_that_cannot_be_written_is_one_line_and_exit_74(write, tmp_path, args):
    small_bakery(write, "orders:\n  - {id: o-1, recipe: sponge}\n")
    with open("/dev/full", "w") as full:
        result = run_to(full, *args, cwd=tmp_path)
    assert result.returncode == 74, result.stderr
    assert result.stderr.splitlines()[-1:] == [
        "bakectl: cannot write the output: No space left on device"]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["bake", "plan", "validate", "submit"])
def test_usage_names_the_orders_file_orders_as_the_help_texts_do(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Usage: bakectl {command} [OPTIONS] ORDERS"
    assert any(line.lstrip().startswith("ORDERS") for line in lines[1:]), result.stdout
    assert "{" not in lines[0] and "orders <path>" not in result.stdout


def test_an_interrupted_run_does_not_look_finished(write, tmp_path):
    # One oven, real time: the first cake bakes for an hour of wall time; Ctrl-C meanwhile.
    write("recipes/sponge.yaml", RECIPE.format(name="sponge").replace(
        "mix_minutes: 10", "mix_minutes: 0").replace("temperature_c: 180", "temperature_c: 20")
        .replace("bake_minutes: 25", "bake_minutes: 60"))
    write("bakery.yaml", "ovens: 1\n")
    write("orders.yaml", "orders:\n  - {id: o-1, recipe: sponge}\n  - {id: o-2, recipe: sponge}\n")
    process = subprocess.Popen([sys.executable, "-m", "bakectl", "bake", "orders.yaml",
                                "--speed", "1", "--grace", "0"], cwd=tmp_path, env=cli_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in process.stderr:
        seen.append(line)
        if ": baking in " in line:
            break
    else:
        process.kill()
        raise AssertionError("the bake never started: " + "".join(seen))
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    progress = [line for line in err.splitlines() if line.startswith("[")]
    assert re.fullmatch(r"\[ +\d+\.\d min\] interrupted at minute \d+\.\d: 0/2 orders "
                        r"delivered, carry on with --resume", progress[-1]), err
    assert "done:" not in err
    assert "interrupted" in out.splitlines()[0] and "makespan" not in out  # the table's title
    assert "interrupted: 0/2 orders delivered" in out and "carry on with --resume" in out


@pytest.mark.parametrize("args, line", [
    (["plan", "orders.yaml", "--ovens", "1001"], "--ovens: must be at most 1000, got 1001"),
    (["plan", "orders.yaml", "--ovens", "0"], "--ovens: must be at least 1, got 0"),
    (["bake", "orders.yaml", "--simulate", "--mixers", "99999999999999999999"],
     "--mixers: must be at most 100000, got 99999999999999999999"),
    (["bake", "orders.yaml", "--simulate", "--mixers", "-1"],
     "--mixers: must be 0 (no limit) or more, got -1"),
    (["serve", "--port", "0", "--db", "x.db", "--ovens", "1001"],
     "--ovens: must be at most 1000, got 1001"),
], ids=["plan-ovens", "plan-no-ovens", "bake-mixers", "bake-negative-mixers", "serve-ovens"])
def test_ovens_and_mixers_options_have_the_bounds_of_a_bakery_file(write, tmp_path, args, line):
    # `--ovens 100000000` built a hundred million ovens (and hung) where `ovens:` stops at 1000.
    small_bakery(write, "orders:\n  - {id: o-1, recipe: sponge}\n")
    result = run_cli(*args, cwd=tmp_path, timeout=30)
    assert (result.returncode, result.stderr, result.stdout) == (2, line + "\n", "")
    assert not (tmp_path / "x.db").exists()



@pytest.mark.parametrize("args, bakery, line", [
    (["bake", "orders.yaml", "--speed", "1e308"], "ovens: 2\n",
     "--speed: must be more than 0 and at most 1000000, got 1e+308; to plan without waiting,"
     " use --simulate"),
    (["bake", "orders.yaml", "--speed", "0"], "ovens: 2\n",
     "--speed: must be more than 0 and at most 1000000, got 0"),
    (["serve", "--port", "0", "--db", "x.db", "--speed", "1e308"], "ovens: 2\n",
     "--speed: must be more than 0 and at most 1000000, got 1e+308"),
    (["plan", "orders.yaml"], "ovens: [{name: slow, preheat_c_per_min: 1e-300}]\n",
     "bakery.yaml:1:41: ovens[0].preheat_c_per_min must be at least 0.001, got 1e-300"),
], ids=["bake-speed", "bake-no-speed", "serve-speed", "preheat-rate"])
def test_time_scales_beyond_what_a_run_can_mean_are_refused(write, tmp_path, args, bakery,
                                                            line):
    # `--speed 1e308` and a 1e-300 °C/min oven both reported makespans of 1e302 minutes.
    small_bakery(write, "orders:\n  - {id: o-1, recipe: sponge}\n", bakery=bakery)
    result = run_cli(*args, cwd=tmp_path, timeout=30)
    assert (result.returncode, result.stderr, result.stdout) == (2, line + "\n", "")
    assert not (tmp_path / "x.db").exists() and not list(tmp_path.glob("*.journal"))


@pytest.mark.parametrize("options, named", [
    (["--gantt", "chart.html"], "--gantt"),
    (["--policy", "fifo"], "--policy"),
    (["--progress", "--policy", "edf"], "--policy, --progress"),
], ids=["gantt", "policy", "progress"])
def test_plan_compare_refuses_the_options_it_would_ignore(write, tmp_path, options, named):
    # `plan --compare --gantt c.html` exited 0 and wrote no chart.
    small_bakery(write, "orders:\n  - {id: o-1, recipe: sponge}\n")
    result = run_cli("plan", "orders.yaml", "--compare", *options, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (f"--compare cannot be combined with {named}: it runs every policy"
                             " and shows one summary row each (plan with one --policy for its"
                             " chart or progress)\n")
    assert not (tmp_path / "chart.html").exists()


def test_one_of_anything_is_counted_in_the_singular(write, tmp_path):
    small_bakery(write, "orders:\n  - {id: o-1, recipe: sponge, due: 1}\n", bakery="ovens: 1\n")
    (tmp_path / "recipes" / "madeira.yaml").unlink()
    result = run_cli("validate", "orders.yaml", cwd=tmp_path)
    assert result.stdout == "orders.yaml: 1 order, 1 cake, 1 oven, 1 recipe: OK\n"
    plan = run_cli("plan", "orders.yaml", cwd=tmp_path).stdout.splitlines()
    assert plan[0].startswith("policy search: 1 cake, 1 order · ")
    assert plan[1].startswith("1 late order, ")
    baked = run_cli("bake", "orders.yaml", "--simulate", cwd=tmp_path)
    assert "] baking 1 cake for 1 order on 1 oven\n" in baked.stderr
    assert "; 1 cake in " in baked.stdout
