"""The HTTP API: a FastAPI application over the bakery service (see docs/server.md).

Every error is a JSON problem body (RFC 9457): a status, a one-line detail and, for a bad
order, the field at fault. Nothing a client receives ever carries a traceback: anything
unexpected is logged on the server's stderr as one line and answered with a bare 500.
"""

# No `from __future__ import annotations` here: FastAPI reads the route signatures at run
# time, and the dependencies they name are local to create_app().
import hmac
import json
from typing import Annotated
from urllib.parse import quote, urlencode

import orjson
from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from bakectl import __version__
from bakectl.server import schemas
from bakectl.server.bakery import STATUSES, BakeryService, Refused, log
from bakectl.server.store import StoreError
from bakectl.server.validation import ORDER_SCHEMA, InvalidOrder, Problem, parse_json

#: Largest request body accepted (one order is a few hundred bytes).
MAX_BODY_BYTES = 64 * 1024

PROBLEM = "application/problem+json"
#: A page cursor is a row's seq: an SQLite INTEGER, 64 bits
MAX_CURSOR = 2**63 - 1
#: json.dumps without building an encoder for every answer: \u-escapes anything not ASCII
_encode_ascii = json.JSONEncoder().encode
_TITLES = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
           409: "Conflict", 413: "Content Too Large", 422: "Unprocessable Content",
           500: "Internal Server Error", 503: "Service Unavailable"}


def _json(body) -> bytes | str:
    """`body` as JSON text: by orjson (a tenth of json's 2.5 µs for an answer to a POST),
    or by json where orjson refuses: an integer beyond 64 bits, or a lone surrogate (a
    field a client named "\\ud800"), which no UTF-8 can carry but a \\u-escape can."""
    try:
        return orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError
        return _encode_ascii(body)


def problem(status: int, detail: str, *, errors: list[Problem] = (), headers=None) -> Response:
    body = {"type": "about:blank", "title": _TITLES.get(status, "Error"), "status": status,
            "detail": detail}
    if errors:
        body["errors"] = [{"field": p.field, "message": p.message} for p in errors]
    return Response(_json(body), status, headers=headers, media_type=PROBLEM)


def json_response(body, status: int = 200, headers=None) -> Response:
    return Response(_json(body), status, headers=headers, media_type="application/json")


class BodyTooLarge(Exception):
    pass


class Guard:
    """The outermost layer: bodies over the limit get 413, and an unexpected error that gets
    this far is logged as one line (FastAPI has already answered it with a bare 500 problem:
    see ``internal_error``), never a traceback."""

    def __init__(self, app, max_body: int):
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = int(value) if value.isdigit() else None
                break
        if length is not None and length > self.max_body:
            response = problem(413, f"the request body is over {self.max_body} bytes")
            await send({"type": "http.response.start", "status": 413,
                        "headers": response.raw_headers})
            await send({"type": "http.response.body", "body": response.body})
            return
        if length is None:  # chunked: count as it comes (the parser holds others to length)
            receive = self._limited(receive)
        try:
            await self.app(scope, receive, send)
        except ClientDisconnect:
            pass  # the client went away: nobody to answer
        except Exception as exc:
            log(f"{scope.get('method')} {scope.get('path')}: internal error: "
                f"{type(exc).__name__}: {exc}")

    def _limited(self, receive):
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise BodyTooLarge
            return message

        return limited_receive


