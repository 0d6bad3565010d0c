"""The plugin manager: built-in plugins, installed ones (entry-point group ``bakectl``), and
the user's choices (``-p MODULE``, ``-p no:NAME``, ``BAKECTL_LOAD_PLUGINS``,
``BAKECTL_DISABLE_PLUGINS``, ``BAKECTL_RAISE_PLUGIN_ERRORS``).

An installed plugin that fails to import or whose hooks do not fit bakectl's, or any plugin
that raises in a hook, is named in one line on stderr with how to disable it, and is not called
again; the rest of bakectl keeps working. With ``BAKECTL_RAISE_PLUGIN_ERRORS=1`` (for plugin
authors) such a failure stops bakectl instead. A ``-p MODULE`` that cannot be imported or whose
hooks do not fit always stops bakectl (a PluginError: one line, exit code 2): it was asked for
by name.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pluggy

from bakectl import __version__, hookspecs
from bakectl.errors import InputErrors, PluginError

ENTRY_POINT_GROUP = "bakectl"

#: Built-in behaviour, as ordinary plugins registered by short name (blockable with -p no:NAME).
DEFAULT_PLUGINS = {
    "yaml_recipes": "bakectl.default_plugins.yaml_recipes",
    "server_commands": "bakectl.default_plugins.server_commands",
}
#: Registered by ``bakectl bake`` for each run (Rich live view or plain lines); -p no:progress
PROGRESS = "progress"


@dataclass
class PluginInfo:
    """What ``bakectl plugins`` shows about one plugin."""

    name: str
    #: "builtin", "installed" (an entry point) or "option" (-p MODULE)
    kind: str
    package: str | None = None
    version: str | None = None
    #: the first failure (to load, or in a hook), else None
    error: str | None = None
    hooks: list[str] = field(default_factory=list)


@dataclass
class PluginFailure:
    name: str
    error: str


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def strict() -> bool:
    """BAKECTL_RAISE_PLUGIN_ERRORS is set: plugin failures are fatal (for plugin authors)."""
    return os.environ.get("BAKECTL_RAISE_PLUGIN_ERRORS", "") not in ("", "0")


def warn(message: str) -> None:
    print(f"bakectl: {message}", file=sys.stderr)


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus what ``bakectl plugins`` shows: each plugin's origin, version and
    failures."""

    def __init__(self):
        super().__init__("bakectl")
        self.add_hookspecs(hookspecs)
        self.failures: list[PluginFailure] = []
        self.infos: dict[str, PluginInfo] = {}
        #: plugins that failed this run: bakectl goes on without them, every hook of them
        self.broken: set[str] = set()

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """pluggy's register, but a plugin whose hooks do not fit bakectl's is refused with a
        one-line PluginValidationError (pluggy's own messages take several lines): a hook
        taking an argument bakectl does not pass, or an unknown ``bakectl_`` name (pluggy
        accepts those, and only check_pending, for all plugins at once, finds them)."""
        problem = self._hook_problem(plugin)
        if problem is not None:
            raise pluggy.PluginValidationError(plugin, problem)
        try:
            return super().register(plugin, name)
        except pluggy.PluginValidationError as exc:  # pluggy's other checks (wrappers)
            raise pluggy.PluginValidationError(plugin, " ".join(str(exc).split())) from None

    def _hook_problem(self, plugin: object) -> str | None:
        """What is wrong with `plugin`'s hooks, in a few words, or None."""
        for attr in dir(plugin):
            opts = self.parse_hookimpl_opts(plugin, attr)
            if opts is None:
                continue
            name = opts.get("specname") or attr
            function = getattr(plugin, attr)
            if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
                # It would only make a coroutine nobody awaits: the hook would never run.
                return (f"{name} is an async def: hooks are called synchronously; make it a "
                        "plain def (hand slow work to a thread)")
            spec = getattr(getattr(self.hook, name, None), "spec", None)
            if spec is None:
                # A misspelt hook would never be called; other names are not ours to judge.
                if name.startswith("bakectl_") and not opts.get("optionalhook"):
                    return _unknown_hook(name)
                continue
            impl = pluggy.HookImpl(plugin, "", function, opts)
            extra = [arg for arg in impl.argnames if arg not in spec.argnames]
            if extra:
                return (f"{name} takes {', '.join(map(repr, extra))}, which the hook does "
                        f"not pass (it passes {', '.join(spec.argnames)})")
        return None

    def add(self, plugin: object, info: PluginInfo) -> None:
        """Register `plugin` under ``info.name`` (unless blocked) and remember where it came
        from. A plugin whose hooks do not fit failed to load (see `fail`); a -p module stops
        bakectl, as one that cannot be imported does."""
        try:
            registered = self.register(plugin, name=info.name)
        except pluggy.PluginValidationError as exc:
            if info.kind == "option":
                raise PluginError(f"-p {info.name}: cannot load the plugin module: "
                                  f"{exc}") from exc
            self.infos[info.name] = info
            self.fail(info.name, exc, "to load")
            return
        if registered is not None:
            self.infos[info.name] = info

    def fail(self, name: str, exc: BaseException, doing: str, *, fatal: bool = False) -> None:
        """Record that plugin `name` failed `doing` something: one warning line, or, when
        `fatal` or in strict mode, a PluginError with that line."""
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if isinstance(exc, pluggy.PluginValidationError):
            error = str(exc)  # our own words (register): the type would add nothing
        self.failures.append(PluginFailure(name, error))
        self.broken.add(name)
        info = self.infos.setdefault(name, PluginInfo(name, "installed"))
        info.error = info.error or f"failed {doing}: {error}"
        message = (f"plugin {name!r} failed {doing}: {error} "
                   f"(disable it with -p no:{name} or BAKECTL_DISABLE_PLUGINS={name})")
        if fatal or strict():
            raise PluginError(message) from exc
        warn(message)

    def describe(self) -> list[PluginInfo]:
        """Every plugin known this run, loaded or failed, with the hooks it implements."""
        for name, info in self.infos.items():
            plugin = self.get_plugin(name)
            if plugin is not None:
                info.hooks = sorted(caller.name for caller in self.get_hookcallers(plugin) or [])
        return list(self.infos.values())


