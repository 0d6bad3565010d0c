"""JSON Schemas of what the API answers, for its OpenAPI document (``/openapi.json``).

The routes build their answers by hand (FastAPI's response models would cost every request),
so these are written by hand too, and kept true by tests/test_server_openapi.py, which checks
real answers against the document the server publishes. Strict on purpose: every field is
required and no other is allowed, so that an answer that changes without its schema fails.
"""

from __future__ import annotations

from bakectl.server.bakery import STATUSES

PROBLEM_MEDIA_TYPE = "application/problem+json"


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict, description: str = "") -> dict:
    schema = {"type": "object", "additionalProperties": False,
              "required": list(properties), "properties": properties}
    if description:
        schema["description"] = description
    return schema


_TIME = {"type": "string", "format": "date-time", "description": "UTC, ISO 8601"}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time", "description": "UTC, ISO 8601"}
_TEXT_OR_NULL = {"type": ["string", "null"]}

_ACCEPTED = {
    "id": {"type": "string"},
    "status": {"type": "string", "enum": list(STATUSES)},
    "recipe": {"type": "string"},
    "quantity": {"type": "integer", "minimum": 1},
    "customer": _TEXT_OR_NULL,
    "priority": {"type": "integer"},
    "due_at": {**_TIME_OR_NULL, "description": "when it is due (null: no due time)"},
    "created_at": _TIME,
}

SCHEMAS: dict[str, dict] = {
    "Problem": {
        "type": "object", "additionalProperties": False,
        "description": "An error (RFC 9457), as every error is answered.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "description": "always about:blank"},
            "title": {"type": "string", "description": "the status's name"},
            "status": {"type": "integer", "description": "the HTTP status"},
            "detail": {"type": "string", "description": "one line saying what is wrong"},
            "errors": {"type": "array", "description": "a bad order or parameter: each field "
                                                       "at fault and what is wrong with it",
                       "items": _object({"field": {"type": "string"},
                                         "message": {"type": "string"}})},
        },
    },
    "AcceptedOrder": _object(
        {**_ACCEPTED, "status": {"type": "string", "const": "queued"}},
        "The answer to the POST that placed the order (the same for every repeat of it)."),
    "Cake": _object({
        "index": {"type": "integer", "minimum": 1},
        "recipe": {"type": "string"},
        "stage": {"type": "string", "description": "queued, mixing, waiting, a recipe's rest "
                  "(proofing...), preheating, baking, retrying, baked, failed; cancelled for "
                  "a cake stopped by a cancel"},
        "oven": _TEXT_OR_NULL,
        "temperature_c": {"type": ["number", "null"]},
        "mix_start": _TIME_OR_NULL,
        "mix_end": _TIME_OR_NULL,
        "bake_start": _TIME_OR_NULL,
        "bake_end": _TIME_OR_NULL,
        "error": _TEXT_OR_NULL,
    }),
    "Order": _object({
        **_ACCEPTED,
        "cakes": {"type": "array", "items": ref("Cake")},
        "eta": {**_TIME_OR_NULL, "description": "while in the kitchen: when its last cake "
                                                "should come out of the oven (an estimate)"},
        "finished_at": _TIME_OR_NULL,
        "late": {"type": "boolean", "description": "delivered after its due time, or still in "
                                                   "the kitchen past it"},
    }),
    "OrderPage": _object({
        "items": {"type": "array", "items": ref("Order")},
        "next": {"type": ["string", "null"], "description": "the next page's address; null "
                                                            "on the last"},
    }),
    "Delivery": _object({
        "order": {"type": "string", "description": "the order's id"},
        "customer": _TEXT_OR_NULL,
        "recipe": {"type": "string"},
        "cakes": {"type": "integer", "minimum": 1},
        "ready_at": _TIME,
    }),
    "DeliveryPage": _object({
        "items": {"type": "array", "items": ref("Delivery")},
        "next": {"type": ["string", "null"], "description": "the next page's address; null "
                                                            "on the last"},
    }),
    "Oven": _object({
        "name": {"type": "string"},
        "temperature_c": {"type": "number"},
        "max_temperature_c": {"type": "number"},
        "activity": {**_TEXT_OR_NULL, "description": "what it is doing (null: idle)"},
        "cake": {"oneOf": [{"type": "null"}, _object({
            "order": {"type": "string"}, "index": {"type": "integer"},
            "recipe": {"type": "string"}})], "description": "the cake in it"},
        "bakes": {"type": "integer", "minimum": 0},
        "utilization": {"type": "number", "minimum": 0},
    }),
    "Health": _object({
        "status": {"type": "string", "const": "ok"},
        "orders_in_kitchen": {"type": "integer", "minimum": 0},
    }),
}


def answer(schema: dict, description: str, **headers: str) -> dict:
    """An OpenAPI response of JSON `schema`, with `headers` (name: description)."""
    response = {"description": description,
                "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                               for name, text in headers.items()}
    return response


def problem(description: str, **headers: str) -> dict:
    """An OpenAPI response that is a Problem."""
    response = answer(ref("Problem"), description, **headers)
    response["content"] = {PROBLEM_MEDIA_TYPE: response.pop("content")["application/json"]}
    return response


#: Every operation can also answer this: 413 (a body over the limit), 500, and so on.
OTHER_ERRORS = problem("Any other error: 413 for a body over 64 KiB, 500 for a bug (logged on "
                       "the server, never a traceback in the answer). A path or method the API "
                       "does not have gets a 404 or 405 problem too.")
