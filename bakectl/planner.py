"""The `search` policy: plan the whole day before the first cake is mixed.

1. Run the dispatch rules (fifo, edf, batch) in simulated time, through the real kitchen.
   Each run is a plan: the cakes each oven baked, in order.
2. Improve the best of them with a local search: move a cake, or swap two, between the
   oven that finishes last and another; keep every oven's cakes in rising temperature
   (heating is paid once per oven, cooling never), the most urgent first within a
   temperature. A few random kicks then get it out of local optima.
3. Then deliver on time: move or reorder the cakes of late orders, as long as the day gets
   at most LATENESS_SLACK longer than the shortest one found. A plan that finishes the day
   a few minutes sooner but serves the morning's scones in the evening is no plan for a
   bakery.
4. The kitchen follows the chosen plan (PlanPolicy) through the same make_cake; the report
   comes from that run, never from the planner's own arithmetic.

The local search scores a plan with the closed form of a fixed sequence: an oven starts its
next cake when the oven is free and the cake is ready (mixed, and through the rests before
its bake), sets up, bakes. That is exact because neither mixing nor resting waits for an oven
(every cake's ready time is the same under every policy), and it is what makes thousands of
candidate plans per second possible. It is not exact for a recipe that bakes twice: on such
a day every plan is run in the kitchen before it may replace the best rule's run (see
plan_day), so `search` is never longer than the best rule, measured.

Deterministic: the same day gives the same plan (a fixed random seed, a fixed effort).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from bakectl.model import Bake
from bakectl.scheduling import PlanPolicy, setup_minutes

#: Rules whose runs seed the search.
SEED_RULES = ("fifo", "edf", "batch")
#: Plan evaluations the search may spend (deterministic, unlike a time limit); about 1-2 s
#: on the benchmark instances.
EFFORT = 60_000
#: Kicks in a row without a better plan before the search stops.
MAX_STALE_KICKS = 400
#: How much longer than the shortest day found a plan may get to deliver more on time.
LATENESS_SLACK = 0.01
#: Plan evaluations the lateness phase may spend.
LATENESS_EFFORT = 30_000
#: Above this many cakes the dispatch rules' runs are used as they are (the local search
#: would take long, and a big day is dominated by throughput, not set-ups).
MAX_SEARCH_CAKES = 5_000


@dataclass
class Plan:
    #: oven index -> positions of the cakes it bakes, in order
    sequences: dict[int, list[int]]
    #: what the planner expects (the kitchen's run is the truth)
    makespan: float
    lateness: float
    #: where the plan came from: a rule's run, or "local search"
    origin: str
    #: a dispatch rule to follow as it is, instead of `sequences` (see plan_day)
    rule: str | None = None

    def policy(self):
        if self.rule is not None:
            from bakectl.scheduling import POLICIES

            policy = POLICIES[self.rule]()
            policy.name = "search"  # the report names the policy asked for
            return policy
        return PlanPolicy(self.sequences)


def simulate(orders, recipes, bakery, policy, restored=None) -> dict:
    """Run the kitchen in simulated time with `policy` (carrying on from `restored`, what a
    journal says an earlier run baked); return its report."""
    from bakectl.clock import SimulatedClock
    from bakectl.kitchen import bake_orders

    report = bake_orders(orders, recipes, bakery, SimulatedClock(), policy=policy,
                         restored=restored)
    if report["interrupted"]:  # Ctrl-C or SIGTERM while planning: no plan from half a day
        raise KeyboardInterrupt
    return report


def sequences_of(report: dict, bakery, skip=frozenset()) -> dict[int, list[int]]:
    """What each oven baked in a run, in order (cakes are listed by position), but the
    positions in `skip` (cakes an earlier run baked)."""
    index = {spec.name: k for k, spec in enumerate(bakery.ovens)}
    rows = [(c["oven_start"], position, index[c["oven"]])
            for position, c in enumerate(report["cakes"])
            if c["oven"] is not None and position not in skip]
    sequences: dict[int, list[int]] = {k: [] for k in range(len(bakery.ovens))}
    for _, position, k in sorted(rows):
        sequences[k].append(position)
    return sequences


def one_bake(recipe) -> bool:
    """Whether the scorer's closed form is exact for `recipe`: rests (if any), then one bake."""
    return sum(isinstance(step, Bake) for step in recipe.process) == 1 and \
        isinstance(recipe.process[-1], Bake)


def _lead(recipe) -> float:
    """Minutes between the end of mixing and the first call for an oven (the rests first)."""
    lead = 0.0
    for step in recipe.process:
        if isinstance(step, Bake):
            break
        lead += step.minutes
    return lead


