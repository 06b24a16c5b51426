"""Make sure HubSpot has the ``workways`` property group and our custom properties.

Idempotent: reads what exists (one call per object type), creates only what is
missing (the group first), and refuses to go on when an existing property is
unusable (wrong type, or a key property that is not unique: ``hasUniqueValue``
cannot be changed later).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from redis.exceptions import RedisError

from syncworker.errors import HubSpotBadRequestError, HubSpotConflictError
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.mapping import PROPERTY_GROUP, PROPERTY_GROUP_LABEL, Kind, PropertyDefinition

log = logging.getLogger(__name__)


def _create_input(definition: PropertyDefinition) -> dict[str, Any]:
    """A ``PropertyCreate`` body (crm-properties spec, 2026-09)."""
    body: dict[str, Any] = {
        "name": definition.name,
        "label": definition.label,
        "type": definition.kind.hubspot_type,
        "fieldType": definition.kind.field_type,
        "groupName": PROPERTY_GROUP,
        "hasUniqueValue": definition.unique,
        "formField": False,
    }
    if definition.kind is Kind.BOOL:
        body["options"] = [
            {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
            {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
        ]
    return body


def ensure_schema(gateway: HubSpotGateway, definitions: Sequence[PropertyDefinition]) -> int:
    """Create the group and the missing properties; return how many were created.

    One call per object type when everything exists; otherwise the group is
    created (HubSpot's 409 means it exists already) and then the properties."""
    created = 0
    for object_type in sorted({d.object_type for d in definitions}):
        wanted = [d for d in definitions if d.object_type == object_type]
        existing = {p.get("name"): p for p in gateway.list_properties(object_type)}
        _check_existing(object_type, wanted, existing)
        missing = [d for d in wanted if d.name not in existing]
        if not missing:
            continue
        group = {"name": PROPERTY_GROUP, "label": PROPERTY_GROUP_LABEL, "displayOrder": -1}
        with contextlib.suppress(HubSpotConflictError):  # 409: the group exists already
            gateway.create_property_group(object_type, group)
        gateway.create_properties(object_type, [_create_input(d) for d in missing])
        created += len(missing)
        log.info("created %d HubSpot %s properties", len(missing), object_type)
    return created


def _check_existing(
    object_type: str,
    wanted: Sequence[PropertyDefinition],
    existing: dict[object, dict[str, object]],
) -> None:
    problems = schema_problems(object_type, wanted, existing)
    if problems:
        raise HubSpotBadRequestError(problems[0])


def schema_problems(
    object_type: str,
    wanted: Sequence[PropertyDefinition],
    existing: Mapping[object, Mapping[str, object]],
) -> list[str]:
    """What makes existing properties unusable (wrong type, a key not unique), with the fix."""
    problems = []
    for definition in wanted:
        current = existing.get(definition.name)
        if current is None:
            continue
        if current.get("type") != definition.kind.hubspot_type:
            problems.append(
                f"HubSpot {object_type} property {definition.name!r} exists with type "
                f"{current.get('type')!r}, expected {definition.kind.hubspot_type!r}; "
                "rename or delete it in HubSpot"
            )
        elif definition.unique and not current.get("hasUniqueValue"):
            problems.append(
                f"HubSpot {object_type} property {definition.name!r} exists without "
                "hasUniqueValue, which cannot be changed; delete it in HubSpot so it can be "
                "recreated as unique"
            )
    return problems


class SharedSchemaMemo:
    """Which schemas a process of the deployment ensured lately, kept in Redis.

    Worker processes that start together would each read (and, on a first run,
    race to create) the same properties, spending the shared budget several
    times over. With the memo, the first process to take the schema's lock
    ensures it and leaves a note; the others wait for the lock, find the note and
    make no call. The note expires after ``seconds``, so a property deleted in
    HubSpot meanwhile is created again by the next process that looks. Without
    Redis (or when it does not answer) every process ensures for itself."""

    def __init__(self, client: Any, scope: str, seconds: int = 600) -> None:
        self.client = client
        self.scope = scope  # the HubSpot account (a digest of its URL and token)
        self.seconds = seconds

    def ensure(self, gateway: HubSpotGateway, definitions: Sequence[PropertyDefinition]) -> None:
        described = repr(sorted(dataclasses.astuple(d) for d in definitions))
        digest = hashlib.sha256(f"{self.scope}:{described}".encode()).hexdigest()[:24]
        note, lock_name = f"syncworker:schema:{digest}", f"syncworker:schema-lock:{digest}"
        lock = self.client.lock(lock_name, timeout=60, blocking_timeout=60)
        try:
            acquired = bool(lock.acquire())
        except RedisError:
            acquired = False
        if not acquired:
            log.warning("no schema note from Redis; checking the HubSpot schema here")
            ensure_schema(gateway, definitions)
            return
        try:
            try:
                noted = self.client.get(note) is not None
            except RedisError:
                noted = False
            if not noted:
                ensure_schema(gateway, definitions)
                with contextlib.suppress(RedisError):
                    self.client.set(note, "1", ex=self.seconds)
        finally:
            with contextlib.suppress(RedisError):
                lock.release()
