"""The documentation moalab-server serves: an OpenAPI document and a short page.

The schemas of the request bodies and of the replies are generated from the wire
protocol's message types (:mod:`moalab.executor.messages`), which the REST routes
turn requests into and replies out of: a field added there shows here.
"""

from html import escape
from typing import Any

from .. import __version__
from ..executor.messages import (BATCH_CALL, CALL_BODY, CREATE_BODY, Call, Create, Failed,
                                 Update, json_schema)

__all__ = ("OPENAPI", "index_page")


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"description": description}
    if schema is not None:
        reply["content"] = {"application/json": {"schema": schema}}
    return {"200": reply}


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


_ERROR = {"type": "object", "required": ["error"],
          "properties": {"error": json_schema(Failed, ("error",))["properties"]["error"]}}
"""An error reply's body: the error of a :class:`Failed` reply."""
_UPDATE = json_schema(Update)
_ANY = {"description": "the method's return value"}


_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"},
         "description": "object name"}
_METHOD = {"name": "method", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "a method exposed with apply_executor / apply_generator_executor"}
_NAMESPACE = {"name": "namespace", "in": "query", "required": False,
              "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{0,64}$", "default": ""},
              "description": "the client's namespace: objects of one namespace are apart from "
                             "another's (two runs may each have a 'lever'); none: the shared "
                             "one. A bad one is refused with 400"}
_CALL_BODY = _json_body(json_schema(Call, CALL_BODY))
_CREATE_BODY = _json_body(json_schema(Create, CREATE_BODY))
_BATCH_BODY = _json_body({"type": "array", "items": json_schema(Call, BATCH_CALL)})

def _with_error_replies(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with the error reply of every ``/api`` operation."""
    for path, operations in document["paths"].items():
        if path.startswith("/api/"):
            for operation in operations.values():
                operation["responses"]["default"] = {
                    "description": "an error (status 400, 401, 403, 404 or 500)",
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Error"}}}}
    return document


OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "moalab-server",
        "version": __version__,
        "description": "Devices of a moalab rig over REST (JSON). Errors are "
                       "{\"error\": {\"type\", \"message\", \"args\"}} with status 400 (bad "
                       "request), 401 (missing or wrong token), 403 (not allowed), 404 (no such "
                       "object) or 500 (the device method raised); the traceback stays in the "
                       "server's log (with MOALAB_SERVER_DEBUG=1 it comes as \"traceback\" "
                       "too). /api requests need the server's token: 'Authorization: Bearer "
                       "<token>'. Objects live in namespaces: a client names its own with the "
                       "query parameter namespace=... on every request (on /ws, the binary "
                       "WebSocket protocol, once: /ws?namespace=run-3); without it, it works in "
                       "the shared namespace \"\". A listing shows every namespace's objects.",
    },
    "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
                   "schemas": {"Error": _ERROR, "Update": _UPDATE}},
    "security": [{"token": []}],
    "paths": {
        "/health": {"get": {"summary": "Server status and version; objects, "
                                       "namespaces and live WebSocket sessions, counted",
                            "responses": _ok("{status, version, objects, namespaces (that "
                                             "hold objects), sessions}")}},
        "/api/echo": {"get": {"summary": "Clock echo: server receive (t1) and send (t2) times",
                              "responses": _ok("{t1, t2}")}},
        "/api/objects": {
            "get": {"summary": "List the objects of every namespace",
                    "responses": _ok("[{namespace, name, class, watchers}]")},
            "post": {
                "summary": "Create an object in the namespace, or attach to the existing one "
                           "of that name there",
                "parameters": [_NAMESPACE],
                "requestBody": _CREATE_BODY,
                "responses": {"201": {"description": "created: {created, props}"},
                              "200": {"description": "attached: {created, props}"}},
            },
        },
        "/api/objects/{name}": {"delete": {"summary": "Delete an object of the namespace",
                                           "parameters": [_NAME, _NAMESPACE],
                                           "responses": _ok("{deleted}")}},
        "/api/objects/{name}/call/{method}": {"post": {
            "summary": "Call a method", "parameters": [_NAME, _METHOD, _NAMESPACE],
            "requestBody": _CALL_BODY,
            "responses": _ok("{result, updates}; with Accept: application/x-msgpack, as one "
                             "msgpack frame (arrays as arrays)", _schema(
                                 {"result": _ANY, "updates": {"type": "array",
                                                              "items": _UPDATE}},
                                 ["result", "updates"]))}},
        "/api/calls": {"post": {
            "summary": "Call several methods in one request; each reply comes as its call "
                       "ends",
            "description": "The calls run as the call route runs them one by one: sync calls "
                           "to one object in the list's order, async ones at once; a bad "
                           "call is answered with its error, the others run. Each reply is "
                           "an NDJSON line {index, result, updates} or {index, error, "
                           "updates} (index: its place in the list; updates: the changes of "
                           "the batch's objects before it); with Accept: "
                           "application/x-msgpack, a length-prefixed msgpack frame",
            "parameters": [_NAMESPACE], "requestBody": _BATCH_BODY,
            "responses": _ok("application/x-ndjson: one reply a line, in the order the calls "
                             "end")}},
        "/api/objects/{name}/stream/{method}": {"post": {
            "summary": "Stream a generator method's items as NDJSON lines {item}, then {end} "
                       "(with Accept: application/x-msgpack: length-prefixed msgpack frames "
                       "{items}, then {end})",
            "parameters": [_NAME, _METHOD, _NAMESPACE], "requestBody": _CALL_BODY,
            "responses": _ok("application/x-ndjson")}},
        "/api/objects/{name}/updates": {"get": {
            "summary": "The object's property changes as NDJSON lines {op, obj, props, event}, "
                       "starting with its current properties",
            "parameters": [_NAME, _NAMESPACE], "responses": {"200": {
                "description": "application/x-ndjson: one update a line",
                "content": {"application/x-ndjson": {
                    "schema": {"$ref": "#/components/schemas/Update"}}}}}}},
    },
}

OPENAPI = _with_error_replies(OPENAPI)


def index_page() -> str:
    """A page listing the endpoints, for a person opening the server in a browser."""
    rows = []
    for path, operations in OPENAPI["paths"].items():
        for verb, operation in operations.items():
            rows.append(f"<tr><td><code>{verb.upper()}</code></td><td><code>{escape(path)}"
                        f"</code></td><td>{escape(operation['summary'])}</td></tr>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>moalab-server</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{padding:.2em 1em}</style></head>"
        f"<body><h1>moalab-server {escape(__version__)}</h1>"
        f"<p>{escape(OPENAPI['info']['description'])}</p>"
        f"<table>{''.join(rows)}</table>"
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a></p></body></html>"
    )
