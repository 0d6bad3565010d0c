"""The OpenAPI document a server publishes (``/openapi.json``) describes what it really
answers: real requests to a real server, and each answer checked against what the document
declares for its route and status: the media type, the headers, and the body against the
JSON Schema (jsonschema, draft 2020-12, which OpenAPI 3.1 uses)."""

from __future__ import annotations

import json

import jsonschema
import pytest
from serving import Server

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    # One oven, so that an order can be kept in it (long_bake) while another waits.
    with Server(tmp_path_factory.mktemp("openapi"), "--speed", "6000", "--ovens", "1",
                BAKECTL_TOKEN=TOKEN) as server:
        assert server.client.post("/orders", json={"id": "first", "recipe": "quick"},
                                  headers=AUTH).status_code == 201
        server.wait_for("first", "delivered")  # a delivery to list
        yield server, server.client.get("/openapi.json").json()


def validate(doc: dict, body, schema: dict) -> None:
    """`body` against `schema`, whose $refs point into the document's components."""
    jsonschema.Draft202012Validator({**schema, "components": doc["components"]}).validate(body)


def check(doc: dict, response, route: str):
    """`response` is what the document says `route` answers with its status."""
    method = response.request.method.lower()
    responses = doc["paths"][route][method]["responses"]
    status = str(response.status_code)
    assert status in responses, (f"{method.upper()} {route}: {status} is not in the document "
                                 f"({', '.join(responses)}): {response.text}")
    declared = responses[status]
    media_type = response.headers["content-type"].split(";")[0]
    assert list(declared["content"]) == [media_type]
    for header in declared.get("headers", {}):
        assert header.lower() in response.headers, f"{header} is declared, not sent"
    validate(doc, response.json(), declared["content"][media_type]["schema"])
    return response


def test_the_document_declares_only_what_is_answered(served):
    server, doc = served
    text = json.dumps(doc)
    assert "HTTPValidationError" not in text and "ValidationError" not in text
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    for route, operations in doc["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                for media_type, content in response.get("content", {}).items():
                    assert content["schema"], f"{method} {route} {status} {media_type}: no schema"
                    if status.startswith(("4", "5")) or status == "default":
                        assert media_type == "application/problem+json"
    created = doc["paths"]["/orders"]["post"]["responses"]["201"]
    assert "Location" in created["headers"]


def test_every_answer_of_the_orders_routes_is_as_documented(served):
    server, doc = served
    c = server.client
    order = {"id": "oa-1", "recipe": "quick", "quantity": 2, "due": 600, "customer": "Zoë"}
    key = {"Idempotency-Key": "oa-1-key"}
    created = check(doc, c.post("/orders", json=order, headers={**AUTH, **key}), "/orders")
    assert created.status_code == 201 and created.headers["location"] == "/orders/oa-1"
    assert check(doc, c.post("/orders", json=order, headers={**AUTH, **key}),
                 "/orders").status_code == 201  # the first answer again
    for refused, status in [
            (c.post("/orders", json={"id": "oa-2", "recipe": "quick"}), 401),
            (c.post("/orders", json={"id": "oa-1", "recipe": "quick"}, headers=AUTH), 409),
            (c.post("/orders", json={"id": "oa-3", "recipe": "quik", "quantity": 0},
                    headers=AUTH), 422),
            (c.post("/orders", content=b"{not json", headers=AUTH), 422),
            (c.post("/orders", content=b"x" * (65 * 1024), headers=AUTH), 413)]:
        assert check(doc, refused, "/orders").status_code == status
    assert server.wait_for("oa-1", "delivered")
    delivered = check(doc, c.get("/orders/oa-1"), "/orders/{order_id}").json()
    assert delivered["status"] == "delivered" and delivered["cakes"][0]["stage"] == "baked"

    # One cake in the only oven for ever, one waiting for it: live orders, as they are.
    assert c.post("/orders", json={"id": "oa-oven", "recipe": "long_bake"},
                  headers=AUTH).status_code == 201
    server.wait_for("oa-oven", "baking")
    assert c.post("/orders", json={"id": "oa-wait", "recipe": "quick", "due": 0.001},
                  headers=AUTH).status_code == 201
    server.wait_for("oa-wait", "mixing")
    for order_id in ("oa-oven", "oa-wait"):
        check(doc, c.get(f"/orders/{order_id}"), "/orders/{order_id}")
    for query in ({}, {"status": "baking"}, {"status": "delivered", "limit": 1}):
        check(doc, c.get("/orders", params=query), "/orders")
    for query in ({"limit": 0}, {"status": "nope"}, {"cursor": "x"}):
        assert check(doc, c.get("/orders", params=query), "/orders").status_code == 422

    assert check(doc, c.delete("/orders/oa-wait"), "/orders/{order_id}").status_code == 401
    cancelled = check(doc, c.delete("/orders/oa-wait", headers=AUTH), "/orders/{order_id}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    check(doc, c.get("/orders/oa-wait"), "/orders/{order_id}")  # now from the store
    for gone, status in [(c.delete("/orders/oa-oven", headers=AUTH), 409),
                         (c.delete("/orders/oa-1", headers=AUTH), 409),
                         (c.delete("/orders/nobody", headers=AUTH), 404),
                         (c.get("/orders/nobody"), 404)]:
        assert check(doc, gone, "/orders/{order_id}").status_code == status


def test_the_other_routes_answer_as_documented(served):
    server, doc = served
    c = server.client
    deliveries = check(doc, c.get("/deliveries", params={"limit": 1}), "/deliveries").json()
    assert deliveries["items"]
    assert check(doc, c.get("/deliveries", params={"cursor": 0}),
                 "/deliveries").status_code == 422
    check(doc, c.get("/ovens"), "/ovens")
    check(doc, c.get("/healthz"), "/healthz")
    metrics = c.get("/metrics")
    assert metrics.headers["content-type"].split(";")[0] in \
        doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    # A path or a method the API does not have: a Problem too, as the document says.
    problem = doc["components"]["schemas"]["Problem"]
    for response, status in [(c.get("/nowhere"), 404), (c.put("/orders"), 405)]:
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
        validate(doc, response.json(), problem)
