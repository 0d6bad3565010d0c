"""A JSON order is held to the rules of an orders file: what files.py accepts in YAML the
server accepts in JSON, and what one refuses the other does too."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from bakectl.errors import InputErrors
from bakectl.files import load_orders
from bakectl.model import Bakery, Ingredient, Recipe
from bakectl.server.validation import ORDER_SCHEMA, InvalidOrder, check_order

RECIPES = {"sponge": Recipe("sponge", (Ingredient("flour", 200, "g"),), 10, 180, 25),
           "lava": Recipe("lava", (Ingredient("rock", 1, "kg"),), 1, 900, 10)}

CASES = [
    {"id": "o-1", "recipe": "sponge"},
    {"id": "o-1", "recipe": "sponge", "quantity": 3, "due": 90.5, "customer": "Zoë\nflat 2",
     "priority": -4},
    {"id": "o-1", "recipe": "sponge", "due": "2030-01-01T12:00:00+01:00"},
    {"id": "o-1", "recipe": "sponge", "quantity": 0},
    {"id": "o-1", "recipe": "sponge", "quantity": 2.5},
    {"id": "o-1", "recipe": "sponge", "quantity": True},
    {"id": "o-1", "recipe": "sponge", "priority": 0.5},
    {"id": "o-1", "recipe": "sponge", "due": "soon"},
    {"id": "o-1", "recipe": "sponge", "colour": "red"},
    {"id": "", "recipe": "sponge"},
    {"id": "o-1"},
    {"recipe": "sponge"},
    {"id": "o-1", "recipe": "sponj"},
    {"id": "o-1", "recipe": "lava"},
]


def accepted_as_yaml(order: dict, tmp_path) -> bool:
    path = tmp_path / "orders.yaml"
    # JSON is YAML: the order is written exactly as it would be posted.
    path.write_text("orders:\n  - " + json.dumps(order, ensure_ascii=False) + "\n")
    try:
        orders = load_orders(path)
    except InputErrors:
        return False
    from bakectl.files import check_orders

    try:
        check_orders(orders, RECIPES, Bakery.default())
    except InputErrors:
        return False
    return True


def accepted_as_json(order: dict) -> bool:
    try:
        check_order(order, RECIPES, Bakery.default())
    except InvalidOrder:
        return False
    return True


@pytest.mark.parametrize("order", CASES, ids=lambda o: json.dumps(o)[:60])
def test_json_and_yaml_orders_follow_the_same_rules(order, tmp_path):
    assert accepted_as_json(order) == accepted_as_yaml(order, tmp_path)


@pytest.mark.parametrize("due", [-1, 20_000_000, "2026-02-30", "2026-02-30T10:00",
                                 "1900-01-01T00:00:00+00:00"])
def test_a_bad_due_gets_the_words_an_orders_file_gets(due, tmp_path):
    path = tmp_path / "orders.yaml"
    path.write_text("orders:\n  - " + json.dumps({"id": "o-1", "recipe": "sponge", "due": due})
                    + "\n")
    with pytest.raises(InputErrors) as in_file:
        load_orders(path)
    [error] = in_file.value.errors
    with pytest.raises(InvalidOrder) as in_json:
        check_order({"id": "o-1", "recipe": "sponge", "due": due}, RECIPES, Bakery.default())
    [problem] = in_json.value.problems
    assert problem.field == "due"
    # The file says "due must be ..." or "due: '...' is ...": the same words after the name.
    words = error.message.removeprefix("due").removeprefix(":").strip()
    assert problem.message == words.replace("the start of the run", "now")


def test_the_published_schema_lists_exactly_the_fields_checked():
    from bakectl.server.validation import FIELDS

    assert list(ORDER_SCHEMA["properties"]) == list(FIELDS)
    assert ORDER_SCHEMA["required"] == ["id", "recipe"]
    assert accepted_as_json(ORDER_SCHEMA["example"] | {"recipe": "sponge"})


def test_submit_checks_the_file_before_posting_anything(write):
    orders = write("orders.yaml", "orders:\n  - {id: o-1, recipe: sponge, quantity: 0}\n")
    # Nothing listens on this port: the file's mistake is reported before any request.
    result = run_cli("submit", str(orders), "--server", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert result.stderr.startswith(f"{orders}:2:")
    assert "quantity" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("due", [60, 0.5, "2030-01-01T09:30:00+01:00", "2030-01-01T09:30",
                                 "2030-01-01", None])
def test_every_due_the_server_takes_is_one_the_published_schema_allows(due):
    import jsonschema

    order = {"id": "o-1", "recipe": "sponge", "due": due}
    assert accepted_as_json(order)
    jsonschema.Draft202012Validator(ORDER_SCHEMA).validate(order)
