"""The clients of ``bakectl serve``: ``submit``, ``status`` and ``watch``.

Results go to stdout, problems to stderr as one line each. Exit codes: 0 done; 1 the server
could not be reached (or failed); 2 bad input: an order refused, a `--server` that is not a
URL; 4 (`status`) no such order, as `systemctl status` says of a unit it does not know.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple, TextIO
from urllib.parse import quote

import httpx

DEFAULT_SERVER = "http://127.0.0.1:8080"
#: `status` of an order the server does not have: not the same as a server that is down
EXIT_NOT_FOUND = 4


class ClientError(Exception):
    """One line for stderr, and the exit code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def _headers(token: str | None) -> dict[str, str]:
    from bakectl.server import token_problem

    problem = token_problem(token)
    if problem is not None:  # httpx would raise UnicodeEncodeError for it, mid-way
        raise ClientError(f"--token (or BAKECTL_TOKEN): {problem}", 2)
    return {"Authorization": f"Bearer {token}"} if token else {}


def _detail(response: httpx.Response) -> str:
    """What an answer says went wrong: the detail of bakectl's problem JSON, else its status."""
    try:
        response.read()  # a streamed answer's body is only read on demand
        body = response.json()
    except (ValueError, httpx.HTTPError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("detail"), str) and body["detail"]:
        return body["detail"]
    return f"{response.status_code} {response.reason_phrase}".rstrip()


def _is_problem(response: httpx.Response) -> bool:
    """An answer of bakectl's own API about the request (RFC 9457 problem JSON)."""
    return response.headers.get("content-type", "").startswith("application/problem+json")


def _failed(server: str, request: str, response: httpx.Response) -> ClientError:
    """The server (or whatever answers at `server`) failed `request`: not the order's fault."""
    hint = ""
    if response.status_code in (404, 405, 501) and not _is_problem(response):
        hint = " (is it a bakectl server?)"  # no such route: another server, a wrong path
    return ClientError(f"{server}: {request}: {_detail(response)}{hint}")


