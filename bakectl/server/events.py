"""State changes fanned out to ``GET /events`` subscribers as server-sent events.

Each subscriber has a bounded buffer. One that falls too far behind is disconnected rather
than letting the server's memory grow or making the kitchen wait for a slow dashboard; an
SSE client reconnects by itself, and gets what it missed from the history.

Event ids are ``RUN-SEQ``: RUN is drawn at random when the server starts, SEQ counts the
events of this run from 1. A client that reconnects with ``Last-Event-ID`` is sent every
retained event after it; an id of another run (the server restarted), or one older than the
history, gets a ``reset`` event instead, telling it to reload the state from ``GET /orders``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable
from itertools import islice

#: Sent when a stream has been quiet this long, so proxies and clients see it is alive.
KEEPALIVE_SECONDS = 15.0


class Subscription:
    def __init__(self, limit: int):
        self.limit = limit
        self.buffer: deque[bytes] = deque()
        self.ready = asyncio.Event()
        self.closed = False

    def push(self, message: bytes) -> None:
        if len(self.buffer) >= self.limit:
            self.closed = True  # too slow: disconnected
        else:
            self.buffer.append(message)
        self.ready.set()

    def close(self) -> None:
        self.closed = True
        self.ready.set()


def _message(kind: str, event_id: str, data: dict) -> bytes:
    return (f"id: {event_id}\nevent: {kind}\n"
            f"data: {json.dumps(data, ensure_ascii=False)}\n\n").encode()


class EventHub:
    """Publish events; every open ``stream()`` gets each one, in order."""

    def __init__(self, buffer: int = 10_000, history: int = 10_000):
        self.buffer = buffer
        #: drawn at each start, so an id from before a restart is recognised as such
        #: (nothing to store, unlike numbering on from the last run's events)
        self.run = secrets.token_hex(4)
        #: events published (and kept) so far; the newest has id f"{run}-{seq}"
        self.seq = 0
        #: the encoded events numbered seq - len(history) + 1 .. seq, oldest first
        self.history: deque[bytes] = deque(maxlen=history)
        self._subscriptions: set[Subscription] = set()
        self.closed = False
        #: True once anyone has subscribed: from then on every event is encoded and kept
        self.in_use = False

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def publish(self, kind: str, data: dict) -> None:
        # Encoding an event costs about 6 µs, some 60 µs for a one-cake order: a tenth of
        # what a POST costs the server. So nothing is encoded (or numbered) until someone
        # subscribes; from then on every event is kept, since any id a client can come back
        # with was given out after that.
        if not self.in_use:
            return
        self.seq += 1
        message = _message(kind, f"{self.run}-{self.seq}", data)
        self.history.append(message)
        for subscription in list(self._subscriptions):
            subscription.push(message)
            if subscription.closed:
                self._subscriptions.discard(subscription)

    def close(self) -> None:
        """End every stream (the server is shutting down)."""
        self.closed = True
        for subscription in self._subscriptions:
            subscription.close()
        self._subscriptions.clear()

    def _resume(self, last_id: str) -> tuple[int, str | None]:
        """The seq a stream after `last_id` resumes from; or now, and why it cannot."""
        run, _, seq = last_id.strip().rpartition("-")
        if run != self.run or not (seq.isascii() and seq.isdigit() and len(seq) < 20):
            return self.seq, "it is not an id of this run of the server (it has restarted)"
        if not 0 <= self.seq - int(seq) <= len(self.history):
            return self.seq, f"only the last {len(self.history)} events are kept"
        return int(seq), None

    async def stream(self, hello: Callable[[], dict],
                     last_id: str | None = None) -> AsyncIterator[bytes]:
        """The bytes of one SSE stream: a `hello` event (``hello()``: the state now), then
        the events after `last_id` that were missed (or a `reset` event if they are not all
        kept), then every event published."""
        if self.closed:
            return
        # Nothing is awaited from here to the first yield: the snapshot in the hello, the
        # replay and the subscription are taken between the same two events, so the stream
        # has no gap and no repeat.
        self.in_use = True
        since, lost = self._resume(last_id) if last_id is not None else (self.seq, None)
        # The hello carries the id the stream resumes from: a client dropped before the
        # replay reached it comes back for the same replay.
        position = f"{self.run}-{since}"
        first = [b"retry: 1000\n" + _message("hello", position, hello())]
        subscription = Subscription(self.buffer)
        if lost is not None:
            first.append(_message("reset", position, {
                "detail": f"events after {last_id[:40]!r} were missed: {lost}; reload the "
                          f"state from GET /orders"}))
        else:
            behind = self.seq - since
            subscription.buffer.extend(islice(self.history, len(self.history) - behind, None))
        self._subscriptions.add(subscription)
        try:
            for message in first:
                yield message
            while True:
                while subscription.buffer:
                    yield subscription.buffer.popleft()
                if subscription.closed:
                    return
                subscription.ready.clear()
                try:
                    await asyncio.wait_for(subscription.ready.wait(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield b": keep-alive\n\n"
        finally:
            self._subscriptions.discard(subscription)