class Day:
    """The facts a plan is scored on: per cake when it is ready for an oven (its mix end,
    plus the rests before its bake), its temperature, bake and order.

    `exact` says whether the closed form is the kitchen's arithmetic: every recipe rests (or
    not), then bakes once. A cake baked twice calls for an oven again once its first bake and
    the rest after it are over, which the closed form does not model: its plans must be
    measured by running them (see plan_day)."""

    def __init__(self, report: dict, orders, recipes, bakery, restored=None):
        cakes = report["cakes"]
        # Cakes an earlier run baked (a resumed day): no plan moves them, and their orders
        # are done no sooner than they came out of the oven.
        baked_before = restored.baked if restored is not None else {}
        self.fixed = frozenset(p for p, c in enumerate(cakes)
                               if (c["order"], c["index"]) in baked_before)
        self.fixed_ends = [c["bake_end"] if p in self.fixed else 0.0
                           for p, c in enumerate(cakes)]
        used = {c["recipe"] for c in cakes}
        self.exact = all(one_bake(recipes[name]) for name in used)
        lead = {name: _lead(recipes[name]) for name in used}
        self.mix_end = [c["mix_end"] + lead[c["recipe"]] if c["mix_end"] is not None
                        else math.inf for c in cakes]
        self.temp = [recipes[c["recipe"]].temperature_c for c in cakes]
        self.bake = [recipes[c["recipe"]].bake_minutes for c in cakes]
        order_index = {o.id: k for k, o in enumerate(orders)}
        self.order = [order_index[c["order"]] for c in cakes]
        self.due = [o.due for o in orders]
        self.specs = list(bakery.ovens)
        self.ambient = bakery.ambient_c
        # Within an oven: rising temperature, then most urgent, then first mixed.
        self.rank = [(self.temp[p], -orders[self.order[p]].priority,
                      math.inf if self.due[self.order[p]] is None else self.due[self.order[p]],
                      self.mix_end[p], p) for p in range(len(cakes))]
        self.evaluations = 0

    def can_bake(self, k: int, p: int) -> bool:
        return self.temp[p] <= self.specs[k].max_temperature_c

    def run(self, k: int, sequence: list[int], ends: list[float] | None = None) -> float:
        """When oven `k` finishes `sequence` (and, into `ends`, when each cake does)."""
        self.evaluations += 1
        spec, t, temp = self.specs[k], 0.0, self.ambient
        mix_end, temps, bakes = self.mix_end, self.temp, self.bake
        for p in sequence:
            start = t if t > mix_end[p] else mix_end[p]
            target = temps[p]
            # Same arithmetic, in the same order, as the kitchen: (start + set-up) + bake.
            t = (start + setup_minutes(spec, temp, target)) + bakes[p]
            temp = target
            if ends is not None:
                ends[p] = t
        return t

    def score(self, sequences: dict[int, list[int]]) -> tuple[float, float]:
        """(makespan, total lateness) of a plan."""
        ends = list(self.fixed_ends)
        makespan = max((self.run(k, seq, ends) for k, seq in sequences.items()), default=0.0)
        return makespan, self.lateness(ends)

    def order_done(self, ends: list[float]) -> dict[int, float]:
        """When each order is done, given when each cake is."""
        done: dict[int, float] = {}
        for p, end in enumerate(ends):
            o = self.order[p]
            if end > done.get(o, -1.0):
                done[o] = end
        return done

    def lateness(self, ends: list[float]) -> float:
        """Total lateness of the orders, given when each cake is done."""
        return sum(max(0.0, end - self.due[o]) for o, end in self.order_done(ends).items()
                   if self.due[o] is not None)


def _leximax(ends: list[float]) -> list[float]:
    return sorted(ends, reverse=True)


