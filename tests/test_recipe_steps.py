"""Recipes with their own process in YAML: `steps:` instead of `oven:` (docs/formats.md)."""

from __future__ import annotations

import json
import textwrap

import pytest
from conftest import run_cli

from bakectl.errors import InputErrors
from bakectl.files import load_recipe
from bakectl.model import Bake, Ingredient, Recipe, Rest


def recipe_file(tmp_path, text: str):
    path = tmp_path / "r.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def errors(path) -> list[str]:
    with pytest.raises(InputErrors) as caught:
        load_recipe(path)
    return [str(e) for e in caught.value.errors]


def test_steps_read_into_the_model(tmp_path):
    path = recipe_file(tmp_path, """
        name: biscotti
        ingredients: [{name: almonds, quantity: 150, unit: g}]
        mix_minutes: 10
        steps:
          - bake: {temperature_c: 175, minutes: 25}
          - rest: {minutes: 15, stage: cooling}
          - bake: {temperature_c: 150, minutes: 12}
    """)
    assert load_recipe(path) == Recipe(
        "biscotti", (Ingredient("almonds", 150, "g"),), 10,
        steps=(Bake(175, 25), Rest(15, "cooling"), Bake(150, 12)), source=str(path))


def test_step_errors_are_located(tmp_path):
    path = recipe_file(tmp_path, """
        name: bread
        ingredients: []
        mix_minutes: 10
        steps:
          - rest: {minutes: 60, stage: baking}
          - bake: {temperature_c: 230}
          - {rest: {minutes: 1}, bake: {temperature_c: 200, minutes: 5}}
          - proof: 60
    """)
    assert errors(path) == [
        f"{path}:5:32: steps[0].rest.stage: 'baking' is one of the kitchen's own stages;"
        " name the rest, e.g. 'proofing'",
        f"{path}:6:11: missing required field 'steps[1].bake.minutes'",
        f"{path}:7:5: steps[2] must have exactly one key, rest or bake",
        f"{path}:8:5: unknown field 'steps[3].proof' (expected one of: rest, bake)",
    ]


@pytest.mark.parametrize("body, message", [
    ("oven: {temperature_c: 180, bake_minutes: 25}\nsteps: [{bake: {temperature_c: 180, "
     "minutes: 25}}]\n", "needs either 'oven:' (mix, then one bake) or 'steps:'"),
    ("", "needs either 'oven:' (mix, then one bake) or 'steps:'"),
    ("steps: [{rest: {minutes: 5, stage: proofing}}]\n", "steps must include at least one bake"),
])
def test_oven_or_steps_exactly_one(tmp_path, body, message):
    path = recipe_file(tmp_path, "name: x\ningredients: []\nmix_minutes: 1\n" + body)
    [error] = errors(path)
    assert message in error


def test_a_yaml_recipe_with_steps_bakes_and_is_checked_against_the_ovens(write, tmp_path):
    write("recipes/bread.yaml", "name: bread\ningredients: []\nmix_minutes: 15\nsteps:\n"
                                "  - rest: {minutes: 60, stage: proofing}\n"
                                "  - bake: {temperature_c: 240, minutes: 40}\n")
    write("orders.yaml", "orders:\n  - {id: o-1, recipe: bread}\n")
    result = run_cli("bake", "orders.yaml", "--simulate", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [cake] = json.loads(result.stdout)["cakes"]
    assert [(s["stage"], s["start"], s["end"]) for s in cake["steps"]] == [
        ("mixing", 0.0, 15.0), ("proofing", 15.0, 75.0), ("baking", 97.0, 137.0)]
    write("bakery.yaml", "ovens: [{name: small, max_temperature_c: 200}]\n")
    checked = run_cli("validate", "orders.yaml", cwd=tmp_path)
    assert checked.returncode == 2
    assert "recipe 'bread' bakes at 240 °C, hotter than any oven" in checked.stderr


def test_the_lower_bound_counts_a_recipes_rests():
    from bakectl import Bakery, Order, SimulatedClock, bake_orders

    flour = (Ingredient("flour", 500, "g"),)
    # Mixed 20, proofs 45, then the oven heats 20 -> 180 °C (16 minutes) and bakes 30: no
    # schedule does better than 111, and the bound says so.
    brioche = Recipe("brioche", flour, 20, steps=(Rest(45, "proofing"), Bake(180, 30)))
    report = bake_orders([Order("o-1", "brioche")], {"brioche": brioche}, Bakery.default(1),
                         SimulatedClock())
    assert report["makespan_minutes"] == report["lower_bound_minutes"] == 111.0
    # Baked, cooled 15, baked again: the rest between the bakes counts too (the cool-down
    # from 175 to 150 °C between them does not: the bound stays below the makespan).
    biscotti = Recipe("biscotti", flour, 10, steps=(Bake(175, 25), Rest(15, "cooling"),
                                                    Bake(150, 15)))
    report = bake_orders([Order("o-1", "biscotti")], {"biscotti": biscotti},
                         Bakery.default(1), SimulatedClock())
    assert report["lower_bound_minutes"] == 10 + 15.5 + 25 + 15 + 15
    assert report["makespan_minutes"] >= report["lower_bound_minutes"]
