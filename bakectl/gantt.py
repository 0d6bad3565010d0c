"""Pictures of a run: which oven did what, when (from the JSON report).

- ``terminal_chart(report, width)``: a Rich renderable, one line per oven;
- ``write_chart(report, path)``: an SVG file, or a self-contained HTML page (any other
  suffix) that a browser opens without the internet.
"""

from __future__ import annotations

import html
from pathlib import Path

#: Colours per recipe, in order of first appearance (Okabe-Ito: safe for colour blindness).
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
           "#999933", "#882255", "#44AA99", "#117733", "#AA4499")
SETUP_COLOUR = "#BBBBBB"
#: One letter per recipe in the terminal chart ("·": setting up, " ": idle).
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def bakes(report: dict) -> list[tuple[dict, dict]]:
    """(cake, bake) per bake of the run, bake as in the report's `steps[]`: `oven`,
    `oven_start` (set-up began), `start`, `end`, `temperature_c`.

    A cake baked twice (biscotti) has two, maybe on two ovens, with a rest between that holds
    no oven: its row's times span both bakes, so they cannot be drawn as one bar. A cake
    without steps (a report from before them) is drawn from its row."""
    out = []
    for cake in report["cakes"]:
        steps = [s for s in cake.get("steps") or () if s.get("step") == "bake"
                 and s.get("oven") is not None and s.get("end") is not None]
        if steps:
            out.extend((cake, step) for step in steps)
        elif cake.get("steps") is None and cake["oven"] is not None \
                and cake["bake_start"] is not None and cake["bake_end"] is not None:
            out.append((cake, {"oven": cake["oven"], "oven_start": cake["oven_start"],
                               "start": cake["bake_start"], "end": cake["bake_end"],
                               "temperature_c": cake["temperature_c"]}))
    return out


def _recipes(done: list[tuple[dict, dict]]) -> list[str]:
    """The recipes of `done` (bakes()), in the order they first bake."""
    seen: dict[str, None] = {}
    for cake, _ in done:
        seen.setdefault(cake["recipe"], None)
    return list(seen)


def _temperatures(done: list[tuple[dict, dict]]) -> dict[str, str]:
    """Per recipe of `done` (bakes()), the temperatures of its bakes for the legend
    ("175/150")."""
    seen: dict[str, dict[float, None]] = {}
    for cake, bake in done:
        if bake["temperature_c"] is not None:
            seen.setdefault(cake["recipe"], {}).setdefault(bake["temperature_c"], None)
    return {name: "/".join(f"{t:g}" for t in temps) for name, temps in seen.items()}


def terminal_rows(report: dict, width: int = 60, done: list[tuple[dict, dict]] | None = None
                  ) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(oven name, one character per time slot) per oven, and the legend (letter -> the
    recipes it stands for: one, unless there are more recipes than letters).

    Each slot shows what filled most of it: a recipe's letter while baking, "·" while the
    oven heats or cools, a space while idle. `done`: bakes(report), if the caller has it."""
    makespan = report["makespan_minutes"] or 0.0
    done = bakes(report) if done is None else done
    recipes = _recipes(done)
    letter = {name: LETTERS[k % len(LETTERS)] for k, name in enumerate(recipes)}
    slot = makespan / width if makespan else 1.0
    # per oven and slot: minutes of each activity
    fill: dict[str, list[dict[str, float]]] = {
        o["name"]: [{} for _ in range(width)] for o in report["ovens"]}

    def add(oven: str, start: float, end: float, what: str) -> None:
        if end <= start:
            return
        first, last = int(start / slot), min(width - 1, int(end / slot))
        for k in range(first, last + 1):
            overlap = min(end, (k + 1) * slot) - max(start, k * slot)
            if overlap > 0:
                cell = fill[oven][k]
                cell[what] = cell.get(what, 0.0) + overlap

    for cake, bake in done:
        add(bake["oven"], bake["oven_start"], bake["start"], "·")
        add(bake["oven"], bake["start"], bake["end"], letter[cake["recipe"]])
    rows = []
    for oven, cells in fill.items():
        line = "".join(max(cell, key=lambda w: (cell[w], w)) if sum(cell.values()) >= slot / 2
                       else " " for cell in cells)
        rows.append((oven, line))
    legend: dict[str, list[str]] = {}
    for name, key in letter.items():
        legend.setdefault(key, []).append(name)
    return rows, legend


def terminal_chart(report: dict, width: int = 60, colour: bool = True):
    """A Rich renderable: the ovens over time, with a time axis and a legend."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    done = bakes(report)
    rows, legend = terminal_rows(report, width, done)
    temps = _temperatures(done)
    style = {letter: f"bold {PALETTE[k % len(PALETTE)]}" if colour else ""
             for k, letter in enumerate(legend)}
    makespan = report["makespan_minutes"] or 0.0
    table = Table.grid(padding=(0, 1))
    names = max((len(oven) for oven, _ in rows), default=1)
    table.add_column(justify="right", no_wrap=True, min_width=names)
    table.add_column(no_wrap=True)
    for oven, line in rows:
        text = Text()
        for char in line:
            text.append(char, style=style.get(char, "dim" if colour else ""))
        table.add_row(oven, Text("|") + text + Text("|"))
    axis = f"0{' ' * (width - len(f'{makespan:g} min') + 1)}{makespan:g} min"
    table.add_row("", Text(axis))
    # The legend, its entries packed into lines as wide as the chart: a line breaks between
    # two entries, never inside one ("carrot_cake (180" here, "°C)" on the next line).
    entries = [(letter, " " + " / ".join(f"{recipe} ({temps.get(recipe, '0')} °C)"
                                         for recipe in recipes))
               for letter, recipes in legend.items()] + [("·", " heating/cooling")]
    keys, used = Text(), 0
    for letter, words in entries:
        size = len(letter) + len(words)
        if used and used + 2 + size > names + width + 3:
            keys.append("\n")
            used = 0
        elif used:
            keys.append("  ")
            used += 2
        keys.append(letter, style=style.get(letter, "dim" if colour else ""))
        keys.append(words)
        used += size
    return Group(table, keys)


