"""The seed's foreground/background vocabulary on top of asyncio.

- ``run_in_foreground(awaitable)``: run the kitchen's event loop until `awaitable` is done.
- ``run_in_background(coroutine)``: a task, owned by the enclosing ``background_tasks()`` group.
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
import threading
from collections.abc import Awaitable, Callable
from typing import Any

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
    """Run the event loop (the clock's, if given) until `awaitable` is done; return its result."""

    async def main():
        asyncio.get_running_loop().set_default_executor(DaemonThreadExecutor())
        if clock is not None:
            clock.start()
        return await awaitable

    factory = clock.new_event_loop if clock is not None else None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


def run_in_background(target: Awaitable | Callable, /, *args) -> asyncio.Future:
    """Start `target` without waiting for it; await the result to get what it returns."""
    loop = asyncio.get_running_loop()
    if inspect.iscoroutine(target):  # the common case, without a wrapper coroutine per task
        group = _group.get()
        return group.create_task(target) if group is not None else loop.create_task(target)
    if inspect.isawaitable(target):
        group = _group.get()
        if group is not None:
            return group.create_task(_as_coroutine(target))
        return asyncio.ensure_future(target)
    if callable(target):
        return loop.run_in_executor(None, target, *args)
    raise TypeError(f"run_in_background() needs a coroutine or a callable, got {target!r}")


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
