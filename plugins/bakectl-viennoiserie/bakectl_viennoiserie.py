"""bakectl-viennoiserie: recipes whose process is more than mix-then-bake.

Laminated doughs and breads proof after mixing without holding an oven (other cakes bake
meanwhile); biscotti are baked twice, at two temperatures, and cool in between.
"""

from bakectl import Bake, Ingredient, Recipe, Rest, hookimpl

__version__ = "0.1.0"

_LAMINATED = (Ingredient("flour", 500, "g"), Ingredient("butter", 280, "g"),
              Ingredient("milk", 140, "ml"), Ingredient("yeast", 10, "g"),
              Ingredient("sugar", 55, "g"), Ingredient("salt", 10, "g"))

RECIPES = (
    Recipe("croissant", _LAMINATED, mix_minutes=25,
           steps=(Rest(90, "proofing"), Bake(200, 18))),
    Recipe("pain-au-chocolat", (*_LAMINATED, Ingredient("chocolate", 120, "g")), mix_minutes=25,
           steps=(Rest(90, "proofing"), Bake(190, 16))),
    Recipe("sourdough", (Ingredient("flour", 500, "g"), Ingredient("water", 350, "ml"),
                         Ingredient("levain", 100, "g"), Ingredient("salt", 10, "g")),
           mix_minutes=15, steps=(Rest(60, "proofing"), Bake(240, 40))),
    Recipe("biscotti", (Ingredient("flour", 250, "g"), Ingredient("sugar", 200, "g"),
                        Ingredient("almonds", 150, "g"), Ingredient("eggs", 3, "pcs")),
           mix_minutes=10, steps=(Bake(175, 25), Rest(15, "cooling"), Bake(150, 12))),
)


@hookimpl
def bakectl_recipes():
    """The four recipes of this package."""
    return list(RECIPES)