def check_server(server: str) -> None:
    """A usage error (exit 2) unless `server` is an http(s)://HOST URL: `notaurl` is a typo,
    not a server that is down."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(server)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        usable = False
    if not usable:
        raise ClientError(f"--server: {server!r} is not a server URL: give http://HOST:PORT "
                          "(or https://)", 2)


def _unreachable(server: str, exc: Exception) -> ClientError:
    return ClientError(f"cannot reach {server}: {exc}")


def read_orders(path: Path) -> list[tuple[str, dict]]:
    """The orders of an orders file as the bodies to post, each with where it is written
    (`path:line:col`), read and checked as `bake` reads them: the server gets the values
    `bake` would use (`id: 007` is "007"). A mistake is reported as for `bake`, and nothing
    is posted."""
    from bakectl.errors import InputErrors
    from bakectl.files import load_order_requests

    warnings = []
    try:
        orders = [(str(where), body) for where, body in load_order_requests(path,
                                                                           warnings=warnings)]
    except InputErrors as exc:
        raise ClientError("\n".join(str(e) for e in exc.errors), 2) from None
    for warning in warnings:  # an order due already: posted all the same, as bake bakes it
        print(warning, file=sys.stderr)
    return orders


def idempotency_key(order) -> str:
    """The same order submitted twice is the same request: its key is its content's hash."""
    canonical = json.dumps(order, sort_keys=True, ensure_ascii=False)
    return "submit-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def submit(path: Path, server: str, token: str | None, *, as_json: bool,
           out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Post every order of `path`; print the ids accepted. Safe to run again."""
    check_server(server)
    headers = _headers(token)  # a bad token is a usage error before the file is read
    orders = read_orders(path)
    results, refused, failure = [], 0, None
    with httpx.Client(base_url=server, headers=headers, timeout=30) as client:
        for where, order in orders:
            name = order["id"]
            try:
                response = client.post("/orders", json=order,
                                       headers={"Idempotency-Key": idempotency_key(order)})
            except httpx.HTTPError as exc:
                raise _unreachable(server, exc) from None
            if response.status_code == 201:
                answer = response.json()
                results.append(answer)
                if not as_json:
                    print(answer["id"], file=out)
                continue
            if response.status_code == 401:
                raise ClientError(f"{server}: {_detail(response)}", 2)
            if response.status_code not in (409, 413, 422) or not _is_problem(response):
                # Not a verdict on this order: the next would fare no better. What was
                # accepted is said; running it again resends nothing twice.
                failure = _failed(server, "POST /orders", response)
                break
            refused += 1
            print(f"{where}: order {name}: {_detail(response)}", file=err)
            results.append({"id": name, "status": "refused", "http_status":
                            response.status_code, "error": _detail(response)})
    if as_json:
        print(json.dumps(results, indent=2, ensure_ascii=False), file=out)
    if failure is not None:
        raise failure
    return 2 if refused else 0


def fetch_order(server: str, order_id: str) -> dict:
    check_server(server)
    try:
        response = httpx.get(f"{server.rstrip('/')}/orders/{quote(order_id, safe='')}",
                             timeout=30)
    except httpx.HTTPError as exc:
        raise _unreachable(server, exc) from None
    if response.status_code == 404 and _is_problem(response):
        raise ClientError(f"{server}: {_detail(response)}", EXIT_NOT_FOUND)
    if response.status_code != 200:
        raise _failed(server, f"GET /orders/{quote(order_id, safe='')}", response)
    return response.json()


def status(server: str, order_id: str, *, as_json: bool, out: TextIO = sys.stdout) -> int:
    order = fetch_order(server, order_id)
    if as_json:
        print(json.dumps(order, indent=2, ensure_ascii=False), file=out)
        return 0
    when = order["finished_at"] if order["finished_at"] else order["eta"]
    label = "finished" if order["finished_at"] else "eta"
    who = f" for {order['customer']}" if order["customer"] else ""
    print(f"{order['id']}: {order['status']}, {order['quantity']} x {order['recipe']}{who}"
          + (f", {label} {when}" if when else "") + (" (late)" if order.get("late") else ""),
          file=out)
    for cake in order["cakes"]:
        oven = f" in {cake['oven']}" if cake["oven"] else ""
        done = f", out at {cake['bake_end']}" if cake["bake_end"] else ""
        print(f"  cake {cake['index']}: {cake['stage']}{oven}{done}", file=out)
    return 0


class Event(NamedTuple):
    kind: str
    data: dict
    #: the event's `id:` (None if it has none): what to resume after
    id: str | None = None


def events(server: str, *, last_id: str | None = None,
           timeout: float | None = None) -> Iterator[Event]:
    """The events of one connection to the server's ``/events`` stream, as they come;
    after `last_id` if given (the server first sends the events missed since)."""
    headers = {"Last-Event-ID": last_id} if last_id is not None else {}
    try:
        with httpx.stream("GET", f"{server.rstrip('/')}/events", headers=headers,
                          timeout=httpx.Timeout(10, read=timeout)) as response:
            if response.status_code != 200:
                raise _failed(server, "GET /events", response)
            kind, data, event_id = "message", [], None
            for line in response.iter_lines():
                if line == "":
                    if data:
                        try:
                            payload = json.loads("\n".join(data))
                        except ValueError:
                            raise ClientError(f"{server}: GET /events: not bakectl's events "
                                              f"(data that is not JSON)") from None
                        yield Event(kind, payload, event_id)
                    kind, data, event_id = "message", [], None
                elif line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif line.startswith("id:"):
                    event_id = line[3:].strip()
    except httpx.HTTPError as exc:
        raise _unreachable(server, exc) from None


#: After the stream drops, how long `watch` keeps trying to reconnect before it gives up.
RETRY_FOR = 30.0
#: Seconds between reconnection attempts (the `retry:` the server asks for).
RETRY_EVERY = 1.0
#: A stream silent this long is dead (the server sends a keep-alive every 15 s).
SILENCE = 45.0


def follow(server: str, *, retry_for: float = RETRY_FOR,
           err: TextIO = sys.stderr) -> Iterator[Event]:
    """The server's events for as long as it can be reached: when the stream drops, reconnect
    with ``Last-Event-ID`` and carry on (one line on `err` each time, and one when events were
    missed). Raises ClientError if the first connection fails, or if `retry_for` seconds of
    attempts after a drop all failed."""
    check_server(server)
    last_id = None
    deadline = None  # while reconnecting: when to stop trying
    while True:
        try:
            for event in events(server, last_id=last_id, timeout=SILENCE):
                if deadline is not None:
                    print(f"bakectl: reconnected to {server}", file=err, flush=True)
                    deadline = None
                if event.kind == "reset":
                    print(f"bakectl: {event.data.get('detail', 'events were missed')}",
                          file=err, flush=True)
                if event.id is not None:
                    last_id = event.id
                yield event
            problem = f"{server} closed the stream"
        except ClientError as exc:
            if last_id is None:  # never connected: the server is not there at all
                raise
            problem = str(exc)
        now = time.monotonic()
        if deadline is None:
            deadline = now + retry_for
        if now >= deadline:
            raise ClientError(f"{problem} (gave up reconnecting after {retry_for:g} s)")
        time.sleep(min(RETRY_EVERY, deadline - now))


def describe(kind: str, data: dict) -> str:
    """One line for a person."""
    if kind == "hello":
        orders = ", ".join(f"{n} {s}" for s, n in data["orders"].items() if n)
        return f"connected: {len(data['ovens'])} ovens; orders: {orders or 'none'}"
    if kind == "order":
        who = f" for {data['customer']}" if data.get("customer") else ""
        return f"order {data['id']}: {data['status']} ({data['quantity']} x {data['recipe']}{who})"
    if kind == "cake":
        oven = f" in {data['oven']}" if data.get("oven") else ""
        error = f": {data['error']}" if data.get("error") else ""
        return f"cake {data['order']} #{data['index']} {data['recipe']}: {data['stage']}{oven}" \
               f"{error}"
    if kind == "delivery":
        who = f" to {data['customer']}" if data.get("customer") else ""
        return f"delivery: order {data['order']}, {data['cakes']} x {data['recipe']}{who}, " \
               f"ready at {data['ready_at']}"
    return f"{kind}: {json.dumps(data, ensure_ascii=False)}"


def exit_when_reader_leaves(out: TextIO, code: int) -> None:
    """If `out` is a pipe, end the process with `code` as soon as its reader goes away.

    `watch` mostly waits for the next event, and a write is the only other way to learn that
    the reader is gone: `bakectl watch | head -1` would otherwise sit there until the next event,
    however long that is. GNU `tail -f` watches its output the same way."""
    import os
    import select
    import stat
    import threading

    try:
        fd = out.fileno()
        if not stat.S_ISFIFO(os.fstat(fd).st_mode) or not hasattr(select, "poll"):
            return
    except (OSError, ValueError, AttributeError):
        return  # not a file (a test's StringIO), or closed already
    poller = select.poll()
    poller.register(fd, 0)  # no events asked: POLLERR (no reader left) is always reported

    def wait() -> None:
        poller.poll()
        os._exit(code)  # nothing left to flush: whatever is buffered has no reader

    threading.Thread(target=wait, name="bakectl-reader-watch", daemon=True).start()


def watch(server: str, *, as_json: bool, count: int | None = None,
          retry_for: float = RETRY_FOR, out: TextIO = sys.stdout) -> int:
    """Print the bakery's events as they happen, reconnecting when the stream drops; stop
    after `count` events if given."""
    seen = 0
    for kind, data, _ in follow(server, retry_for=retry_for):
        if as_json:
            print(json.dumps({"event": kind, "data": data}, ensure_ascii=False), file=out,
                  flush=True)
        elif kind != "reset":  # follow() has said so on stderr
            print(describe(kind, data), file=out, flush=True)
        if kind not in ("hello", "reset"):
            seen += 1
            if count is not None and seen >= count:
                return 0
    return 0  # not reached: follow() ends by raising
