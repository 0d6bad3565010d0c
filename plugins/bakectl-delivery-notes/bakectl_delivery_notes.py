"""bakectl-delivery-notes: a delivery note for every order bakectl delivers.

``BAKECTL_DELIVERY_NOTES_DIR=DIR`` writes ``DIR/<order id>.txt`` (see `file_name`);
``BAKECTL_DELIVERY_WEBHOOK=URL`` POSTs the note as JSON. Hooks are called on the kitchen's
event loop and must not block, so notes are handed to a worker thread; the run's end waits for
them and reports any that failed.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import threading
import urllib.request
from pathlib import Path

from bakectl import hookimpl

__version__ = "0.1.0"

#: Seconds a webhook may take to answer one note.
TIMEOUT = 10.0


def note(order) -> dict:
    """The note of a delivered order (a bakectl OrderRecord), as the webhook receives it."""
    return {
        "order": order.order.id,
        "customer": order.order.customer,
        "recipe": order.order.recipe,
        "cakes": len(order.cakes),
        "done_minutes": order.done_minutes,
        "due_minutes": order.order.due,
        "late": order.late,
    }


def note_text(data: dict) -> str:
    due = ("no due time" if data["due_minutes"] is None else
           f"due: minute {data['due_minutes']:g}, {'late' if data['late'] else 'on time'}")
    return (f"Delivery note: order {data['order']}\n"
            f"customer: {data['customer'] or '-'}\n"
            f"cakes: {data['cakes']} × {data['recipe']}\n"
            f"ready: minute {data['done_minutes']:g} of the run ({due})\n")


def file_name(order_id: str) -> str:
    """The note's file name: the order id, when it is a safe one (ASCII lowercase letters,
    digits, ``_.-``, at most 100 characters); else a readable slug of it and ``~`` and a short
    hash of the exact id, so that two ids never share a file (``a/b`` and ``a b`` would both
    be ``a_b``; ``A`` and ``a``, or two spellings of ``é``, are one file where names ignore
    case or normalise Unicode)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]", "_", order_id)[:100]
    if slug == order_id and order_id == order_id.lower():
        return f"{order_id}.txt"
    # "~" is never in a slug: a name with a hash cannot be another order's plain id.
    digest = hashlib.sha256(order_id.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{slug}~{digest}.txt"


class DeliveryNotes:
    """Writes and posts notes on a worker thread; `finish()` waits for them."""

    def __init__(self, folder: str | None, webhook: str | None):
        self.folder = Path(folder) if folder else None
        self.webhook = webhook or None
        self.errors: list[str] = []
        self._queue: queue.Queue[dict | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="bakectl-delivery-notes",
                                        daemon=True)
        self._worker.start()

    def deliver(self, data: dict) -> None:
        self._queue.put(data)

    def finish(self) -> None:
        """Wait for every note; raise if some could not be written or posted."""
        self._queue.put(None)
        self._worker.join()
        if self.errors:
            raise RuntimeError(f"{len(self.errors)} delivery note(s) failed; first: "
                               f"{self.errors[0]}")

    def _work(self) -> None:
        while (data := self._queue.get()) is not None:
            try:
                if self.folder is not None:
                    self._write(data)
                if self.webhook is not None:
                    self._post(data)
            except Exception as exc:  # reported by finish(), at the end of the run
                self.errors.append(f"order {data['order']}: {type(exc).__name__}: {exc}")

    def _write(self, data: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / file_name(data["order"])).write_text(note_text(data), encoding="utf-8")

    def _post(self, data: dict) -> None:
        request = urllib.request.Request(
            self.webhook, data=json.dumps(data).encode(), method="POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            response.read()


#: The notes of the current run, started at its first delivery (configured from the
#: environment then, so a test or a server can change it between runs).
_notes: DeliveryNotes | None = None


@hookimpl
def bakectl_order_delivered(order):
    global _notes
    if _notes is None:
        folder = os.environ.get("BAKECTL_DELIVERY_NOTES_DIR")
        webhook = os.environ.get("BAKECTL_DELIVERY_WEBHOOK")
        if not folder and not webhook:
            return
        _notes = DeliveryNotes(folder, webhook)
    _notes.deliver(note(order))


@hookimpl
def bakectl_run_finished():
    global _notes
    notes, _notes = _notes, None
    if notes is not None:
        notes.finish()
