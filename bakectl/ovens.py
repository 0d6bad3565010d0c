"""Ovens and the pool they are shared from.

An oven holds one temperature at a time and bakes one cake at a time. Both of its operations
are synchronous *for the oven* (they block for as long as heating or baking takes), so the
kitchen runs them in the background. How an operation really happens is the oven driver's
business: the built-in driver just lets bakery time pass on the clock; a plugin's driver could
talk to real equipment.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import deque
from typing import Protocol

from bakectl.errors import BakeryError
from bakectl.model import Cake, Mixture, OvenSpec, Recipe

#: consecutive faults after which an oven is taken out of the pool (a bake that succeeds resets)
BROKEN_AFTER = 3


class OvenBusyError(RuntimeError):
    """An oven was asked to do two things at once."""


class OvenFault(BakeryError):
    """The oven itself failed, not the cake: raised by a driver (a thermostat, a door, a lost
    connection). The cake is made again on another oven without counting against its
    ``--retries``; an oven with `BROKEN_AFTER` faults in a row leaves the pool."""


class NoOvenError(BakeryError):
    """No working oven in the pool can bake this recipe any more."""


class OvenDriver(Protocol):
    """How an oven really changes temperature and bakes. Both calls block for `minutes`."""

    def set_temperature(self, oven: Oven, temperature_c: float, minutes: float) -> None: ...

    def bake(self, oven: Oven, mixture: Mixture, minutes: float) -> None: ...


class ClockDriver:
    """The built-in driver: an oven is busy for exactly the time the timing model says."""

    def __init__(self, clock):
        self.clock = clock

    def set_temperature(self, oven: Oven, temperature_c: float, minutes: float) -> None:
        self.clock.block(minutes)

    def bake(self, oven: Oven, mixture: Mixture, minutes: float) -> None:
        self.clock.block(minutes)


def setup_minutes(spec: OvenSpec, from_c: float, to_c: float) -> float:
    """Minutes for an oven of `spec` to go from `from_c` to `to_c` (FORMATS.md)."""
    if to_c > from_c:
        return (to_c - from_c) / spec.preheat_c_per_min
    if to_c < from_c:
        return (from_c - to_c) / spec.cool_c_per_min
    return 0.0


class Oven:
    """One oven: its temperature, what it is doing, and what it has done."""

    def __init__(self, spec: OvenSpec, index: int, ambient_c: float, driver: OvenDriver,
                 clock):
        self.spec = spec
        self.clock = clock
        self.name = spec.name
        #: position in the bakery file: the tie-breaker when ovens are otherwise equal
        self.index = index
        self.temperature_c = ambient_c
        self.driver = driver
        #: what the oven is doing now, for progress displays: None, "heating", "cooling", "baking"
        self.activity: str | None = None
        #: the temperature the oven is heating or cooling to, while it does; else None
        self.target_c: float | None = None
        self.baking: Recipe | None = None
        self.bakes = 0
        self.busy_minutes = 0.0
        self.setup_minutes_total = 0.0
        #: OvenFaults since the last good bake; at BROKEN_AFTER the oven is broken
        self.strikes = 0
        #: why the oven left the pool (its last fault), or None while it works
        self.broken: str | None = None
        #: the minute the oven's last operation ended. In simulated time a blocking call runs
        #: inline and returns before its minutes pass on the loop, so the oven is still busy
        #: until then: `_Exclusive` refuses work before it, as a held lock does in real time.
        self.busy_until = float("-inf")
        self._busy_on = None  # the simulated loop busy_until is a minute of (a clock can rerun)
        self._in_use = threading.Lock()
        # A callback for the thread whose work ends next (see `call_when_idle`), and the lock
        # that makes "is it still working?" and "it has finished" one step each.
        self._when_idle = None
        self._handoff = threading.Lock()

    def can_bake(self, recipe: Recipe) -> bool:
        return recipe.temperature_c <= self.spec.max_temperature_c

    def setup_minutes(self, temperature_c: float) -> float:
        """Minutes to go from the current temperature to `temperature_c` (FORMATS.md)."""
        return setup_minutes(self.spec, self.temperature_c, temperature_c)

    def configure(self, recipe: Recipe) -> float:
        """Heat or cool to the recipe's temperature; blocks while it does. Returns the minutes."""
        if not self.can_bake(recipe):
            raise ValueError(f"{self.name} cannot reach {recipe.temperature_c} °C "
                             f"(max {self.spec.max_temperature_c} °C)")
        minutes = self.setup_minutes(recipe.temperature_c)
        with self._exclusive("heating" if recipe.temperature_c >= self.temperature_c
                             else "cooling"):
            if minutes:
                self.target_c = recipe.temperature_c
                try:
                    self.driver.set_temperature(self, recipe.temperature_c, minutes)
                except OvenFault as fault:
                    self._strike(fault)
                    raise
                finally:
                    self.target_c = None
            self.temperature_c = recipe.temperature_c
            self.setup_minutes_total += minutes
        return minutes

    def bake(self, mixture: Mixture) -> Cake:
        """Bake one cake at the oven's current temperature; blocks for the bake time."""
        recipe = mixture.recipe
        if self.temperature_c != recipe.temperature_c:
            raise RuntimeError(f"{self.name} is at {self.temperature_c} °C but {recipe.name} "
                               f"bakes at {recipe.temperature_c} °C: configure it first")
        # Stamped by the oven itself (work.started, work.ended): thread hand-offs before and
        # after are not baking.
        with self._exclusive("baking") as work:
            self.baking = recipe
            try:
                self.driver.bake(self, mixture, recipe.bake_minutes)
            except OvenFault as fault:
                self._strike(fault)
                raise
            finally:
                self.baking = None
            self.strikes = 0
            self.bakes += 1
            self.busy_minutes += recipe.bake_minutes
        return Cake(recipe, self.name, self.temperature_c, work.started, work.ended)

    def _strike(self, fault: OvenFault) -> None:
        # Only an OvenFault is the oven's fault; any other exception is the cake's.
        self.strikes += 1
        if self.strikes >= BROKEN_AFTER:
            self.broken = f"{fault}" or type(fault).__name__

    def busy_now(self) -> bool:
        """Simulated time: is the oven's last operation still going on (see `busy_until`)?"""
        clock = self.clock
        return (clock.simulated and self._busy_on is clock._loop
                and self.busy_until > clock.now())

    def call_when_idle(self, callback) -> bool:
        """If a background thread is still working the oven, arrange for `callback()` to be
        called from that thread once it has finished, and return True; else return False."""
        with self._handoff:
            if not self._in_use.locked():
                return False
            self._when_idle = callback
            return True

    def _exclusive(self, activity: str) -> _Exclusive:
        # One thing at a time, enforced: a second caller fails loudly instead of overlapping.
        return _Exclusive(self, activity)

    def __repr__(self) -> str:
        return f"<Oven {self.name} {self.temperature_c:g} °C>"


