"""``bakectl serve``: the professional bakery of the seed's last paragraph.

- ``validation``: one order as JSON, checked by the rules of FORMATS.md;
- ``store``: the durable SQLite store, one writer thread committing in groups;
- ``bakery``: the long-running kitchen service between the store and the Kitchen;
- ``events``: the fan-out of state changes to ``GET /events`` subscribers, and a replay for
  those who reconnect;
- ``app``: the ASGI application (FastAPI) and its routes;
- ``run``: uvicorn and the kitchen in one event loop, signals and graceful shutdown;
- ``client``: ``bakectl submit``, ``status`` and ``watch``.
"""


def token_problem(token: str | None) -> str | None:
    """Why `token` cannot be a bearer token, or None if it can. It travels in an HTTP header
    (`Authorization: Bearer TOKEN`), which carries visible ASCII only: a client could never
    send anything else (httpx raises UnicodeEncodeError), so a server must not expect it."""
    if token and not all("!" <= ch <= "~" for ch in token):
        return ("a token must be visible ASCII characters (letters, digits, punctuation; no "
                "spaces, accents or control characters): it is sent in an HTTP header")
    return None
