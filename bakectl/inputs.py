"""Everything a run reads (orders, bakery, recipes from plugins), loaded and checked together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bakectl.errors import InputError, InputErrors, Where
from bakectl.model import Bakery, Order, Recipe


@dataclass
class Inputs:
    orders: list[Order]
    recipes: dict[str, Recipe]
    bakery: Bakery
    orders_path: Path
    bakery_path: Path | None


def bakery_path_for(orders_path: Path, bakery: Path | None) -> Path | None:
    """The bakery file: the one given, else ``bakery.yaml`` beside the orders file, if any."""
    if bakery is not None:
        return bakery
    beside = orders_path.parent / "bakery.yaml"
    return beside if beside.is_file() else None


def load_bakery(path: Path | None, ovens: int | None = None, mixers: int | None = None) -> Bakery:
    from bakectl.files import load_bakery as load_bakery_file

    bakery = load_bakery_file(path) if path is not None else Bakery.default()
    if ovens is not None:
        if ovens < 1:
            raise InputErrors([InputError(Where("--ovens"), "must be at least 1")])
        bakery = bakery.with_ovens(ovens)
    if mixers is not None:
        if mixers < 0:
            raise InputErrors([InputError(Where("--mixers"), "must be 0 (no limit) or more")])
        bakery = Bakery(bakery.ovens, bakery.ambient_c, mixers or None)
    return bakery


def load_inputs(pm, orders_path: Path, *, bakery: Path | None = None,
                recipe_dirs: list[Path] = (), ovens: int | None = None,
                mixers: int | None = None, start=None) -> Inputs:
    """Load and cross-check everything; raises InputErrors listing every problem found.

    Date-times in `due` count from `start` (a datetime; default now)."""
    from bakectl.files import check_orders, load_orders
    from bakectl.recipebook import collect_recipes
    from bakectl.recipebook import recipe_dirs as find_recipe_dirs

    errors: list[InputError] = []
    bakery_path = bakery_path_for(orders_path, bakery)
    loaded_orders = loaded_bakery = recipes = None
    unresolved: set[str] = set()
    try:
        loaded_orders = load_orders(orders_path, start=start)
    except InputErrors as exc:
        errors.extend(exc.errors)
        loaded_orders = exc.partial  # still cross-checked below: report every problem at once
    try:
        loaded_bakery = load_bakery(bakery_path, ovens, mixers)
    except InputErrors as exc:
        errors.extend(exc.errors)
    try:
        recipes = collect_recipes(pm, find_recipe_dirs(orders_path, list(recipe_dirs)))
    except InputErrors as exc:
        errors.extend(exc.errors)
        # Recipes that did load still count (None: no recipe could be looked for at all).
        recipes, unresolved = exc.partial, exc.unresolved
    # Report what can still be checked: without a bakery, whether each recipe is known.
    if loaded_orders and recipes is not None:
        try:
            check_orders(loaded_orders, recipes, loaded_bakery, unresolved=unresolved)
        except InputErrors as exc:
            errors.extend(exc.errors)
    if errors:
        errors.sort(key=lambda e: (e.where.path, e.where.line, e.where.col))
        raise InputErrors(errors)
    return Inputs(loaded_orders, recipes, loaded_bakery, orders_path, bakery_path)
