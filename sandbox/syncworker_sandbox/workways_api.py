"""The four Workways endpoints of the sandbox, and what they share: auth, parsing, envelopes.

Pure request -> response functions over a :class:`WorkwaysStore`; faults, latency and
the request log live in :mod:`syncworker_sandbox.workways`. Messages are the spec's,
in English; ``language=fr`` is accepted and ignored.
"""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from syncworker_sandbox.population import OBJECT_ID, JsonDict
from syncworker_sandbox.workways_contract import build_merge
from syncworker_sandbox.workways_store import (
    DEFAULT_LIMIT,
    EMAIL,
    MAX_LIMIT,
    ApiError,
    WorkwaysStore,
)

log = logging.getLogger(__name__)

# Well-known tokens that the sandbox refuses with the spec's other 401 bodies.
SANDBOX_EXPIRED_TOKEN = "ww_dev_" + "0e1d2c3b4a59687f" * 4
SANDBOX_ARCHIVED_ACCOUNT_TOKEN = "ww_dev_" + "a7c4e1f8d2b5c3e9" * 4
SANDBOX_ARCHIVED_USER_TOKEN = "ww_dev_" + "5b9d3f71c8e2a4d6" * 4

AUTH_MISSING = (
    "Unauthorized: Authorization header is required. Use: Authorization: Bearer <your_token>"
)
AUTH_FORMAT = "Unauthorized: Invalid authorization format. Use: Authorization: Bearer <your_token>"
AUTH_INVALID = "Unauthorized: Invalid or revoked token"
AUTH_SPECIAL = {
    SANDBOX_EXPIRED_TOKEN: (
        "Votre token est expiré, connectez-vous à votre compte pour le renouveler"
    ),
    SANDBOX_ARCHIVED_ACCOUNT_TOKEN: "Votre compte est désactivé, contactez Workways",
    SANDBOX_ARCHIVED_USER_TOKEN: "Unauthorized: User account is archived",
}
INTERNAL_ERROR = "Internal server error"
CORRUPTION_KINDS = frozenset(
    (
        "malformed-json",
        "html-200",
        "retcode-error-200",
        "missing-id",
        "wrong-type",
        "items-not-list",
    )
)
LIST_ENDPOINTS = ("user-info", "organization-info")
HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>Workways</title></head><body>"
    "<h1>Maintenance en cours</h1><p>Merci de réessayer plus tard.</p></body></html>"
)
GATEWAY_PAGE = (
    "<html><head><title>{code} {phrase}</title></head><body><center><h1>{code} "
    "{phrase}</h1></center><hr><center>nginx</center></body></html>"
)


def envelope_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"retcode": -1, "message": message}, status_code=status)


def ok(data: Any) -> JSONResponse:
    return JSONResponse({"retcode": 1, "message": "OK", "data": data})


def _positive(query: Any, name: str, default: int, message: str) -> int:
    raw = (query.get(name) or "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw[:19]) < 1:
        raise ApiError(400, message)
    return int(raw[:19]) if len(raw) <= 19 else 10**19


def paging(query: Any) -> tuple[int, int]:
    page = _positive(query, "page", 1, "Invalid page parameter. Use a positive integer")
    limit = _positive(
        query,
        "limit",
        DEFAULT_LIMIT,
        f"Invalid limit parameter. Use a positive integer (max {MAX_LIMIT})",
    )
    return page, min(limit, MAX_LIMIT)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_body(body: bytes, content_type: str) -> JsonDict:
    """The request body as an object: JSON, or form-encoded; empty is ``{}``."""
    if not body.strip():
        return {}
    if "application/x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ApiError(400, "Invalid JSON body") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Invalid JSON body: expected an object")
    return data