class _Exclusive:
    """``with oven._exclusive(activity) as work``: hold the oven or fail with OvenBusyError;
    `work.started` and `work.ended` are the minutes the oven's work started and ended.

    Busy means: another thread holds the oven (real time), or its last operation has not
    ended yet on the clock (simulated time: `Oven.busy_until`).

    A small class rather than a generator-based context manager: entered twice per cake."""

    __slots__ = ("oven", "activity", "started", "ended")

    def __init__(self, oven: Oven, activity: str):
        self.oven = oven
        self.activity = activity

    def __enter__(self) -> _Exclusive:
        oven = self.oven
        if not oven._in_use.acquire(blocking=False):
            raise OvenBusyError(f"{oven.name} is already {oven.activity}")
        self.started = now = oven.clock.now()
        if now < oven.busy_until and oven.busy_now():
            oven._in_use.release()
            raise OvenBusyError(f"{oven.name} is busy until minute {oven.busy_until:g}")
        oven.activity = self.activity
        return self

    def __exit__(self, *exc_info) -> None:
        oven = self.oven
        oven.activity = None
        clock = oven.clock
        # In simulated time now() includes the minutes this inline call has blocked.
        oven.busy_until = self.ended = clock.now()
        if clock.simulated:  # the call ran inline on the loop's thread: nobody to hand off to
            oven._busy_on = clock._loop
            oven._in_use.release()
            return
        with oven._handoff:
            oven._in_use.release()
            when_idle, oven._when_idle = oven._when_idle, None
        if when_idle is not None:
            when_idle()


class Waiter:
    """A cake waiting for an oven."""

    __slots__ = ("cake", "recipe", "seq", "future", "joined", "position")

    def __init__(self, cake, recipe: Recipe, seq: int, future: asyncio.Future, joined: float):
        self.cake = cake
        self.recipe = recipe
        self.seq = seq
        self.future = future
        self.joined = joined
        #: the cake's place in the orders file (an order's cakes consecutively): the
        #: tie-breaker between cakes that join the queue at the same minute
        self.position = getattr(cake, "position", seq)


