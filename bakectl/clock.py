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
import gc
import heapq
import itertools
import selectors
import threading
import time
import weakref

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
        #: the minute the run starts at: 0, or where a resumed run's journal left off
        self.start_minute = 0.0
        # asyncio's default loops keep time with time.monotonic(), as this does; reading it
        # directly lets oven threads stamp their work too.
        self._start = time.monotonic()
        # Set on shutdown so that background bakes stop promptly instead of holding the exit.
        self.stopping = threading.Event()
        # The sleepers of each loop that runs on this clock (one at a time, as a rule).
        self._sleepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Sleepers] = \
            weakref.WeakKeyDictionary()
        self._last: _Sleepers | None = None

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.new_event_loop()

    def start(self) -> None:
        """Mark minute 0 of the run; a clock used before (its run stopped) runs again."""
        self._start = time.monotonic()
        self.stopping.clear()

    def now(self) -> float:
        return self.start_minute + (time.monotonic() - self._start) * self.speed / 60.0

    def seconds(self, minutes: float) -> float:
        return minutes * 60.0 / self.speed

    def sleep(self, minutes: float) -> asyncio.Future:
        """An awaitable that is done `minutes` from now."""
        return self.sleep_until(self.now() + minutes)

    def sleep_until(self, minute: float) -> asyncio.Future:
        # A future, as the simulated clock does, rather than asyncio.sleep: no coroutine
        # frames per wait (every mixing cake waits; a server starts thousands a second).
        loop = asyncio.get_running_loop()
        sleepers = self._last
        if sleepers is None or sleepers.loop is not loop:
            sleepers = self._sleepers.get(loop)
            if sleepers is None:
                sleepers = self._sleepers[loop] = _Sleepers(self, loop)
            self._last = sleepers
        return sleepers.sleep_until(minute)

    def block(self, minutes: float) -> None:
        """Block the calling (background) thread for `minutes`; stop early on shutdown."""
        if self.stopping.wait(self.seconds(minutes)):
            raise Interrupted("the bakery is shutting down")


class _Sleepers:
    """What waits on one loop for a RealClock's minutes: futures in a heap of (minute,
    sequence, future), earliest first, behind one loop timer armed for the earliest.

    A timer per sleep cost a TimerHandle, a Context and a push through Python-level
    comparisons (3.5 µs), and every cake of a server's order sleeps as it mixes; a tuple in
    this heap compares in C (1.2 µs). A cancelled wait stays in it until its minute,
    harmlessly."""

    __slots__ = ("clock", "loop", "heap", "seq", "timer", "timer_minute")

    def __init__(self, clock: RealClock, loop: asyncio.AbstractEventLoop):
        self.clock = clock
        self.loop = loop
        self.heap: list[tuple[float, int, asyncio.Future]] = []
        self.seq = itertools.count()
        self.timer: asyncio.TimerHandle | None = None
        self.timer_minute = float("inf")

    def sleep_until(self, minute: float) -> asyncio.Future:
        if minute != minute:
            raise ValueError("sleep_until(nan): a minute must be a number")
        future = self.loop.create_future()
        heapq.heappush(self.heap, (minute, next(self.seq), future))
        if minute < self.timer_minute:
            self._arm(minute)
        return future

    def _arm(self, minute: float) -> None:
        """Set the loop's one timer for the wake-ups due at `minute`."""
        if self.timer is not None:
            self.timer.cancel()
        self.timer_minute = minute
        clock = self.clock
        self.timer = self.loop.call_later(max(0.0, clock.seconds(minute - clock.now())),
                                          self._wake_due)

    def _wake_due(self) -> None:
        due = max(self.timer_minute, self.clock.now())  # the timer may fire a hair early
        self.timer, self.timer_minute = None, float("inf")
        heap = self.heap
        while heap and heap[0][0] <= due:
            future = heapq.heappop(heap)[2]
            if not future.done():  # not cancelled meanwhile
                future.set_result(None)
        if heap:
            self._arm(heap[0][0])


#: The blocking call the simulated loop is running inline, and the minutes it has blocked.
_charged: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
    "bakectl_charged_minutes", default=None)


class SimulatedClock:
    """Virtual bakery minutes: a whole day runs in a moment, the same way every time."""

    simulated = True
    speed = float("inf")

    def __init__(self):
        self.stopping = threading.Event()
        #: the minute the run starts at: 0, or where a resumed run's journal left off
        self.start_minute = 0.0
        self._loop: SimulatedEventLoop | None = None

    def new_event_loop(self) -> SimulatedEventLoop:
        self._loop = SimulatedEventLoop()
        return self._loop

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.stopping.clear()  # a clock used before (its run stopped) runs again
        # Nothing is scheduled yet, so moving virtual time forward here moves everything.
        self._loop._now = self.start_minute

    def now(self) -> float:
        if self._loop is None:  # before its first run: the minute it will start at
            return self.start_minute
        # Inside a blocking call run inline, time passes as the call blocks. Otherwise the
        # loop's own float: cakes stamped at one minute share it (24 bytes each, 3 a cake).
        charged = _charged.get()
        return self._loop._now if charged is None else self._loop._now + charged[0]

    def sleep(self, minutes: float) -> asyncio.Future:
        """An awaitable that is done `minutes` from now."""
        return self.sleep_until(self.now() + minutes)

    def sleep_until(self, minute: float) -> asyncio.Future:
        """An awaitable that is done at `minute` (at once if it has passed).

        A plain future rather than a coroutine: a 100,000-cake plan awaits this 300,000 times,
        and the loop resolves the future itself, with no timer handle or callback in between.
        """
        loop = self._loop
        if loop is None:
            raise RuntimeError("a SimulatedClock's time runs only inside "
                               "run_in_foreground(..., clock=clock)")
        if minute != minute:
            raise ValueError("sleep_until(nan): a minute must be a number")
        future = loop.create_future()
        loop.resolve_at(minute if minute > loop._now else loop._now, future, None)
        return future

    def block(self, minutes: float) -> None:
        charged = _charged.get()
        if charged is None:
            raise RuntimeError("clock.block() outside run_in_background() would stop the "
                               "simulated kitchen; hand blocking work to run_in_background()")
        charged[0] += minutes


