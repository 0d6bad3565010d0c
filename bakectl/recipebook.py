"""Collect the recipes of a run from every plugin, and catch two sources naming one recipe."""

from __future__ import annotations

from pathlib import Path

from bakectl.errors import InputError, InputErrors, Where
from bakectl.model import Recipe


def recipe_dirs(orders_path: Path | None, extra: list[Path]) -> list[Path]:
    """Where YAML recipes are looked for, in order (FORMATS.md): beside the orders file, in the
    current directory, then each ``--recipes DIR``. Each folder once."""
    errors = [InputError(Where(str(d)), "recipe folder not found") for d in extra
              if not d.is_dir()]
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


def collect_recipes(pm, folders: list[Path]) -> dict[str, Recipe]:
    """Every recipe the plugins provide, by name. Python plugins first, then YAML files.

    A plugin that raises is reported and skipped; bad recipe files and a name defined twice
    are input errors."""
    caller = pm.hook.bakectl_recipes
    # pluggy calls the last registered first; the built-in YAML plugin is registered first,
    # so this order puts installed plugins before the YAML files, as FORMATS.md says.
    impls = list(reversed(caller.get_hookimpls()))
    recipes: dict[str, Recipe] = {}
    errors: list[InputError] = []
    for impl in impls:
        try:
            # Hooks take only the arguments they name (pluggy's rule).
            provided = impl.function(**({"recipe_dirs": folders} if impl.argnames else {}))
            provided = provided or []
        except InputErrors as exc:
            errors.extend(exc.errors)
            continue
        except Exception as exc:
            pm.fail(impl.plugin_name, exc, "in bakectl_recipes")
            continue
        for recipe in provided:
            if not recipe.source:
                recipe = _with_source(recipe, f"plugin {impl.plugin_name}")
            first = recipes.get(recipe.name)
            if first is not None:
                errors.append(InputError(
                    Where(recipe.source),
                    f"recipe {recipe.name!r} is defined twice: in {first.source} "
                    f"and in {recipe.source}"))
                continue
            recipes[recipe.name] = recipe
    if errors:
        raise InputErrors(errors)
    return recipes


def _with_source(recipe: Recipe, source: str) -> Recipe:
    from dataclasses import replace

    return replace(recipe, source=source)
