"""The bakery service: orders from the store go into the Kitchen, and what the kitchen does goes
back to the store, to ``/events`` and to the plugins.

The kitchen is the one ``bakectl bake`` uses, kept open for as long as the server runs. It
reports to this service only (a plugin manager of its own): the store must have recorded a
delivery before any plugin hears of it, so that a crash can never leave an order delivered
by a plugin but unknown to the store. Plugins then hear of it from here.

An order's status is the furthest its cakes have got: queued, then mixing (a cake is being
mixed or waits for an oven), then baking (a cake is in an oven), then delivered, failed or
cancelled. The final three are written durably before anyone is told; the others are progress,
kept in memory only: after a crash an unfinished order starts again from the beginning anyway,
and not writing them leaves the store's writer free for new orders.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import itertools
import json
import sys
import time
from collections import Counter

from bakectl.hookspecs import hookimpl
from bakectl.model import Order
from bakectl.ovens import setup_minutes
from bakectl.server.validation import check_order

#: Order statuses in the order an order goes through them.
STATUSES = ("queued", "mixing", "baking", "delivered", "failed", "cancelled")
_RANK = {status: rank for rank, status in enumerate(STATUSES)}
_IN_OVEN = ("preheating", "baking")

_FORWARDED = ("bakectl_run_started", "bakectl_cake_stage", "bakectl_cake_baked",
              "bakectl_order_delivered", "bakectl_run_finished")


class Refused(Exception):
    """A request the bakery turns down; `status` is the HTTP status that says why."""

    status = 409


class NotFound(Refused):
    status = 404


class Conflict(Refused):
    status = 409


class Unavailable(Refused):
    status = 503


def log(message: str) -> None:
    print(f"bakectl serve: {message}", file=sys.stderr, flush=True)


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="milliseconds")


def request_digest(request) -> str:
    """What an Idempotency-Key's request is: the order itself, not its spelling (the order of
    its keys, a default left out, a date-time's form)."""
    due_at = request.due_at.isoformat() if request.due_at is not None else None
    fields = [request.id, request.recipe, request.quantity, request.due_minutes, due_at,
              request.customer, request.priority]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()


def _can_finish(record) -> bool:
    """The order may still be finished while the server stops: the kitchen is done with it
    (its final status is being stored), or its cakes are all baked or in an oven."""
    if record.status is not None:
        return record.status != "cancelled"
    return all(cake.status is not None or cake.stage in _IN_OVEN for cake in record.cakes)


class Live:
    """An order in the kitchen: the kitchen's record of it (with the Order), its status, and
    what only the store had: its place in arrival order and its times as stored.

    Not the stored row itself: a dict of a dozen keys per order was a tenth of what an order
    in the kitchen costs, and a server holds every order that has not come out of the oven."""

    __slots__ = ("record", "status", "seq", "due_at", "created_at")

    def __init__(self, row: dict, record, status: str = "queued"):
        self.record = record
        self.status = status
        self.seq, self.due_at, self.created_at = row["seq"], row["due_at"], row["created_at"]

    @property
    def id(self) -> str:
        return self.record.order.id

    @property
    def row(self) -> dict:
        """The order's stored fields (as ``store.get`` gives them, status aside)."""
        order = self.record.order
        return {"seq": self.seq, "id": order.id, "recipe": order.recipe,
                "quantity": order.quantity, "due_at": self.due_at, "customer": order.customer,
                "priority": order.priority, "created_at": self.created_at}


