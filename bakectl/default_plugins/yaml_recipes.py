"""Built-in plugin: recipes from ``*.yaml`` files in the recipe folders (one recipe per file)."""

from __future__ import annotations

from pathlib import Path

from bakectl.hookspecs import hookimpl


@hookimpl
def bakectl_recipes(recipe_dirs: list[Path]):
    from bakectl.errors import InputErrors
    from bakectl.files import load_recipe

    recipes, errors, seen, unresolved = [], [], set(), set()
    for folder in recipe_dirs:
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            try:
                same = path.resolve()
            except (OSError, RuntimeError):  # a symlink loop: load_recipe says so, for this file
                same = path.absolute()
            if same in seen:
                continue
            seen.add(same)
            try:
                recipes.append(load_recipe(path))
            except InputErrors as exc:
                errors.extend(exc.errors)
                # The recipe this file defines, by its name, else (unreadable) by the file's.
                unresolved |= exc.unresolved or {path.stem}
    if errors:
        failed = InputErrors(errors)
        failed.partial = recipes  # the good files still count: orders are checked against them
        failed.unresolved = unresolved
        raise failed
    return recipes
