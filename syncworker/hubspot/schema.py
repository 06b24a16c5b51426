"""Make sure HubSpot has the ``workways`` property group and our custom properties.

Idempotent: reads what exists (one call per object type), creates only what is
missing (the group first), and refuses to go on when an existing property is
unusable (wrong type, or a key property that is not unique: ``hasUniqueValue``
cannot be changed later).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

from hubspot.crm.properties.models import (
    BatchInputPropertyCreate,
    OptionInput,
    PropertyCreate,
    PropertyGroupCreate,
)

from syncworker.errors import HubSpotBadRequestError, HubSpotConflictError
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.mapping import PROPERTY_GROUP, PROPERTY_GROUP_LABEL, Kind, PropertyDefinition

log = logging.getLogger(__name__)


def _create_input(definition: PropertyDefinition) -> PropertyCreate:
    options = None
    if definition.kind is Kind.BOOL:
        options = [
            OptionInput(label="Yes", value="true", display_order=0, hidden=False),
            OptionInput(label="No", value="false", display_order=1, hidden=False),
        ]
    return PropertyCreate(
        name=definition.name,
        label=definition.label,
        type=definition.kind.hubspot_type,
        field_type=definition.kind.field_type,
        group_name=PROPERTY_GROUP,
        has_unique_value=definition.unique,
        options=options,
        form_field=False,
    )


def ensure_schema(gateway: HubSpotGateway, definitions: Sequence[PropertyDefinition]) -> int:
    """Create the group and the missing properties; return how many were created.

    One call per object type when everything exists; otherwise the group is
    created (HubSpot's 409 means it exists already) and then the properties."""
    created = 0
    for object_type in sorted({d.object_type for d in definitions}):
        wanted = [d for d in definitions if d.object_type == object_type]
        _, _, existing_body = gateway.send(
            "properties", gateway.properties_api.get_all, object_type
        )
        existing = {p.get("name"): p for p in (existing_body or {}).get("results", [])}
        _check_existing(object_type, wanted, existing)
        missing = [d for d in wanted if d.name not in existing]
        if not missing:
            continue
        group = PropertyGroupCreate(
            name=PROPERTY_GROUP, label=PROPERTY_GROUP_LABEL, display_order=-1
        )
        with contextlib.suppress(HubSpotConflictError):  # 409: the group exists already
            gateway.send("properties", gateway.groups_api.create, object_type, group)
        payload = BatchInputPropertyCreate(inputs=[_create_input(d) for d in missing])
        gateway.send("properties", gateway.properties_batch_api.create, object_type, payload)
        created += len(missing)
        log.info("created %d HubSpot %s properties", len(missing), object_type)
    return created


def _check_existing(
    object_type: str,
    wanted: Sequence[PropertyDefinition],
    existing: dict[object, dict[str, object]],
) -> None:
    for definition in wanted:
        current = existing.get(definition.name)
        if current is None:
            continue
        if current.get("type") != definition.kind.hubspot_type:
            raise HubSpotBadRequestError(
                f"HubSpot {object_type} property {definition.name!r} exists with type "
                f"{current.get('type')!r}, expected {definition.kind.hubspot_type!r}; "
                "rename or delete it in HubSpot"
            )
        if definition.unique and not current.get("hasUniqueValue"):
            raise HubSpotBadRequestError(
                f"HubSpot {object_type} property {definition.name!r} exists without "
                "hasUniqueValue, which cannot be changed; delete it in HubSpot so it can be "
                "recreated as unique"
            )