def local_search(day: Day, sequences: dict[int, list[int]], effort: int,
                 seed: int = 1, bound: float = 0.0) -> dict[int, list[int]]:
    """Improve a plan's makespan (then the spread of oven end times): moves, swaps, kicks."""
    ovens = sorted(sequences)
    rank = day.rank
    seqs = {k: sorted(sequences[k], key=rank.__getitem__) for k in ovens}
    ends = {k: day.run(k, seqs[k]) for k in ovens}
    budget = day.evaluations + effort
    rng = random.Random(seed)
    best = ({k: list(s) for k, s in seqs.items()}, _leximax(list(ends.values())))

    def try_change(a, new_a, b, new_b) -> bool:
        end_a, end_b = day.run(a, new_a), day.run(b, new_b)
        trial = dict(ends)
        trial[a], trial[b] = end_a, end_b
        if _leximax(list(trial.values())) < _leximax(list(ends.values())):
            seqs[a], seqs[b], ends[a], ends[b] = new_a, new_b, end_a, end_b
            return True
        return False

    def distinct(seq):
        seen, out = set(), []
        for p in seq:
            kind = (day.temp[p], day.bake[p], day.mix_end[p])
            if kind not in seen:
                seen.add(kind)
                out.append(p)
        return out

    def descend() -> None:
        improved = True
        while improved and day.evaluations < budget:
            improved = False
            last = max(ovens, key=lambda k: (ends[k], -k))
            for p in distinct(seqs[last]):
                for k in ovens:
                    if k == last or not day.can_bake(k, p):
                        continue
                    new_last = [q for q in seqs[last] if q != p]
                    new_k = sorted(seqs[k] + [p], key=rank.__getitem__)
                    if try_change(last, new_last, k, new_k):
                        improved = True
                        break
                if improved:
                    break
            if improved:
                continue
            for p in distinct(seqs[last]):
                for k in ovens:
                    if k == last or not day.can_bake(k, p):
                        continue
                    for q in distinct(seqs[k]):
                        if (day.temp[q], day.bake[q]) == (day.temp[p], day.bake[p]) or \
                                not day.can_bake(last, q):
                            continue
                        new_last = sorted([x for x in seqs[last] if x != p] + [q],
                                          key=rank.__getitem__)
                        new_k = sorted([x for x in seqs[k] if x != q] + [p],
                                       key=rank.__getitem__)
                        if try_change(last, new_last, k, new_k):
                            improved = True
                            break
                    if improved or day.evaluations >= budget:
                        break
                if improved or day.evaluations >= budget:
                    break

    descend()
    best = ({k: list(s) for k, s in seqs.items()}, _leximax(list(ends.values())))
    stale = 0
    # Stop early once nothing better can exist (the lower bound) or kicks stop paying.
    while day.evaluations < budget and best[1][0] > bound + 1e-9 and stale < MAX_STALE_KICKS:
        # Kick: move a few random cakes to random ovens that can bake them, then descend.
        seqs = {k: list(s) for k, s in best[0].items()}
        for _ in range(rng.randint(1, 3)):
            a = rng.choice(ovens)
            if not seqs[a]:
                continue
            p = rng.choice(seqs[a])
            b = rng.choice([k for k in ovens if day.can_bake(k, p)])
            seqs[a].remove(p)
            seqs[b] = sorted(seqs[b] + [p], key=rank.__getitem__)
        ends = {k: day.run(k, seqs[k]) for k in ovens}
        descend()
        found = _leximax(list(ends.values()))
        stale += 1
        if found < best[1]:
            best = ({k: list(s) for k, s in seqs.items()}, found)
            stale = 0
    return best[0]


def reduce_lateness(day: Day, sequences: dict[int, list[int]], cap: float,
                    effort: int) -> dict[int, list[int]]:
    """Cut total lateness by moving each late order's cakes to another place (any oven that
    can bake them, any position), keeping every oven's day within `cap` minutes."""
    seqs = {k: list(s) for k, s in sequences.items()}
    oven_of = {p: k for k, seq in seqs.items() for p in seq}
    ends = [0.0] * len(day.temp)
    for k, seq in seqs.items():
        day.run(k, seq, ends)
    current = day.lateness(ends)
    budget = day.evaluations + effort
    improved = True
    while improved and current > 1e-9 and day.evaluations < budget:
        improved = False
        done = day.order_done(ends)
        late = {o: end - day.due[o] for o, end in done.items()
                if day.due[o] is not None and end > day.due[o]}
        # The latest orders first; their cakes in the order they are done.
        cakes = sorted((p for p in oven_of if day.order[p] in late),
                       key=lambda p: (-late[day.order[p]], ends[p], p))
        for p in cakes:
            a = oven_of[p]
            without = [q for q in seqs[a] if q != p]
            best = None
            for k in seqs:
                if not day.can_bake(k, p):
                    continue
                base = without if k == a else seqs[k]
                for i in range(len(base) + 1):
                    candidate = base[:i] + [p] + base[i:]
                    trial = list(ends)
                    if day.run(k, candidate, trial) > cap:
                        continue
                    if k != a and day.run(a, without, trial) > cap:
                        continue
                    lateness = day.lateness(trial)
                    if lateness < current - 1e-9 and (best is None or lateness < best[0]):
                        best = (lateness, k, candidate, trial)
                if day.evaluations >= budget:
                    break
            if best is not None:
                current, k, candidate, ends = best
                if k != a:
                    seqs[a] = without
                seqs[k] = candidate
                oven_of[p] = k
                improved = True
            if day.evaluations >= budget:
                break
    return seqs


