"""The bakery's nouns: recipes, orders, ovens, cakes. Frozen dataclasses, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field

from bakectl.errors import Where

#: Defaults of FORMATS.md for a bakery without a bakery file.
DEFAULT_OVENS = 3
DEFAULT_MAX_TEMPERATURE_C = 250.0
DEFAULT_PREHEAT_C_PER_MIN = 10.0
DEFAULT_COOL_C_PER_MIN = 5.0
DEFAULT_AMBIENT_C = 20.0


@dataclass(frozen=True, slots=True)
class Ingredient:
    name: str
    quantity: float
    unit: str


@dataclass(frozen=True, slots=True)
class Recipe:
    """How to make one cake: mix the ingredients, then bake at one temperature."""

    name: str
    ingredients: tuple[Ingredient, ...]
    mix_minutes: float
    temperature_c: float
    bake_minutes: float
    #: where the recipe came from: a file path or a plugin name (shown by `bakectl recipes`)
    source: str = ""


@dataclass(frozen=True, slots=True)
class Order:
    """A customer's order: `quantity` cakes of one recipe, wanted by `due`."""

    id: str
    recipe: str
    quantity: int = 1
    #: minutes from the start of the run, or None for no due date
    due: float | None = None
    customer: str | None = None
    priority: int = 0
    #: where the order's `recipe` field is, for errors found after recipes are known
    where: Where | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class OvenSpec:
    name: str
    max_temperature_c: float = DEFAULT_MAX_TEMPERATURE_C
    preheat_c_per_min: float = DEFAULT_PREHEAT_C_PER_MIN
    cool_c_per_min: float = DEFAULT_COOL_C_PER_MIN


@dataclass(frozen=True, slots=True)
class Bakery:
    ovens: tuple[OvenSpec, ...]
    ambient_c: float = DEFAULT_AMBIENT_C
    #: cakes that can be mixed at once; None for no limit
    mixers: int | None = None

    @classmethod
    def default(cls, ovens: int = DEFAULT_OVENS) -> Bakery:
        return cls(ovens=tuple(OvenSpec(f"oven-{k}") for k in range(1, ovens + 1)))

    def with_ovens(self, count: int) -> Bakery:
        """The same bakery with `count` ovens: the listed ones first, then copies of the last."""
        listed = list(self.ovens[:count])
        template = self.ovens[-1] if self.ovens else OvenSpec("oven-1")
        names = {spec.name for spec in listed}
        k = len(listed)
        while len(listed) < count:
            k += 1
            name = f"oven-{k}"
            while name in names:
                k += 1
                name = f"oven-{k}"
            names.add(name)
            listed.append(OvenSpec(name, template.max_temperature_c,
                                   template.preheat_c_per_min, template.cool_c_per_min))
        return Bakery(tuple(listed), self.ambient_c, self.mixers)


@dataclass(slots=True)
class Mixture:
    """What mixing gives: ready for the oven."""

    recipe: Recipe
    ingredients: tuple[Ingredient, ...]


@dataclass(frozen=True, slots=True)
class Cake:
    """What baking gives: which oven baked it, at what temperature, from when to when
    (bakery minutes, as the oven saw them)."""

    recipe: Recipe
    oven: str
    temperature_c: float
    bake_start: float
    bake_end: float
