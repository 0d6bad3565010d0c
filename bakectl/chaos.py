"""Fault injection, for tests and demos: ``bakectl -p bakectl.chaos bake orders.yaml``.

An oven driver that lets bakery time pass like the built-in one, and fails at random:

- ``BAKECTL_CHAOS_BAKE_FAILURE`` (default 0.1): probability that a bake fails halfway, the
  cake's fault (a `BakeryError`: ``--retries`` makes the cake again);
- ``BAKECTL_CHAOS_OVEN_FAILURE`` (default 0.05): probability that an oven breaks down halfway
  through heating or a bake, the oven's fault (an `OvenFault`: the cake goes to another oven,
  and an oven that faults three times in a row leaves the pool);
- ``BAKECTL_CHAOS_SEED`` (default 0): the same seed gives the same faults in simulated time.
"""

from __future__ import annotations

import os
import random
import threading

from bakectl.errors import BakeryError, InputError, InputErrors, Where
from bakectl.hookspecs import hookimpl
from bakectl.ovens import ClockDriver, OvenFault


class ChaosDriver(ClockDriver):
    """The clock driver, failing bakes with probability `bake_failure` and ovens with
    probability `oven_failure`; faults come halfway through, as real ones do."""

    def __init__(self, clock, *, seed: int = 0, bake_failure: float = 0.1,
                 oven_failure: float = 0.05):
        super().__init__(clock)
        self.bake_failure = bake_failure
        self.oven_failure = oven_failure
        self._random = random.Random(seed)
        self._lock = threading.Lock()  # real-time ovens roll from their own threads

    def _roll(self) -> float:
        with self._lock:
            return self._random.random()

    def set_temperature(self, oven, temperature_c, minutes):
        if self._roll() < self.oven_failure:
            self.clock.block(minutes / 2)
            raise OvenFault(f"chaos: {oven.name} lost power while heating")
        super().set_temperature(oven, temperature_c, minutes)

    def bake(self, oven, mixture, minutes):
        roll = self._roll()
        if roll < self.oven_failure:
            self.clock.block(minutes / 2)
            raise OvenFault(f"chaos: {oven.name} broke down")
        if roll < self.oven_failure + self.bake_failure:
            self.clock.block(minutes / 2)
            raise BakeryError(f"chaos: the {mixture.recipe.name} collapsed")
        super().bake(oven, mixture, minutes)


def settings(environ=os.environ) -> dict:
    """The driver's settings from the environment; InputErrors naming a bad variable."""
    found, errors = {}, []
    for name, key, kind, default in (
            ("BAKECTL_CHAOS_SEED", "seed", int, 0),
            ("BAKECTL_CHAOS_BAKE_FAILURE", "bake_failure", float, 0.1),
            ("BAKECTL_CHAOS_OVEN_FAILURE", "oven_failure", float, 0.05)):
        text = environ.get(name, "").strip()
        try:
            value = kind(text) if text else default
        except ValueError:
            value = None
        if value is None or (kind is float and not 0.0 <= value <= 1.0):
            what = "an integer" if kind is int else "a probability from 0 to 1"
            errors.append(InputError(Where(name), f"must be {what}, not {text!r}"))
        found[key] = value
    if errors:
        raise InputErrors(errors)
    return found


@hookimpl
def bakectl_oven_driver(clock):
    return ChaosDriver(clock, **settings())
