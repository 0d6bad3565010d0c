"""State changes fanned out to ``GET /events`` subscribers as server-sent events.

Each subscriber has a bounded buffer. One that falls too far behind is disconnected rather
than letting the server's memory grow or making the kitchen wait for a slow dashboard; an
SSE client reconnects by itself.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator

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


class EventHub:
    """Publish events; every open ``stream()`` gets each one, in order."""

    def __init__(self, buffer: int = 10_000):
        self.buffer = buffer
        self.seq = 0
        self._subscriptions: set[Subscription] = set()
        self.closed = False

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def publish(self, kind: str, data: dict) -> None:
        self.seq += 1
        if not self._subscriptions:
            return  # nobody listens: skip the encoding
        message = (f"id: {self.seq}\nevent: {kind}\n"
                   f"data: {json.dumps(data, ensure_ascii=False)}\n\n").encode()
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

    async def stream(self, hello: dict) -> AsyncIterator[bytes]:
        """The bytes of one SSE stream: a `hello` event, then every event published."""
        subscription = Subscription(self.buffer)
        if self.closed:
            return
        self._subscriptions.add(subscription)
        try:
            yield (f"retry: 1000\nevent: hello\n"
                   f"data: {json.dumps(hello, ensure_ascii=False)}\n\n").encode()
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
