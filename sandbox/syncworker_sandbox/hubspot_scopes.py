"""Which scopes a HubSpot call needs, and HubSpot's 403 when a token lacks them.

The scopes follow the ``security`` sections of HubSpot's 2026-09 specs: object
reads (batch read, search, get) need ``crm.objects.<type>.read``, object writes
``crm.objects.<type>.write``; a property read takes the schema's or the
objects' read scope, a property write needs ``crm.schemas.<type>.write``;
associations need the scope of both object types; pipelines need the deals'
read scope. A token without a granted-scopes list (the default) has them all.
"""

from __future__ import annotations

import re

from syncworker_sandbox.hubspot_common import ApiError, object_type_or_none

# Every entry: any one of these scopes satisfies it; every entry must be satisfied.
Requirement = tuple[tuple[str, ...], ...]

ALL_SYNC_SCOPES: tuple[str, ...] = tuple(
    f"crm.{kind}.{object_type}.{access}"
    for object_type in ("contacts", "companies", "deals")
    for kind in ("objects", "schemas")
    for access in ("read", "write")
)

_OBJECTS = re.compile(r"^/crm/(?:objects/\d{4}-\d{2}|v3/objects)/(?P<type>[^/]+)(?P<rest>/.*)?$")
_PROPERTIES = re.compile(
    r"^/crm/(?:properties/\d{4}-\d{2}|v3/properties)/(?P<type>[^/]+)(?P<rest>/.*)?$"
)
_ASSOCIATIONS = re.compile(
    r"^/crm/(?:associations/\d{4}-\d{2}|v4/associations)/(?P<from>[^/]+)/(?P<to>[^/]+)"
    r"/batch/(?P<action>.+)$"
)
_PIPELINES = re.compile(r"^/crm/(?:pipelines/\d{4}-\d{2}|v3/pipelines)/")
_READ_ACTIONS = ("/search", "/batch/read")

MISSING_SCOPES_MESSAGE = (
    "This app hasn't been granted all required scopes to make this call. Read more "
    "about required scopes here: https://developers.hubspot.com/scopes."
)


def required_scopes(method: str, path: str) -> Requirement:
    """The scopes ``method path`` needs (empty: none, or a path the sandbox does not serve)."""
    reading = method in ("GET", "HEAD")
    if match := _OBJECTS.match(path):
        kind = object_type_or_none(match["type"])
        if kind is None:
            return ()
        rest = (match["rest"] or "").rstrip("/")
        access = "read" if reading or rest in _READ_ACTIONS else "write"
        return ((f"crm.objects.{kind}.{access}",),)
    if match := _PROPERTIES.match(path):
        kind = object_type_or_none(match["type"])
        if kind is None:
            return ()
        rest = (match["rest"] or "").rstrip("/")
        if reading or rest == "/batch/read":
            return ((f"crm.schemas.{kind}.read", f"crm.objects.{kind}.read"),)
        return ((f"crm.schemas.{kind}.write",),)
    if match := _ASSOCIATIONS.match(path):
        kinds = [object_type_or_none(match["from"]), object_type_or_none(match["to"])]
        access = "read" if match["action"] == "read" else "write"
        return tuple((f"crm.objects.{k}.{access}",) for k in dict.fromkeys(kinds) if k)
    if _PIPELINES.match(path):
        return (("crm.objects.deals.read",),)
    return ()


def missing_scopes(requirement: Requirement, granted: frozenset[str]) -> list[str]:
    """The first scope of every entry of ``requirement`` that ``granted`` does not satisfy."""
    return [options[0] for options in requirement if not granted.intersection(options)]


def missing_scopes_error(missing: list[str]) -> ApiError:
    """HubSpot's 403: category MISSING_SCOPES, the scopes in the spec's ``context``
    (``missingScopes``) and, as HubSpot's answers carry them, in ``errors``."""
    return ApiError(
        403,
        MISSING_SCOPES_MESSAGE,
        "MISSING_SCOPES",
        context={"missingScopes": missing},
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": missing},
            }
        ],
        extra={"links": {"scopes": "https://developers.hubspot.com/scopes"}},
    )
