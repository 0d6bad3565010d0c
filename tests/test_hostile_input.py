"""Hostile input through the real CLI: each gets one-line errors `path:line:col: message`,
exit 2, no traceback, in bounded time, and no journal is started for input that was refused."""

from __future__ import annotations

import os

import pytest
from conftest import run_cli

SPONGE = ("name: sponge\ningredients: [{name: flour, quantity: 1, unit: g}]\n"
          "mix_minutes: 1\noven: {temperature_c: 180, bake_minutes: 1}\n")

CASES = {
    "alias bomb": ("orders:\n  - &a {id: o-1, recipe: sponge}\n  - *a\n", ":2:5: anchors"),
    "alias bomb, nested": ("x: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\ny: &b [*a, *a, *a, *a, *a]\n"
                           "orders: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n", "aliases"),
    "merge-key bomb": ("orders:\n  - {<<: {recipe: sponge}, id: o-1}\n", "merge keys"),
    "100,000-deep nesting": ("orders: " + "[" * 100_000 + "]" * 100_000 + "\n",
                             ":1:1008: nested deeper than 50 levels"),
    "5,000-digit number": ("orders:\n  - {id: o-1, recipe: sponge, quantity: " + "9" * 5000
                           + "}\n", "quantity is too large"),
    "invalid calendar date": ("orders:\n  - {id: o-1, recipe: sponge, due: 2024-02-30T10:00:00}\n",
                              "is not a valid date"),
    "mixed time zones": ("orders:\n  - {id: o-1, recipe: sponge, due: 2030-01-01T10:00:00Z}\n"
                         "  - {id: o-2, recipe: sponge, due: 2030-01-01T10:00:00}\n",
                         ":3:36: due has no time zone"),
    "NUL byte": ("orders:\n  - {id: o-1\x00, recipe: sponge}\n", "control character U+0000"),
    "path trick": ("orders:\n  - {id: o-1, recipe: ../../etc/passwd}\n",
                   ":2:23: unknown recipe '../../etc/passwd'"),
}


def orders_file(tmp_path, text: str | bytes):
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "sponge.yaml").write_text(SPONGE)
    path = tmp_path / "orders.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())


def check_refused(tmp_path, *extra, expect: str, name: str = "orders.yaml"):
    # Real time, so that a run would start a journal: none must be written for bad input.
    result = run_cli("bake", name, "--speed", "1000", *extra, cwd=tmp_path, timeout=30)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith(("orders.yaml", "recipes/", "bakery.yaml", "fifo",
                                          "dir")) for line in lines)
    assert expect in result.stderr
    assert not list(tmp_path.glob("*.journal"))


@pytest.mark.parametrize("text, expect", list(CASES.values()), ids=list(CASES))
def test_hostile_orders_file(tmp_path, text, expect):
    orders_file(tmp_path, text)
    check_refused(tmp_path, expect=expect)


def test_binary_data(tmp_path):
    orders_file(tmp_path, bytes(range(256)) * 64)
    check_refused(tmp_path, expect="orders.yaml:1:1: control character U+0000")


@pytest.mark.parametrize("kind", ["fifo", "dir"])
def test_a_fifo_or_directory_where_a_file_should_be(tmp_path, kind):
    orders_file(tmp_path, "orders: []\n")
    if kind == "fifo":
        os.mkfifo(tmp_path / "fifo")
        check_refused(tmp_path, expect="fifo: is not a regular file", name="fifo")
        os.mkfifo(tmp_path / "recipes" / "pipe.yaml")  # the recipe folder is globbed
        check_refused(tmp_path, expect="recipes/pipe.yaml: is not a regular file")
    else:
        (tmp_path / "dir").mkdir()
        check_refused(tmp_path, expect="dir: is a directory, not a file", name="dir")
        (tmp_path / "bakery.yaml").mkdir()
        check_refused(tmp_path, "--bakery", "bakery.yaml",
                      expect="bakery.yaml: is a directory, not a file")


def test_a_deeply_nested_recipe_file(tmp_path):
    orders_file(tmp_path, "orders:\n  - {id: o-1, recipe: sponge}\n")
    (tmp_path / "recipes" / "deep.yaml").write_text("name: " + "{a: " * 100_000 + "1"
                                                    + "}" * 100_000 + "\n")
    check_refused(tmp_path, expect="recipes/deep.yaml:1:")
