"""Collect the recipes of a run from every plugin, and catch two sources naming one recipe."""

from __future__ import annotations

from pathlib import Path

from bakectl.errors import InputError, InputErrors, Where
from bakectl.model import Ingredient, Recipe, Rest

#: the built-in plugin that reads YAML recipe files: it comes after every Python plugin
YAML_PLUGIN = "yaml_recipes"


def recipe_dirs(orders_path: Path | None, extra: list[Path]) -> list[Path]:
    """Where YAML recipes are looked for, in order (FORMATS.md): beside the orders file, in the
    current directory, then each ``--recipes DIR``. Each folder once."""
    errors = [InputError(Where(str(d)), _not_a_folder(d)) for d in extra if not d.is_dir()]
    if errors:
        raise InputErrors(errors)
    candidates = []
    if orders_path is not None:
        candidates.append(orders_path.parent / "recipes")
    candidates.append(Path("recipes"))
    candidates.extend(extra)
    folders, seen = [], set()
    for folder in candidates:
        if folder.is_dir() and folder.resolve() not in seen:
            seen.add(folder.resolve())
            folders.append(folder)
    return folders


def _not_a_folder(path: Path) -> str:
    if path.is_file():
        return "is a file, not a folder (give the folder that holds recipe files)"
    if path.exists():
        return "is not a folder (give the folder that holds recipe files)"
    return "recipe folder not found"


def collect_recipes(pm, folders: list[Path]) -> dict[str, Recipe]:
    """Every recipe the plugins provide, by name. Python plugins first, then YAML files.

    A plugin that raises is reported and skipped; bad recipe files and a name defined twice
    are input errors. Those InputErrors carry the recipes that did load (``partial``) and the
    names that are defined but failed (``unresolved``), so that orders can still be checked."""
    caller = pm.hook.bakectl_recipes
    # Python plugins in the order they were registered (installed, then -p modules: a later
    # one may override an earlier one's recipe), then the built-in YAML files, as FORMATS.md
    # says.
    impls = sorted(caller.get_hookimpls(), key=lambda impl: impl.plugin_name == YAML_PLUGIN)
    recipes: dict[str, Recipe] = {}
    errors: list[InputError] = []
    unresolved: set[str] = set()
    for impl in impls:
        try:
            # Hooks take only the arguments they name (pluggy's rule).
            provided = _only_recipes(
                impl.function(**({"recipe_dirs": folders} if impl.argnames else {})))
        except InputErrors as exc:
            errors.extend(exc.errors)
            unresolved |= exc.unresolved
            provided = exc.partial if isinstance(exc.partial, list) else []
        except Exception as exc:
            pm.fail(impl.plugin_name, exc, "in bakectl_recipes")
            continue
        name = impl.plugin_name
        errors += add_recipes(recipes, provided, f"plugin {name}", unresolved=unresolved,
                              where=f"plugin {name!r}",
                              hint=f" (disable the plugin with -p no:{name} or "
                                   f"BAKECTL_DISABLE_PLUGINS={name})")
    if errors:
        failed = InputErrors(errors)
        failed.partial = {name: recipe for name, recipe in recipes.items()
                          if name not in unresolved}
        failed.unresolved = unresolved
        raise failed
    return recipes


def add_recipes(recipes: dict[str, Recipe], more, source: str, *,
                unresolved: set[str] | None = None, where: str | None = None,
                hint: str = "") -> list[InputError]:
    """Add the Recipe objects `more`, from `source` (e.g. "plugin NAME" or "recipes="), to
    those collected: each is checked (recipe_problems), and a name is defined once unless
    ``override=True``. The problems, one InputError each, at `where` (default: `source`) and
    ending with `hint`; the names of the recipes that failed go into `unresolved`."""
    unresolved = unresolved if unresolved is not None else set()
    errors = []
    for recipe in more:
        problems = recipe_problems(recipe)
        if problems:
            # As a bad recipe file is: an input error (exit 2), the others still load.
            errors.append(InputError(Where(where or source), f"recipe {recipe.name!r}: "
                                                             f"{'; '.join(problems)}{hint}"))
            if isinstance(recipe.name, str):
                unresolved.add(recipe.name)
            continue
        error = _add(recipes, recipe if recipe.source else _with_source(recipe, source))
        if error is not None:
            errors.append(error)
            unresolved.add(recipe.name)  # which one was meant is for the user to say
    return errors


def _add(recipes: dict[str, Recipe], recipe: Recipe) -> InputError | None:
    """Add `recipe` to those found in earlier sources, or say why it cannot be.

    A name is defined once, unless a later definition says `override: true`: it then
    replaces the earlier one (once: two overrides of one name are as ambiguous as two
    definitions). Two files with the same bytes are one recipe: the first is kept."""
    first = recipes.get(recipe.name)
    if first is None:
        if recipe.override:
            return InputError(_where(recipe.source, "override"),
                              f"recipe {recipe.name!r} says override: true, but no earlier "
                              "source defines it (the order: Python plugins, recipes/ beside "
                              "the orders file, the current directory, each --recipes DIR)")
        recipes[recipe.name] = recipe
        return None
    if _same_file(first.source, recipe.source):
        return None
    if recipe.override and not first.overrides:
        recipes[recipe.name] = _with_source(recipe, recipe.source, overrides=first.source)
        return None
    if recipe.override:
        return InputError(_where(recipe.source, "override"),
                          f"recipe {recipe.name!r} is overridden twice: first by "
                          f"{_where(first.source, 'override')}, then here; keep one override")
    return _defined_twice(first, recipe)