class FifoPolicy:
    """The seed's behaviour (FORMATS.md `fifo`): first to finish mixing, first to an oven.

    Of the free ovens, the cake takes the one where its bake can start soonest (ties: the oven
    listed first). A cake no free oven can bake lets the next one in the queue go first.
    """

    name = "fifo"

    def __init__(self):
        self._queue: deque[Waiter] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, waiter: Waiter) -> None:
        queue = self._queue
        queue.append(waiter)
        # Cakes that finish mixing at the same minute line up in orders-file order
        # (FORMATS.md), whatever order their wake-ups happened to run in.
        at = len(queue) - 1
        while (at and queue[at - 1].joined == waiter.joined
               and queue[at - 1].position > waiter.position):
            at -= 1
        if at != len(queue) - 1:
            queue.pop()
            queue.insert(at, waiter)

    def pick(self, free: list[Oven], now: float) -> tuple[Waiter, Oven] | None:
        queue = self._queue
        while queue and queue[0].future.done():  # withdrawn: its task was cancelled
            queue.popleft()
        for position, waiter in enumerate(queue):
            if waiter.future.done():
                continue
            oven = best_oven(free, waiter.recipe)
            if oven is not None:
                if position == 0:
                    queue.popleft()
                else:
                    del queue[position]
                return waiter, oven
        return None


def best_oven(free: list[Oven], recipe: Recipe) -> Oven | None:
    """The free oven where `recipe` can start baking soonest (ties: listed first)."""
    best, best_key = None, None
    for oven in free:
        if oven.can_bake(recipe):
            key = (oven.setup_minutes(recipe.temperature_c), oven.index)
            if best_key is None or key < best_key:
                best, best_key = oven, key
    return best


class OvenPool:
    """The shared ovens. ``async with pool.oven_for(cake, recipe) as oven`` waits for one and
    always gives it back, however the block is left.

    A broken oven (see `Oven.broken`) is not given back: it leaves the pool, and cakes waiting
    for a recipe that no working oven can bake any more fail with `NoOvenError` at once
    instead of waiting forever."""

    def __init__(self, ovens: list[Oven], policy=None, clock=None):
        self.ovens = list(ovens)
        self.free = list(ovens)
        self.policy = policy if policy is not None else FifoPolicy()
        self.clock = clock
        self._seq = itertools.count()
        self._dispatch_pending = False
        # Every waiter, whatever the policy keeps: to fail them when the last oven breaks.
        # By their place in the queue, so in the order they joined.
        self._waiters: dict[int, Waiter] = {}
        self._hottest_working = self._hottest()

    def _hottest(self) -> float | None:
        """The hottest a working oven can go: a recipe above it cannot be baked here."""
        return max((oven.spec.max_temperature_c for oven in self.ovens if oven.broken is None),
                   default=None)

    @property
    def working(self) -> list[Oven]:
        return [oven for oven in self.ovens if oven.broken is None]

    def unbakeable(self, recipe: Recipe) -> NoOvenError | None:
        """Why no working oven can bake `recipe`, or None if one can."""
        hottest = self._hottest_working
        if hottest is not None and recipe.temperature_c <= hottest:
            return None
        broken = [oven.name for oven in self.ovens
                  if oven.broken is not None and oven.can_bake(recipe)]
        why = f" (broken down: {', '.join(broken)})" if broken else ""
        return NoOvenError(f"no working oven can bake {recipe.name} "
                           f"at {recipe.temperature_c:g} °C{why}")

    @property
    def waiting(self) -> int:
        return len(self.policy)

    def oven_for(self, cake, recipe: Recipe) -> _OvenLease:
        return _OvenLease(self, cake, recipe)

    async def acquire(self, cake, recipe: Recipe) -> Oven:
        """Wait for an oven for `cake` (the caller gives it back with `release`)."""
        return await self.oven_for(cake, recipe).__aenter__()

    def _join(self, lease: _OvenLease) -> None:
        """Put `lease` in the queue for an oven (raises NoOvenError if none can bake it)."""
        error = self.unbakeable(lease.recipe)
        if error is not None:
            raise error
        lease.future = asyncio.get_running_loop().create_future()
        lease.seq = next(self._seq)
        if lease.position is None:  # not a kitchen's cake: in the order it joined
            lease.position = lease.seq
        lease.joined = self.clock.now() if self.clock is not None else 0.0
        self._waiters[lease.seq] = lease
        self.policy.add(lease)
        self._dispatch_soon()

    def _forget(self, seq: int) -> None:
        """The waiter `seq` waits no more (it has its oven, or was stopped)."""
        waiters = self._waiters
        waiters.pop(seq, None)
        if not waiters:  # an emptied dict keeps its table: 5 MiB after 100,000 waiters
            self._waiters = {}

    def release(self, oven: Oven) -> None:
        if oven.broken is not None:
            # A broken oven is not given back: it leaves the pool.
            self._hottest_working = self._hottest()
            forget = getattr(self.policy, "oven_broken", None)  # a plan that counted on it
            if forget is not None:
                forget(oven)
            self._fail_stranded()
        else:
            free = self.free
            # Keep the free list in bakery-file order (the policies' tie-breaker), no sort.
            at = len(free)
            while at and free[at - 1].index > oven.index:
                at -= 1
            free.insert(at, oven)
        self._dispatch_soon()

    def give_back(self, oven: Oven) -> None:
        """Release `oven` once the work it is doing in the background has ended.

        Normally it has: the cake awaited it. A cake stopped while its oven heats or bakes
        (a cancelled order, Ctrl-C) leaves the oven working in a thread, or in simulated time
        busy until `oven.busy_until`: it is free for the next cake only after that."""
        clock = oven.clock
        if clock.simulated:
            if oven.busy_now():
                asyncio.get_running_loop().call_at(oven.busy_until, self.release, oven)
                return
        elif oven._in_use.locked():
            loop = asyncio.get_running_loop()

            def hand_back() -> None:  # in the oven's thread, as its work ends
                try:
                    loop.call_soon_threadsafe(self.release, oven)
                except RuntimeError:
                    pass  # the loop has closed: the run is over, nobody needs the oven

            if oven.call_when_idle(hand_back):
                return
        self.release(oven)

    def cake_finished(self, cake) -> None:
        """`cake` needs no oven any more; a policy that planned one for it stops waiting."""
        forget = getattr(self.policy, "forget", None)
        if forget is not None:
            forget(getattr(cake, "position", None))
            self._dispatch_soon()

    def _fail_stranded(self) -> None:
        # Policies skip waiters whose future is done, so failing the future withdraws it.
        for waiter in list(self._waiters.values()):  # in the order they joined
            if not waiter.future.done():
                error = self.unbakeable(waiter.recipe)
                if error is not None:
                    waiter.future.set_exception(error)

    def _dispatch_soon(self) -> None:
        # Ovens are handed out once everything due at this minute has happened: an oven freed
        # and a cake finishing its mix at the same minute meet, and so do two ovens freed at
        # the same minute (the cake takes the better one), whatever order the wake-ups ran in.
        if not self._dispatch_pending:
            self._dispatch_pending = True
            asyncio.get_running_loop().call_soon(self._dispatch)

    def _dispatch(self) -> None:
        self._dispatch_pending = False
        if not self.free or not len(self.policy):
            return
        now = self.clock.now() if self.clock is not None else 0.0
        while self.free:
            picked = self.policy.pick(self.free, now)
            if picked is None:
                return
            waiter, oven = picked
            self.free.remove(oven)
            waiter.future.set_result(oven)


