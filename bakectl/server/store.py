"""The durable store: orders and delivery orders in SQLite, committed in groups.

Durability is the point of this module: ``await store.create(...)`` returns only once the order
is on disk (WAL journal, ``synchronous=FULL``: the commit fsyncs). One fsync per request would
cap intake at the disk's fsync rate, so writes are grouped: every write that arrives while a
commit is being fsynced waits for the next one, and that group is written in one transaction,
committed once, and only then are its requests answered. The more requests arrive during an
fsync, the more share the next one (group commit).

Writes that need no acknowledgement (the delivery hook was called) ride along in the next group.
Reads use a second connection on the event loop's thread: WAL readers never wait for the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    recipe TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    due_at TEXT,
    customer TEXT,
    priority INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    idempotency_key TEXT UNIQUE,
    request_hash TEXT,
    cakes TEXT
);
CREATE INDEX IF NOT EXISTS orders_by_status ON orders (status, seq);
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    -- UNIQUE: an order is delivered at most once, whatever happens around it
    order_id TEXT NOT NULL UNIQUE REFERENCES orders (id),
    customer TEXT,
    recipe TEXT NOT NULL,
    cakes INTEGER NOT NULL,
    ready_at TEXT NOT NULL,
    -- 0 until the delivery hook has been called; a restart calls it for those still at 0
    notified INTEGER NOT NULL DEFAULT 0
);
"""

#: Order statuses that are final: such an order never goes back to the kitchen.
FINAL = ("delivered", "failed", "cancelled")

_ORDER_COLUMNS = ("seq, id, recipe, quantity, due_at, customer, priority, status, created_at, "
                  "finished_at, cakes")
_DELIVERY_COLUMNS = "seq, order_id, customer, recipe, cakes, ready_at, notified"
_INSERT_ORDER = ("INSERT INTO orders (id, recipe, quantity, due_at, customer, priority, status, "
                 "created_at, idempotency_key, request_hash) "
                 "VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)")


class StoreError(Exception):
    """A write was refused; `status` is the HTTP status that says why."""

    status = 409


class DuplicateOrder(StoreError):
    pass


class KeyReused(StoreError):
    status = 422


def _row(cursor: sqlite3.Cursor, values: tuple) -> dict[str, Any]:
    return {column[0]: value for column, value in zip(cursor.description, values, strict=True)}


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) on a WAL database."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = _row
        conn.execute("PRAGMA journal_mode=WAL")  # the first read: "file is not a database"
        # FULL: a commit is on disk (the WAL fsynced) before COMMIT returns. NORMAL would lose
        # the last commits on power failure, and they were acknowledged.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
    except BaseException:
        conn.close()
        raise
    return conn


