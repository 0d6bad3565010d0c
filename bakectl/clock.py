"""Bakery time: real (scaled by a speed factor) or simulated, behind one interface.

Code that bakes never reads the wall clock. It asks its clock:

- ``await clock.sleep(minutes)`` / ``await clock.sleep_until(minute)``: wait while the loop goes on;
- ``clock.block(minutes)``: keep a *background* worker busy (an oven heating or baking);
- ``clock.now()``: bakery minutes since the run started.

The simulated clock is an asyncio event loop whose time is virtual: when nothing is ready to
run, it jumps straight to the next timer. No thread runs in simulated time: a blocking call
handed to ``run_in_executor`` runs inline, and whatever it ``block()``-ed is charged to the
virtual clock before its result is delivered. Equal deadlines fire in the order they were
set, so a run is the same every time.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
import selectors
import threading
import time

from bakectl.errors import DeadlockError


class Interrupted(Exception):
    """A blocking oven call was stopped because the run is shutting down."""


class RealClock:
    """Bakery minutes run `speed` times faster than the wall clock."""

    simulated = False

    def __init__(self, speed: float = 1.0):
        if not speed > 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        # asyncio's default loops keep time with time.monotonic(), as this does; reading it
        # directly lets oven threads stamp their work too.
        self._start = time.monotonic()
        # Set on shutdown so that background bakes stop promptly instead of holding the exit.
        self.stopping = threading.Event()

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.new_event_loop()

    def start(self) -> None:
        """Mark minute 0 of the run."""
        self._start = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._start) * self.speed / 60.0

    def seconds(self, minutes: float) -> float:
        return minutes * 60.0 / self.speed

    async def sleep(self, minutes: float) -> None:
        await asyncio.sleep(self.seconds(minutes))

    async def sleep_until(self, minute: float) -> None:
        await asyncio.sleep(max(0.0, self.seconds(minute - self.now())))

    def block(self, minutes: float) -> None:
        """Block the calling (background) thread for `minutes`; stop early on shutdown."""
        if self.stopping.wait(self.seconds(minutes)):
            raise Interrupted("the bakery is shutting down")


#: The blocking call the simulated loop is running inline, and the minutes it has blocked.
_charged: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
    "bakectl_charged_minutes", default=None)


class SimulatedClock:
    """Virtual bakery minutes: a whole day runs in a moment, the same way every time."""

    simulated = True
    speed = float("inf")

    def __init__(self):
        self.stopping = threading.Event()
        self._loop: SimulatedEventLoop | None = None

    def new_event_loop(self) -> SimulatedEventLoop:
        self._loop = SimulatedEventLoop()
        return self._loop

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    def now(self) -> float:
        # Inside a blocking call run inline, time passes as the call blocks.
        charged = _charged.get()
        return self._loop._now + (charged[0] if charged is not None else 0.0)

    async def sleep(self, minutes: float) -> None:
        await asyncio.sleep(minutes)

    async def sleep_until(self, minute: float) -> None:
        await asyncio.sleep(max(0.0, minute - self._loop.time()))

    def block(self, minutes: float) -> None:
        charged = _charged.get()
        if charged is None:
            raise RuntimeError("clock.block() outside run_in_background() would stop the "
                               "simulated kitchen; hand blocking work to run_in_background()")
        charged[0] += minutes


class _VirtualSelector(selectors.SelectSelector):
    """Waiting for I/O is where time passes: jump the clock instead of sleeping."""

    def __init__(self, loop: SimulatedEventLoop):
        super().__init__()
        self._sim_loop = loop

    def select(self, timeout=None):
        if timeout is None:
            # Nothing is ready and no timer is set: nothing can ever happen again.
            raise DeadlockError(self._sim_loop.describe_deadlock())
        if timeout > 0:
            self._sim_loop._now += timeout
        return []


class _Timer(asyncio.TimerHandle):
    """A timer ordered by (deadline, creation): equal deadlines fire first-set, first-fired."""

    __slots__ = ("_seq",)

    def __lt__(self, other):
        return (self._when, self._seq) < (other._when, other._seq)


class SimulatedEventLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on virtual time (unit: bakery minutes, starting at 0)."""

    def __init__(self):
        self._now = 0.0
        self._timer_seq = itertools.count()
        #: called when a deadlock is found; returns what is stuck (the kitchen sets it)
        self.describe_deadlock = lambda: "every task is waiting and no timer is set"
        super().__init__(_VirtualSelector(self))
        self._clock_resolution = 1e-9

    def time(self) -> float:
        return self._now

    def call_at(self, when, callback, *args, context=None):
        self._check_closed()
        timer = _Timer(when, callback, args, self, context)
        timer._seq = next(self._timer_seq)
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True
        return timer

    def run_in_executor(self, executor, func, *args):
        """Run `func` inline; deliver its outcome after the minutes it blocked have passed."""
        self._check_closed()
        future = self.create_future()
        charged = [0.0]
        token = _charged.set(charged)
        try:
            result, error = func(*args), None
        except BaseException as exc:  # delivered to the awaiting task, like a thread's failure
            result, error = None, exc
        finally:
            _charged.reset(token)

        def deliver():
            if future.cancelled():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        self.call_at(self._now + charged[0], deliver)
        return future
