"""Where output goes and how it looks: results on stdout, progress and warnings on stderr,
plain text (no ANSI escapes) whenever a person is not watching a capable terminal."""

from __future__ import annotations

import os
import sys
from typing import TextIO


def interactive(stream: TextIO) -> bool:
    """True when `stream` is a terminal a person watches: not in CI, not NO_COLOR, not dumb.

    Checked explicitly because Rich alone treats a CI log as a terminal under FORCE_COLOR,
    and typer forces terminal mode under GITHUB_ACTIONS."""
    if os.environ.get("NO_COLOR") or os.environ.get("CI") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def plural(count: int, noun: str) -> str:
    """A count and its noun: `1 cake`, `2 cakes`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def console(stream: TextIO | None = None, *, markup: bool = False):
    """A Rich console for `stream` (default stdout) that emits ANSI only when interactive.

    Without `markup`, text is printed as it is: the tables are full of ids, recipe and oven
    names taken exactly as written, and `[/]` or `[bold]` in one is data, not a style. A
    caller that turns markup on escapes what it did not write (rich.markup.escape)."""
    from rich.console import Console

    stream = stream if stream is not None else sys.stdout
    live = interactive(stream)
    return Console(file=stream, force_terminal=live, no_color=not live,
                   highlight=False, emoji=False, width=None if live else _columns(),
                   force_interactive=live, markup=markup)


def _columns() -> int:
    """The width of output that is not a terminal: $COLUMNS if set (as a terminal's width
    is), else 100 (a CI log's lines, the same wherever it runs)."""
    import os

    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and 20 <= int(columns) <= 1000 else 100
