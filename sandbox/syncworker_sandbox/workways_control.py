"""The Workways sandbox's control surface over HTTP, for a sandbox in another process.

No authentication; JSON in and out; errors are ``{"error": "..."}`` with 400 (refused
value, bad JSON) or 404 (unknown id).

    GET    /_sandbox/users                  every user (API shape)
    POST   /_sandbox/users                  add one; body = fields; 201 with the user
    GET    /_sandbox/users/{id}             one user
    PATCH  /_sandbox/users/{id}             update fields (bumps updatedAt); 200 with the user
    DELETE /_sandbox/users/{id}             remove; 204
    ...    /_sandbox/organizations[/{id}]   the same for organizations (GET one has details)
    GET    /_sandbox/sites, /_sandbox/rooms the fixed site and room catalogs
    GET    /_sandbox/log?method=&path=      {"count": n, "records": [...]}
    DELETE /_sandbox/log                    clear the request log; 204
    POST   /_sandbox/faults                 body = set_fault() arguments, plus optional
                                            "latency_ms"; {} clears the faults
    POST   /_sandbox/corrupt-page           body = {"endpoint", "page", "kind"}
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

if TYPE_CHECKING:
    from syncworker_sandbox.workways import WorkwaysSandbox

Endpoint = Callable[[Request], Awaitable[Response]]
FAULT_KEYS = frozenset(("fail_next", "status", "error_rate", "timeout_seconds", "seed"))


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise _Refused(400, "invalid JSON body") from None
    if not isinstance(data, dict):
        raise _Refused(400, "the body must be a JSON object")
    return data


def _guard(handler: Endpoint) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except _Refused as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except KeyError as exc:
            return JSONResponse({"error": str(exc.args[0] if exc.args else exc)}, 404)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    return endpoint


def control_routes(sandbox: WorkwaysSandbox) -> list[BaseRoute]:
    """The ``/_sandbox/`` routes driving ``sandbox``."""
    kinds: dict[str, dict[str, Callable[..., Any]]] = {
        "users": {
            "list": sandbox.users,
            "get": sandbox.get_user,
            "add": sandbox.add_user,
            "update": sandbox.update_user,
            "remove": sandbox.remove_user,
        },
        "organizations": {
            "list": sandbox.organizations,
            "get": sandbox.get_organization,
            "add": sandbox.add_organization,
            "update": sandbox.update_organization,
            "remove": sandbox.remove_organization,
        },
    }

    async def collection(request: Request) -> Response:
        ops = kinds[request.path_params["kind"]]
        if request.method == "GET":
            return JSONResponse(ops["list"]())
        new_id = ops["add"](**await _body(request))
        return JSONResponse(ops["get"](new_id), status_code=201)

    async def item(request: Request) -> Response:
        ops = kinds[request.path_params["kind"]]
        record_id = request.path_params["id"]
        if request.method == "DELETE":
            ops["remove"](record_id)
            return Response(status_code=204)
        if request.method == "PATCH":
            ops["update"](record_id, **await _body(request))
        return JSONResponse(ops["get"](record_id))

    async def catalog(request: Request) -> Response:
        name = request.url.path.rsplit("/", 1)[-1]
        return JSONResponse(sandbox.sites() if name == "sites" else sandbox.rooms())

    async def request_log(request: Request) -> Response:
        if request.method == "DELETE":
            sandbox.clear_log()
            return Response(status_code=204)
        method, path = request.query_params.get("method"), request.query_params.get("path")
        records = [
            dataclasses.asdict(r)
            for r in sandbox.request_log
            if (method is None or r.method == method.upper()) and (path is None or r.path == path)
        ]
        return JSONResponse({"count": len(records), "records": records})

    async def faults(request: Request) -> Response:
        body = await _body(request)
        unknown = set(body) - FAULT_KEYS - {"latency_ms"}
        if unknown:
            raise _Refused(400, f"unknown fault settings {sorted(unknown)}")
        if "latency_ms" in body:
            latency = body.pop("latency_ms")
            if not isinstance(latency, int | float) or latency < 0:
                raise _Refused(400, "latency_ms must be a number >= 0")
            sandbox.latency_ms = float(latency)
        sandbox.set_fault(**body)
        return JSONResponse({"ok": True})

    async def corrupt(request: Request) -> Response:
        body = await _body(request)
        try:
            endpoint, page, kind = body["endpoint"], body["page"], body["kind"]
        except KeyError as exc:
            raise _Refused(400, f"missing {exc.args[0]}") from None
        if not isinstance(page, int):
            raise _Refused(400, "page must be an integer")
        sandbox.corrupt_page(str(endpoint), page, str(kind))
        return JSONResponse({"ok": True})

    kind = "{kind:str}"
    return [
        Route("/_sandbox/log", _guard(request_log), methods=["GET", "DELETE"]),
        Route("/_sandbox/faults", _guard(faults), methods=["POST"]),
        Route("/_sandbox/corrupt-page", _guard(corrupt), methods=["POST"]),
        Route("/_sandbox/sites", _guard(catalog), methods=["GET"]),
        Route("/_sandbox/rooms", _guard(catalog), methods=["GET"]),
        Route(f"/_sandbox/{kind}", _guard(collection), methods=["GET", "POST"]),
        Route(f"/_sandbox/{kind}/{{id:str}}", _guard(item), methods=["GET", "PATCH", "DELETE"]),
    ]