class BakeryService:
    def __init__(self, store, recipes: dict, bakery, clock, *, plugins=None, events=None):
        from bakectl.kitchen import Kitchen
        from bakectl.plugins import PluginManager, notifier
        from bakectl.server.events import EventHub

        self.store = store
        self.recipes = recipes
        self.clock = clock
        self.events = events if events is not None else EventHub()
        own = PluginManager()
        own.register(self, name="bakectl-serve")
        driver = plugins.hook.bakectl_oven_driver(clock=clock) if plugins is not None else None
        self.kitchen = Kitchen(bakery, clock, plugins=own, driver=driver)
        self._notify = {name: notifier(plugins, name) for name in _FORWARDED}
        #: orders in the kitchen, in arrival order (dicts keep insertion order)
        self.live: dict[str, Live] = {}
        self.counts: Counter[str] = Counter()
        #: oven name -> the cake in it
        self.in_oven: dict[str, object] = {}
        self.accepting = False
        self._stopping = False
        self._hurry = False
        self._origin = time.time()
        self._finished = asyncio.Event()
        #: what check_order found about each recipe (recipes and ovens never change here)
        self._recipe_checks: dict[str, list] = {}

    # -- time: bakery minutes of the running kitchen <-> wall-clock time ----------------------

    def wall(self, minute: float) -> float:
        return self._origin + self.clock.seconds(minute)

    def minute(self, timestamp: float) -> float:
        return (timestamp - self._origin) * self.clock.speed / 60.0

    def iso(self, minute: float | None) -> str | None:
        return None if minute is None else _iso(self.wall(minute))

    # -- running ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self):
        """Open the kitchen and restart every order the store has not finished."""
        self._origin = time.time() - self.clock.seconds(self.clock.now())
        async with self.kitchen.open():
            try:
                self.counts = Counter(self.store.counts())
                for row in self.store.unfinished():  # each starts again from the beginning
                    self._start(row)
                for delivery in self.store.unnotified():  # stored, but the hook was not called
                    self._tell_delivered(self._record_from_store(delivery))
                self._call("bakectl_run_started", kitchen=self.kitchen)
                self.accepting = True
                yield self
            finally:
                self.accepting = False
                self._stopping = True
                for order_id in list(self.live):  # whatever is left starts again next time
                    self.kitchen.cancel_order(order_id, in_oven=True)
                # Only now: a bake told to stop before its task was cancelled would fail its order.
                self.clock.stopping.set()
        if self._notify["bakectl_run_finished"] is not None:
            from bakectl.report import build_report

            report = build_report(self.kitchen, wall_seconds=time.time() - self._origin)
            self._call("bakectl_run_finished", kitchen=self.kitchen, report=report)

    async def drain(self, grace: float) -> None:
        """Stop taking orders; cakes not yet in an oven stop (their orders start again on the
        next start); an order whose every cake is baked or in an oven gets up to `grace`
        seconds to be finished. An order with a cake stopped starts again from the beginning
        however its other cakes end: it is not waited for."""
        self.accepting = False
        self.kitchen.stop_new_work()
        deadline = time.monotonic() + grace
        while any(_can_finish(live.record) for live in self.live.values()):
            left = deadline - time.monotonic()
            if left <= 0 or self._hurry:
                log(f"not waiting any longer: {len(self.live)} unfinished orders start "
                    f"again on the next start")
                return
            self._finished.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finished.wait(), left)

    def hurry(self) -> None:
        """Stop waiting for the ovens (a second Ctrl-C)."""
        self._hurry = True
        self._finished.set()

    def _call(self, hook: str, **kwargs) -> None:
        notify = self._notify[hook]
        if notify is not None:
            notify(**kwargs)

    # -- orders in ----------------------------------------------------------------------------

    async def submit(self, data, key: str | None = None) -> dict:
        """Store an order durably and start it; the first answer (for a repeated key too)."""
        if not self.accepting:
            raise Unavailable("the bakery is closing: not taking orders")
        request = check_order(data, self.recipes, self.kitchen.bakery,
                              known=self._recipe_checks)
        digest = None if key is None else request_digest(request)
        now = time.time()
        # The kitchen's due minute: what a restart reads back from due_at (to the
        # millisecond), without parsing what was just written.
        if request.due_at is not None:
            due_at = request.due_at.astimezone(dt.UTC).isoformat(timespec="milliseconds")
            due = self.minute(request.due_at.timestamp())
        elif request.due_minutes is not None:
            due_at = _iso(now + self.clock.seconds(request.due_minutes))
            due = self.minute(now) + request.due_minutes
        else:
            due_at = due = None
        row = {"id": request.id, "recipe": request.recipe, "quantity": request.quantity,
               "due_at": due_at, "customer": request.customer, "priority": request.priority,
               "created_at": _iso(now)}
        created, row = await self.store.create(row, key, digest)
        if created:
            self.counts["queued"] += 1
            self._start(row, due)
        return accepted(row)

    def _start(self, row: dict, due: float | None = None) -> None:
        """Hand a stored order to the kitchen; `due`: its due minute, if known already."""
        if due is None and row["due_at"] is not None:
            due = self._minute_of(row["due_at"])
        recipe = self.recipes[row["recipe"]]
        # The recipe's own name: one string for all its orders, not one per request body.
        order = Order(row["id"], recipe.name, row["quantity"], due, row["customer"],
                      row["priority"])
        record = self.kitchen.add_order(order, recipe)
        live = self.live[row["id"]] = Live(row, record)
        if self.events.in_use:
            self.events.publish("order", self._summary(live))

    async def cancel(self, order_id: str) -> dict:
        """Cancel an order that has no cake in an oven yet."""
        live = self.live.get(order_id)
        if live is None:
            row = self.store.get(order_id)
            if row is None:
                raise NotFound(f"no order {order_id!r}")
            if row["status"] != "cancelled":
                raise Conflict(f"order {order_id!r} is {row['status']}: too late to cancel")
            return self.describe(order_id)
        if live.status == "cancelled":  # a cancel is being stored already
            return self.order_json(live)
        if not self.kitchen.cancel_order(order_id):
            raise Conflict(self._why_not_cancelled(live))
        self._set(live, "cancelled")
        await self._store_final(live, "cancelled")
        return self.describe(order_id)

    @staticmethod
    def _why_not_cancelled(live: Live) -> str:
        order_id = live.id
        if live.record.status is not None:  # finished, its final status being stored
            return f"order {order_id!r} is {live.record.status}: too late to cancel"
        in_oven = [f"cake {c.index} is {c.stage} in {c.oven}" for c in live.record.cakes
                   if c.stage in _IN_OVEN]
        return (f"order {order_id!r} cannot be cancelled: {', '.join(in_oven)} (a cake is "
                f"not taken out of an oven half-baked)")

    # -- what the kitchen tells us (this service is the kitchen's only plugin) ----------------

    @hookimpl
    def bakectl_cake_stage(self, cake, stage, minute):
        if stage in _IN_OVEN:
            self.in_oven[cake.oven] = cake
        elif cake.oven is not None and self.in_oven.get(cake.oven) is cake:
            del self.in_oven[cake.oven]
        live = self.live.get(cake.order)
        if live is not None:
            status = "baking" if stage in _IN_OVEN else "mixing" if stage == "mixing" else None
            if status is not None and _RANK[status] > _RANK[live.status]:
                self._set(live, status)
            if stage == "failed":
                # The kitchen counts the cake right after telling us: look once it has.
                asyncio.get_running_loop().call_soon(self._check_failed, cake.order)
        if self.events.in_use:
            self.events.publish("cake", {"order": cake.order, "index": cake.index,
                                         "recipe": cake.recipe, "stage": stage,
                                         "oven": cake.oven, "error": cake.error,
                                         "at": self.iso(minute)})
        self._call("bakectl_cake_stage", cake=cake, stage=stage, minute=minute)

    @hookimpl
    def bakectl_cake_baked(self, cake):
        self._call("bakectl_cake_baked", cake=cake)

    @hookimpl
    def bakectl_order_delivered(self, order):
        from bakectl.background import run_in_background

        live = self.live.get(order.order.id)
        if live is not None and not self._stopping:
            run_in_background(self._store_final(live, "delivered"))

    def _check_failed(self, order_id: str) -> None:
        from bakectl.background import run_in_background

        live = self.live.get(order_id)
        if live is not None and live.record.status == "failed" and not self._stopping:
            run_in_background(self._store_final(live, "failed"))

    # -- state changes ------------------------------------------------------------------------

    def _set(self, live: Live, status: str) -> None:
        self.counts[live.status] -= 1
        self.counts[status] += 1
        live.status = status
        if self.events.in_use:
            self.events.publish("order", self._summary(live))

    async def _store_final(self, live: Live, status: str) -> None:
        """Write the order's final status (and its delivery order) durably, then tell."""
        record, order_id = live.record, live.id
        done = record.done_minutes if status != "cancelled" else None
        finished_at = self.iso(done) or _iso(time.time())
        delivery = None
        if status == "delivered":
            delivery = {"customer": record.order.customer, "recipe": record.order.recipe,
                        "cakes": len(record.cakes), "ready_at": finished_at}
        try:
            await self.store.finish(order_id, status, finished_at,
                                    [self._cake_json(c, status) for c in record.cakes],
                                    delivery)
        except Exception as exc:  # not stored: it stays unfinished and starts again next time
            log(f"could not store order {order_id} as {status}: {exc}")
            return
        if live.status != status:
            self._set(live, status)
        # The store answers for it from now on: a server runs for days, keep nothing of it.
        self.live.pop(order_id, None)
        self.kitchen.forget_order(order_id)
        self._finished.set()
        if delivery is not None:
            self.events.publish("delivery", {"order": order_id, **delivery})
            self._tell_delivered(record)

    def _tell_delivered(self, record) -> None:
        self._call("bakectl_order_delivered", order=record)
        self.store.mark_notified(record.order.id)

    def _record_from_store(self, delivery: dict):
        """The OrderRecord of a delivery stored before a crash, rebuilt from the store (what
        the hook gets must not depend on when the server stopped): the order, its cakes as
        stored, done and due times. Times are minutes of this run's clock, as the kitchen's
        are: before its start they are negative, and `late` compares them as it always does."""
        from bakectl.report import CakeRecord, OrderRecord

        row = self.store.get(delivery["order_id"])
        order = Order(row["id"], row["recipe"], row["quantity"], self._minute_of(row["due_at"]),
                      row["customer"], row["priority"])
        record = OrderRecord(order, status="delivered", finished=delivery["cakes"],
                             done_minutes=self._minute_of(delivery["ready_at"]))
        for stored in json.loads(row["cakes"]) if row["cakes"] else []:
            cake = CakeRecord(row["id"], stored["recipe"], stored["index"], stage="baked",
                              status="baked", oven=stored["oven"],
                              temperature_c=stored["temperature_c"], due=order.due,
                              priority=order.priority)
            for name in ("mix_start", "mix_end", "bake_start", "bake_end"):
                setattr(cake, name, self._minute_of(stored[name]))
            record.cakes.append(cake)
        return record

    def _minute_of(self, iso: str | None) -> float | None:
        """The minute of this run's clock that an ISO time of the store is."""
        return None if iso is None else self.minute(dt.datetime.fromisoformat(iso).timestamp())

    # -- what the API shows -------------------------------------------------------------------

    def _summary(self, live: Live) -> dict:
        order = live.record.order
        return {"id": order.id, "status": live.status, "recipe": order.recipe,
                "quantity": order.quantity, "customer": order.customer}

    def _cake_json(self, cake, order_status: str | None = None) -> dict:
        # A cancelled cake keeps the stage it was stopped in: show that it stopped, not a
        # stage that looks alive. Cakes baked before the cancel stay baked.
        stage = cake.stage
        if order_status == "cancelled" and cake.status is None:
            stage = "cancelled"
        return {"index": cake.index, "recipe": cake.recipe, "stage": stage,
                "oven": cake.oven,
                "temperature_c": cake.temperature_c, "mix_start": self.iso(cake.mix_start),
                "mix_end": self.iso(cake.mix_end), "bake_start": self.iso(cake.bake_start),
                "bake_end": self.iso(cake.bake_end), "error": cake.error}

    def describe(self, order_id: str) -> dict:
        live = self.live.get(order_id)
        if live is not None:
            return self.order_json(live)
        row = self.store.get(order_id)
        if row is None:
            raise NotFound(f"no order {order_id!r}")
        return stored_order_json(row)

    def order_json(self, live: Live) -> dict:
        due = live.record.order.due
        return {**accepted(live.row), "status": live.status,
                "cakes": [self._cake_json(c, live.status) for c in live.record.cakes],
                "eta": self.iso(self.eta_minutes(live)) if live.status != "cancelled" else None,
                "finished_at": None,
                # Still in the kitchen past its due time: late already, whenever it comes out.
                "late": (live.status in ("queued", "mixing", "baking") and due is not None
                         and self.clock.now() > due)}

    def list_orders(self, status: str | None, after: int, limit: int) -> tuple[list, int | None]:
        """A page of orders in arrival order (live ones as they are now), and the cursor of
        the next page (None on the last)."""
        # One row more than the page: whether there is a next page (a full last one has none).
        if status in ("queued", "mixing", "baking"):
            # The store knows only "queued" until an order is final: ask the kitchen.
            rows = [lv.row for lv in itertools.islice(
                (lv for lv in self.live.values() if lv.status == status and lv.seq > after),
                limit + 1)]
        else:
            rows = self.store.orders(status=status, after=after, limit=limit + 1)
        more, rows = len(rows) > limit, rows[:limit]
        items = [self.order_json(self.live[r["id"]]) if r["id"] in self.live
                 else stored_order_json(r) for r in rows]
        return items, (rows[-1]["seq"] if more else None)

    def eta_minutes(self, live: Live) -> float:
        """When the order's last cake should come out of the oven: an estimate (see "ETA" in
        docs/server.md). The cakes ahead of it take the mixers and ovens in arrival order, each
        for its mix and bake time; each oven set-up (preheat or cool-down) is counted for the
        cakes of this order only, as the least any oven would need."""
        now = self.clock.now()
        ovens = self.kitchen.ovens.ovens
        mixers = self.kitchen.bakery.mixers
        recipe = self.recipes[live.record.order.recipe]
        oven_ahead = sum(max(0.0, self._out_of_oven(c, now) - now)
                         for c in self.in_oven.values())
        mix_ahead = 0.0  # mixing still to do before a queued cake of this order gets a mixer
        for other in self.live.values():  # work that arrived before this order
            if other is live:
                break
            for cake in other.record.cakes:
                if cake.stage in ("queued", "mixing", "waiting"):
                    oven_ahead += self.recipes[cake.recipe].bake_minutes
                    mix_ahead += self._mix_left(cake, now)
        setup = min((_setup_once_free(oven, recipe.temperature_c) for oven in ovens
                     if oven.can_bake(recipe)), default=0.0)
        eta = now
        for cake in live.record.cakes:
            if cake.bake_end is not None:
                end = cake.bake_end
            elif cake.bake_start is not None or cake.stage == "preheating":
                end = self._out_of_oven(cake, now)
            else:
                if cake.mix_end is not None:
                    ready = cake.mix_end
                elif cake.mix_start is not None:
                    ready = cake.mix_start + recipe.mix_minutes
                else:  # queued: with a limited number of mixers, after the mixing ahead
                    ready = now + (mix_ahead / mixers if mixers else 0.0) + recipe.mix_minutes
                mix_ahead += self._mix_left(cake, now)
                end = max(ready, now + oven_ahead / len(ovens)) + setup + recipe.bake_minutes
                oven_ahead += recipe.bake_minutes
            eta = max(eta, end)
        return eta

    def _mix_left(self, cake, now: float) -> float:
        """Mixer minutes a cake still needs."""
        mix = self.recipes[cake.recipe].mix_minutes
        if cake.stage == "queued":
            return mix
        if cake.stage == "mixing":
            return max(0.0, cake.mix_start + mix - now)
        return 0.0

    def _out_of_oven(self, cake, now: float) -> float:
        """When a cake in an oven should come out: after what is left of the oven's set-up
        (an oven's temperature changes only once its set-up is over), then its bake."""
        recipe = self.recipes[cake.recipe]
        if cake.bake_start is not None:
            return cake.bake_start + recipe.bake_minutes
        oven = next(o for o in self.kitchen.ovens.ovens if o.name == cake.oven)
        target = oven.target_c if oven.target_c is not None else recipe.temperature_c
        return max(now, cake.oven_start + oven.setup_minutes(target)) + recipe.bake_minutes

    def waiting_for_ovens(self) -> int:
        # Counted from the cakes: the pool's queue still holds cancelled waiters until it
        # next looks for a cake to bake.
        return sum(1 for lv in self.live.values() if lv.status != "cancelled"
                   for cake in lv.record.cakes if cake.stage == "waiting")

    def ovens_json(self) -> list[dict]:
        now = self.clock.now()
        rows = []
        for oven in self.kitchen.ovens.ovens:
            cake = self.in_oven.get(oven.name)
            rows.append({
                "name": oven.name, "temperature_c": oven.temperature_c,
                "max_temperature_c": oven.spec.max_temperature_c,
                "activity": oven.activity,
                "cake": None if cake is None else {"order": cake.order, "index": cake.index,
                                                   "recipe": cake.recipe},
                "bakes": oven.bakes,
                "utilization": round(oven.busy_minutes / now, 4) if now > 0 else 0.0})
        return rows

    def metrics(self) -> str:
        """Prometheus text exposition format (version 0.0.4)."""
        lines = ["# HELP bakectl_orders Orders by status.", "# TYPE bakectl_orders gauge"]
        lines += [f'bakectl_orders{{status="{s}"}} {self.counts.get(s, 0)}' for s in STATUSES]
        lines += ["# HELP bakectl_queue_length Orders accepted and not started yet.",
                  "# TYPE bakectl_queue_length gauge",
                  f"bakectl_queue_length {self.counts.get('queued', 0)}",
                  "# HELP bakectl_oven_queue_length Mixed cakes waiting for an oven.",
                  "# TYPE bakectl_oven_queue_length gauge",
                  f"bakectl_oven_queue_length {self.waiting_for_ovens()}",
                  "# HELP bakectl_oven_utilization Share of the time an oven has spent baking.",
                  "# TYPE bakectl_oven_utilization gauge"]
        ovens = self.ovens_json()
        lines += [f'bakectl_oven_utilization{{oven="{_label(o["name"])}"}} {o["utilization"]}'
                  for o in ovens]
        lines += ["# HELP bakectl_oven_temperature_celsius Each oven's temperature.",
                  "# TYPE bakectl_oven_temperature_celsius gauge"]
        lines += [f'bakectl_oven_temperature_celsius{{oven="{_label(o["name"])}"}} '
                  f'{o["temperature_c"]:g}' for o in ovens]
        lines += ["# HELP bakectl_store_commits_total Durable commits (each one fsync).",
                  "# TYPE bakectl_store_commits_total counter",
                  f"bakectl_store_commits_total {self.store.commits}",
                  "# HELP bakectl_store_writes_total Writes carried by those commits.",
                  "# TYPE bakectl_store_writes_total counter",
                  f"bakectl_store_writes_total {self.store.committed_jobs}",
                  "# HELP bakectl_orders_in_memory Orders in the kitchen's memory: "
                  "unfinished ones, and finished ones until stored.",
                  "# TYPE bakectl_orders_in_memory gauge",
                  f"bakectl_orders_in_memory {len(self.kitchen.orders)}",
                  "# HELP bakectl_cakes_in_memory The cakes of those orders.",
                  "# TYPE bakectl_cakes_in_memory gauge",
                  f"bakectl_cakes_in_memory {len(self.kitchen.cakes)}",
                  "# HELP bakectl_event_subscribers Open /events streams.",
                  "# TYPE bakectl_event_subscribers gauge",
                  f"bakectl_event_subscribers {self.events.subscribers}"]
        return "\n".join(lines) + "\n"


def _setup_once_free(oven, temperature_c: float) -> float:
    """Oven.setup_minutes from the temperature the oven will be at once free: the one it is
    heating or cooling to, if it is."""
    start = oven.target_c if oven.target_c is not None else oven.temperature_c
    return setup_minutes(oven.spec, start, temperature_c)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def accepted(row: dict) -> dict:
    """The answer to the POST that created `row` (the same for every repeat of it)."""
    return {"id": row["id"], "status": "queued", "recipe": row["recipe"],
            "quantity": row["quantity"], "customer": row["customer"],
            "priority": row["priority"], "due_at": row["due_at"],
            "created_at": row["created_at"]}


def stored_order_json(row: dict) -> dict:
    """An order as the store has it: final ones with their cakes; others as queued."""
    finished, due = row["finished_at"], row["due_at"]
    return {**accepted(row), "status": row["status"],
            "cakes": json.loads(row["cakes"]) if row["cakes"] else [],
            "eta": None, "finished_at": finished,
            # both are UTC ISO strings of one format, so they compare as text
            "late": bool(finished and due and row["status"] == "delivered" and finished > due)}

