"""The plugin manager: built-in plugins, installed ones (entry-point group ``bakectl``), and
the user's choices (``-p MODULE``, ``-p no:NAME``, ``BAKECTL_LOAD_PLUGINS``,
``BAKECTL_DISABLE_PLUGINS``, ``BAKECTL_RAISE_PLUGIN_ERRORS``).

A plugin that fails to import, or raises in a hook, is named in one line on stderr with how to
disable it; the rest of bakectl keeps working.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pluggy

from bakectl import hookspecs

ENTRY_POINT_GROUP = "bakectl"

#: Built-in behaviour, as ordinary plugins registered by short name (blockable with -p no:NAME).
DEFAULT_PLUGINS = {
    "yaml_recipes": "bakectl.default_plugins.yaml_recipes",
    "server_commands": "bakectl.default_plugins.server_commands",
}


@dataclass
class PluginFailure:
    name: str
    error: str


class PluginError(Exception):
    """A plugin failed and BAKECTL_RAISE_PLUGIN_ERRORS asks for failures to be fatal."""


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def strict() -> bool:
    return os.environ.get("BAKECTL_RAISE_PLUGIN_ERRORS", "") not in ("", "0")


def warn(message: str) -> None:
    print(f"bakectl: {message}", file=sys.stderr)


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus a record of plugins that failed."""

    def __init__(self):
        super().__init__("bakectl")
        self.add_hookspecs(hookspecs)
        self.failures: list[PluginFailure] = []

    def fail(self, name: str, exc: BaseException, doing: str) -> None:
        error = f"{type(exc).__name__}: {exc}"
        self.failures.append(PluginFailure(name, error))
        if strict():
            raise PluginError(f"plugin {name!r} failed {doing}: {error}") from exc
        warn(f"plugin {name!r} failed {doing}: {error} "
             f"(disable it with -p no:{name} or BAKECTL_DISABLE_PLUGINS={name})")


def get_plugin_manager(options: Iterable[str] = (), *, installed: bool = True) -> PluginManager:
    """Load built-in and (unless `installed` is false) installed plugins, honouring ``-p``
    options and the environment."""
    pm = PluginManager()
    load, block = [], set(_env_list("BAKECTL_DISABLE_PLUGINS") or [])
    for option in options:
        if option.startswith("no:"):
            block.add(option[3:])
        else:
            load.append(option)
    for name in block:
        pm.set_blocked(name)
    only = _env_list("BAKECTL_LOAD_PLUGINS")

    for name, module in DEFAULT_PLUGINS.items():
        if name not in block:
            pm.register(importlib.import_module(module), name=name)

    if installed and (only is None or only):
        from importlib.metadata import entry_points  # deferred: costly, not needed for --help

        for entry in entry_points(group=ENTRY_POINT_GROUP):
            if entry.name in block or (only is not None and entry.name not in only):
                continue
            try:
                pm.register(entry.load(), name=entry.name)
            except Exception as exc:
                pm.fail(entry.name, exc, "to load")

    for module in load:
        if module in block:
            continue
        try:
            pm.register(importlib.import_module(module), name=module)
        except Exception as exc:
            pm.fail(module, exc, "to load")
    return pm


def notifier(pm: PluginManager | None, hook_name: str) -> Callable[..., None] | None:
    """A function that calls every implementation of an event hook, each in its own try: a
    plugin that raises is reported once and not called again this run. None if unimplemented."""
    if pm is None:
        return None
    impls = list(getattr(pm.hook, hook_name).get_hookimpls())
    if not impls:
        return None
    broken: set[str] = set()

    def notify(**kwargs) -> None:
        for impl in reversed(impls):  # pluggy's order: last registered first
            if impl.plugin_name in broken:
                continue
            try:
                impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except Exception as exc:
                broken.add(impl.plugin_name)
                pm.fail(impl.plugin_name, exc, f"in {hook_name}")

    return notify
