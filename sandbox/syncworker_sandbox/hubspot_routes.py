"""HTTP endpoints of the HubSpot sandbox: CRM objects, properties, pipelines and
associations, at HubSpot's dated paths (``/crm/objects/2026-09/...``, one set per
version in :data:`DATED_VERSIONS`) and, unless ``dated_only``, at the numeric
ones (objects, properties and pipelines v3, associations v4).

The dated versions answer with their own spec's statuses where it differs from
v3/v4: properties ``batch/create`` and associations ``batch/create`` answer
200, associations ``batch/archive`` answers 200 with a ``BatchResponseVoid``."""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncworker_sandbox import hubspot_assoc as assoc
from syncworker_sandbox import hubspot_lifecycle as lifecycle
from syncworker_sandbox import hubspot_objects as objects
from syncworker_sandbox import hubspot_pipelines as pipelines
from syncworker_sandbox import hubspot_writes as writes
from syncworker_sandbox.hubspot_common import (
    DEFAULT_PROPS,
    JSON,
    ApiError,
    BatchOutcome,
    iso_ms,
    normalize_type,
)
from syncworker_sandbox.hubspot_search import search
from syncworker_sandbox.hubspot_store import HubSpotStore

log = logging.getLogger(__name__)
DATED_VERSIONS = ("2026-03", "2026-09")
Handler = Callable[[Request], Awaitable[Response]]


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error.body(str(uuid.uuid4())), status_code=error.status, headers=headers)


def _api(fn: Handler) -> Handler:
    """Render ApiError as HubSpot does; never let an exception escape as a crash."""

    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except ApiError as exc:
            return error_response(exc)
        except Exception:  # a sandbox bug: answer like HubSpot's own 500s
            log.exception("hubspot sandbox crashed on %s %s", request.method, request.url.path)
            return error_response(ApiError(500, "internal error", "INTERNAL_ERROR"))

    return wrapped


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"Numeric value ({text}) out of range")
    return value


def _no_constant(text: str) -> Any:
    raise ValueError(f"Non-standard token '{text}'")


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise ApiError(
            400, "Invalid input JSON on line 1, column 0: No content to map due to end-of-input"
        )
    try:
        return json.loads(raw, parse_float=_finite, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"Invalid input JSON on line 1, column 1: {exc}") from None


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").lower() == "true"


def build_routes(store: HubSpotStore, *, dated_only: bool = False) -> list[Route]:
    """Routes for every dated version, plus the numeric ones unless ``dated_only``."""
    from syncworker_sandbox.hubspot_consent import consent_routes

    routes: list[Route] = []
    for version in DATED_VERSIONS:  # Communication Preferences
        routes += [
            Route(path, _api(handler), methods=[method])
            for path, handler, method in consent_routes(
                store.consent, f"/communication-preferences/{version}"
            )
        ]
    for version in DATED_VERSIONS:
        routes += _routes(
            store,
            props=f"/crm/properties/{version}/{{objectType}}",
            objs=f"/crm/objects/{version}/{{objectType}}",
            links=f"/crm/associations/{version}/{{fromObjectType}}/{{toObjectType}}",
            lines=f"/crm/pipelines/{version}/{{objectType}}",
            listing=None,  # not part of the dated associations API
            dated=True,
        )
    if not dated_only:
        routes += _routes(
            store,
            props="/crm/v3/properties/{objectType}",
            objs="/crm/v3/objects/{objectType}",
            links="/crm/v4/associations/{fromObjectType}/{toObjectType}",
            lines="/crm/v3/pipelines/{objectType}",
            listing="/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}",
            dated=False,
        )
    return routes


