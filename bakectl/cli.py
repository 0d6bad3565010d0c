"""The ``bakectl`` command line: parse, call the library, render.

Startup is kept light (shell completion re-runs this on every TAB): only typer is imported at
module level; the kitchen, Rich's live display and the plugins load inside the commands.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperCommand

from bakectl import __version__
from bakectl.errors import DeadlockError, PluginError
from bakectl.limits import MAX_MIXERS, MAX_OVENS


class Command(TyperCommand):
    """A typer command whose usage line names arguments as the help texts do (``ORDERS``):
    recent typer versions write a required argument as ``{ORDERS}``."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        return [piece[1:-1] if piece[:1] == "{" and piece[-1:] == "}" else piece
                for piece in super().collect_usage_pieces(ctx)]


app = typer.Typer(
    name="bakectl",
    help="A bakery orchestrator: customer orders in, cakes baked concurrently on a pool of "
         "ovens, recipes from plugins.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    # The server commands come from a built-in plugin, loaded only when one is named (see
    # _add_plugin_commands): listed here so that --help shows them without loading it.
    epilog="Server commands: serve, submit, status, watch (e.g. `bakectl serve --help`). "
           "Installed plugins may add commands: `bakectl plugins` lists every plugin.",
)

#: Exit codes (a contract: see README "Exit codes"). EXIT_OUTPUT is sysexits' EX_IOERR;
#: EXIT_BROKEN_PIPE is what a shell reports for a command killed by SIGPIPE (128 + 13).
EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_OUTPUT, EXIT_BROKEN_PIPE = 74, 141


class State:
    """Options given before the command (``bakectl -p MODULE bake ...``), and the plugin
    manager once loaded (once per process: each broken plugin is reported once)."""

    plugin_options: list[str] = []
    pm = None


def _version(value: bool) -> None:
    if value:
        print(f"bakectl {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[Optional[bool], typer.Option(  # noqa: UP045 (typer needs Optional)
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
    plugin: Annotated[list[str], typer.Option(
        "-p", "--plugin", metavar="MODULE|no:NAME",
        help="Load a plugin module, or block one with no:NAME (repeatable).")] = [],  # noqa: B006
) -> None:
    State.plugin_options = list(plugin)


def _plugins():
    """Built-in and installed plugins (a PluginError is reported by main())."""
    from bakectl.plugins import get_plugin_manager

    if State.pm is None:
        State.pm = get_plugin_manager(State.plugin_options)
    return State.pm


def _input_errors(exc) -> typer.Exit:
    for error in exc.errors:
        print(error, file=sys.stderr)
    return typer.Exit(EXIT_INPUT)


def _load(pm, orders: Path, bakery, recipes, ovens=None, mixers=None, start=None):
    from bakectl.errors import InputErrors
    from bakectl.inputs import load_inputs

    try:
        inputs = load_inputs(pm, orders, bakery=bakery, recipe_dirs=recipes or [], ovens=ovens,
                             mixers=mixers, start=start)
    except InputErrors as exc:
        raise _input_errors(exc) from None
    for warning in inputs.warnings:
        print(warning, file=sys.stderr)
    return inputs


#: The fastest `--speed`: a bakery minute is then 60 µs of wall time, already finer than the
#: event loop's timers (about a millisecond) keep; faster, a run would time Python, not the
#: bakery (`--speed 1e308` reported 1e302-minute makespans). `--simulate` has no waiting at all.
MAX_SPEED = 1_000_000


def check_speed(speed: float, hint: str = "") -> None:
    """One line and exit 2 unless `speed` is a `--speed` the real clock can keep."""
    if not 0 < speed <= MAX_SPEED:  # NaN too
        got = repr(speed).removesuffix(".0")  # as given: 1000001, not 1e+06
        print(f"--speed: must be more than 0 and at most {MAX_SPEED}, got {got}{hint}",
              file=sys.stderr)
        raise typer.Exit(EXIT_INPUT)


