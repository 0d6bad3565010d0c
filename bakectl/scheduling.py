"""Which waiting cake gets the next free oven (the policies), and how short a day can be
(the lower bound).

A policy is what the oven pool asks: ``add(waiter)`` when a cake starts waiting,
``pick(free_ovens, now) -> (waiter, oven) | None`` when ovens are free, ``len()`` and ``name``.
The pool calls ``pick`` once everything due at the current minute has happened.
"""

from __future__ import annotations

import heapq
import math
from collections import deque

from bakectl.model import Bake
from bakectl.ovens import FifoPolicy, Oven, Waiter, best_oven, setup_minutes

INF = math.inf


def _key(waiter: Waiter) -> tuple:
    """Most urgent first: higher priority, earlier due (none: last), then queue order."""
    cake = waiter.cake
    due = getattr(cake, "due", None)
    return (-getattr(cake, "priority", 0), INF if due is None else due, waiter.joined,
            waiter.position, waiter.seq)


class EdfPolicy:
    """Earliest due date first (higher `priority` before that); the cake takes the free oven
    where its bake can start soonest. Cakes without a due date come last, in queue order."""

    name = "edf"

    def __init__(self):
        self._heap: list[tuple] = []

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, waiter: Waiter) -> None:
        heapq.heappush(self._heap, (*_key(waiter), waiter))

    def pick(self, free: list[Oven], now: float) -> tuple[Waiter, Oven] | None:
        heap, skipped, found = self._heap, [], None
        while heap:
            entry = heapq.heappop(heap)
            waiter = entry[-1]
            if waiter.future.done():  # withdrawn: its task was cancelled
                continue
            oven = best_oven(free, waiter.recipe)
            if oven is not None:
                found = (waiter, oven)
                break
            skipped.append(entry)  # too hot for every free oven: let the next one go first
        for entry in skipped:
            heapq.heappush(heap, entry)
        return found


class BatchPolicy:
    """Set-up aware: group cakes by bake temperature, weighing due dates against set-up.

    For each free oven and each temperature with cakes waiting, the most urgent cake of that
    temperature scores ``due + SETUP_WEIGHT * set-up minutes on this oven``; the lowest score
    wins (higher `priority` first). A cake at the oven's current temperature costs no set-up,
    so ovens keep baking one temperature while nothing else is pressing; cakes without a due
    date go by set-up alone, after those with one.
    """

    name = "batch"
    #: how many minutes of due date one minute of set-up is worth: a set-up delays every
    #: cake behind it on that oven, not just one
    SETUP_WEIGHT = 3.0

    def __init__(self):
        self._groups: dict[float, list[tuple]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, waiter: Waiter) -> None:
        group = self._groups.setdefault(waiter.recipe.temperature_c, [])
        heapq.heappush(group, (*_key(waiter), waiter))
        self._count += 1

    def pick(self, free: list[Oven], now: float) -> tuple[Waiter, Oven] | None:
        best, best_score = None, None
        for temperature, group in self._groups.items():
            while group and group[0][-1].future.done():
                heapq.heappop(group)
                self._count -= 1
            if not group:
                continue
            head = group[0]
            waiter = head[-1]
            for oven in free:
                if not oven.can_bake(waiter.recipe):
                    continue
                setup = oven.setup_minutes(temperature)
                due = head[1]
                urgency = due + self.SETUP_WEIGHT * setup if due != INF else INF
                score = (head[0], urgency, setup, head[2], head[3], oven.index)
                if best_score is None or score < best_score:
                    best, best_score = (temperature, waiter, oven), score
        if best is None:
            return None
        temperature, waiter, oven = best
        heapq.heappop(self._groups[temperature])
        self._count -= 1
        return waiter, oven


class PlanPolicy:
    """Follow a plan: each oven bakes its own list of cakes, in order (see bakectl.planner).

    An oven waits for the next cake on its list even if others are ready: the plan already
    weighed that. Cakes the plan no longer covers go first-come-first-served to any free oven:
    cakes it did not know, a cake back in the queue after an oven fault (its turn was taken),
    and the rest of the list of an oven that broke down.
    """

    name = "search"

    def __init__(self, sequences: dict[int, list[int]], name: str = "search"):
        #: oven index -> positions of the cakes it bakes, in order
        self._next = {k: deque(seq) for k, seq in sequences.items()}
        #: positions still waiting for their turn in some oven's list
        self._planned = {p for seq in sequences.values() for p in seq}
        self._waiting: dict[int, Waiter] = {}
        self._extra = FifoPolicy()
        self.name = name

    def __len__(self) -> int:
        return len(self._waiting) + len(self._extra)

    def add(self, waiter: Waiter) -> None:
        if waiter.position in self._planned:
            self._waiting[waiter.position] = waiter
        else:
            self._extra.add(waiter)

    def pick(self, free: list[Oven], now: float) -> tuple[Waiter, Oven] | None:
        planned = self._planned
        for oven in free:
            sequence = self._next.get(oven.index)
            while sequence and sequence[0] not in planned:
                sequence.popleft()  # a cake the plan no longer waits for (see `forget`)
            if sequence:
                waiter = self._waiting.get(sequence[0])
                if waiter is not None:
                    sequence.popleft()
                    self._planned.discard(waiter.position)
                    del self._waiting[waiter.position]
                    if not waiter.future.done():
                        return waiter, oven
        if len(self._extra):
            return self._extra.pick(free, now)
        return None

    def forget(self, position: int) -> None:
        """The cake at `position` is finished without an oven from this plan (baked before a
        resume, failed or cancelled before its turn): its oven should not wait for it."""
        self._planned.discard(position)

    def oven_broken(self, oven: Oven) -> None:
        """`oven` left the pool: the cakes still on its list go to any free oven instead."""
        for position in self._next.pop(oven.index, ()):
            self._planned.discard(position)
            waiter = self._waiting.pop(position, None)
            if waiter is not None:
                self._extra.add(waiter)