def plan_day(orders, recipes, bakery, *, effort: int = EFFORT, restored=None) -> Plan:
    """The best plan found for the day: the rules' runs, improved by a local search.

    Never longer than the best rule's run, measured: each rule's run is a real run of the
    kitchen, and a plan the closed form cannot score exactly (a recipe baked twice) is run
    too before it may replace them. A rule that wins that way is followed as it is (a list
    per oven cannot say which of a cake's bakes goes where). With `restored` (a journal's:
    a resumed day), the plan is for the rest of the day, from where the earlier run ended."""
    from bakectl.scheduling import POLICIES

    orders = list(orders)

    def run(policy) -> dict:
        return simulate(orders, recipes, bakery, policy, restored)

    candidates = []
    measured = {}  # rule -> (makespan, lateness) of its own run
    day = None
    for name in SEED_RULES:
        report = run(POLICIES[name]())
        if day is None:
            day = Day(report, orders, recipes, bakery, restored)
        measured[name] = (report["makespan_minutes"], report["total_lateness_minutes"])
        sequences = sequences_of(report, bakery, day.fixed)
        candidates.append((day.score(sequences), name, sequences))
    candidates.sort(key=lambda c: (c[0], SEED_RULES.index(c[1])))
    best_rule = candidates[0][0][0]
    if day.exact and len(day.temp) <= MAX_SEARCH_CAKES:
        from bakectl.scheduling import cake_job, lower_bound

        # What is left to bake, from where an earlier run ended (a resumed day).
        baked_before = restored.baked if restored is not None else {}
        left = [recipes[o.recipe] for o in orders for index in range(1, o.quantity + 1)
                if (o.id, index) not in baked_before]
        start = restored.last_minute if restored is not None else 0.0
        bound = start + lower_bound([cake_job(r) for r in left], bakery)
        improved = local_search(day, candidates[0][2], effort, bound=bound)
        candidates.append((day.score(improved), "local search", improved))
        candidates.sort(key=lambda c: c[0])  # stable: a rule's run wins a tie
        (shortest, _), origin, sequences = candidates[0]
        # Never longer than the best rule's day: `search` must stay at least as good as any.
        cap = min(shortest * (1 + LATENESS_SLACK), best_rule)
        on_time = reduce_lateness(day, sequences, cap, LATENESS_EFFORT)
        if day.score(on_time)[1] < candidates[0][0][1]:
            candidates.insert(0, (day.score(on_time), f"{origin}, then on-time moves", on_time))
        (makespan, lateness), origin, sequences = candidates[0]
        if origin not in SEED_RULES:
            # The closed form is exact here, but the promise is checked, not assumed.
            report = run(PlanPolicy(sequences))
            rule = _best_rule(measured)
            if report["makespan_minutes"] > measured[rule][0] + 1e-9:
                return Plan({}, *measured[rule], rule, rule=rule)
        return Plan(sequences, makespan, lateness, origin)
    if not day.exact:
        return _measured_plan(run, day, candidates, measured, effort)
    (makespan, lateness), origin, sequences = candidates[0]
    return Plan(sequences, makespan, lateness, origin)


def _best_rule(measured: dict) -> str:
    """The rule whose own run was shortest, then least late (ties: SEED_RULES' order)."""
    return min(SEED_RULES, key=lambda name: (measured[name], SEED_RULES.index(name)))


def _measured_plan(run, day, candidates, measured, effort) -> Plan:
    """The plan for a day the closed form cannot score (a recipe bakes twice): the rules'
    runs and the local search's plans, each judged by running it in the kitchen."""
    rule = _best_rule(measured)
    runs = [(measured[rule], rule, None)]  # (makespan, lateness), origin, sequences
    if len(day.temp) <= MAX_SEARCH_CAKES:
        improved = local_search(day, candidates[0][2], effort)
        cap = min(day.score(improved)[0] * (1 + LATENESS_SLACK), candidates[0][0][0])
        on_time = reduce_lateness(day, improved, cap, LATENESS_EFFORT)
        for origin, sequences in (("local search", improved),
                                  ("local search, then on-time moves", on_time)):
            report = run(PlanPolicy(sequences))
            runs.append(((report["makespan_minutes"], report["total_lateness_minutes"]),
                         origin, sequences))
    # As for a day the closed form scores: the shortest day, then the fewest minutes late
    # among the plans at most LATENESS_SLACK longer, but never longer than the best rule.
    shortest = min(score[0] for score, _, _ in runs)
    cap = min(shortest * (1 + LATENESS_SLACK), measured[rule][0])
    (makespan, lateness), origin, sequences = min(
        (run for run in runs if run[0][0] <= cap + 1e-9), key=lambda run: (run[0][1], run[0][0]))
    if sequences is None:
        return Plan({}, makespan, lateness, rule, rule=rule)
    return Plan(sequences, makespan, lateness, origin)
