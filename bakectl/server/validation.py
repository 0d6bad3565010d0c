"""One order as JSON, checked by the rules of the orders file (FORMATS.md, "Orders file").

bakectl/files.py checks YAML nodes as it streams a file and has no per-order entry point for
a JSON value, so the field rules are mirrored here, with its limits, next to the JSON Schema
the server publishes (a test compares the two). The recipe is checked by files.check_orders
itself. Every problem is reported with the field it is about.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from dataclasses import dataclass
from typing import Any

from bakectl.files import (
    CONTROL,
    CONTROL_IN_TEXT,
    MAX_MINUTES,
    MAX_PRIORITY,
    due_date,
    range_problem,
)

#: The fields of an order (FORMATS.md); anything else is rejected with a "did you mean" hint.
FIELDS = ("id", "recipe", "quantity", "due", "customer", "priority")

#: A server-side cap on cakes per order (files allow 100,000): one request must not be able
#: to start a hundred thousand tasks.
MAX_QUANTITY = 1000


ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "recipe"],
    "properties": {
        "id": {"type": "string", "minLength": 1, "description": "unique order id"},
        "recipe": {"type": "string", "minLength": 1, "description": "a registered recipe"},
        "quantity": {"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY, "default": 1,
                     "description": "each unit is one cake: one mix, one bake"},
        # anyOf: a date-time string is a string of both formats to a validator that does
        # not check formats (most do not, by default).
        "due": {"anyOf": [{"type": "number", "minimum": 0, "maximum": MAX_MINUTES},
                          {"type": "string", "format": "date-time"},
                          {"type": "string", "format": "date"}, {"type": "null"}],
                "description": "minutes after the order is accepted, or an ISO 8601 "
                               "date-time or date (midnight), the server's local time if it "
                               "has no offset; null or absent: no due time"},
        "customer": {"type": ["string", "null"], "description": "any Unicode text"},
        "priority": {"type": "integer", "default": 0, "minimum": -MAX_PRIORITY,
                     "maximum": MAX_PRIORITY,
                     "description": "higher first, where the policy uses it"},
    },
    "example": {"id": "o-1001", "recipe": "sponge", "quantity": 2, "due": 60,
                "customer": "Alice"},
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an order: the field it is about and what is wrong."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidOrder(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A valid order as received: `due` is still relative (minutes) or absolute (a datetime)."""

    id: str
    recipe: str
    quantity: int = 1
    due_minutes: float | None = None
    due_at: dt.datetime | None = None
    customer: str | None = None
    priority: int = 0


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different: as in an orders file, a key given twice is
    an error, not "the last one wins"."""
    obj = dict(pairs)
    if len(obj) != len(pairs):  # cheap (~0.2 µs an order); only a duplicate looks further
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise InvalidOrder([Problem(key, "duplicate key: give each key once")])
            seen.add(key)
    return obj


#: made once: json.loads(..., object_pairs_hook=...) builds a decoder per call (+3 µs)
_decode = json.JSONDecoder(object_pairs_hook=_unique_keys).decode


def parse_json(body: bytes) -> Any:
    """A request body's JSON value, read as json.loads reads bytes. Raises ValueError if it
    is not JSON, InvalidOrder if an object in it gives a key twice."""
    return _decode(body.decode(json.detect_encoding(body), "surrogatepass"))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_due(value: Any) -> tuple[float | None, dt.datetime | None]:
    """(minutes, None) or (None, an aware datetime); raises ValueError saying what is wrong,
    in the words an orders file gets (files.range_problem, files.due_date)."""
    if _is_int(value) or isinstance(value, float):
        if not 0 <= value <= MAX_MINUTES:  # NaN too; the words only when they are needed
            raise ValueError(range_problem(value, json.dumps(value), 0, MAX_MINUTES))
        return float(value), None
    if isinstance(value, str):
        try:
            # As in files.py: no time zone means local time.
            when, _ = due_date(value, dt.datetime.now().astimezone(), start_name="now")
        except ValueError as exc:
            raise ValueError(f"{exc}" if str(exc) else _DUE_EXPECTED) from None
        return None, when.astimezone()
    raise ValueError(_DUE_EXPECTED)


_DUE_EXPECTED = "must be minutes (a number >= 0) or an ISO 8601 date-time"


def check_order(data: Any, recipes: dict | None = None, bakery=None, *,
                known: dict[str, list[Problem]] | None = None) -> OrderRequest:
    """The order `data` describes; raises InvalidOrder naming every bad field.

    With `recipes` and `bakery`, the recipe must be one of them, and some oven hot enough.
    `known` keeps what was found about each of the `recipes` (for callers whose recipes and
    bakery never change: the check is a third of the whole, and the answer is always the
    same); names that are not recipes are looked at every time, so it stays that small."""
    if not isinstance(data, dict):
        raise InvalidOrder([Problem("body", "must be a JSON object (one order)")])
    problems: list[Problem] = []
    for name in data:
        if name not in FIELDS:
            close = difflib.get_close_matches(str(name), FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(Problem(str(name), f"unknown field{hint}"))
    for name in ("id", "recipe"):
        value = data.get(name)
        if name not in data:
            problems.append(Problem(name, "is required"))
        elif not isinstance(value, str) or not value.strip():
            problems.append(Problem(name, "must be a non-empty string"))
        elif CONTROL.search(value):
            problems.append(Problem(name, "must not contain control characters"))
    quantity = data.get("quantity", 1)
    if not _is_int(quantity) or quantity < 1:
        problems.append(Problem("quantity", "must be an integer >= 1"))
    elif quantity > MAX_QUANTITY:
        problems.append(Problem("quantity", f"at most {MAX_QUANTITY} cakes per order"))
    due = data.get("due")
    parsed_due = (None, None)
    if due is not None:
        try:
            parsed_due = parse_due(due)
        except ValueError as exc:
            problems.append(Problem("due", str(exc)))
    customer = data.get("customer")
    if customer is not None and not isinstance(customer, str):
        problems.append(Problem("customer", "must be a string"))
    priority = data.get("priority", 0)
    if not _is_int(priority) or not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        problems.append(Problem("priority", f"must be an integer from {-MAX_PRIORITY} to "
                                            f"{MAX_PRIORITY}"))
    if isinstance(customer, str) and CONTROL_IN_TEXT.search(customer):
        problems.append(Problem("customer", "must not contain control characters"))
    recipe = data.get("recipe")
    if recipes is not None and isinstance(recipe, str) and recipe.strip():
        found = known.get(recipe) if known is not None else None
        if found is None:
            found = _recipe_problems(recipe, recipes, bakery)
            if known is not None and recipe in recipes:
                known[recipe] = found
        problems.extend(found)
    if problems:
        raise InvalidOrder(problems)
    return OrderRequest(data["id"], recipe, quantity, parsed_due[0], parsed_due[1],
                        customer, priority)


def _recipe_problems(name: str, recipes: dict, bakery) -> list[Problem]:
    """What files.check_orders says about the recipe: unknown, or hotter than every oven."""
    from bakectl.errors import InputErrors
    from bakectl.files import check_orders
    from bakectl.model import Bakery, Order

    try:
        check_orders([Order("-", name)], recipes, bakery or Bakery.default())
    except InputErrors as exc:
        return [Problem("recipe", error.message) for error in exc.errors]
    return []
