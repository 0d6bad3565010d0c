"""A plugin for the server tests: recipes fast and slow, an oven driver that burns one of
them (a failed order), and a delivery hook that writes down every delivery it hears of: its id
to the file named by BAKECTL_TEST_DELIVERIES, and everything it was given, as a JSON line, to
the one named by BAKECTL_TEST_DELIVERY_RECORDS. With BAKECTL_TEST_SLOW_COMMIT=SECONDS, every
commit of the store takes that long (a slow disk)."""

from __future__ import annotations

import json
import os
import time

from bakectl.hookspecs import hookimpl
from bakectl.model import Bake, Ingredient, Recipe, Rest
from bakectl.ovens import ClockDriver

_INGREDIENTS = (Ingredient("flour", 200, "g"), Ingredient("eggs", 4, "pcs"))


@hookimpl
def bakectl_recipes(recipe_dirs):
    # BAKECTL_TEST_HIDE_RECIPES=a,b: a server whose recipes are not all there any more
    hidden = set(os.environ.get("BAKECTL_TEST_HIDE_RECIPES", "").split(","))
    return [recipe for recipe in _RECIPES if recipe.name not in hidden]


_RECIPES = [
    Recipe("sponge", _INGREDIENTS, 10, 180, 25),
    Recipe("quick", _INGREDIENTS, 1, 20, 2),          # no preheat from a cold oven
    Recipe("slow_mix", _INGREDIENTS, 10**7, 180, 25),  # never leaves the mixer
    Recipe("long_bake", _INGREDIENTS, 0, 20, 10**7),   # straight into the oven, for ever
    Recipe("bread", _INGREDIENTS, 0, 20, 300),         # straight into the oven, 3 s at 6000x
    Recipe("volcano", _INGREDIENTS, 1, 900, 10),       # hotter than any oven
    Recipe("burnt", _INGREDIENTS, 1, 20, 2),           # its bake fails: see below
    # proofs for ever before its bake: a cake that holds no oven, and is not mixing
    Recipe("proofs", _INGREDIENTS, 1, steps=(Rest(10**7, "proofing"), Bake(20, 2))),
]


class _BurningDriver(ClockDriver):
    """The built-in driver, except that a "burnt" cake's bake fails (so does its order)."""

    def bake(self, oven, mixture, minutes):
        if mixture.recipe.name == "burnt":
            raise RuntimeError("burnt to a crisp")
        super().bake(oven, mixture, minutes)


@hookimpl
def bakectl_oven_driver(clock):
    return _BurningDriver(clock)


@hookimpl
def bakectl_order_delivered(order):
    path = os.environ.get("BAKECTL_TEST_DELIVERIES")
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(order.order.id + "\n")
    path = os.environ.get("BAKECTL_TEST_DELIVERY_RECORDS")
    if path:
        o = order.order
        record = {"id": o.id, "recipe": o.recipe, "quantity": o.quantity, "due": o.due,
                  "customer": o.customer, "priority": o.priority, "status": order.status,
                  "done_minutes": order.done_minutes, "late": order.late,
                  "cakes": [{"index": c.index, "recipe": c.recipe, "stage": c.stage,
                             "status": c.status, "oven": c.oven,
                             "temperature_c": c.temperature_c, "mix_start": c.mix_start,
                             "mix_end": c.mix_end, "bake_start": c.bake_start,
                             "bake_end": c.bake_end} for c in order.cakes]}
        with open(path, "a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")


class _SlowCommits:
    """A store connection whose every COMMIT first waits (a slow disk)."""

    def __init__(self, connection, seconds: float):
        self._connection = connection
        self._seconds = seconds

    def execute(self, sql, *args):
        if sql == "COMMIT":
            time.sleep(self._seconds)
        return self._connection.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._connection, name)


# BAKECTL_TEST_SLOW_COMMIT=SECONDS: the store's commits each take that long
if os.environ.get("BAKECTL_TEST_SLOW_COMMIT"):
    from bakectl.server.store import Store

    _open = Store.open

    def _open_slowly(self):
        _open(self)
        self._write = _SlowCommits(self._write, float(os.environ["BAKECTL_TEST_SLOW_COMMIT"]))

    Store.open = _open_slowly
