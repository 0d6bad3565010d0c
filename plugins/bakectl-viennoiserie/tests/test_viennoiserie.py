"""The viennoiserie recipes bake as their processes say, through bakectl's pytest fixtures."""

import json

import bakectl_viennoiserie
import pytest

from bakectl import Bakery, Ingredient, OvenSpec, Recipe
from bakectl.errors import InputErrors

SPONGE = Recipe("sponge", (Ingredient("flour", 200, "g"),), mix_minutes=10, temperature_c=180,
                bake_minutes=25)


def steps(cake):
    return [(s["stage"], s["start"], s["end"], s["temperature_c"]) for s in cake["steps"]]


def test_sourdough_proofs_without_holding_the_only_oven(bakectl_bake):
    report = bakectl_bake(["sourdough", "sponge"], plugins=[bakectl_viennoiserie],
                          recipes=[SPONGE], ovens=1)
    bread, sponge = report["cakes"]
    # Mix 0-15, proof 15-75 while the sponge (mixed 0-10) takes the oven: 16 min to 180 °C,
    # bake 26-51. The bread then heats 180 -> 240 °C (6 min) and bakes 81-121.
    assert steps(bread) == [("mixing", 0.0, 15.0, None), ("proofing", 15.0, 75.0, None),
                            ("baking", 81.0, 121.0, 240)]
    assert (sponge["bake_start"], sponge["bake_end"]) == (26.0, 51.0)
    assert bread["oven_start"] == 75.0 and bread["mix_end"] == 15.0
    assert report["summary"]["delivered"] == 2


def test_biscotti_bake_twice_at_two_temperatures(bakectl_bake):
    report = bakectl_bake([{"recipe": "biscotti", "quantity": 2}],
                          plugins=[bakectl_viennoiserie], ovens=2)
    for cake in report["cakes"]:
        # 20 -> 175 °C: 15.5 min; bake 25.5-50.5; cool 15; 175 -> 150 °C: 5 min; bake 70.5-82.5
        assert steps(cake) == [("mixing", 0.0, 10.0, None), ("baking", 25.5, 50.5, 175),
                               ("cooling", 50.5, 65.5, None), ("baking", 70.5, 82.5, 150)]
        assert (cake["bake_start"], cake["bake_end"], cake["status"]) == (25.5, 82.5, "baked")
    assert report["orders"][0]["done_minutes"] == 82.5
    assert sum(oven["bakes"] for oven in report["ovens"]) == 4


def test_every_recipe_bakes_concurrently_with_the_others(bakectl_bake):
    names = [r.name for r in bakectl_viennoiserie.RECIPES]
    report = bakectl_bake(names, plugins=[bakectl_viennoiserie], ovens=2, mixers=1)
    assert report["summary"] == {"orders": 4, "delivered": 4, "failed": 0, "late": 0, "cakes": 4}
    # One mixer: the mixes follow each other; the proofing of one overlaps the next mix.
    mixes = sorted((c["mix_start"], c["mix_end"]) for c in report["cakes"])
    assert all(a[1] <= b[0] for a, b in zip(mixes, mixes[1:], strict=False))


def test_a_bake_hotter_than_every_oven_is_an_input_error(bakectl_bake):
    small = Bakery((OvenSpec("small", max_temperature_c=220),))
    with pytest.raises(InputErrors, match="'sourdough' bakes at 240 °C, hotter than any oven"):
        bakectl_bake(["sourdough"], plugins=[bakectl_viennoiserie], bakery=small)


def test_recipes_command_lists_the_process(bakectl_cli):
    result = bakectl_cli("recipes", "--json", plugins=["bakectl_viennoiserie"])
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["biscotti"]["process"] == ("mix 10 → bake 175 °C 25 → cooling 15 → "
                                           "bake 150 °C 12")
    assert rows["sourdough"]["source"] == "plugin bakectl_viennoiserie"
