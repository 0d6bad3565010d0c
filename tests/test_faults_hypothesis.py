"""Properties of every run, over random orders, bakeries and injected faults (simulated time):
no oven bakes two cakes at once, every bake is at its recipe's temperature, every order ends
delivered or failed with a reason, and every working oven is back in the pool at the end."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bakectl.background import run_in_foreground
from bakectl.chaos import ChaosDriver
from bakectl.clock import SimulatedClock
from bakectl.kitchen import Kitchen
from bakectl.model import Bakery, Ingredient, Order, OvenSpec, Recipe
from bakectl.report import build_report
from bakectl.scheduling import POLICY_NAMES, make_policy

FLOUR = (Ingredient("flour", 200, "g"),)


class WatchingDriver(ChaosDriver):
    """The chaos driver, recording what each oven really did and when."""

    def __init__(self, clock, **chaos):
        super().__init__(clock, **chaos)
        self.bakes: list[tuple[str, float, float]] = []
        self.wrong_temperature: list[str] = []

    def bake(self, oven, mixture, minutes):
        if oven.temperature_c != mixture.recipe.temperature_c:
            self.wrong_temperature.append(f"{oven.name}: {mixture.recipe.name} at "
                                          f"{oven.temperature_c} °C")
        start = self.clock.now()
        try:
            super().bake(oven, mixture, minutes)
        finally:  # a failed bake occupied the oven too
            self.bakes.append((oven.name, start, self.clock.now()))


recipes_st = st.lists(
    st.builds(lambda k, mix, temp, bake: Recipe(f"r{k}", FLOUR, mix, temp, bake),
              st.integers(0, 99), st.integers(0, 20), st.integers(100, 260), st.integers(1, 60)),
    min_size=1, max_size=4, unique_by=lambda r: r.name)


@st.composite
def scenarios(draw):
    recipes = draw(recipes_st)
    orders = [Order(f"o-{k}", draw(st.sampled_from(recipes)).name, draw(st.integers(1, 3)))
              for k in range(draw(st.integers(1, 6)))]
    ovens = tuple(OvenSpec(f"oven-{k}", max_temperature_c=draw(st.sampled_from([200, 250])),
                           preheat_c_per_min=draw(st.sampled_from([5, 10, 20])))
                  for k in range(1, draw(st.integers(1, 4)) + 1))
    mixers = draw(st.one_of(st.none(), st.integers(1, 3)))
    chaos = {"seed": draw(st.integers(0, 2**16)),
             "bake_failure": draw(st.sampled_from([0.0, 0.1, 0.3])),
             "oven_failure": draw(st.sampled_from([0.0, 0.1, 0.3]))}
    retries = draw(st.integers(0, 2))
    # Every policy, the planned one too: a plan must survive broken ovens and retried cakes.
    policy = draw(st.sampled_from(POLICY_NAMES))
    return ({r.name: r for r in recipes}, orders, Bakery(ovens, mixers=mixers), chaos, retries,
            policy)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_every_run_keeps_the_bakery_rules_and_accounts_for_every_order(scenario):
    recipes, orders, bakery, chaos, retries, policy = scenario
    clock = SimulatedClock()
    driver = WatchingDriver(clock, **chaos)
    kitchen = Kitchen(bakery, clock, driver=driver, retries=retries,
                      policy=make_policy(policy, orders, recipes, bakery))
    run_in_foreground(kitchen.run(orders, recipes), clock=clock)
    report = build_report(kitchen, wall_seconds=0.0)

    assert driver.wrong_temperature == []
    by_oven: dict[str, list[tuple[float, float]]] = {}
    for oven, start, end in driver.bakes:
        by_oven.setdefault(oven, []).append((start, end))
    for spans in by_oven.values():
        spans.sort()
        for (_, first_end), (second_start, _) in zip(spans, spans[1:], strict=False):
            assert second_start >= first_end - 1e-9, "one oven baked two cakes at once"
    for cake in report["cakes"]:
        if cake["status"] == "baked":
            assert cake["temperature_c"] == recipes[cake["recipe"]].temperature_c

    assert [o["id"] for o in report["orders"]] == [o.id for o in orders]
    for order in report["orders"]:
        cakes = [c for c in report["cakes"] if c["order"] == order["id"]]
        assert order["status"] in ("delivered", "failed")
        if order["status"] == "delivered":
            assert all(c["status"] == "baked" and c["error"] is None for c in cakes)
        else:
            assert any(c["status"] == "failed" and c["error"] for c in cakes)
        assert all(c["status"] in ("baked", "failed") for c in cakes)

    # Ovens are released on every path: each working oven is free again, no broken one is.
    pool = kitchen.ovens
    assert sorted(o.name for o in pool.free) == sorted(o.name for o in pool.working)
