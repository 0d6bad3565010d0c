"""Every policy, on random bakeries and orders, keeps every constraint of the timing model,
and the lower bound never exceeds the makespan."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bakectl.clock import SimulatedClock
from bakectl.kitchen import bake_orders
from bakectl.model import Bake, Bakery, Ingredient, Order, OvenSpec, Recipe, Rest
from bakectl.scheduling import POLICY_NAMES, make_policy, setup_minutes

EPS = 1e-6
INGREDIENT = Ingredient("flour", 100, "g")


@st.composite
def days(draw):
    recipes = {}
    for k in range(draw(st.integers(1, 4))):
        recipes[f"r{k}"] = Recipe(
            f"r{k}", (INGREDIENT,) * draw(st.integers(0, 3)),
            draw(st.integers(0, 15)), draw(st.sampled_from([120, 150, 160, 175, 180, 200, 230])),
            draw(st.integers(1, 60)))
    hottest = max(r.temperature_c for r in recipes.values())
    ovens = tuple(OvenSpec(f"oven-{k}",
                           draw(st.sampled_from([hottest, 250.0])),
                           draw(st.sampled_from([2.5, 5.0, 10.0, 12.0])),
                           draw(st.sampled_from([1.0, 4.0, 5.0])))
                  for k in range(draw(st.integers(1, 4))))
    bakery = Bakery(ovens, draw(st.sampled_from([20.0, 25.0])),
                    draw(st.one_of(st.none(), st.integers(1, 3))))
    orders = [Order(f"o-{k}", draw(st.sampled_from(sorted(recipes))), draw(st.integers(1, 3)),
                    draw(st.one_of(st.none(), st.integers(0, 400).map(float))),
                    priority=draw(st.integers(0, 1)))
              for k in range(draw(st.integers(1, 8)))]
    return orders, recipes, bakery


def check(report, orders, recipes, bakery):
    specs = {s.name: s for s in bakery.ovens}
    assert all(o["status"] == "delivered" for o in report["orders"])
    assert len(report["cakes"]) == sum(o.quantity for o in orders)
    by_oven = {}
    for cake in report["cakes"]:
        recipe = recipes[cake["recipe"]]
        assert cake["status"] == "baked"
        assert cake["temperature_c"] == recipe.temperature_c  # baked at its temperature
        assert cake["bake_end"] - cake["bake_start"] == pytest.approx(recipe.bake_minutes)
        assert cake["mix_end"] - cake["mix_start"] == pytest.approx(recipe.mix_minutes)
        assert cake["mix_end"] <= cake["oven_start"] + EPS  # set-up starts once mixed
        by_oven.setdefault(cake["oven"], []).append(cake)
    for name, cakes in by_oven.items():
        cakes.sort(key=lambda c: c["oven_start"])
        temperature, free_at = bakery.ambient_c, 0.0
        for cake in cakes:
            assert cake["oven_start"] >= free_at - EPS  # one cake per oven at a time
            # set-up charged per FORMATS.md, from the temperature the oven was left at
            setup = setup_minutes(specs[name], temperature, cake["temperature_c"])
            assert cake["bake_start"] - cake["oven_start"] == pytest.approx(setup, abs=EPS)
            temperature, free_at = cake["temperature_c"], cake["bake_end"]
    if bakery.mixers:
        events = sorted([(c["mix_start"], 1) for c in report["cakes"]]
                        + [(c["mix_end"], -1) for c in report["cakes"]],
                        key=lambda e: (e[0], e[1]))
        mixing = 0
        for _, delta in events:
            mixing += delta
            assert mixing <= bakery.mixers
    assert report["lower_bound_minutes"] <= report["makespan_minutes"] + EPS


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days())
def test_every_policy_keeps_every_constraint(day):
    orders, recipes, bakery = day
    makespans = {}
    for name in POLICY_NAMES:
        policy = make_policy(name, orders, recipes, bakery)
        report = bake_orders(orders, recipes, bakery, SimulatedClock(), policy=policy)
        assert report["policy"] == name
        check(report, orders, recipes, bakery)
        makespans[name] = report["makespan_minutes"]
    # The search starts from every rule's run and only keeps what is better.
    assert makespans["search"] <= min(makespans.values()) + EPS


@st.composite
def step_days(draw):
    """Small days with recipes that rest before their bake, or bake twice with a rest
    between (the closed form of bakectl.planner cannot score the latter)."""
    temps = st.sampled_from([150, 175, 200, 240])
    recipes = {}
    for k in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["plain", "rest", "twice"]))
        if kind == "plain":
            steps = ()
        elif kind == "rest":
            steps = (Rest(draw(st.integers(1, 90))), Bake(draw(temps), draw(st.integers(1, 40))))
        else:
            steps = (Bake(draw(temps), draw(st.integers(1, 30))), Rest(draw(st.integers(1, 20))),
                     Bake(draw(temps), draw(st.integers(1, 20))))
        recipes[f"r{k}"] = Recipe(f"r{k}", (INGREDIENT,), draw(st.integers(1, 25)),
                                  None if steps else draw(temps),
                                  None if steps else draw(st.integers(1, 40)), steps=steps)
    ovens = tuple(OvenSpec(f"oven-{k}", 250.0, draw(st.sampled_from([5.0, 10.0])),
                           draw(st.sampled_from([1.0, 5.0])))
                  for k in range(draw(st.integers(1, 3))))
    bakery = Bakery(ovens, 20.0, draw(st.one_of(st.none(), st.integers(1, 2))))
    orders = [Order(f"o-{k}", draw(st.sampled_from(sorted(recipes))), draw(st.integers(1, 3)),
                    draw(st.one_of(st.none(), st.integers(0, 300).map(float))))
              for k in range(draw(st.integers(1, 4)))]
    return orders, recipes, bakery


def makespans(orders, recipes, bakery) -> dict[str, tuple[float, float]]:
    result = {}
    for name in POLICY_NAMES:
        policy = make_policy(name, orders, recipes, bakery)
        report = bake_orders(orders, recipes, bakery, SimulatedClock(), policy=policy)
        assert report["policy"] == name
        assert report["summary"]["delivered"] == len(orders)
        result[name] = report["makespan_minutes"]
    return result


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(step_days())
def test_search_is_never_longer_than_a_rule_with_rests_and_second_bakes(day):
    found = makespans(*day)
    assert found["search"] <= min(found.values()) + EPS, found


@pytest.mark.parametrize("quantities, dues", [
    ({"croissant": 2, "sourdough": 1}, {}),
    ({"biscotti": 3, "croissant": 2}, {}),
    ({"biscotti": 3, "croissant": 2, "sourdough": 1},
     {"biscotti": 60, "croissant": 150, "sourdough": 200}),
])
def test_search_is_never_longer_than_a_rule_on_viennoiserie_days(quantities, dues):
    # The review's cases: search was 169 against 163, 156 against 138, 182 against 157.5.
    import bakectl_viennoiserie

    recipes = {r.name: r for r in bakectl_viennoiserie.RECIPES}
    orders = [Order(f"o-{name}", name, quantity, dues.get(name))
              for name, quantity in quantities.items()]
    bakery = Bakery(tuple(OvenSpec(f"oven-{k}") for k in (1, 2)))
    found = makespans(orders, recipes, bakery)
    assert found["search"] <= min(found.values()) + EPS, found