# metavar: typer would show `orders`; the help texts say ORDERS.
OrdersArg = Annotated[Path, typer.Argument(metavar="ORDERS", help="The orders file (YAML).",
                                           show_default=False)]
BakeryOpt = Annotated[Optional[Path], typer.Option(  # noqa: UP045
    "--bakery", metavar="FILE", help="Bakery file [default: bakery.yaml beside ORDERS, "
    "else 3 default ovens].", show_default=False)]
RecipesOpt = Annotated[Optional[list[Path]], typer.Option(  # noqa: UP045
    "--recipes", metavar="DIR", help="Another folder of YAML recipes (repeatable).",
    show_default=False)]
OvensOpt = Annotated[Optional[int], typer.Option(  # noqa: UP045
    "--ovens", metavar="N", help=f"Use N ovens (1 to {MAX_OVENS}) instead of the bakery file's.",
    show_default=False)]
MixersOpt = Annotated[Optional[int], typer.Option(  # noqa: UP045
    "--mixers", metavar="N", help=f"Use N mixers (0: no limit; at most {MAX_MIXERS}) instead "
    "of the bakery file's.", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the JSON report on stdout.")]
PolicyOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--policy", metavar="NAME", help="Which waiting cake gets a free oven: fifo, edf, batch "
    "or search (see docs/plan.md) [default: search].", show_default=False)]


def _policy_name(name: str | None) -> str:
    """`name`, or the default policy's; a name that is not a policy is a usage error."""
    from bakectl.scheduling import DEFAULT_POLICY, POLICY_NAMES

    name = name or DEFAULT_POLICY
    if name not in POLICY_NAMES:
        print(f"--policy: unknown policy {name!r} (choose from {', '.join(POLICY_NAMES)})",
              file=sys.stderr)
        raise typer.Exit(EXIT_INPUT)
    return name


def _policy(name: str | None, inputs, restored=None):
    """The policy object for `name` (None: the default), for what is left after `restored`."""
    from bakectl.scheduling import make_policy

    return make_policy(_policy_name(name), inputs.orders, inputs.recipes, inputs.bakery,
                       restored=restored)