def _routes(
    store: HubSpotStore,
    *,
    props: str,
    objs: str,
    links: str,
    lines: str,
    listing: str | None,
    dated: bool,
) -> list[Route]:
    created = 200 if dated else 201  # batch/create of properties and associations

    def batch(outcome: BatchOutcome, started: float, ok: int) -> JSONResponse:
        body: JSON = {
            "status": "COMPLETE",
            "results": outcome.results,
            "startedAt": iso_ms(started),
            "completedAt": iso_ms(store.clock()),
        }
        if outcome.errors:
            body["numErrors"] = len(outcome.errors)
            body["errors"] = outcome.errors
        return JSONResponse(body, status_code=207 if outcome.errors else ok)

    def object_type(request: Request, key: str = "objectType") -> str:
        return normalize_type(request.path_params[key])

    # ------------------------------------------------------------ properties
    async def list_properties(request: Request) -> Response:
        kind = object_type(request)
        with store.lock:
            found = store.list_properties(kind, _flag(request, "archived"))
        wanted = [n for n in request.query_params.get("properties", "").split(",") if n]
        if wanted:
            found = [p for p in found if p["name"] in wanted]
        return JSONResponse({"results": found})

    async def create_property(request: Request) -> Response:
        kind, body = object_type(request), await read_json(request)
        with store.lock:
            return JSONResponse(store.create_property(kind, body), status_code=201)

    async def get_property(request: Request) -> Response:
        kind = object_type(request)
        with store.lock:
            return JSONResponse(
                store.property(
                    kind, request.path_params["propertyName"], _flag(request, "archived")
                )
            )

    async def update_property(request: Request) -> Response:
        kind, body = object_type(request), await read_json(request)
        with store.lock:
            return JSONResponse(
                store.update_property(kind, request.path_params["propertyName"], body)
            )

    async def delete_property(request: Request) -> Response:
        kind = object_type(request)
        with store.lock:
            store.delete_property(kind, request.path_params["propertyName"])
        return Response(status_code=204)

    async def batch_create_properties(request: Request) -> Response:
        kind, body, started = object_type(request), await read_json(request), store.clock()
        with store.lock:
            return batch(store.batch_create_properties(kind, body), started, created)

    async def batch_read_properties(request: Request) -> Response:
        kind, body, started = object_type(request), await read_json(request), store.clock()
        with store.lock:
            return batch(store.batch_read_properties(kind, body), started, 200)

    async def list_groups(request: Request) -> Response:
        kind = object_type(request)
        with store.lock:
            return JSONResponse({"results": [dict(g) for g in store.groups[kind].values()]})

    async def create_group(request: Request) -> Response:
        kind, body = object_type(request), await read_json(request)
        with store.lock:
            return JSONResponse(store.create_group(kind, body), status_code=201)

    async def get_group(request: Request) -> Response:
        kind = object_type(request)
        with store.lock:
            return JSONResponse(store.group(kind, request.path_params["groupName"]))

    # --------------------------------------------------------------- objects
    async def object_batch(request: Request) -> Response:
        kind, action = object_type(request), request.path_params["action"]
        if action not in ("upsert", "create", "update", "read", "archive"):
            raise ApiError(
                404, f"Unable to route POST request to {request.url.path}", "OBJECT_NOT_FOUND"
            )
        body, started = await read_json(request), store.clock()
        with store.lock:
            if action == "upsert":
                return batch(writes.upsert(store, kind, body), started, 200)
            if action == "create":
                return batch(writes.create(store, kind, body), started, 201)
            if action == "update":
                return batch(writes.update(store, kind, body), started, 200)
            if action == "read":
                return batch(
                    objects.read(store, kind, body, _flag(request, "archived")), started, 200
                )
            objects.archive(store, kind, body)
        return Response(status_code=204)

    async def object_merge(request: Request) -> Response:
        kind, body = object_type(request), await read_json(request)
        primary_id, merged_id = lifecycle.merge_input(body)
        with store.lock:
            survivor = lifecycle.merge(store, kind, primary_id, merged_id, "INTEGRATION")
            names = [*DEFAULT_PROPS[kind], lifecycle.MERGED_IDS]
            return JSONResponse(store.render(kind, survivor, names))

    async def object_gdpr_delete(request: Request) -> Response:
        kind, body = object_type(request), await read_json(request)
        if kind != "contacts":  # only the contacts API has gdpr-delete
            raise ApiError(
                404, f"Unable to route POST request to {request.url.path}", "OBJECT_NOT_FOUND"
            )
        object_id, id_property = lifecycle.gdpr_input(body)
        with store.lock:
            lifecycle.gdpr_delete(store, kind, object_id, id_property)
        return Response(status_code=204)

    async def object_search(request: Request) -> Response:
        kind = object_type(request)
        chars = len((await request.body()).decode("utf-8", errors="replace"))
        body = await read_json(request)
        with store.lock:
            return JSONResponse(search(store, kind, body, chars))

    async def object_get(request: Request) -> Response:
        kind = object_type(request)
        query: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            query.setdefault(key, []).append(value)
        with store.lock:
            return JSONResponse(
                objects.get_one(store, kind, request.path_params["objectId"], query)
            )

    # ---------------------------------------------------------- associations
    async def association_batch(request: Request) -> Response:
        pair = assoc.pair_types(
            object_type(request, "fromObjectType"), object_type(request, "toObjectType")
        )
        action = request.path_params["action"]
        if action not in ("create", "archive", "read"):
            raise ApiError(
                404, f"Unable to route POST request to {request.url.path}", "OBJECT_NOT_FOUND"
            )
        body, started = await read_json(request), store.clock()
        with store.lock:
            if action == "create":
                return batch(
                    assoc.create_labelled(store.assoc, store.exists, *pair, body), started, created
                )
            if action == "read":
                return batch(assoc.read(store.assoc, store.exists, *pair, body), started, 200)
            assoc.archive(store.assoc, *pair, body)
        if dated:  # 2026-09: 200 with a BatchResponseVoid
            return batch(BatchOutcome([], []), started, 200)
        return Response(status_code=204)

    async def association_default(request: Request) -> Response:
        pair = assoc.pair_types(
            object_type(request, "fromObjectType"), object_type(request, "toObjectType")
        )
        body, started = await read_json(request), store.clock()
        with store.lock:
            return batch(
                assoc.associate_default(store.assoc, store.exists, *pair, body), started, 200
            )

    async def association_list(request: Request) -> Response:
        pair = assoc.pair_types(object_type(request), object_type(request, "toObjectType"))
        with store.lock:
            return JSONResponse(
                assoc.list_for(
                    store.assoc,
                    store.exists,
                    pair[0],
                    request.path_params["objectId"],
                    pair[1],
                    request.query_params.get("after"),
                    request.query_params.get("limit"),
                )
            )

    # ------------------------------------------------------------- pipelines
    def pipeline(request: Request) -> pipelines.Pipeline:
        kind = pipelines.supported(object_type(request))
        return pipelines.find(store.pipelines[kind], request.path_params["pipelineId"])

    async def list_pipelines(request: Request) -> Response:
        kind = pipelines.supported(object_type(request))
        with store.lock:
            found = sorted(store.pipelines[kind].values(), key=lambda p: (p.display_order, p.label))
            return JSONResponse({"results": [p.as_json() for p in found]})

    async def get_pipeline(request: Request) -> Response:
        with store.lock:
            return JSONResponse(pipeline(request).as_json())

    async def list_stages(request: Request) -> Response:
        with store.lock:
            return JSONResponse({"results": [s.as_json() for s in pipeline(request).stages]})

    async def get_stage(request: Request) -> Response:
        with store.lock:
            stage = pipelines.find_stage(pipeline(request), request.path_params["stageId"])
            return JSONResponse(stage.as_json())

    table: list[tuple[str, Handler, str]] = [
        (props, list_properties, "GET"),
        (props, create_property, "POST"),
        (f"{props}/batch/create", batch_create_properties, "POST"),
        (f"{props}/batch/read", batch_read_properties, "POST"),
        (f"{props}/groups", list_groups, "GET"),
        (f"{props}/groups", create_group, "POST"),
        (f"{props}/groups/{{groupName}}", get_group, "GET"),
        (f"{props}/{{propertyName}}", get_property, "GET"),
        (f"{props}/{{propertyName}}", update_property, "PATCH"),
        (f"{props}/{{propertyName}}", delete_property, "DELETE"),
        (f"{objs}/batch/{{action}}", object_batch, "POST"),
        (f"{objs}/search", object_search, "POST"),
        (f"{objs}/merge", object_merge, "POST"),
        (f"{objs}/gdpr-delete", object_gdpr_delete, "POST"),
        (f"{objs}/{{objectId}}", object_get, "GET"),
        (lines, list_pipelines, "GET"),
        (f"{lines}/{{pipelineId}}", get_pipeline, "GET"),
        (f"{lines}/{{pipelineId}}/stages", list_stages, "GET"),
        (f"{lines}/{{pipelineId}}/stages/{{stageId}}", get_stage, "GET"),
        (f"{links}/batch/associate/default", association_default, "POST"),
        (f"{links}/batch/{{action}}", association_batch, "POST"),
    ]
    if listing is not None:
        table.append((listing, association_list, "GET"))
    return [Route(path, _api(handler), methods=[method]) for path, handler, method in table]
