"""The OpenAPI 3.1 document of the node API, generated from the route table (it cannot drift)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from spacemesh_plugins.api_http.routes import PRIVATE, Route
from spacemesh_plugins.api_http.schema import ERROR

_ERRORS = {
    "400": "malformed request: the reason names the field",
    "401": "private route: a valid bearer token is required from this address",
    "404": "not found",
    "409": "conflicts with the node's state",
    "415": "the body must be application/json",
    "503": "the subsystem that would answer does not run in this node",
}


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def compute_operation(route: Route) -> dict[str, Any]:
    """Return the OpenAPI operation object of ``route``."""
    responses: dict[str, Any]
    if route.kind == "stream":
        responses = {"200": {"description": "server-sent events: `event: <topic>` and `data: <JSON body>`",
                             "content": {"text/event-stream": {"schema": {"type": "string"}}}}}
    elif route.kind in ("text", "html", "static"):
        media = {"text": "text/plain", "html": "text/html"}.get(route.kind, "application/octet-stream")
        responses = {"200": {"description": "document", "content": {media: {"schema": {"type": "string"}}}}}
    else:
        responses = {"200": {"description": "success", "content": _json_content(route.response)}}
    for code, text in _ERRORS.items():
        if code == "401" and (route.access != PRIVATE or not route.needs_token):
            continue
        if code == "415" and route.body is None:
            continue
        responses[code] = {"description": text, "content": _json_content({"$ref": "#/components/schemas/Error"})}
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
        "responses": responses,
    }
    if route.needs:
        operation["description"] = f"Answers 503 when none of these runs in the node: {', '.join(route.needs)}."
    if route.body is not None:
        operation["requestBody"] = {"required": False, "content": _json_content(route.body)}
    parameters = [
        {"name": name, "in": "query", "required": name in route.required_query, "schema": schema}
        for name, schema in route.query.items()
    ]
    parameters += [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "maxLength": 200}}
        for name in re.findall(r"{(\w+)}", route.path)
    ]
    if parameters:
        operation["parameters"] = parameters
    if route.access == PRIVATE and not route.needs_token:
        operation["x-access"] = "private listener only; no token needed (a static dashboard file, no node data)"
    elif route.access == PRIVATE:
        operation["security"] = [{}, {"bearer": []}, {"cookie": []}]
        operation["x-access"] = ("private: open from loopback on a loopback listener, else bearer token; "
                                 "a wrong token is refused everywhere")
    else:
        operation["x-access"] = "public"
    return operation


def compute_openapi_document(
    routes: Iterable[Route], version: str, title: str = "spacemesh-py node API"
) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document describing ``routes``."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = compute_operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Public routes mirror go-spacemesh's v2alpha1 JSON gateway; private routes (smeshing, "
                           "PoST setup, wallet, events) listen on the private listener.",
        },
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "the token printed by "
                           "`spacemesh api token`"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "spacemesh_token"},
            },
        },
    }