@app.command(cls=Command)
def bake(
    orders: OrdersArg,
    bakery: BakeryOpt = None,
    recipes: RecipesOpt = None,
    ovens: OvensOpt = None,
    mixers: MixersOpt = None,
    speed: Annotated[float, typer.Option(
        "--speed", metavar="FACTOR",
        help=f"Bakery time runs FACTOR times faster than the wall clock (at most {MAX_SPEED}).")
    ] = 1.0,
    simulate: Annotated[bool, typer.Option(
        "--simulate", help="Run in simulated time: no waiting, the same answer every time.")
    ] = False,
    json_report: JsonOpt = False,
    no_progress: Annotated[bool, typer.Option(
        "--no-progress", help="Show no progress on stderr.")] = False,
    policy: PolicyOpt = None,
    journal: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--journal", metavar="FILE", help="Record every change in FILE [default: ORDERS.journal "
        "beside the orders file; simulated runs keep none unless given].",
        show_default=False)] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Carry on the run the journal records: baked cakes are not baked "
        "again.")] = False,
    grace: Annotated[float, typer.Option(
        "--grace", metavar="SECONDS", min=0,
        help="After Ctrl-C or SIGTERM, bakes in an oven get SECONDS to finish.")] = 10.0,
    retries: Annotated[int, typer.Option(
        "--retries", metavar="N", min=0,
        help="Make a cake whose making fails up to N more times, with backoff.")] = 0,
    fail_fast: Annotated[bool, typer.Option(
        "--fail-fast", help="Stop the whole run at the first cake that fails.")] = False,
) -> None:
    """Bake every order: cakes are made concurrently on the bakery's ovens."""
    check_speed(speed, "; to plan without waiting, use --simulate" if speed > MAX_SPEED else "")
    try:
        _bake(orders, bakery, recipes, ovens, mixers, speed, simulate, json_report, no_progress,
              policy, journal, resume, grace, retries, fail_fast)
    except KeyboardInterrupt:  # before the kitchen opened (it handles Ctrl-C itself)
        print("bakectl: interrupted before baking began", file=sys.stderr)
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _bake(orders, bakery, recipes, ovens, mixers, speed, simulate, json_report, no_progress,
          policy, journal, resume, grace, retries, fail_fast) -> None:
    from datetime import datetime

    pm = _plugins()
    start = datetime.now().astimezone()
    path = None
    if journal is not None or resume or not simulate:
        from bakectl.journal import journal_path

        path = journal_path(orders, journal)
        if resume:
            # `due` date-times count from the first run's start, so that they mean the same.
            start = _journal_start(path) or start
    inputs = _load(pm, orders, bakery, recipes, ovens, mixers, start=start)
    from bakectl.clock import RealClock, SimulatedClock

    clock = SimulatedClock() if simulate else RealClock(speed)
    from bakectl.kitchen import sigterm_as_sigint

    _policy_name(policy)  # a bad name is refused before a journal is made
    opened = None if path is None else _open_journal(path, inputs, resume=resume,
                                                     sync=not simulate, start=start)
    try:
        # `search` plans first (for what is left, on --resume): SIGTERM stops that as Ctrl-C
        with sigterm_as_sigint():
            chosen = _policy(policy, inputs, opened.restored if opened is not None else None)
        _run_and_report(pm, inputs, clock, json_report=json_report, progress=not no_progress,
                        policy=chosen, journal=opened, retries=retries,
                        fail_fast=fail_fast, grace=grace)
    finally:
        if opened is not None:
            opened.close()


def _journal_start(path: Path):
    from datetime import datetime

    from bakectl.errors import InputErrors
    from bakectl.journal import read_header

    try:
        header = read_header(path)
    except InputErrors as exc:
        raise _input_errors(exc) from None
    return None if header is None else datetime.fromisoformat(header["started"])


def _open_journal(path: Path, inputs, *, resume: bool, sync: bool, start):
    from bakectl.errors import InputErrors
    from bakectl.journal import Journal, fingerprint

    try:
        return Journal.open(path, fingerprint(inputs.orders, inputs.recipes, inputs.bakery),
                            resume=resume, sync=sync, started=start, orders=len(inputs.orders),
                            cakes=sum(o.quantity for o in inputs.orders))
    except InputErrors as exc:
        raise _input_errors(exc) from None
    except OSError as exc:
        print(f"{path}: cannot write the journal: {exc.strerror or exc}", file=sys.stderr)
        raise typer.Exit(EXIT_INPUT) from None