class _OvenLease(Waiter):
    """``async with pool.oven_for(...)``: an oven for the block, given back however it ends.

    The lease is the cake's place in the queue (a Waiter) and what the cake awaits while it
    waits: it yields the waiter's future to the task, as a Future's own ``__await__`` does.
    A hand-written iterator rather than a coroutine or ``asynccontextmanager``: a waiting cake
    holds no frame of ours (100,000 cakes wait at once in a big plan: 300 bytes each), and a
    cake stopped just after it was handed an oven still gives it back (`throw`)."""

    __slots__ = ("pool", "oven")

    def __init__(self, pool: OvenPool, cake, recipe: Recipe):
        self.pool = pool
        self.cake = cake
        self.recipe = recipe
        self.position = getattr(cake, "position", None)
        self.oven: Oven | None = None

    def __aenter__(self) -> _OvenLease:
        self.pool._join(self)
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:  # the block awaited the oven's work: the oven is idle
            self.pool.release(self.oven)
        else:  # perhaps stopped while the oven works on in the background
            self.pool.give_back(self.oven)

    # `await lease`, by hand: the iterator protocol a coroutine delegates to.
    def __await__(self) -> _OvenLease:
        return self

    def __next__(self):
        return self.send(None)

    def send(self, _value):
        future = self.future
        if not future.done():
            future._asyncio_future_blocking = True  # asyncio's sign: "wake me when it is done"
            return future
        self.pool._forget(self.seq)
        self.oven = future.result()  # the oven, or why no oven can bake the recipe any more
        raise StopIteration(self.oven)

    def throw(self, typ, value=None, traceback=None):
        # The cake was stopped (Ctrl-C, a cancelled order) while it waited, or just after the
        # pool handed it an oven but before it could take it: give that oven back.
        future = self.future
        self.pool._forget(self.seq)
        if future.done() and not future.cancelled() and future.exception() is None:
            self.pool.release(future.result())
        else:
            future.cancel()  # withdrawn: policies skip waiters whose future is done
        if value is None:
            value = typ if isinstance(typ, BaseException) else typ()
        raise value.with_traceback(traceback) if traceback is not None else value

    def close(self) -> None:  # the coroutine was closed (never resumed): nobody waits
        self.pool._forget(self.seq)
        self.future.cancel()
