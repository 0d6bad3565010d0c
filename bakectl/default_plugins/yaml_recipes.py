"""Built-in plugin: recipes from ``*.yaml`` files in the recipe folders (one recipe per file)."""

from __future__ import annotations

from pathlib import Path

from bakectl.hookspecs import hookimpl


@hookimpl
def bakectl_recipes(recipe_dirs: list[Path]):
    from bakectl.errors import InputErrors
    from bakectl.files import load_recipe

    recipes, errors, seen = [], [], set()
    for folder in recipe_dirs:
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            try:
                recipes.append(load_recipe(path))
            except InputErrors as exc:
                errors.extend(exc.errors)
    if errors:
        raise InputErrors(errors)
    return recipes
