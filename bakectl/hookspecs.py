"""The hooks a bakectl plugin can implement. Every name starts with ``bakectl_``.

Implement one by defining a function of the same name decorated with ``@bakectl.hookimpl``
(see docs/plugins.md). Arguments are passed by keyword; take only those you need.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

    from bakectl.clock import RealClock, SimulatedClock
    from bakectl.kitchen import Kitchen
    from bakectl.model import Recipe
    from bakectl.ovens import OvenDriver
    from bakectl.report import CakeRecord, OrderRecord

hookspec = pluggy.HookspecMarker("bakectl")  #: decorator to mark bakectl hook specifications
hookimpl = pluggy.HookimplMarker("bakectl")  #: decorator to mark bakectl hook implementations


# ---------------------------------------------------------------------------------------------
# Recipes
# ---------------------------------------------------------------------------------------------


@hookspec
def bakectl_recipes(recipe_dirs: list[Path]) -> list[Recipe]:
    """Called once per run to collect recipes; return the recipes this plugin provides.

    A recipe mixes then bakes once (``temperature_c``, ``bake_minutes``), or has its own
    process after mixing (``steps=(Rest(60, "proofing"), Bake(230, 40))``). `recipe_dirs` are
    the folders the user's files point at (beside the orders file, the current directory, each
    ``--recipes DIR``). All results are collected; two plugins naming one recipe is an error."""


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


@hookspec
def bakectl_commands(app: typer.Typer) -> None:
    """Called when the CLI starts; add commands to `app` with ``@app.command()``.

    All implementations are called."""


# ---------------------------------------------------------------------------------------------
# Ovens
# ---------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def bakectl_oven_driver(clock: RealClock | SimulatedClock) -> OvenDriver | None:
    """Called once per run, before baking; return the driver that really heats and bakes
    (``set_temperature(oven, temperature_c, minutes)``, ``bake(oven, mixture, minutes)``, both
    blocking, run in the background), or None.

    Stops at the first non-None result (the built-in driver lets clock time pass). A plugin
    that raises here stops the run."""


# ---------------------------------------------------------------------------------------------
# Lifecycle events (called on the kitchen's event loop: return quickly, never block)
# ---------------------------------------------------------------------------------------------


@hookspec
def bakectl_run_started(kitchen: Kitchen) -> None:
    """Called when a run starts, after every cake is known (``kitchen.cakes``, ``kitchen.orders``).

    All implementations are called."""


@hookspec
def bakectl_cake_stage(cake: CakeRecord, stage: str, minute: float) -> None:
    """Called whenever a cake enters a stage: mixing, waiting, preheating, baking, baked,
    failed, retrying (a try failed and the cake will be made again; `cake.error` says why), or
    a stage of its recipe's own (a Rest step's, e.g. proofing).

    All implementations are called."""


@hookspec
def bakectl_cake_baked(cake: CakeRecord) -> None:
    """Called when a cake has come out of the oven. All implementations are called."""


@hookspec
def bakectl_order_delivered(order: OrderRecord) -> None:
    """Called when an order's last cake is baked and the order is ready to deliver.

    Not called by ``bakectl plan`` (a what-if delivers nothing), nor again on resume for an
    order the journal records as delivered. All implementations are called."""


@hookspec
def bakectl_run_finished(kitchen: Kitchen, report: dict) -> None:
    """Called once the run is over with its JSON report (see docs/report.md).

    All implementations are called."""