def _run_and_report(pm, inputs, clock, *, json_report: bool, progress: bool, policy=None,
                    journal=None, retries: int = 0, fail_fast: bool = False,
                    grace: float = 10.0) -> None:
    from bakectl.errors import InputErrors
    from bakectl.journal import JournalError
    from bakectl.kitchen import bake_orders, sigterm_as_sigint
    from bakectl.output import interactive

    reporter = None
    if progress:
        reporter = _progress_plugin(pm, live=interactive(sys.stderr))
    # A simulated run: SIGTERM as Ctrl-C up to the report, not only while the kitchen runs (a
    # real run's signals are the loop's; asyncio gives SIGTERM back to the system after it).
    stopping = sigterm_as_sigint() if clock.simulated else contextlib.nullcontext()
    try:
        with stopping:
            report = bake_orders(inputs.orders, inputs.recipes, inputs.bakery, clock,
                                 plugins=pm, policy=policy, journal=journal, retries=retries,
                                 fail_fast=fail_fast, grace=grace)
    except KeyboardInterrupt:  # once the kitchen had closed (it handles its own)
        resume = f"; carry on with --resume (journal: {journal.path})" if journal else ""
        print(f"bakectl: stopped (Ctrl-C or SIGTERM) before the report was written{resume}",
              file=sys.stderr)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except InputErrors as exc:  # a plugin's settings, e.g. the chaos plugin's
        raise _input_errors(exc) from None
    except JournalError as exc:  # a full disk: what the journal holds is safe to resume
        print(f"{exc}; stopped (carry on with --resume once it can be written)",
              file=sys.stderr)
        raise typer.Exit(EXIT_OUTPUT) from None
    finally:
        if reporter is not None and hasattr(reporter, "close"):
            reporter.close()
    try:
        with sigterm_as_sigint():  # SIGTERM now (the kitchen has closed) as Ctrl-C
            if json_report:
                from bakectl.report import write_json

                write_json(report, sys.stdout)  # as plan writes it: a line per order, cake, oven
            else:
                _print_summary(report, resumable=journal is not None)
    except KeyboardInterrupt:
        print("bakectl: stopped (Ctrl-C or SIGTERM) while the report was being written: it is "
              "incomplete", file=sys.stderr)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if report.get("interrupted"):
        if journal is not None:
            print(f"bakectl: interrupted; carry on with --resume (journal: {journal.path})",
                  file=sys.stderr)
        raise typer.Exit(EXIT_INTERRUPTED)
    failed = report["summary"]["failed"] or any(
        o["status"] != "delivered" for o in report["orders"])
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


def _progress_plugin(pm, *, live: bool):
    """Register the built-in progress reporter for this run, unless blocked (-p no:progress):
    a live view on a terminal a person watches, plain lines otherwise."""
    from bakectl import __version__
    from bakectl.plugins import PROGRESS, PluginInfo

    if pm.is_blocked(PROGRESS):
        return None
    if live:
        from bakectl.default_plugins.rich_progress import RichProgress
        from bakectl.output import console

        reporter = RichProgress(console(sys.stderr, markup=True))
    else:
        from bakectl.default_plugins.plain_progress import PlainProgress

        reporter = PlainProgress(sys.stderr)
    pm.add(reporter, PluginInfo(PROGRESS, "builtin", "bakectl", __version__))
    return reporter


def _print_summary(report: dict, *, resumable: bool) -> None:
    from rich.table import Table

    from bakectl.output import console, plural
    from bakectl.report import failure_lines

    ovens_by_order: dict[str, list[str]] = {}
    for cake in report["cakes"]:
        if cake["oven"] and cake["oven"] not in ovens_by_order.setdefault(cake["order"], []):
            ovens_by_order[cake["order"]].append(cake["oven"])
    interrupted = report.get("interrupted")
    title = f"bakectl {report['mode']} run · policy {report['policy']} · "
    # An interrupted run has no makespan yet: say what it is instead.
    title += "interrupted" if interrupted else f"makespan {report['makespan_minutes']:.1f} min"
    table = Table(title=title)
    for column in ("order", "cakes", "ovens", "finished", "due", "late"):
        table.add_column(column)
    for order in report["orders"]:
        done = order["done_minutes"]
        status = order["status"]
        finished = f"{done:.1f} min" if status == "delivered" else status
        due = order["due_minutes"]
        table.add_row(order["id"], str(order["cakes"]), ", ".join(ovens_by_order.get(order["id"],
                      [])), finished, "" if due is None else f"{due:g} min",
                      "yes" if order["late"] else "")
    out = console(sys.stdout)
    out.print(table)
    s = report["summary"]
    out.print(f"{'interrupted: ' if interrupted else ''}{s['delivered']}/{s['orders']} orders "
              f"delivered, {s['failed']} failed, {s['late']} late; {plural(s['cakes'], 'cake')} in "
              f"{report['wall_seconds']:g} s"
              + ("; carry on with --resume" if interrupted and resumable else ""))
    for line in failure_lines(report):
        out.print(line, markup=False)


