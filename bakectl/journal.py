"""The journal: an append-only record of a bake, so that a run stopped by Ctrl-C, SIGTERM or
``kill -9`` carries on where it left off (``bakectl bake --resume``). See docs/reliability.md.

One JSON object per line. The first is a header naming the orders, recipes and bakery it was
written for (by fingerprint); then one record per state change of a cake, per order delivered,
and per run (a resumed run appends to the same file). Each record is on disk, or at least in
the kernel's hands, before the change is reported to anyone: a record that is not there never
happened. The exception is `delivered`, which records that the plugins were told: it is
written once they have been, so a crash in between tells them again on resume (at least once,
never lost). A crash can cut the last line short; reading stops at the last whole record.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bakectl import __version__
from bakectl.errors import InputError, InputErrors, Where

#: the journal format's version, in the header's `bakectl_journal` field
FORMAT = 1

#: record fields copied back into a baked cake's record on resume
BAKED_FIELDS = ("oven", "mix_start", "mix_end", "oven_start", "bake_start", "bake_end",
                "temperature_c", "bake_minutes")


def journal_path(orders_path: Path, journal: Path | None) -> Path:
    """The journal file: the one given, else ``ORDERS.journal`` beside the orders file."""
    return journal if journal is not None else orders_path.with_name(orders_path.name + ".journal")


def fingerprint(orders, recipes, bakery) -> dict[str, str]:
    """Short hashes of what a run bakes: a journal is only resumed with the same three."""
    used = sorted({order.recipe for order in orders})
    parts = {
        "orders": [[o.id, o.recipe, o.quantity, o.due, o.priority] for o in orders],
        "recipes": [[r.name, r.mix_minutes, r.temperature_c, r.bake_minutes,
                     [[i.name, i.quantity, i.unit] for i in r.ingredients]]
                    for r in (recipes[name] for name in used)],
        "bakery": [bakery.ambient_c, bakery.mixers,
                   [[s.name, s.max_temperature_c, s.preheat_c_per_min, s.cool_c_per_min]
                    for s in bakery.ovens]],
    }
    return {name: hashlib.sha256(json.dumps(value).encode()).hexdigest()[:16]
            for name, value in parts.items()}


@dataclass
class Restored:
    """What an earlier run of the journal finished, to carry on from."""

    #: (order id, cake index) -> the cake's `baked` record
    baked: dict[tuple[str, int], dict] = field(default_factory=dict)
    #: the orders an earlier run delivered (told the plugins of): not delivered again
    delivered: set[str] = field(default_factory=set)
    #: the last bakery minute recorded: the resumed run's clock starts there
    last_minute: float = 0.0
    #: whether the last run ended normally (every cake baked or failed)
    finished: bool = False
    #: records after the header but `run`: none means no run got going (it stopped before
    #: any cake did, e.g. a plugin failed at the start)
    records: int = 0


def read_header(path: Path) -> dict | None:
    """The journal's header, or None if there is no journal (or not even a whole header)."""
    if not path.exists():
        return None
    with _open_for_reading(path) as stream:
        first = stream.readline()
    if not first.endswith(b"\n"):
        return None  # a crash before the header was whole: nothing was recorded
    return _header(path, first)


def read(path: Path) -> tuple[dict | None, Restored, int]:
    """The header, what the runs recorded finished, and the length of the whole records
    (bytes past it are a torn last line). Raises InputErrors for a damaged journal."""
    restored = Restored()
    header, good = None, 0
    if not path.exists():
        return None, restored, 0
    with _open_for_reading(path) as stream:
        for number, line in enumerate(stream, 1):
            if not line.endswith(b"\n"):
                break  # cut off by a crash: never reported, so it never happened
            if number == 1:
                header = _header(path, line)
            else:
                record = _record(path, number, line)
                _apply(restored, record)
            good += len(line)
    return header, restored, good


def _apply(restored: Restored, record: dict) -> None:
    minute = record.get("m")
    if isinstance(minute, (int, float)):
        restored.last_minute = max(restored.last_minute, float(minute))
    event = record.get("event")
    if event != "run":
        restored.records += 1
    if event == "baked":
        restored.baked[(record["order"], record["index"])] = record
    elif event == "delivered":
        restored.delivered.add(record["order"])
    restored.finished = event == "finished"


