"""A pytest plugin for people who write bakectl plugins (docs/plugins.md, "Testing").

pytest loads it whenever bakectl is installed (entry point ``pytest11``), so a plugin's tests
just ask for the fixtures:

- ``bakectl_bake(orders, plugins=..., ...)`` runs orders through your plugin in simulated time
  (instantly, the same answer every time) and returns the JSON report (docs/report.md);
- ``bakectl_cli(*args, plugins=...)`` runs the ``bakectl`` command line as a user would, in a
  subprocess, and returns the finished process (``returncode``, ``stdout``, ``stderr``).

Both are isolated from the plugins installed where the tests run: only built-in plugins and
the ones you pass take part. Plugin errors are fatal (``BAKECTL_RAISE_PLUGIN_ERRORS=1``), so a
bug in a hook fails the test with its traceback instead of a warning line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import pytest

# bakectl's own modules are imported inside the fixtures: pytest loads this module in every
# test session of an environment where bakectl is installed, and most never use it.


def _plugin_objects(plugins: Iterable[object | str]) -> list[object]:
    import importlib

    return [importlib.import_module(p) if isinstance(p, str) else p for p in plugins]


def _plugin_name(pm, plugin: object) -> str:
    """How errors name a plugin: a module by its name, an object by its class and module
    (pluggy would name it by its id(), a number nobody recognises); unique in `pm`."""
    if isinstance(plugin, ModuleType | type):
        name = plugin.__name__
    else:
        name = f"{type(plugin).__module__}.{type(plugin).__name__}"
    unique, k = name, 1
    while pm.has_plugin(unique):  # two objects of one class
        k += 1
        unique = f"{name}#{k}"
    return unique


#: how bakectl_bake's errors name its `orders` argument: `orders:N:1` is the N-th order
ORDERS = "orders"


def _orders(orders: Iterable[object]) -> list:
    """Orders from Order objects, dicts of Order's fields, or recipe names (one cake each);
    ids default to o-1, o-2 ...

    Checked as an orders file is, by the orders file's own reader: they are written out as
    one, an order a line, and read back with files.load_orders (same rules, same words; an
    error names the order as ``orders:N``). Raises InputErrors."""
    import dataclasses
    import tempfile

    import yaml

    from bakectl.errors import InputError, InputErrors, Where
    from bakectl.files import load_orders
    from bakectl.model import Order

    dumper, lines = _order_dumper(), []
    for k, order in enumerate(orders, 1):
        if isinstance(order, str):
            order = {"recipe": order}
        if isinstance(order, Order):
            order = {field.name: getattr(order, field.name)
                     for field in dataclasses.fields(order) if field.name != "where"}
        if isinstance(order, dict):
            order = {"id": f"o-{k}", **order}
        # As an item of a flow list: a scalar alone would be a document of its own ("5\n...").
        lines.append(yaml.dump([order], Dumper=dumper, default_flow_style=True,
                               width=float("inf"), sort_keys=False,
                               allow_unicode=True).strip()[1:-1])
    # A flow list, its first order on line 1: the file's line N is the N-th order.
    text = "orders: [" + ",\n".join(lines) + "]\n"

    def named(where: Where) -> Where:
        return Where(ORDERS, where.line) if where.line else Where(ORDERS)

    with tempfile.TemporaryDirectory(prefix="bakectl_bake-") as folder:
        path = Path(folder) / "orders.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            loaded = load_orders(path)
        except InputErrors as exc:
            raise InputErrors([InputError(named(error.where), error.message)
                               for error in exc.errors]) from None
    return [dataclasses.replace(order, where=named(order.where)) for order in loaded]


def _order_dumper():
    import yaml

    class Dumper(yaml.SafeDumper):
        """Text always double-quoted (one line, escapes kept, "2" stays text); a value YAML
        cannot hold is written as its repr, to be refused as an orders file refuses text."""

    def text(dumper, value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')

    Dumper.add_representer(str, text)
    Dumper.add_multi_representer(object, lambda dumper, value: text(dumper, repr(value)))
    return Dumper


@pytest.fixture
def bakectl_bake(monkeypatch):
    """``bake(orders, *, plugins=(), recipes=(), recipe_dirs=(), ovens=3, mixers=None,
    bakery=None, policy=None) -> report``: bake `orders` in simulated time with `plugins`
    registered, as ``bakectl bake --simulate`` does (`policy`: a ``--policy`` name; None:
    bake's default).

    `orders`: Order objects, dicts of Order's fields, or recipe names (one cake each).
    `plugins`: modules, plugin objects or importable module names. `recipes`: more Recipe
    objects. `recipe_dirs`: folders of YAML recipes. `bakery`: a Bakery (else `ovens` default
    ovens and `mixers` mixers). Orders are checked as ``bakectl bake`` checks an orders file
    (a field out of range, an id given twice, an unknown recipe, one hotter than every oven):
    a mistake raises ``bakectl.errors.InputErrors``, naming the N-th order ``orders:N``.
    `recipes` are checked as a plugin's are, and may replace a plugin's with
    ``override=True``."""
    from bakectl.clock import SimulatedClock
    from bakectl.errors import InputErrors
    from bakectl.files import check_orders
    from bakectl.kitchen import bake_orders
    from bakectl.model import Bakery
    from bakectl.plugins import get_plugin_manager
    from bakectl.recipebook import add_recipes, collect_recipes
    from bakectl.scheduling import DEFAULT_POLICY

    def bake(orders, *, plugins=(), recipes=(), recipe_dirs=(), ovens=3, mixers=None,
             bakery=None, policy=None) -> dict:
        monkeypatch.setenv("BAKECTL_RAISE_PLUGIN_ERRORS", "1")
        pm = get_plugin_manager(installed=False)
        for plugin in _plugin_objects(plugins):
            pm.register(plugin, name=_plugin_name(pm, plugin))
        found = collect_recipes(pm, [Path(d) for d in recipe_dirs])
        errors = add_recipes(found, recipes, "recipes=")  # after every plugin's, as theirs
        if errors:
            raise InputErrors(errors)
        if bakery is None:
            bakery = Bakery.default(ovens)
            if mixers is not None:
                bakery = Bakery(bakery.ovens, bakery.ambient_c, mixers)
        orders = _orders(orders)
        check_orders(orders, found, bakery)
        return bake_orders(orders, found, bakery, SimulatedClock(), plugins=pm,
                           policy=policy or DEFAULT_POLICY)

    return bake


@pytest.fixture
def bakectl_cli(tmp_path):
    """``cli(*args, plugins=(), cwd=tmp_path, env=None) -> subprocess.CompletedProcess``: run
    ``python -m bakectl -p PLUGIN... ARGS`` with text output captured.

    Installed plugins are not loaded (``BAKECTL_LOAD_PLUGINS=""``: pass `env` to change it);
    output has no colour; whatever the test can import, the command can (PYTHONPATH)."""

    def cli(*args: str, plugins: Iterable[ModuleType | str] = (), cwd: Path | None = None,
            env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        names = [p if isinstance(p, str) else p.__name__ for p in plugins]
        options = [word for name in names for word in ("-p", name)]
        child = {k: v for k, v in os.environ.items()
                 if not k.startswith(("BAKECTL_", "FORCE_COLOR", "PY_COLORS"))}
        child.update({"NO_COLOR": "1", "BAKECTL_LOAD_PLUGINS": "",
                      "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
        child.update(env or {})
        return subprocess.run([sys.executable, "-m", "bakectl", *options, *args],
                              cwd=cwd or tmp_path, env=child, capture_output=True, text=True,
                              timeout=timeout)

    return cli