@app.command(cls=Command)
def plan(
    orders: OrdersArg,
    bakery: BakeryOpt = None,
    recipes: RecipesOpt = None,
    ovens: OvensOpt = None,
    mixers: MixersOpt = None,
    policy: PolicyOpt = None,
    compare: Annotated[bool, typer.Option(
        "--compare", help="Run every policy and show them side by side.")] = False,
    gantt: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--gantt", metavar="FILE", help="Write a chart of the ovens: SVG for *.svg, a "
        "self-contained HTML page for *.html.", show_default=False)] = None,
    json_report: JsonOpt = False,
    progress: Annotated[bool, typer.Option(
        "--progress", help="Show each cake's stages on stderr (off by default: a plan takes "
        "a moment).")] = False,
) -> None:
    """Plan the day in simulated time: when each order is ready, which are late, how busy
    the ovens are. The same kitchen code as `bake`, instantly and the same every time."""
    # --compare shows one summary row per policy: what these options ask for is not in it.
    ignored = [name for name, value in (("--policy", policy), ("--gantt", gantt),
                                        ("--progress", progress)) if value]
    if compare and ignored:
        print(f"--compare cannot be combined with {', '.join(ignored)}: it runs every policy and"
              " shows one summary row each (plan with one --policy for its chart or progress)",
              file=sys.stderr)
        raise typer.Exit(EXIT_INPUT)
    if gantt is not None and gantt.suffix.lower() not in (".svg", ".html", ".htm"):
        # Not HTML written into day.png: a chart that no viewer of its name could open.
        print(f"--gantt {gantt}: the chart is SVG or HTML: give a file ending in .svg or "
              f".html", file=sys.stderr)
        raise typer.Exit(EXIT_INPUT)
    pm = _plugins()
    inputs = _load(pm, orders, bakery, recipes, ovens, mixers)
    from bakectl.background import interrupts_kept
    from bakectl.kitchen import sigterm_as_sigint
    from bakectl.planning import compare_policies, run_plan, show_comparison, show_plan

    planned = False
    try:
        # SIGTERM as Ctrl-C for the whole plan: `search` plans, and --compare runs one
        # policy after another, outside any one simulated run; then the plan is shown.
        with sigterm_as_sigint():
            with interrupts_kept():  # one that Python dropped while planning: raised here
                if compare:
                    rows = compare_policies(pm, inputs)
                else:
                    report = run_plan(pm, inputs, _policy(policy, inputs), progress=progress)
            planned = True
            if compare:
                show_comparison(rows, json_report=json_report)
                raise typer.Exit(EXIT_OK)
            if gantt is not None:
                _write_chart(report, gantt)
            show_plan(report, json_report=json_report)
    except KeyboardInterrupt:  # an interrupted simulated run raises it too
        if planned:  # what is on stdout already is only part of it
            print("bakectl: plan stopped (Ctrl-C or SIGTERM) while it was being shown: its "
                  "output is incomplete", file=sys.stderr)
        else:
            print("bakectl: plan stopped (Ctrl-C or SIGTERM) before the day was planned: "
                  "nothing to show", file=sys.stderr)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    failed = report["summary"]["failed"] or any(
        o["status"] != "delivered" for o in report["orders"])
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


def _write_chart(report: dict, gantt: Path) -> None:
    from bakectl.gantt import write_chart

    try:
        write_chart(report, gantt)
    except OSError as exc:
        print(f"{gantt}: cannot write the chart: {exc.strerror or exc}", file=sys.stderr)
        raise typer.Exit(EXIT_INPUT) from None
    # On stderr: stdout may be the JSON report.
    print(f"bakectl: chart of the ovens written to {gantt}", file=sys.stderr)


