"""Built-in plugin: the ``serve``, ``submit``, ``status`` and ``watch`` commands.

Only typer is imported here: FastAPI, uvicorn, httpx and the kitchen load inside the commands,
so ``bakectl --help`` (and shell completion) do not pay for them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from bakectl.hookspecs import hookimpl

ServerOpt = Annotated[str, typer.Option(
    "--server", metavar="URL", envvar="BAKECTL_SERVER", help="The bakectl server.")]
TokenOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045 (typer needs Optional)
    "--token", metavar="TOKEN", envvar="BAKECTL_TOKEN", show_default=False,
    help="Bearer token for writes (env BAKECTL_TOKEN).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]

DEFAULT_SERVER = "http://127.0.0.1:8080"


def _fail(message: str, code: int) -> typer.Exit:
    # Input errors already read `path:line:col: message`; other problems get our prefix.
    prefix = "" if code == 2 and ":" in message.split(" ", 1)[0] else "bakectl: "
    print(prefix + message, file=sys.stderr)
    return typer.Exit(code)


def serve(
    bakery: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--bakery", metavar="FILE", show_default=False,
        help="Bakery file [default: 3 default ovens].")] = None,
    recipes: Annotated[Optional[list[Path]], typer.Option(  # noqa: UP045
        "--recipes", metavar="DIR", show_default=False,
        help="Another folder of YAML recipes (repeatable); recipes/ in the current folder "
             "is always read.")] = None,
    host: Annotated[str, typer.Option(
        "--host", help="Address to listen on; anything but loopback needs a token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535,
                                      help="Port (0: any free one).")] = 8080,
    db: Annotated[Path, typer.Option(
        "--db", metavar="FILE",
        help="SQLite database of orders and deliveries (one server at a time).")
    ] = Path("bakectl.db"),
    speed: Annotated[float, typer.Option(
        "--speed", metavar="FACTOR",
        help="Bakery time runs FACTOR times faster than the wall clock (at most 1000000).")
    ] = 1.0,
    token: TokenOpt = None,
    grace: Annotated[float, typer.Option(
        "--grace", metavar="SECONDS", min=0,
        help="On SIGTERM/Ctrl-C, how long cakes in the ovens may take to finish.")] = 30.0,
    ovens: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--ovens", metavar="N", show_default=False,
        help="Use N ovens (1 to 1000) instead of the bakery file's.")] = None,
    event_history: Annotated[int, typer.Option(
        "--event-history", metavar="N", min=0,
        help="Events kept for /events clients that reconnect (Last-Event-ID).")] = 10_000,
) -> None:
    """Run the bakery as a server: orders over HTTP, delivery orders out (see docs/server.md)."""
    from bakectl.cli import EXIT_INPUT, _plugins, check_speed
    from bakectl.errors import InputErrors
    from bakectl.inputs import load_bakery
    from bakectl.plugins import PluginError
    from bakectl.recipebook import collect_recipes, recipe_dirs

    check_speed(speed)
    try:
        pm = _plugins()  # the command line's: each broken plugin is reported once
        found = collect_recipes(pm, recipe_dirs(None, list(recipes or [])))
        kitchen = load_bakery(bakery, ovens)  # checks --ovens as a bakery file's `ovens:`
    except PluginError as exc:
        raise _fail(str(exc), EXIT_INPUT) from None
    except InputErrors as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        raise typer.Exit(EXIT_INPUT) from None
    if not found:
        raise _fail("no recipes found: add recipes/*.yaml or give --recipes DIR", EXIT_INPUT)

    from bakectl.background import run_in_foreground
    from bakectl.clock import RealClock
    from bakectl.server.run import UsageError
    from bakectl.server.run import serve as run_server

    clock = RealClock(speed)
    try:
        run_in_foreground(run_server(recipes=found, bakery=kitchen, clock=clock, db=db,
                                     host=host, port=port, token=token, plugins=pm,
                                     grace=grace, event_history=event_history), clock=clock)
    except UsageError as exc:
        raise _fail(str(exc), EXIT_INPUT) from None


def submit(
    orders: Annotated[Path, typer.Argument(metavar="ORDERS", help="The orders file (YAML).",
                                           show_default=False)],
    server: ServerOpt = DEFAULT_SERVER,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Post every order of a file to the server (safe to repeat); print the ids."""
    from bakectl.server.client import ClientError
    from bakectl.server.client import submit as post_orders

    try:
        code = post_orders(orders, server, token, as_json=as_json)
    except ClientError as exc:
        raise _fail(str(exc), exc.code) from None
    raise typer.Exit(code)


def status(
    order_id: Annotated[str, typer.Argument(metavar="ID", help="The order's id.")],
    server: ServerOpt = DEFAULT_SERVER,
    as_json: JsonOpt = False,
) -> None:
    """Show an order: its status, its cakes and when it should be ready."""
    from bakectl.server.client import ClientError
    from bakectl.server.client import status as show_status

    try:
        show_status(server, order_id, as_json=as_json)
    except ClientError as exc:
        raise _fail(str(exc), exc.code) from None


def watch(
    server: ServerOpt = DEFAULT_SERVER,
    as_json: JsonOpt = False,
    count: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--count", metavar="N", min=1, show_default=False,
        help="Stop after N events (the hello of each connection is not one).")] = None,
    retry_for: Annotated[float, typer.Option(
        "--retry-for", metavar="SECONDS", min=0,
        help="When the stream drops, keep reconnecting this long before giving up.")] = 30.0,
) -> None:
    """Show the bakery live: every order, cake and delivery as it happens (reconnecting
    when the stream drops)."""
    from bakectl.cli import EXIT_BROKEN_PIPE
    from bakectl.server.client import ClientError, exit_when_reader_leaves
    from bakectl.server.client import watch as follow

    exit_when_reader_leaves(sys.stdout, EXIT_BROKEN_PIPE)  # `watch | head -1` ends at once
    try:
        follow(server, as_json=as_json, count=count, retry_for=retry_for)
    except ClientError as exc:
        raise _fail(str(exc), exc.code) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@hookimpl
def bakectl_commands(app: typer.Typer) -> None:
    from bakectl.cli import Command

    for command in (serve, submit, status, watch):
        app.command(cls=Command)(command)