def _open_for_reading(path: Path):
    # stat first: opening a FIFO would wait for a writer forever.
    try:
        info = os.stat(path)
    except OSError as exc:
        raise _error(path, f"cannot read the journal: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise _error(path, "the journal is not a regular file")
    return open(path, "rb")


def _header(path: Path, line: bytes) -> dict:
    try:
        header = json.loads(line)
    except ValueError:
        header = None
    if not isinstance(header, dict) or "bakectl_journal" not in header:
        raise _error(path, "not a bakectl journal: choose another --journal file", line=1)
    if header["bakectl_journal"] != FORMAT:
        raise _error(path, f"journal format {header['bakectl_journal']!r} is not supported "
                           f"by bakectl {__version__} (it reads format {FORMAT})", line=1)
    return header


def _record(path: Path, number: int, line: bytes) -> dict:
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("event"), str):
        raise _error(path, "damaged journal record (not one JSON object with an event)",
                     line=number)
    if record["event"] == "baked" and not (
            isinstance(record.get("order"), str) and isinstance(record.get("index"), int)
            and all(isinstance(record.get(f), (int, float)) for f in BAKED_FIELDS[1:])):
        raise _error(path, "damaged journal record (a baked cake without its times)",
                     line=number)
    if record["event"] == "delivered" and not isinstance(record.get("order"), str):
        raise _error(path, "damaged journal record (a delivery without its order)",
                     line=number)
    return record


def _error(path: Path, message: str, line: int = 0) -> InputErrors:
    return InputErrors([InputError(Where(str(path), line, 1 if line else 0), message)])


class JournalError(Exception):
    """A record could not be written (a full disk, a file size limit): the run cannot go on,
    since what is not in the journal would be lost to --resume."""


class Journal:
    """An open journal: `write()` appends one record and returns once it is safe.

    With `sync`, every record is fsync'd: it survives a power cut, at about 0.3 ms a record
    on an SSD. Without it, records are handed to the kernel at once (they survive a kill -9 of
    bakectl, not a power cut) and fsync'd together on `close()`: that is for simulated runs,
    which make tens of thousands of records in a second and are cheap to run again."""

    def __init__(self, path: Path, restored: Restored, *, sync: bool, started: datetime):
        self.path = path
        self.restored = restored
        #: the wall-clock start of the first run: `due` date-times count from it on resume
        self.started = started
        self.sync = sync
        self._fd: int | None = None

    @classmethod
    def open(cls, path: Path, fingerprints: dict[str, str], *, resume: bool, sync: bool,
             started: datetime, orders: int = 0, cakes: int = 0) -> Journal:
        """Continue the journal at `path` (`resume`) or start a new one.

        Refuses (InputErrors) a journal written for other orders, and a new run over an
        unfinished run's journal or over a file that is not a journal."""
        header, restored, good = read(path)
        if header is not None and resume:
            _check_fingerprint(path, header, fingerprints)
            started = datetime.fromisoformat(header["started"])
        elif header is not None and not restored.finished and restored.records:
            # (A header alone: the run stopped before it started, e.g. a plugin failed.)
            raise _error(path, "the journal of an unfinished run is here: continue it with "
                               "--resume, or delete the file to start again")
        elif header is None and good == 0 and path.exists() and path.stat().st_size > 0:
            # Not even a whole header line: a crash while creating it, or another file.
            with open(path, "rb") as stream:
                start = stream.read(64)
            if not start.startswith(b'{"bakectl_journal"'):
                raise _error(path, "not a bakectl journal: choose another --journal file")
        journal = cls(path, restored if header is not None and resume else Restored(),
                      sync=sync, started=started)
        if header is not None and resume:
            journal._append_to(good)
        else:
            journal._create({"bakectl_journal": FORMAT, "bakectl": __version__,
                             "started": started.isoformat(), "fingerprint": fingerprints,
                             "orders": orders, "cakes": cakes})
        return journal

    def _create(self, header: dict) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        self.write(header)
        if self.sync:
            # The new file's name must survive a power cut too, not only its contents.
            folder = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)

    def _append_to(self, good: int) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        # Cut a torn last line away, or the next record would be glued onto it.
        if os.fstat(self._fd).st_size != good:
            os.ftruncate(self._fd, good)

    def write(self, record: dict) -> None:
        """Append `record` as one line; when this returns it is in the file. Raises
        JournalError if it cannot be written."""
        data = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        # O_APPEND and one write() per record: a crash tears at most the last line.
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
            if self.sync:
                os.fsync(self._fd)
        except OSError as exc:
            raise JournalError(f"{self.path}: cannot write the journal: "
                               f"{exc.strerror or exc}") from exc

    def close(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None


def _check_fingerprint(path: Path, header: dict, fingerprints: dict[str, str]) -> None:
    recorded = header.get("fingerprint") or {}
    # The first difference is the one to fix: other orders use other recipes, too.
    differ = next((name for name in ("orders", "recipes", "bakery")
                   if recorded.get(name) != fingerprints.get(name)), None)
    if differ is not None:
        verb = "differs" if differ == "bakery" else "differ"
        raise _error(path, f"this journal was written for other orders (the {differ} {verb}"
                           "): resume with the files it was started with, or delete it to "
                           "start again")