def _same_file(first: str, again: str) -> bool:
    """Whether two sources are files with the same bytes (a copy is not ambiguous)."""
    try:
        return Path(first).read_bytes() == Path(again).read_bytes()
    except (OSError, ValueError):  # a plugin's name, not a file
        return False


def _only_recipes(provided) -> list[Recipe]:
    """What a bakectl_recipes hook returned, if it is a list of Recipe objects (None: none);
    else a TypeError saying what it is instead."""
    if provided is None:
        return []
    if not isinstance(provided, (list, tuple)):
        raise TypeError(f"returned {_what(provided)}, not a list of Recipe objects")
    for item in provided:
        if not isinstance(item, Recipe):
            raise TypeError(f"returned a list holding {_what(item)}, not only Recipe objects")
    return list(provided)


def recipe_problems(recipe: Recipe) -> list[str]:
    """What is wrong with `recipe` by the rules a recipe file is read with (bakectl/files.py:
    types, finite numbers, its ranges and limits), each as "field must be ..."; [] if nothing.

    A plugin's Recipe objects get here without a file: checked now, a string or an infinite
    number cannot reach the planner, the report's JSON or the terminal's chart."""
    from bakectl import files

    problems: list[str] = []

    def text(value, label: str) -> None:
        if not isinstance(value, str):
            problems.append(f"{label} must be text, got {_what(value)}")
        elif not value:
            problems.append(f"{label} must not be empty")
        elif (found := files.CONTROL.search(value)) is not None:
            problems.append(f"{label} must not contain control character "
                            f"U+{ord(found.group()):04X}")

    def number(value, label: str, low: float, high: float, above: bool = False) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{label} must be a number, got {_what(value)}")
            return
        try:
            written = str(value)
        except ValueError:  # an int too long to print
            written = "a huge integer"
        problem = files.range_problem(value, written, low, high, above)
        if problem is not None:
            problems.append(f"{label} {problem}")

    def temperature(value, label: str) -> None:
        number(value, label, files.MIN_TEMPERATURE_C, files.MAX_TEMPERATURE_C)

    text(recipe.name, "name")
    if not isinstance(recipe.ingredients, list | tuple):
        problems.append(f"ingredients must be a list, got {_what(recipe.ingredients)}")
    else:
        for k, ingredient in enumerate(recipe.ingredients):
            label = f"ingredients[{k}]"
            if not isinstance(ingredient, Ingredient):
                problems.append(f"{label} must be an Ingredient, got {_what(ingredient)}")
                continue
            text(ingredient.name, f"{label}.name")
            number(ingredient.quantity, f"{label}.quantity", 0, files.MAX_INGREDIENT_QUANTITY,
                   above=True)
            text(ingredient.unit, f"{label}.unit")
    number(recipe.mix_minutes, "mix_minutes", 0, files.MAX_MINUTES)
    if not recipe.steps:
        temperature(recipe.temperature_c, "temperature_c")
        number(recipe.bake_minutes, "bake_minutes", 0, files.MAX_MINUTES, above=True)
    for k, step in enumerate(recipe.steps):  # Recipe itself made sure each is a Rest or Bake
        if isinstance(step, Rest):
            number(step.minutes, f"steps[{k}].minutes", 0, files.MAX_MINUTES)
            text(step.stage, f"steps[{k}].stage")
        else:
            temperature(step.temperature_c, f"steps[{k}].temperature_c")
            number(step.minutes, f"steps[{k}].minutes", 0, files.MAX_MINUTES, above=True)
    if not isinstance(recipe.override, bool):
        problems.append(f"override must be True or False, got {_what(recipe.override)}")
    return problems


def _what(value) -> str:
    import reprlib

    return f"{type(value).__name__} {reprlib.repr(value)}"


def _defined_twice(first: Recipe, again: Recipe) -> InputError:
    """The error for a second definition of a recipe: at its `name:` when it is a file, with
    the first one's place and how to settle it."""
    here, there = _where(again.source), _where(first.source)
    return InputError(here, f"recipe {again.name!r} is defined twice: first in {there}, then "
                            f"{'here' if here.line else 'by ' + again.source}; "
                            f"{_how_to_settle(first.source, again.source)}")


def _where(source: str, key: str = "name") -> Where:
    """Where a recipe's `key:` is written, when its source is a file; else the source."""
    if Path(source).is_file():
        from bakectl.files import name_where

        return name_where(source, key)
    return Where(source)


def _how_to_settle(first: str, again: str) -> str:
    """What the user can do about two sources of one recipe name."""
    here = Path("recipes").resolve()
    files = [Path(source) for source in (first, again) if Path(source).is_file()]
    if len(files) == 2:
        from_cwd = [f for f in files if f.parent.resolve() == here]
        others = [f for f in files if f.parent.resolve() != here]
        if from_cwd and others and others[0].parent.name == "recipes":
            # recipes/ beside the orders file and recipes/ in the current directory, both read.
            home = others[0].parent.parent
            return (f"both {others[0].parent}/ (beside the orders file) and recipes/ (in the "
                    f"current directory) are read: run bakectl from {home}/ to use only its "
                    "recipes, or rename one of the two")
        return ("rename one of the two, remove one file, or add 'override: true' to the second "
                "to make it replace the first")
    return ("rename one of the two, or add 'override: true' to the second to make it replace "
            "the first (-p no:NAME blocks a plugin)")


def _with_source(recipe: Recipe, source: str, overrides: str = "") -> Recipe:
    from dataclasses import replace

    return replace(recipe, source=source, overrides=overrides)
