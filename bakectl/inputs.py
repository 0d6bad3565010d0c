"""Everything a run reads (orders, bakery, recipes from plugins), loaded and checked together."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bakectl.errors import InputError, InputErrors, Where
from bakectl.limits import MAX_MIXERS, MAX_OVENS
from bakectl.model import Bakery, Order, Recipe


@dataclass
class Inputs:
    orders: list[Order]
    recipes: dict[str, Recipe]
    bakery: Bakery
    orders_path: Path
    bakery_path: Path | None
    #: allowed but worth saying (an order due before the start): one line each, for stderr
    warnings: list[InputError] = field(default_factory=list)


def bakery_path_for(orders_path: Path, bakery: Path | None) -> Path | None:
    """The bakery file: the one given, else ``bakery.yaml`` beside the orders file, if any."""
    if bakery is not None:
        return bakery
    beside = orders_path.parent / "bakery.yaml"
    return beside if beside.is_file() else None


def load_bakery(path: Path | None, ovens: int | None = None, mixers: int | None = None) -> Bakery:
    """The bakery of the file at `path` (None: the default one), with `--ovens` and `--mixers`
    applied; raises InputErrors for a bad file and for options out of the file's bounds."""
    errors = _option_errors(ovens, mixers)
    try:
        if path is None:
            bakery = Bakery.default()
        else:
            from bakectl.files import load_bakery as load_bakery_file

            bakery = load_bakery_file(path)
    except InputErrors as exc:
        errors += exc.errors
    if errors:
        raise InputErrors(errors)
    if ovens is not None:
        bakery = bakery.with_ovens(ovens)
    if mixers is not None:
        bakery = Bakery(bakery.ovens, bakery.ambient_c, mixers or None)
    return bakery


def _option_errors(ovens: int | None, mixers: int | None) -> list[InputError]:
    """What is wrong with `--ovens` and `--mixers`: the bounds of a bakery file, so that
    `--ovens 100000000` is refused, not built."""
    errors = []
    if ovens is not None and not 1 <= ovens <= MAX_OVENS:
        errors.append(InputError(Where("--ovens"), f"must be at least 1, got {ovens}" if ovens < 1
                                 else f"must be at most {MAX_OVENS}, got {ovens}"))
    if mixers is not None and not 0 <= mixers <= MAX_MIXERS:
        errors.append(InputError(Where("--mixers"), f"must be 0 (no limit) or more, got {mixers}"
                                 if mixers < 0 else f"must be at most {MAX_MIXERS}, got {mixers}"))
    return errors


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
    warnings: list[InputError] = []
    try:
        loaded_orders = load_orders(orders_path, start=start, warnings=warnings)
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
    return Inputs(loaded_orders, recipes, loaded_bakery, orders_path, bakery_path, warnings)