@app.command(cls=Command)
def validate(orders: OrdersArg, bakery: BakeryOpt = None, recipes: RecipesOpt = None) -> None:
    """Check the orders, bakery and recipes as `bake` would, without baking anything."""
    from bakectl.output import plural

    pm = _plugins()
    inputs = _load(pm, orders, bakery, recipes)
    cakes = sum(o.quantity for o in inputs.orders)
    print(f"{orders}: {plural(len(inputs.orders), 'order')}, {plural(cakes, 'cake')}, "
          f"{plural(len(inputs.bakery.ovens), 'oven')}, "
          f"{plural(len(inputs.recipes), 'recipe')}: OK")


@app.command("recipes", cls=Command)
def list_recipes(
    recipes: RecipesOpt = None,
    orders: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--orders", metavar="FILE", help="Also look in recipes/ beside this orders file.",
        show_default=False)] = None,
    json_report: JsonOpt = False,
) -> None:
    """List the recipes found and where each came from."""
    from bakectl.errors import InputErrors
    from bakectl.recipebook import collect_recipes, recipe_dirs

    if orders is not None and not orders.is_file():
        # Only its folder is used, but a mistyped name would silently list other recipes.
        problem = "is not a file" if orders.exists() else "no such file"
        print(f"{orders}: {problem} (--orders names the orders file whose recipes/ to read)",
              file=sys.stderr)
        raise typer.Exit(EXIT_INPUT)
    pm = _plugins()
    failed = None
    try:
        found = collect_recipes(pm, recipe_dirs(orders, list(recipes or [])))
    except InputErrors as exc:
        if exc.partial is None:  # not even a folder to look in
            raise _input_errors(exc) from None
        # The good recipes are still listed; the bad files are said, and the exit code is 2.
        failed, found = exc, exc.partial
    _show_recipes(found, json_report)
    if failed is not None:
        sys.stdout.flush()  # the list first, then the problems, when both go to a terminal
        raise _input_errors(failed)


def _show_recipes(found, json_report: bool) -> None:
    rows = [{"name": r.name, "temperature_c": r.temperature_c, "bake_minutes": r.bake_minutes,
             "mix_minutes": r.mix_minutes, "ingredients": len(r.ingredients), "source": r.source,
             "process": _process(r), "overrides": r.overrides or None}
            for r in sorted(found.values(), key=lambda r: r.name)]
    if json_report:
        import json

        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    from rich.table import Table

    from bakectl.output import console, plural

    table = Table(title=plural(len(rows), "recipe"))
    for column in ("name", "°C", "bake", "mix", "process", "source"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], f"{row['temperature_c']:g}", f"{row['bake_minutes']:g} min",
                      f"{row['mix_minutes']:g} min", row["process"],
                      row["source"] + (f" (overrides {row['overrides']})"
                                       if row["overrides"] else ""))
    console(sys.stdout).print(table)


def _process(recipe) -> str:
    """A recipe's process in a few words: ``mix 20 → proofing 120 → bake 200 °C 18``."""
    from bakectl.model import Rest

    words = [f"mix {recipe.mix_minutes:g}"]
    for step in recipe.process:
        if isinstance(step, Rest):
            words.append(f"{step.stage} {step.minutes:g}")
        else:
            words.append(f"bake {step.temperature_c:g} °C {step.minutes:g}")
    return " → ".join(words)


@app.command("plugins", cls=Command)
def list_plugins(json_report: JsonOpt = False) -> None:
    """List every plugin: built-in and installed, its version, its hooks, any failure."""
    pm = _plugins()
    _progress_plugin(pm, live=False)  # registered per run by `bake`; shown here too
    rows = [{"name": p.name, "kind": p.kind, "package": p.package, "version": p.version,
             "hooks": p.hooks, "error": p.error} for p in pm.describe()]
    if json_report:
        import json

        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    from rich.table import Table

    from bakectl.output import console, plural

    failed = sum(1 for row in rows if row["error"])
    table = Table(title=plural(len(rows), "plugin") + (f", {failed} failed" if failed else ""))
    for column in ("name", "version", "from", "hooks", "status"):
        table.add_column(column, overflow="fold")
    for row in rows:
        origin = {"builtin": "built-in", "option": "-p"}.get(row["kind"], row["package"] or "")
        table.add_row(row["name"], row["version"] or "", origin, "\n".join(row["hooks"]),
                      row["error"] or "ok")
    console(sys.stdout).print(table)