def parse_optin(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise ApiError(400, 'Invalid optin value. Use true/false, 1/0, or "true"/"false"')


def norm_endpoint(endpoint: str) -> str:
    name = endpoint.strip().removeprefix("/").removeprefix("api/")
    if name not in LIST_ENDPOINTS:
        raise ValueError(f"endpoint must be one of {LIST_ENDPOINTS}, not {endpoint!r}")
    return name


def fault_response(status: int) -> Response:
    if status == 500:
        return envelope_error(500, INTERNAL_ERROR)
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    if status in (502, 503, 504):
        return HTMLResponse(GATEWAY_PAGE.format(code=status, phrase=phrase), status_code=status)
    return envelope_error(status, phrase)


async def sleep_while_connected(request: Request, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        await asyncio.sleep(min(left, 0.05))
        if await request.is_disconnected():
            return


# ------------------------------------------------------------------------ endpoints


async def user_info(store: WorkwaysStore, request: Request, body: bytes) -> JsonDict:
    """GET /api/user-info: by id, else by e-mail, else a page (optionally of one org)."""
    query = request.query_params
    user_id = query.get("id")
    if user_id:
        if not OBJECT_ID.match(user_id):
            raise ApiError(400, "Invalid user ID format")
        return store.api_user_by_id(user_id)
    email = query.get("email")
    if email:
        if not EMAIL.match(email.strip()):
            raise ApiError(400, "Invalid email format")
        return store.api_user_by_email(email)
    organization = query.get("organization") or None
    if organization and not OBJECT_ID.match(organization):
        raise ApiError(400, "Invalid organization ID format")
    page, limit = paging(query)
    return store.user_page(page, limit, organization and organization.lower())


async def organization_info(store: WorkwaysStore, request: Request, body: bytes) -> JsonDict:
    """GET /api/organization-info: by id (with detail arrays), else a page."""
    query = request.query_params
    org_id = query.get("id")
    if org_id:
        if not OBJECT_ID.match(org_id):
            raise ApiError(400, "Invalid organization ID format")
        return store.api_org_by_id(org_id)
    site = query.get("site") or None
    if site and not OBJECT_ID.match(site):
        raise ApiError(400, "Invalid site ID format")
    page, limit = paging(query)
    return store.org_page(page, limit, site and site.lower())


async def set_optin(store: WorkwaysStore, request: Request, body: bytes) -> JsonDict:
    """POST (or GET) /api/set-optin: query parameters and/or body, the body winning."""
    params: JsonDict = dict(request.query_params)
    if request.method == "POST":
        params.update(parse_body(body, request.headers.get("content-type", "")))
    user = params.get("user")
    if user is None or user == "":
        raise ApiError(400, "Missing required parameter: user (user ID)")
    if not isinstance(user, str) or not OBJECT_ID.match(user):
        raise ApiError(400, "Invalid user ID format")
    optin = params.get("optin")
    if optin is None or optin == "":
        raise ApiError(400, "Missing required parameter: optin (true/false)")
    return store.api_set_optin(user, parse_optin(optin))


async def merge_contract(store: WorkwaysStore, request: Request, body: bytes) -> JsonDict:
    """POST /api/merge-contract (rules in :mod:`syncworker_sandbox.workways_contract`)."""
    data = parse_body(body, request.headers.get("content-type", ""))
    org_id, apply = build_merge(data, store.rooms_by_id, store.today())
    return store.api_merge(org_id, apply)


def corrupted(kind: str | None, endpoint: str, data: JsonDict) -> Response:
    """The list answer, spoilt as ``kind`` says (see ``WorkwaysSandbox.corrupt_page``)."""
    body = {"retcode": 1, "message": "OK", "data": data}
    items: list[JsonDict] = data["items"]
    if kind == "malformed-json":
        text = json.dumps(body, ensure_ascii=False)
        return Response(text[: len(text) // 2], media_type="application/json")
    if kind == "html-200":
        return HTMLResponse(HTML_PAGE)
    if kind == "retcode-error-200":
        return JSONResponse({"retcode": -1, "message": INTERNAL_ERROR})
    if kind in ("missing-id", "wrong-type") and items:
        victim = items[len(items) // 2]
        if kind == "missing-id":
            del victim["_id"]
        else:
            victim["email" if endpoint == "user-info" else "name"] = 4242
    if kind == "items-not-list":
        data["items"] = {str(item["_id"]): item for item in items}
    return JSONResponse(body)