class _Handle(asyncio.Handle):
    """asyncio's Handle without the debug-mode bookkeeping (created millions of times)."""

    __slots__ = ()

    def __init__(self, callback, args, loop, context=None):
        self._context = context if context is not None else contextvars.copy_context()
        self._loop = loop
        self._callback = callback
        self._args = args
        self._cancelled = False
        self._repr = None
        self._source_traceback = None


class _Timer(asyncio.TimerHandle):
    """A timer handle for ``call_at``; its place in the queue is kept by the loop."""

    __slots__ = ()

    def __init__(self, when, callback, args, loop, context=None):
        _Handle.__init__(self, callback, args, loop, context)
        self._when = when
        self._scheduled = True


class SimulatedEventLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on virtual time (unit: bakery minutes, starting at 0).

    Each turn runs what is ready; when nothing is, time jumps to the earliest deadline.
    Deadlines are kept per minute: a heap of the minutes that have any, and for each such
    minute a list of what is due then, in the order it was set (so equal minutes fire in
    that order). A whole day's cakes sleep until the same few minutes (every sponge finishes
    its first ingredient at 10/3), so an entry costs a list slot, not a tuple, a sequence
    number and a float of its own. What is due is a timer handle (``call_at``), a future to
    resolve with None, or a ``(future, value)`` pair (``resolve_at``: sleeps and background
    calls, no handle at all).

    It replaces asyncio's private ``_run_once`` and uses its ``_ready`` and ``_stopping``:
    the same from Python 3.11 to 3.13, on both of which CI runs the test suite (.ci/run). A
    new Python version is the first place to look if simulated runs misbehave.
    """

    def __init__(self):
        self._now = 0.0
        #: heap of the minutes that have something due; `_due` holds it, minute by minute
        self._deadlines: list[float] = []
        self._due: dict[float, list] = {}
        #: called when a deadlock is found; returns what is stuck (the kitchen sets it)
        self.describe_deadlock = lambda: "every task is waiting and no timer is set"
        super().__init__(selectors.SelectSelector())
        self._clock_resolution = 1e-9

    def time(self) -> float:
        return self._now

    def call_soon(self, callback, *args, context=None):
        if self._closed:
            raise RuntimeError("Event loop is closed")
        handle = _Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def call_at(self, when, callback, *args, context=None):
        if self._closed:
            raise RuntimeError("Event loop is closed")
        timer = _Timer(when, callback, args, self, context)
        self._set_due(when, timer)
        return timer

    def resolve_at(self, when: float, future: asyncio.Future, value=None) -> None:
        """Set `future`'s result to `value` at minute `when`, unless it is done by then."""
        self._set_due(when, future if value is None else (future, value))

    def _set_due(self, when: float, target) -> None:
        due = self._due.get(when)
        if due is None:
            if when != when:
                raise ValueError("a deadline at minute nan: a minute must be a number")
            due = self._due[when] = []
            heapq.heappush(self._deadlines, when)
        due.append(target)

    def run_forever(self):
        # Pause the cyclic garbage collector while virtual time runs: a 100,000-cake day keeps
        # millions of objects alive, and every full collection would walk them all again
        # (measured: two thirds of the run). Reference counting still frees what each cake
        # leaves behind; cycles wait for the next collection after the run.
        enabled = gc.isenabled()
        gc.disable()
        try:
            super().run_forever()
        finally:
            if enabled:
                gc.enable()

    def _run_once(self):
        ready = self._ready
        deadlines = self._deadlines
        if not ready and not self._stopping:
            if not deadlines:
                # Nothing is ready and no deadline is set: nothing can ever happen again.
                raise DeadlockError(self.describe_deadlock())
            self._now = deadlines[0]
        now = self._now
        while deadlines and deadlines[0] <= now:
            # The minute's list goes once it is done: a second Ctrl-C raised halfway through
            # it leaves the rest due (what was done is skipped on a second pass).
            minute = deadlines[0]
            for target in self._due[minute]:
                kind = target.__class__
                if kind is _Timer:
                    if target._scheduled and not target._cancelled:
                        target._scheduled = False
                        ready.append(target)
                elif kind is tuple:
                    future, value = target
                    if not future.done():
                        future.set_result(value)
                elif not target.done():  # a cancelled waiter leaves its future done
                    target.set_result(None)
            heapq.heappop(deadlines)
            del self._due[minute]
        # Run what is ready now; what these callbacks schedule runs on the next turn.
        for _ in range(len(ready)):
            handle = ready.popleft()
            if not handle._cancelled:
                handle._run()

    def run_in_executor(self, executor, func, *args):
        """Run `func` inline; deliver its outcome after the minutes it blocked have passed."""
        self._check_closed()
        future = self.create_future()
        charged = [0.0]
        token = _charged.set(charged)
        try:
            result = func(*args)
        except BaseException as exc:  # delivered to the awaiting task, like a thread's failure
            self.call_at(self._now + charged[0], _deliver_error, future, exc)
        else:
            self.resolve_at(self._now + charged[0], future, result)
        finally:
            _charged.reset(token)
        return future


def _deliver_error(future: asyncio.Future, error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