#: The dispatch rules, by name. "search" (bakectl.planner) plans with them and is built
#: by make_policy, since it needs the whole day up front.
POLICIES = {"fifo": FifoPolicy, "edf": EdfPolicy, "batch": BatchPolicy}
#: Every policy name, in the order `plan --compare` shows them.
POLICY_NAMES = ("fifo", "edf", "batch", "search")
#: The policy `bake` and `plan` use when none is named.
DEFAULT_POLICY = "search"


def make_policy(name: str, orders=None, recipes=None, bakery=None, restored=None):
    """A fresh policy object by name; "search" plans the day first (it needs the inputs;
    with `restored`, a journal's, it plans the rest of a resumed day)."""
    if name == "search":
        from bakectl.planner import plan_day

        return plan_day(orders, recipes, bakery, restored=restored).policy()
    try:
        return POLICIES[name]()
    except KeyError:
        raise ValueError(f"unknown policy {name!r} (choose from {', '.join(POLICY_NAMES)})")\
            from None


# ---------------------------------------------------------------------------------------------
# The lower bound
# ---------------------------------------------------------------------------------------------


def lower_bound(cakes: list[tuple[float, ...]], bakery) -> float:
    """A makespan no schedule can beat, for cakes given as ``cake_job(recipe)`` tuples:
    (mix, temperature, bake, lead, tail) minutes (`lead` and `tail` may be left out: 0).

    The largest of (proof sketch in docs/plan.md):

    - chain: a cake is mixed and rests (`lead`), then its oven reaches its temperature (at
      the earliest heated from ambient once the first cake calls for an oven), then it bakes
      and rests between its bakes (`tail`);
    - mixers: with M mixers, the last mix ends after total mixing / M, then a cake's rests
      and bakes follow;
    - capacity: by a makespan C, an oven that bakes at all has at most
      C - (first call for an oven) - (its set-up from ambient to the nearest recipe
      temperature) minutes for baking, and one oven must reach the hottest temperature; their
      sum must cover every bake. C is the smallest value for which it does.
    """
    if not cakes:
        return 0.0
    jobs = [(job + (0.0, 0.0))[:5] for job in cakes]
    ambient = bakery.ambient_c
    specs = list(bakery.ovens)
    temps = sorted({t for _, t, _, _, _ in jobs})
    # No oven heats before a cake calls for it: the first one, once mixed and rested.
    release = min(mix + lead for mix, _, _, lead, _ in jobs)

    # chain
    first_reach = {t: min(setup_minutes(s, ambient, t) for s in specs) for t in temps}
    chain = max(max(mix + lead, release + first_reach[t]) + bake + tail
                for mix, t, bake, lead, tail in jobs)

    # mixers
    mixers = 0.0
    if bakery.mixers:
        mixers = sum(job[0] for job in jobs) / bakery.mixers + \
            min(lead + bake + tail for _, _, bake, lead, tail in jobs)

    # capacity
    total_bake = sum(job[2] for job in jobs)
    nearest = [min(setup_minutes(s, ambient, t) for t in temps) for s in specs]
    hottest = [setup_minutes(s, ambient, temps[-1]) for s in specs]

    def capacity(c: float) -> float:
        room = [max(0.0, c - release - n) for n in nearest]
        base = sum(room)
        return max(base - room[j] + max(0.0, c - release - hottest[j]) for j in range(len(specs)))

    low, high = 0.0, release + max(hottest) + total_bake + 1.0
    for _ in range(100):  # capacity() is nondecreasing: bisect to float precision
        mid = (low + high) / 2
        if capacity(mid) >= total_bake:
            high = mid
        else:
            low = mid
        if high - low <= 1e-9 * max(1.0, high):
            break
    return max(chain, mixers, low)


def cake_job(recipe) -> tuple[float, float, float, float, float]:
    """What lower_bound() needs of a cake of `recipe`: (mix, temperature of its first bake,
    all its bake minutes, its rests before the first bake, its rests after it) minutes."""
    lead = tail = 0.0
    baked = False
    for step in recipe.process:
        if isinstance(step, Bake):
            baked = True
        elif baked:
            tail += step.minutes
        else:
            lead += step.minutes
    return (recipe.mix_minutes, recipe.temperature_c, recipe.bake_minutes, lead, tail)


def cake_jobs(kitchen) -> list[tuple[float, ...]]:
    """``cake_job`` of every cake `kitchen` baked, for lower_bound().

    Baked ones only: the makespan is when the last of them came out, so a bound that also
    counted cakes that failed, or that a stopped run never made, could exceed it."""
    recipes = kitchen.recipes
    jobs = {}
    result = []
    for cake in kitchen.cakes:
        if cake.status != "baked":
            continue
        job = jobs.get(cake.recipe)
        if job is None:
            job = jobs[cake.recipe] = cake_job(recipes[cake.recipe])
        result.append(job)
    return result


__all__ = ["BatchPolicy", "EdfPolicy", "FifoPolicy", "PlanPolicy", "POLICIES", "POLICY_NAMES",
           "DEFAULT_POLICY", "make_policy", "lower_bound", "cake_job", "cake_jobs", "setup_minutes"]