def create_app(service: BakeryService, *, token: str | None = None,
               max_body: int = MAX_BODY_BYTES):
    """The ASGI application: the API of `service`; writes need `token` if one is given."""
    app = FastAPI(title="bakectl", version=__version__, docs_url=None, redoc_url=None,
                  description="A bakery orchestrator: orders in, cakes baked concurrently on "
                              "a pool of ovens, delivery orders out.")
    expected = token.encode() if token else None

    # Writes check the token by hand rather than through FastAPI dependencies (which cost a
    # tenth of a POST); the OpenAPI document describes the scheme all the same.
    def unauthorized(request: Request) -> Response | None:
        """None if the request may write; else the 401 to answer."""
        if expected is None:
            return None
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected):
            return None
        return problem(401, "a valid 'Authorization: Bearer <token>' is needed to change "
                            "anything", headers={"WWW-Authenticate": "Bearer"})

    writes = {"security": [{"bearer": []}]}
    generate_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = generate_openapi()
            components = schema.setdefault("components", {})
            components["securitySchemes"] = {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "Needed for writes when the server runs with --token."}}
            # FastAPI's own validation errors are never answered (see bad_parameter): only
            # what the routes declare, from bakectl.server.schemas, is.
            components["schemas"] = {name: body for name, body
                                     in components.get("schemas", {}).items()
                                     if name not in ("HTTPValidationError", "ValidationError")}
            components["schemas"].update(schemas.SCHEMAS)
        return app.openapi_schema

    app.openapi = openapi

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc):
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(BodyTooLarge)
    async def too_large(request, exc):
        return problem(413, f"the request body is over {max_body} bytes")

    @app.exception_handler(Exception)
    async def internal_error(request, exc):  # Starlette re-raises it: Guard logs one line
        return problem(500, "internal error")

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request, exc):
        errors = [Problem(str(e["loc"][-1]) if e.get("loc") else "request", e["msg"])
                  for e in exc.errors()]
        return problem(422, "; ".join(str(e) for e in errors), errors=errors)

    #: what the service raises to turn a request down (anything else is a bug: 500)
    turned_down = (InvalidOrder, StoreError, Refused)

    def refused(exc) -> Response:
        if isinstance(exc, InvalidOrder):
            return problem(422, str(exc), errors=exc.problems)
        return problem(exc.status, str(exc))

    # -- orders -------------------------------------------------------------------------------

    # What each route really answers (every route: `schemas.OTHER_ERRORS` besides).
    problem_doc, answer_doc, ref = schemas.problem, schemas.answer, schemas.ref
    no_token = problem_doc("Missing or wrong token (with --token)",
                           **{"WWW-Authenticate": "Bearer"})
    no_order = problem_doc("No such order")
    bad_query = problem_doc("A bad query parameter, named in `errors`")

    @app.post("/orders", status_code=201, tags=["orders"], summary="Place an order",
              responses={201: answer_doc(ref("AcceptedOrder"), "Stored durably; the kitchen "
                                         "has it (or the first answer to this Idempotency-Key)",
                                         Location="Where to follow it: /orders/ID, the id "
                                                  "percent-encoded"),
                         401: no_token,
                         409: problem_doc("An order with this id exists"),
                         413: problem_doc("The body is over 64 KiB"),
                         422: problem_doc("Bad order: each field at fault is in `errors`"),
                         503: problem_doc("The bakery is closing"),
                         "default": schemas.OTHER_ERRORS},
              openapi_extra={**writes, "requestBody": {"required": True, "content": {
                  "application/json": {"schema": ORDER_SCHEMA}}}, "parameters": [{
                      "name": "Idempotency-Key", "in": "header", "required": False,
                      "schema": {"type": "string"},
                      "description": "Repeat a request with the same key: the first answer "
                                     "comes back, nothing new is created"}]})
    async def create_order(request: Request):
        """Answered only once the order is on disk (one fsync shared by the requests that
        arrived meanwhile)."""
        denied = unauthorized(request)
        if denied is not None:
            return denied
        body = await request.body()
        try:
            data = parse_json(body)
        except ValueError as exc:
            return problem(422, f"body: not valid JSON ({exc})",
                           errors=[Problem("body", "not valid JSON")])
        except InvalidOrder as exc:  # a key given twice
            return refused(exc)
        try:
            answer = await service.submit(data, request.headers.get("idempotency-key"))
        except turned_down as exc:
            return refused(exc)
        # Percent-encoded: a header is Latin-1, an id any Unicode (and a '/', '?' or '#' in
        # it would change the path). The order is stored by now: nothing here may fail.
        location = f"/orders/{quote(answer['id'], safe='')}"
        return json_response(answer, 201, headers={"Location": location})

    @app.get("/orders/{order_id:path}", tags=["orders"], summary="One order",
             responses={200: answer_doc(ref("Order"), "The order"), 404: no_order,
                        "default": schemas.OTHER_ERRORS})
    async def get_order(order_id: str):
        """Its status, its cakes with their ovens and times, and an ETA while in the
        kitchen."""
        try:
            return json_response(service.describe(order_id))
        except turned_down as exc:
            return refused(exc)

    @app.get("/orders", tags=["orders"], summary="Orders, oldest first, paged",
             responses={200: answer_doc(ref("OrderPage"), "A page of orders"),
                        422: bad_query, "default": schemas.OTHER_ERRORS})
    async def list_orders(
            status: Annotated[str | None, Query(description=f"one of {', '.join(STATUSES)}")
                              ] = None,
            limit: Annotated[int, Query(ge=1, le=500)] = 50,
            cursor: Annotated[int, Query(ge=0, le=MAX_CURSOR,
                                         description="the `next` of the last page")] = 0):
        if status is not None and status not in STATUSES:
            return problem(422, f"status: must be one of {', '.join(STATUSES)}",
                           errors=[Problem("status", f"must be one of {', '.join(STATUSES)}")])
        items, last = service.list_orders(status, cursor, limit)
        following = None
        if last is not None:
            query = {**({"status": status} if status else {}), "limit": limit, "cursor": last}
            following = f"/orders?{urlencode(query)}"
        return json_response({"items": items, "next": following})

    @app.delete("/orders/{order_id:path}", tags=["orders"], summary="Cancel an order",
                responses={200: answer_doc(ref("Order"), "Cancelled (or cancelled already)"),
                           401: no_token, 404: no_order,
                           409: problem_doc("A cake is in an oven (the detail says which), "
                                            "or the order is finished"),
                           "default": schemas.OTHER_ERRORS},
                openapi_extra=writes)
    async def cancel_order(order_id: str, request: Request):
        """Cancels an order none of whose cakes has reached an oven; mixers and ovens it
        held go back to the kitchen."""
        denied = unauthorized(request)
        if denied is not None:
            return denied
        try:
            return json_response(await service.cancel(order_id))
        except turned_down as exc:
            return refused(exc)

    # -- deliveries, ovens, health, metrics, events ------------------------------------------

    @app.get("/deliveries", tags=["deliveries"], summary="Delivery orders, newest first, paged",
             responses={200: answer_doc(ref("DeliveryPage"), "A page of delivery orders"),
                        422: bad_query, "default": schemas.OTHER_ERRORS})
    async def deliveries(limit: Annotated[int, Query(ge=1, le=500)] = 50,
                         cursor: Annotated[int | None, Query(
                             ge=1, le=MAX_CURSOR,
                             description="the `next` of the last page")] = None):
        rows = service.store.deliveries(before=cursor, limit=limit + 1)  # +1: is there more?
        more, rows = len(rows) > limit, rows[:limit]
        items = [{"order": r["order_id"], "customer": r["customer"], "recipe": r["recipe"],
                  "cakes": r["cakes"], "ready_at": r["ready_at"]} for r in rows]
        following = None
        if more:
            following = f"/deliveries?{urlencode({'limit': limit, 'cursor': rows[-1]['seq']})}"
        return json_response({"items": items, "next": following})

    @app.get("/ovens", tags=["bakery"], summary="Each oven's temperature and current cake",
             responses={200: answer_doc({"type": "array", "items": ref("Oven")}, "The ovens"),
                        "default": schemas.OTHER_ERRORS})
    async def ovens():
        return json_response(service.ovens_json())

    @app.get("/healthz", tags=["bakery"], summary="200 while taking orders, 503 while closing",
             responses={200: answer_doc(ref("Health"), "Taking orders"),
                        503: problem_doc("The bakery is closing"),
                        "default": schemas.OTHER_ERRORS})
    async def healthz():
        if not service.accepting:
            return problem(503, "the bakery is closing")
        return json_response({"status": "ok", "orders_in_kitchen": len(service.live)})

    @app.get("/metrics", tags=["bakery"], summary="Prometheus text format",
             response_class=Response,
             responses={200: {"description": "Prometheus text exposition format 0.0.4",
                              "content": {"text/plain": {"schema": {"type": "string"}}}},
                        "default": schemas.OTHER_ERRORS})
    async def metrics():
        return Response(service.metrics(), media_type="text/plain; version=0.0.4")

    @app.get("/events", tags=["bakery"], summary="Server-sent events for every state change",
             response_class=StreamingResponse,
             responses={200: {"description": "The stream (docs/server.md, GET /events)",
                              "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                        "default": schemas.OTHER_ERRORS})
    async def events(last_event_id: Annotated[str | None, Header(
            description="The `id` of the last event received: the stream starts with the "
                        "events missed since")] = None):
        """Events `order` (an order's status changed), `cake` (a cake's stage changed) and
        `delivery` (a delivery order was stored), after a `hello` with the ovens. With
        `Last-Event-ID`, the events missed since that one come first, or a `reset` if they
        are no longer all kept."""
        def hello() -> dict:
            return {"bakectl": __version__, "ovens": service.ovens_json(),
                    "orders": {s: service.counts.get(s, 0) for s in STATUSES}}

        stream = service.events.stream(hello, last_event_id)
        return StreamingResponse(stream, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    return Guard(app, max_body)
