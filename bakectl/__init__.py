"""bakectl: a bakery orchestrator.

Customer orders in, cakes baked concurrently on a pool of ovens, recipes from plugins.
The library API (``run_in_foreground``, ``make_cake``, ``OvenPool`` ...) is imported lazily so
that ``bakectl --help`` stays fast.
"""

__version__ = "0.1.0"

# name -> module that defines it; resolved on first access (PEP 562).
_LAZY = {
    "run_in_foreground": "bakectl.background",
    "run_in_background": "bakectl.background",
    "gather_ingredients": "bakectl.kitchen",
    "mix_ingredients": "bakectl.kitchen",
    "make_cake": "bakectl.kitchen",
    "Kitchen": "bakectl.kitchen",
    "bake_orders": "bakectl.kitchen",
    "Oven": "bakectl.ovens",
    "OvenPool": "bakectl.ovens",
    "RealClock": "bakectl.clock",
    "SimulatedClock": "bakectl.clock",
    "Recipe": "bakectl.model",
    "Ingredient": "bakectl.model",
    "Order": "bakectl.model",
    "Bakery": "bakectl.model",
    "OvenSpec": "bakectl.model",
    "Mixture": "bakectl.model",
    "Cake": "bakectl.model",
    "Rest": "bakectl.model",
    "Bake": "bakectl.model",
    "hookimpl": "bakectl.hookspecs",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bakectl' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