def _add_plugin_commands(argv: list[str]) -> None:
    """Let plugins add commands through the ``bakectl_commands`` hook.

    ``-p`` modules always take part. Installed plugins are discovered only when the command
    line names a command that is not built in, so ``--help``, ``--version`` and the built-in
    commands never pay for, or break on, third-party imports. (The core commands are in this
    module, so that this path imports no pluggy at all; the server's commands come from the
    default plugin server_commands, loaded the same way as a third party's, and the help's
    epilog names them.)"""
    options = _plugin_options(argv)
    command = _command_word(argv)
    loads = any(not option.startswith("no:") for option in options)
    if not loads and (command is None or command in _command_names()):
        return
    from bakectl.plugins import add_commands, get_plugin_manager

    if command is None:  # --help: -p modules only
        pm = get_plugin_manager(options, installed=False)
    else:  # kept for the command itself: each plugin is loaded, and reported, once
        pm = State.pm = get_plugin_manager(options)
    add_commands(pm, app)  # a plugin's command named as a built-in one is refused


def _command_names() -> set[str]:
    return {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}


def _command_word(argv: list[str]) -> str | None:
    """The command named on the command line, if any (skipping options and -p values)."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in ("-p", "--plugin"):
            skip = True
        elif not word.startswith("-"):
            return word
    return None


def _plugin_options(argv: list[str]) -> list[str]:
    options = []
    for k, word in enumerate(argv):
        if word in ("-p", "--plugin") and k + 1 < len(argv):
            options.append(argv[k + 1])
        elif word.startswith("--plugin="):
            options.append(word.split("=", 1)[1])
    return options


class _OutputFailed(BaseException):
    """Writing to stdout failed (its OSError is the cause).

    Not an OSError: click turns a broken pipe into exit code 1, which here means "an order
    failed", and shows other write errors as a traceback; main() decides instead."""


class _GuardedStdout:
    """sys.stdout, but a failure to write it raises _OutputFailed (whoever writes: print, Rich,
    click); everything else is the stream's own."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise _OutputFailed from exc

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise _OutputFailed from exc

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _output_failed(stream, exc: OSError) -> int:
    """Report a failure to write the output; the exit code for it."""
    import errno
    import os

    try:  # what is still buffered goes nowhere, so that exiting cannot fail on it again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    if isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE:
        return EXIT_BROKEN_PIPE  # the reader went away (`| head`): nothing to say, as cat
    print(f"bakectl: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
    return EXIT_OUTPUT


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    argv = sys.argv[1:] if argv is None else argv
    stdout = sys.stdout
    sys.stdout = _GuardedStdout(stdout)
    try:
        _main(argv)
    except _OutputFailed as exc:
        sys.exit(_output_failed(stdout, exc.__cause__))
    finally:
        sys.stdout = stdout


def _main(argv: list[str]) -> None:
    try:
        try:
            _add_plugin_commands(argv)
            app(args=argv, prog_name="bakectl")
        finally:
            sys.stdout.flush()  # a write error shows here, not in Python's exit
    except DeadlockError as exc:  # a plugin's policy or oven driver that never lets go
        print(f"bakectl: {exc}", file=sys.stderr)
        sys.exit(EXIT_FAILED)
    except PluginError as exc:
        print(f"bakectl: {exc}", file=sys.stderr)
        from bakectl.plugins import strict

        if strict() and exc.__cause__ is not None:  # plugin authors asked for the traceback
            import traceback

            traceback.print_exception(exc.__cause__, file=sys.stderr)
        sys.exit(EXIT_INPUT)
