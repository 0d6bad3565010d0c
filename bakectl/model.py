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


#: Stages the kitchen itself reports (and "cancelled", a server's); a Rest step must name its
#: own (e.g. "proofing").
KITCHEN_STAGES = ("queued", "mixing", "waiting", "preheating", "baking", "baked", "failed",
                  "retrying", "cancelled")


@dataclass(frozen=True, slots=True)
class Rest:
    """A step of a recipe's process: wait `minutes` without an oven (proofing, cooling...).

    `stage` is what progress displays show meanwhile."""

    minutes: float
    stage: str = "resting"

    def __post_init__(self):
        if not self.minutes >= 0:
            raise ValueError(f"Rest: minutes must be 0 or more, got {self.minutes!r}")
        if not self.stage or self.stage in KITCHEN_STAGES:
            raise ValueError(f"Rest: stage {self.stage!r} is empty or one of the kitchen's own "
                             f"({', '.join(KITCHEN_STAGES)}); name it, e.g. 'proofing'")


@dataclass(frozen=True, slots=True)
class Bake:
    """A step of a recipe's process: take an oven, bring it to `temperature_c`, bake for
    `minutes`, give the oven back."""

    temperature_c: float
    minutes: float

    def __post_init__(self):
        if not self.minutes > 0:
            raise ValueError(f"Bake: minutes must be more than 0, got {self.minutes!r}")


#: One step of a recipe's process after mixing.
Step = Rest | Bake


@dataclass(frozen=True, slots=True)
class Recipe:
    """How to make one cake: mix the ingredients, then bake at one temperature, or, with
    `steps`, go through the recipe's own process after mixing (rest, bake, rest, bake...).

    A recipe with steps may leave out `temperature_c` and `bake_minutes`: they become the
    first bake's temperature and the total baking time."""

    name: str
    ingredients: tuple[Ingredient, ...]
    mix_minutes: float
    temperature_c: float | None = None
    bake_minutes: float | None = None
    #: where the recipe came from: a file path or a plugin name (shown by `bakectl recipes`)
    source: str = ""
    #: what happens after mixing; empty: one bake at temperature_c for bake_minutes
    steps: tuple[Step, ...] = ()
    #: replaces the recipe of this name from an earlier source (docs/formats.md, "Recipes")
    override: bool = False
    #: the source of the recipe this one replaced (set when recipes are collected)
    overrides: str = field(default="", compare=False)
    # `process`, made once: every cake of the recipe walks it (100,000 in a big plan)
    _process: tuple[Step, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self):
        if not self.steps:
            if self.temperature_c is None or self.bake_minutes is None:
                raise ValueError(f"recipe {self.name!r} needs temperature_c and bake_minutes, "
                                 "or steps")
            object.__setattr__(self, "_process", (Bake(self.temperature_c, self.bake_minutes),))
            return
        steps = tuple(self.steps)
        if not all(isinstance(step, Rest | Bake) for step in steps):
            raise ValueError(f"recipe {self.name!r}: each step must be a Rest or a Bake")
        bakes = [step for step in steps if isinstance(step, Bake)]
        if not bakes:
            raise ValueError(f"recipe {self.name!r}: steps must include at least one Bake")
        derived = {"temperature_c": bakes[0].temperature_c,
                   "bake_minutes": sum(step.minutes for step in bakes)}
        for name, value in derived.items():
            given = getattr(self, name)
            if given is not None and given != value:
                raise ValueError(f"recipe {self.name!r}: {name} is {given!r} but its steps "
                                 f"say {value!r}; leave it out")
            object.__setattr__(self, name, value)  # frozen: set once, here
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "_process", steps)

    @property
    def process(self) -> tuple[Step, ...]:
        """The steps after mixing: the recipe's own, or one bake."""
        return self._process

    @property
    def hottest_c(self) -> float:
        """The highest temperature any of its bakes needs."""
        return max(step.temperature_c for step in self.process if isinstance(step, Bake))


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