def svg(report: dict, width: int = 1000, row_height: int = 28) -> str:
    """The chart as an SVG document: a bar per bake (hover for details), grey for set-up."""
    makespan = report["makespan_minutes"] or 1.0
    done = bakes(report)
    recipes = _recipes(done)
    colour = {name: PALETTE[k % len(PALETTE)] for k, name in enumerate(recipes)}
    ovens = [o["name"] for o in report["ovens"]]
    row = {name: k for k, name in enumerate(ovens)}
    left, top = 110, 30
    plot = width - left - 20
    height = top + row_height * len(ovens) + 40 + 18 * ((len(recipes) + 3) // 4)
    scale = plot / makespan
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<title>bakectl {html.escape(str(report.get("policy")))}: makespan '
           f'{makespan:g} min</title>',
           f'<text x="{left}" y="18">policy {html.escape(str(report.get("policy")))} · '
           f'makespan {makespan:g} min · lower bound '
           f'{report.get("lower_bound_minutes") or 0:g} min</text>']
    for name, k in row.items():
        y = top + k * row_height
        out.append(f'<text x="{left - 6}" y="{y + row_height * 0.65:.1f}" '
                   f'text-anchor="end">{html.escape(name)}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{plot}" height="{row_height - 4}" '
                   f'fill="#f4f4f4"/>')
    for cake, bake in done:
        y = top + row[bake["oven"]] * row_height
        start, end, oven_start = bake["start"], bake["end"], bake["oven_start"]
        if start > oven_start:
            out.append(f'<rect x="{left + oven_start * scale:.2f}" y="{y}" '
                       f'width="{(start - oven_start) * scale:.2f}" '
                       f'height="{row_height - 4}" fill="{SETUP_COLOUR}"><title>set-up to '
                       f'{bake["temperature_c"]:g} °C: {oven_start:g}-{start:g} min</title></rect>')
        label = (f'{cake["order"]} #{cake["index"]} {cake["recipe"]} at '
                 f'{bake["temperature_c"]:g} °C: {start:g}-{end:g} min')
        out.append(f'<rect x="{left + start * scale:.2f}" y="{y}" '
                   f'width="{max(0.5, (end - start) * scale):.2f}" '
                   f'height="{row_height - 4}" fill="{colour[cake["recipe"]]}" stroke="white" '
                   f'stroke-width="0.5"><title>{html.escape(label)}</title></rect>')
    axis_y = top + row_height * len(ovens) + 4
    for k in range(11):
        x = left + plot * k / 10
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{axis_y}" stroke="#ccc"/>')
        out.append(f'<text x="{x:.1f}" y="{axis_y + 14}" text-anchor="middle">'
                   f'{makespan * k / 10:.0f}</text>')
    temps = _temperatures(done)
    for k, name in enumerate(recipes):
        x, y = left + (k % 4) * (plot / 4), axis_y + 34 + 18 * (k // 4)
        out.append(f'<rect x="{x:.1f}" y="{y - 10}" width="12" height="12" '
                   f'fill="{colour[name]}"/>')
        out.append(f'<text x="{x + 16:.1f}" y="{y}">{html.escape(name)} '
                   f'({temps.get(name, "0")} °C)</text>')
    out.append("</svg>")
    return "\n".join(out)


def write_chart(report: dict, path: Path) -> None:
    """Write the chart: SVG for ``*.svg``, else a self-contained HTML page."""
    picture = svg(report)
    if path.suffix.lower() == ".svg":
        path.write_text(picture + "\n", encoding="utf-8")
        return
    title = f"bakectl plan: {report.get('policy')}, makespan {report['makespan_minutes']:g} min"
    path.write_text(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title></head>\n<body style=\"font-family:sans-serif\">"
        f"<h1 style=\"font-size:1.2em\">{html.escape(title)}</h1>\n{picture}\n"
        "<p>Hover over a bar for the cake, its temperature and its times. Grey: the oven "
        "heating or cooling.</p></body></html>\n", encoding="utf-8")