def _unknown_hook(name: str) -> str:
    hooks = [hook for hook in vars(hookspecs) if hook.startswith("bakectl_")]
    close = difflib.get_close_matches(name, hooks, n=1)
    return f"unknown hook {name}" + (f" (did you mean {close[0]}?)" if close else "")


def get_plugin_manager(options: Iterable[str] = (), *, installed: bool = True) -> PluginManager:
    """Load built-in and (unless `installed` is false) installed plugins, honouring ``-p``
    options and the environment. Installed plugins are named by entry point or package."""
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
            pm.add(importlib.import_module(module),
                   PluginInfo(name, "builtin", "bakectl", __version__))

    if installed and (only is None or only):
        _load_installed(pm, block, only)

    if any(module not in block for module in load):
        _importable_from_cwd()
    for module in load:
        if module in block:
            continue
        try:
            plugin = importlib.import_module(module)
        except Exception as exc:
            # Asked for by name on this command line: going on without it would run something
            # else than what was asked (pytest does the same with -p).
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise PluginError(f"-p {module}: cannot import the plugin module: {error}") from exc
        pm.add(plugin, PluginInfo(module, "option", *_distribution_of(module)))
    return pm


def _importable_from_cwd() -> None:
    """Let ``-p`` find a module in the current directory, as ``python -m bakectl`` does: only
    ``-m`` puts it on sys.path; the ``bakectl`` console script puts its own folder there."""
    try:
        here = os.getcwd()
    except OSError:  # the current directory was removed
        return
    if "" not in sys.path and here not in sys.path:
        sys.path.insert(0, here)  # first, as python -m puts it


def _load_installed(pm: PluginManager, block: set[str], only: list[str] | None) -> None:
    """Each entry point of group ``bakectl`` in its own try: one broken package breaks only
    itself (simonw/llm#1280 is what happens otherwise)."""
    from importlib.metadata import entry_points  # deferred: costly, not needed for --help

    found = set()
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        package = entry.dist.name if entry.dist is not None else None
        names = {entry.name, package}
        found |= names
        if names & block or (only is not None and not names & set(only)):
            continue
        info = PluginInfo(entry.name, "installed", package,
                          entry.dist.version if entry.dist is not None else None)
        try:
            plugin = entry.load()
        except Exception as exc:
            pm.infos[entry.name] = info
            pm.fail(entry.name, exc, "to load")
            continue
        pm.add(plugin, info)
    for name in only or ():
        if name not in found:
            warn(f"BAKECTL_LOAD_PLUGINS names {name!r}, which is not installed")