class Store:
    """Orders and deliveries. Call ``open()`` inside the event loop that will await writes."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._write: sqlite3.Connection | None = None
        self._read: sqlite3.Connection | None = None
        self._committer: threading.Thread | None = None
        #: groups handed to the committer thread (None: stop)
        self._to_commit: queue.SimpleQueue[list | None] = queue.SimpleQueue()
        #: writes waiting for the next group, each with the future its request awaits
        self._pending: list[tuple[Callable, asyncio.Future | None]] = []
        self._flush_scheduled = False
        #: True while the committer thread fsyncs a group's COMMIT
        self._committing = False
        #: commits so far and writes they carried (the group commit, for /metrics)
        self.commits = 0
        self.committed_jobs = 0

    # -- lifecycle --------------------------------------------------------------------------

    def open(self) -> None:
        """Raises sqlite3.Error if SQLite cannot open the database (its folder must exist)."""
        self._loop = asyncio.get_running_loop()
        write = connect(self.path)
        try:
            write.executescript(SCHEMA)
            self._read = connect(self.path)
        except BaseException:
            write.close()
            raise
        self._write = write
        # A daemon: a process that never calls close() must still be able to exit.
        self._committer = threading.Thread(target=self._run_committer, name="bakectl-store",
                                           daemon=True)
        self._committer.start()

    def close(self) -> None:
        """Finish the commit in flight and commit what is pending, then close."""
        if self._write is None:
            return
        self._to_commit.put(None)
        self._committer.join()  # after the COMMIT in flight, if any
        self._committing = False
        if self._pending:
            jobs, self._pending = self._pending, []
            if self._begin(jobs) is not None:
                self._write.execute("COMMIT")
        self._write.close()
        self._read.close()
        self._write = self._read = None

    # -- the group commit -------------------------------------------------------------------
    #
    # The statements of a group run here on the event loop's thread (microseconds each); only
    # the COMMIT, which waits for the disk, runs on the committer thread. A writer thread doing
    # everything had to win the GIL back from the busy event loop after every statement.
    # The committer is a plain thread reading a SimpleQueue rather than an executor: its
    # submit() and Future cost the loop ~10 µs a commit, and the committer as much again.

    def _submit(self, job: Callable[[sqlite3.Connection], Any], wait: bool):
        future = self._loop.create_future() if wait else None
        self._pending.append((job, future))
        if not self._flush_scheduled and not self._committing:
            # On the next turn of the loop: every request read in this turn joins the group.
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._committing or not self._pending or self._write is None:
            return
        jobs, self._pending = self._pending, []
        outcomes = self._begin(jobs)
        if outcomes is None:
            return
        self._committing = True
        self._to_commit.put(outcomes)

    def _run_committer(self) -> None:
        """The committer thread: COMMIT each group handed over, then hand it back."""
        while (outcomes := self._to_commit.get()) is not None:
            try:
                self._write.execute("COMMIT")
                error = None
            except Exception as exc:
                error = exc
            self._loop.call_soon_threadsafe(self._committed, outcomes, error)

    def _begin(self, jobs: list) -> list | None:
        """Run a group's statements in a new transaction; None if it failed as a whole."""
        outcomes = []
        try:
            self._write.execute("BEGIN IMMEDIATE")
            for job, future in jobs:
                try:
                    outcomes.append((future, job(self._write), None))
                except (sqlite3.IntegrityError, StoreError) as exc:  # only this one is undone
                    outcomes.append((future, None, exc))
        except Exception as exc:  # nothing of the group is written: tell every waiter
            if self._write.in_transaction:
                self._write.rollback()
            _resolve([(future, None, exc) for _, future in jobs])
            return None
        return outcomes

    def _committed(self, outcomes: list, error: Exception | None) -> None:
        if self._write is None:  # closed meanwhile
            return
        self._committing = False
        if error is not None:  # not on disk: nobody may be told it is
            with contextlib.suppress(Exception):
                self._write.rollback()
            outcomes = [(future, None, error) for future, _, _ in outcomes]
        self.commits += 1
        self.committed_jobs += len(outcomes)
        _resolve(outcomes)
        self._flush()  # what arrived during the fsync is the next group

    # -- writes (called on the event loop) ---------------------------------------------------

    def create(self, order: dict, key: str | None, digest: str | None) -> asyncio.Future:
        """Store a new order durably: await it for (True, row). With an idempotency key already
        used for the same request: (False, the first row). Raises DuplicateOrder or KeyReused.

        A future rather than a coroutine: a POST waits for the disk through one frame less."""

        def job(conn):
            # The insert first: keys and ids are UNIQUE, so only a refused insert needs to
            # look for the first request with this key (a new key costs no extra lookup).
            try:
                cursor = conn.execute(_INSERT_ORDER, (
                    order["id"], order["recipe"], order["quantity"], order["due_at"],
                    order["customer"], order["priority"], order["created_at"], key, digest))
            except sqlite3.IntegrityError:
                first = None
                if key is not None:
                    first = conn.execute(f"SELECT {_ORDER_COLUMNS}, request_hash FROM orders "
                                         "WHERE idempotency_key = ?", (key,)).fetchone()
                if first is None:
                    raise DuplicateOrder(f"order {order['id']!r} already exists") from None
                if first.pop("request_hash") != digest:
                    raise KeyReused("this Idempotency-Key was used for a different order"
                                    ) from None
                return False, first
            return True, {**order, "seq": cursor.lastrowid, "status": "queued",
                          "finished_at": None, "cakes": None}

        return self._submit(job, wait=True)

    async def finish(self, order_id: str, status: str, finished_at: str, cakes: list[dict],
                     delivery: dict | None = None) -> bool:
        """Mark an order final, and store its delivery order in the same transaction: after a
        crash both are there or neither is. False if the order was already final."""

        def job(conn):
            changed = conn.execute(
                "UPDATE orders SET status = ?, finished_at = ?, cakes = ? WHERE id = ? AND "
                "status NOT IN ('delivered', 'failed', 'cancelled')",
                (status, finished_at, json.dumps(cakes), order_id)).rowcount
            if changed and delivery is not None:
                conn.execute("INSERT INTO deliveries (order_id, customer, recipe, cakes, "
                             "ready_at) VALUES (?, ?, ?, ?, ?)",
                             (order_id, delivery["customer"], delivery["recipe"],
                              delivery["cakes"], delivery["ready_at"]))
            return bool(changed)

        return await self._submit(job, wait=True)

    def mark_notified(self, order_id: str) -> None:
        """The delivery hook was called (if this is lost, a restart calls it again)."""
        self._submit(lambda conn: conn.execute(
            "UPDATE deliveries SET notified = 1 WHERE order_id = ?", (order_id,)), wait=False)

    # -- reads (on the event loop: small indexed queries) -------------------------------------

    def get(self, order_id: str) -> dict | None:
        return self._read.execute(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE id = ?",
                                  (order_id,)).fetchone()

    def orders(self, *, status: str | None = None, after: int = 0, limit: int = 50) -> list[dict]:
        """Orders in the order they arrived, from just after `after` (a seq)."""
        if status is None:
            return self._read.execute(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE seq > ? "
                                      "ORDER BY seq LIMIT ?", (after, limit)).fetchall()
        return self._read.execute(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE status = ? AND "
                                  "seq > ? ORDER BY seq LIMIT ?",
                                  (status, after, limit)).fetchall()

    def unfinished(self) -> list[dict]:
        """Orders the kitchen must (re)start: every one not final, in arrival order."""
        return self._read.execute(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE status NOT IN "
                                  "('delivered', 'failed', 'cancelled') ORDER BY seq").fetchall()

    def unfinished_recipes(self) -> dict[str, tuple[int, str]]:
        """The recipes of the unfinished orders: for each, how many orders and the first's id."""
        # A bare column beside min() is taken from the row min() chose (SQLite documents it).
        rows = self._read.execute("SELECT recipe, count(*) AS n, id, min(seq) FROM orders "
                                  "WHERE status NOT IN ('delivered', 'failed', 'cancelled') "
                                  "GROUP BY recipe").fetchall()
        return {row["recipe"]: (row["n"], row["id"]) for row in rows}

    def deliveries(self, *, before: int | None = None, limit: int = 50) -> list[dict]:
        """Delivery orders, newest first, from just before `before` (a seq)."""
        if before is None:
            return self._read.execute(f"SELECT {_DELIVERY_COLUMNS} FROM deliveries "
                                      "ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        return self._read.execute(f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE seq < ? "
                                  "ORDER BY seq DESC LIMIT ?", (before, limit)).fetchall()

    def unnotified(self) -> list[dict]:
        return self._read.execute(f"SELECT {_DELIVERY_COLUMNS} FROM deliveries "
                                  "WHERE notified = 0 ORDER BY seq").fetchall()

    def counts(self) -> dict[str, int]:
        rows = self._read.execute("SELECT status, count(*) AS n FROM orders GROUP BY status")
        return {row["status"]: row["n"] for row in rows}


def _resolve(outcomes: list) -> None:
    for future, result, error in outcomes:
        if future is None or future.done():  # nobody waits, or the request went away
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
