"""``bakectl serve``: uvicorn and the kitchen in one event loop, on the main thread.

Shutdown (SIGTERM, or Ctrl-C): stop accepting connections, finish the requests in flight,
end the event streams, let the cakes in the ovens finish within the grace period, commit
what is queued, exit 0. Whatever did not finish is still in the store and starts again on the
next start. A second signal skips the waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import logging
import os
import signal
import socket
import sys
from pathlib import Path

import uvicorn

from bakectl.server.bakery import log


class UsageError(Exception):
    """A setting the server cannot start with (one line, exit 2)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_token(token: str | None) -> None:
    from bakectl.server import token_problem

    problem = token_problem(token)
    if problem is not None:  # else every client's write would be refused, or crash
        raise UsageError(f"--token (or BAKECTL_TOKEN): {problem}")


def check_binding(host: str, token: str | None) -> None:
    if not is_loopback(host) and not token:
        raise UsageError(f"refusing to listen on {host} without a token: anyone who can reach "
                         f"it could place and cancel orders (give --token or BAKECTL_TOKEN)")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: it re-raises the signal once it has stopped,
    which would end the process before the kitchen has shut down (and not with exit 0)."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


class _OneLine(logging.Formatter):
    """uvicorn's log records as one line each, without tracebacks."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"bakectl serve: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f": {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        return text


def _quiet_uvicorn() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_OneLine())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.WARNING)
        logger.propagate = False


#: Seconds between full garbage collections (automatic ones are switched off while serving).
FULL_GC_EVERY = 300.0

#: Net allocations of tracked objects between young collections (CPython's default is 700).
YOUNG_GC_EVERY = 10_000


def _tune_for_latency(loop: asyncio.AbstractEventLoop) -> None:
    """Take the cyclic GC's full passes off the request path, and hand the GIL over sooner.

    A full pass walks every tracked object, and every order in the kitchen is a few dozen of
    them: under load CPython started one each time the heap grew by a quarter, a pause of
    100-150 ms every few seconds that made the whole p99. Young generations are still
    collected automatically; the full pass runs on a timer instead, where one pause in minutes is
    invisible. Objects alive at start (the imported modules) are frozen out of it.

    Young passes are made rarer too: at CPython's default (one per 700 net allocations) they
    cost about 35 µs per order and found almost nothing to free. Each order leaves a few dozen
    objects alive in the kitchen (its records, its cakes' tasks and timers) for as long as it
    is there, and the requests in flight are a few dozen more each: a pass every 700 scanned
    the same in-flight requests over and over. At 10,000 a pass comes every few hundred
    orders, about 10 µs per order. The middle generation is collected at every other pass
    (threshold 0), so a pass never scans more than two batches (CPython's every tenth pass
    would scan ten, a pause of tens of milliseconds on a busy machine)."""
    import gc

    gc.collect()
    gc.freeze()
    # The store's committer thread needs the GIL twice per commit, and the busy event loop
    # would hold it for the default 5 ms each time: half a millisecond lets commits (and the
    # requests waiting on them) through promptly. No other thread competes for it.
    sys.setswitchinterval(0.0005)
    gc.set_threshold(YOUNG_GC_EVERY, 0, 1_000_000_000)  # full passes: never automatically

    def collect() -> None:
        gc.collect()
        loop.call_later(FULL_GC_EVERY, collect)

    loop.call_later(FULL_GC_EVERY, collect)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY only on sockets that say they
    # are TCP, and without it every response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    # Listening before uvicorn starts: a client that connects as soon as the address is
    # printed waits in the backlog instead of being refused.
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def database_lock(db: Path):
    """Hold the database for this process: one server per database, or two kitchens would
    bake every unfinished order and call the delivery hook twice.

    flock on `<db>.lock`, not a pid file: the kernel drops the lock when the process dies,
    kill -9 included, so there is never a stale one to clean up. The file stays, holding the
    last holder's pid for the message. Not on the database itself: SQLite's own fcntl locks
    live there."""
    path = db.resolve()  # another spelling of the same path, or a symlink to it, is the same
    lock = path.with_name(path.name + ".lock")
    created = not lock.exists()
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UsageError(f"{db}: cannot open the database: {lock}: "
                         f"{exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise UsageError(f"{db}: already served by another bakectl serve{who}: one "
                             f"server per database") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        except UsageError:
            if created:  # never served: leave no lock file beside a path that was refused
                lock.unlink(missing_ok=True)
            raise
    finally:
        os.close(fd)


def check_database(db: Path) -> None:
    """Refuse a database path whose folder is missing (rather than create it: a typo in
    --db would otherwise start an empty bakery somewhere unexpected)."""
    folder = db.parent
    if not folder.is_dir():
        reason = "not a directory" if folder.exists() else "no such directory"
        raise UsageError(f"{db}: cannot open the database: {reason}: {folder}")


def open_store(db: Path):
    """The store, open; a database SQLite cannot open is a UsageError (one line, exit 2)."""
    import sqlite3

    from bakectl.server.store import Store

    store = Store(db)
    try:
        store.open()
    except sqlite3.Error as exc:  # a directory, a file that is not SQLite, no permission
        raise UsageError(f"{db}: cannot open the database: {exc}") from None
    return store


def check_unfinished_recipes(store, recipes: dict, db: Path) -> None:
    """Refuse to start if an unfinished order's recipe is not found now (a server started
    from another folder, a recipe file renamed, a plugin removed). Starting anyway would
    have to fail orders that were acknowledged; the orders stay stored as they are until a
    server with their recipes runs (and cancels them, if the recipe is gone for good)."""
    missing = {name: seen for name, seen in store.unfinished_recipes().items()
               if name not in recipes}
    if missing:
        what = "; ".join(f"{name!r} ({count} order{'s' * (count > 1)}, e.g. {first!r})"
                         for name, (count, first) in sorted(missing.items()))
        raise UsageError(f"{db}: unfinished orders need recipes that are not found: {what}; "
                         f"start the server with them (--recipes DIR, or the plugin that "
                         f"has them)")


async def serve(*, recipes: dict, bakery, clock, db: Path, host: str, port: int,
                token: str | None, plugins=None, grace: float = 30.0,
                max_body: int | None = None, event_history: int = 10_000) -> None:
    """Run the bakery until SIGTERM or SIGINT (inside ``run_in_foreground``)."""
    from bakectl.server.app import MAX_BODY_BYTES, create_app
    from bakectl.server.bakery import BakeryService
    from bakectl.server.events import EventHub

    check_token(token)
    check_binding(host, token)
    check_database(db)
    with database_lock(db), contextlib.ExitStack() as held:  # the lock is released last
        sock = _listen(host, port)
        held.callback(sock.close)
        store = open_store(db)
        held.callback(store.close)
        check_unfinished_recipes(store, recipes, db)
        service = BakeryService(store, recipes, bakery, clock, plugins=plugins,
                                events=EventHub(history=event_history))
        app = create_app(service, token=token, max_body=max_body or MAX_BODY_BYTES)
        _quiet_uvicorn()
        # proxy_headers off: nothing sits in front of us by default, and the middleware that
        # would trust X-Forwarded-For costs every request.
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                                server_header=False, proxy_headers=False,
                                timeout_graceful_shutdown=5, backlog=2048)
        server = _Server(config)
        signals = 0

        def on_signal() -> None:
            nonlocal signals
            signals += 1
            service.accepting = False
            service.events.close()  # event streams never end by themselves
            server.should_exit = True
            if signals > 1:
                server.force_exit = True
                service.hurry()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        try:
            async with service.running():
                name, bound = sock.getsockname()[:2]
                shown = f"[{name}]" if ":" in name else name
                log(f"listening on http://{shown}:{bound} (database {db}, "
                    f"{len(bakery.ovens)} ovens, {len(recipes)} recipes, "
                    f"{len(service.live)} orders resumed)")
                _tune_for_latency(loop)
                await server.serve(sockets=[sock])
                log("stopped taking orders; letting the cakes in the ovens finish")
                await service.drain(grace)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    log("closed")
