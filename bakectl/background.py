"""The seed's foreground/background vocabulary on top of asyncio.

- ``run_in_foreground(awaitable)``: run the kitchen's event loop until `awaitable` is done,
  and until every task it started in the background is done too.
- ``run_in_background(coroutine)``: a task, owned by the enclosing ``background_tasks()`` group
  (``run_in_foreground`` is one); outside any, a RuntimeError rather than an orphan task.
- ``run_in_background(callable, *args)``: a blocking call in a worker thread (in simulated time:
  inline, with its blocked minutes charged to the virtual clock).

Worker threads are daemons: stock asyncio joins its executor threads at exit, so a one-hour
bake would hold Ctrl-C for an hour. Ours are told to stop (``clock.stopping``) and not waited for.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import inspect
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from bakectl.errors import DeadlockError

#: The task group that owns tasks started by run_in_background(coroutine).
_group: contextvars.ContextVar[asyncio.TaskGroup | None] = contextvars.ContextVar(
    "bakectl_task_group", default=None)


class DaemonThreadExecutor(concurrent.futures.ThreadPoolExecutor):
    """One daemon thread per call: nothing to join at exit, no pool to size for the ovens.

    (A ThreadPoolExecutor subclass only because asyncio's default executor must be one.)
    """

    def __init__(self):
        super().__init__(max_workers=1)
        self._shutdown = False

    def submit(self, fn, /, *args, **kwargs):
        if self._shutdown:
            raise RuntimeError("cannot schedule new work after shutdown")
        future: concurrent.futures.Future = concurrent.futures.Future()
        context = contextvars.copy_context()

        def work():
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(context.run(fn, *args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        threading.Thread(target=work, name=f"bakectl-{getattr(fn, '__name__', 'work')}",
                         daemon=True).start()
        return future

    def shutdown(self, wait=True, *, cancel_futures=False):
        self._shutdown = True  # threads are daemons and watch clock.stopping: never join


def run_in_foreground(awaitable: Awaitable, *, clock=None) -> Any:
    """Run the event loop (the clock's, if given) until `awaitable` is done; return its result.

    `awaitable` runs inside ``background_tasks()``: what it starts with run_in_background() is
    owned, and waited for before this returns. If `awaitable` raises, the tasks it started are
    cancelled and its exception comes out as itself; if one of those tasks fails, the others
    and `awaitable` are cancelled and an ExceptionGroup comes out (asyncio.TaskGroup's rule).
    """

    run = _Run()

    async def main():
        run.task = asyncio.current_task()
        asyncio.get_running_loop().set_default_executor(DaemonThreadExecutor())
        if clock is not None:
            clock.start()
        own = None
        try:
            async with background_tasks():
                try:
                    return await awaitable
                except BaseException as exc:
                    own = exc
                    raise
        except BaseExceptionGroup as group:
            # The task group wraps the foreground's own exception: unwrap it, so that callers
            # catch what `awaitable` raised (a group also holding background failures stays).
            if own is None or len(group.exceptions) != 1 or group.exceptions[0] is not own:
                raise
        raise own  # outside the except block: `own` keeps its own __cause__ and __context__

    factory = clock.new_event_loop if clock is not None else None
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        _foreground.append(run)
    try:
        with interrupts_kept(), asyncio.Runner(loop_factory=factory) as runner:
            try:
                result = runner.run(main())
            except asyncio.CancelledError:
                if run.stopped:
                    raise KeyboardInterrupt from None
                raise
    except (DeadlockError, BaseExceptionGroup) as exc:
        # Stopped at once (a second Ctrl-C), the run may have stopped halfway through the
        # loop's own work: what its clean-up then trips over (a wake-up that was lost looks
        # like a deadlock) is the stop's doing, not the kitchen's.
        if run.stopped == STOPPED_AT_ONCE or isinstance(exc.__context__, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        raise
    finally:
        if in_main_thread:
            _foreground.remove(run)
    if run.stopped:  # stopped, but its main task took the cancellation and returned
        raise KeyboardInterrupt
    return result


STOPPED, STOPPED_AT_ONCE = 1, 2


class _Run:
    """A run of run_in_foreground: its main task, once it has started, and how a signal
    stopped it (0: not yet; STOPPED: its task was cancelled; STOPPED_AT_ONCE: a second stop
    raised KeyboardInterrupt wherever the loop was)."""

    __slots__ = ("task", "stopped")

    def __init__(self):
        self.task: asyncio.Task | None = None
        self.stopped = 0


#: The runs in progress in the main thread, innermost last (what stop_foreground stops).
_foreground: list[_Run] = []


def stop_foreground() -> bool:
    """From a signal handler in the main thread: stop the run in progress there as asyncio's
    own first Ctrl-C does (its main task is cancelled; run_in_foreground then raises
    KeyboardInterrupt), instead of raising KeyboardInterrupt wherever the thread happens to
    be, which may be halfway through a change of the loop's own state. False if no run is in
    progress. Stopping the same run again raises KeyboardInterrupt at once (a second Ctrl-C)."""
    if not _foreground or _foreground[-1].task is None:
        return False
    run = _foreground[-1]
    task = run.task
    if run.stopped or task.done():
        run.stopped = STOPPED_AT_ONCE
        raise KeyboardInterrupt
    run.stopped = STOPPED
    task.cancel()
    task.get_loop().call_soon_threadsafe(lambda: None)  # a real loop may be waiting in select
    return True


#: Ctrl-Cs that Python dropped while an interrupts_kept() block was open, and how many of
#: them a block has raised already (one drop is raised once, by the innermost block).
_dropped = 0
_raised = 0
_open_blocks = 0
_hook_before = None


def _note_dropped(unraisable) -> None:
    global _dropped
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        _dropped += 1
    else:
        _hook_before(unraisable)


@contextlib.contextmanager
def interrupts_kept(*, raise_at_end: bool = True):
    """A Ctrl-C that Python drops in the block is raised as KeyboardInterrupt as it ends.

    Python raises Ctrl-C's KeyboardInterrupt wherever the main thread is. Raised inside a
    weak reference's callback or a ``__del__`` (asyncio's registry of tasks runs such a
    callback for every task that goes, and the end of a run lets thousands go), it cannot
    propagate: Python says "Exception ignored" and carries on, and the stop is lost. Drops
    are noted here (``sys.unraisablehook``) and raised once the block is left normally. The
    block gives a function that says whether one was dropped so far; with `raise_at_end`
    false, asking it is the caller's way of hearing of it. Only in the main thread, the one
    Ctrl-C interrupts (the hook is the process's). Blocks may end in any order (a run's
    coroutine closed late by the garbage collector): the hook goes when the last one ends."""
    global _open_blocks, _hook_before, _raised
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    if _open_blocks == 0:
        _hook_before = sys.unraisablehook
        sys.unraisablehook = _note_dropped
    _open_blocks += 1
    seen = _dropped

    def dropped() -> bool:
        global _raised
        if _dropped > max(seen, _raised):
            _raised = _dropped  # heard of: not raised again by a block around this one
            return True
        return False

    try:
        yield dropped
    finally:
        _open_blocks -= 1
        if _open_blocks == 0 and sys.unraisablehook is _note_dropped:
            sys.unraisablehook = _hook_before
    if raise_at_end and dropped():
        raise KeyboardInterrupt


def run_in_background(target: Awaitable | Callable, /, *args) -> asyncio.Future:
    """Start `target` without waiting for it; await the result to get what it returns."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # outside any loop: nobody could ever run it
        if inspect.iscoroutine(target):
            target.close()  # no "was never awaited" warning on top
        raise _unowned() from None
    if inspect.iscoroutine(target):  # the common case, without a wrapper coroutine per task
        group = _group.get()
        if group is None:
            target.close()  # never started: no "was never awaited" warning on top
            raise _unowned()
        return group.create_task(target)
    if inspect.isawaitable(target):
        group = _group.get()
        if group is None:
            raise _unowned()
        return group.create_task(_as_coroutine(target))
    if callable(target):
        return loop.run_in_executor(None, target, *args)
    raise TypeError(f"run_in_background() needs a coroutine or a callable, got {target!r}")


def _unowned() -> RuntimeError:
    # Such a task would belong to nobody: nothing would wait for it or see it fail, and the
    # loop would cancel it silently as it closed.
    return RuntimeError("run_in_background(coroutine) needs an owner: call it inside "
                        "run_in_foreground() or `async with background_tasks():`")


async def _as_coroutine(awaitable: Awaitable) -> Any:
    return await awaitable


@contextlib.asynccontextmanager
async def background_tasks():
    """A task group that owns every coroutine started with run_in_background() inside it."""
    async with asyncio.TaskGroup() as group:
        token = _group.set(group)
        try:
            yield group
        finally:
            _group.reset(token)
