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