def _distribution_of(module: str) -> tuple[str | None, str | None]:
    """The package (and its version) that provides a -p module, if it is installed."""
    from importlib.metadata import packages_distributions, version

    names = packages_distributions().get(module.partition(".")[0]) or []
    if not names:
        return None, None
    return names[0], version(names[0])


def add_commands(pm: PluginManager, app) -> None:
    """Call every ``bakectl_commands`` hook, built-in plugins first (the server's commands are
    bakectl's own too). A plugin command named as one of bakectl's own is refused, one line
    naming the plugin and the command, and the built-in one stays: a plugin adds commands, it
    does not change what ``bakectl bake`` means (click would let the last one win)."""
    impls = list(reversed(pm.hook.bakectl_commands.get_hookimpls()))  # pluggy's order

    def builtin(impl) -> bool:
        info = pm.infos.get(impl.plugin_name)
        return info is not None and info.kind == "builtin"

    own: set[str] | None = None
    for impl in sorted(impls, key=lambda impl: not builtin(impl)):  # stable: keeps the order
        lists = (app.registered_commands, app.registered_groups)
        if own is None and not builtin(impl):
            own = {_command_name(info) for registered in lists for info in registered}
        before = [list(registered) for registered in lists]
        try:
            impl.function(**{arg: app for arg in impl.argnames})
        except Exception as exc:
            pm.fail(impl.plugin_name, exc, "in bakectl_commands")
            continue
        if own is None:
            continue
        for registered, earlier in zip(lists, before, strict=True):
            for info in [info for info in registered if not any(info is e for e in earlier)]:
                name = _command_name(info)
                if name in own:
                    registered[:] = [kept for kept in registered if kept is not info]
                    pm.fail(impl.plugin_name, pluggy.PluginValidationError(
                        impl.plugin, f"command {name!r} is one of bakectl's own: the built-in "
                                     "one is kept; give yours another name"),
                            "in bakectl_commands")


def _command_name(info) -> str | None:
    """The name a typer command (or group) answers to, as typer derives it."""
    name = getattr(info, "name", None)
    if isinstance(name, str):
        return name
    callback = getattr(info, "callback", None)
    if callable(callback):
        return callback.__name__.lower().replace("_", "-")
    return None


def oven_driver(pm: PluginManager | None, clock) -> object | None:
    """The first driver a plugin provides, or None for the built-in one.

    A plugin that raises here stops the run: baking on another driver than the one that was
    meant to drive the ovens would be worse than not baking."""
    if pm is None:
        return None
    for impl in reversed(pm.hook.bakectl_oven_driver.get_hookimpls()):
        try:
            driver = impl.function(**{arg: {"clock": clock}[arg] for arg in impl.argnames})
        except InputErrors:
            raise  # the user's settings for the plugin are wrong: an input error, exit 2
        except Exception as exc:
            pm.fail(impl.plugin_name, exc, "in bakectl_oven_driver", fatal=True)
        if driver is None:
            continue
        missing = [name for name in ("set_temperature", "bake")
                   if not callable(getattr(driver, name, None))]
        if missing:
            # Checked now: otherwise every cake fails later with an AttributeError that does
            # not name the plugin.
            from bakectl.recipebook import _what

            pm.fail(impl.plugin_name, TypeError(
                f"returned {_what(driver)}, not an oven driver (it has no "
                f"{' or '.join(f'{name}()' for name in missing)})"),
                "in bakectl_oven_driver", fatal=True)
        return driver
    return None


def notifier(pm: PluginManager | None, hook_name: str) -> Callable[..., None] | None:
    """A function that calls every implementation of an event hook, each in its own try: a
    plugin that raises is reported once and not called again this run, in any hook. None if
    unimplemented."""
    if pm is None:
        return None
    impls = list(getattr(pm.hook, hook_name).get_hookimpls())
    if not impls:
        return None
    broken = pm.broken

    def notify(**kwargs) -> None:
        for impl in reversed(impls):  # pluggy's order: last registered first
            if impl.plugin_name in broken:
                continue
            try:
                impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except Exception as exc:
                pm.fail(impl.plugin_name, exc, f"in {hook_name}")  # adds it to `broken`

    return notify
