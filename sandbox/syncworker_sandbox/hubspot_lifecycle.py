"""What people do to records in HubSpot besides editing them: delete (to the recycle
bin) and restore, merge two records into one, and delete a person for privacy
(GDPR). Each records the webhook event HubSpot sends for it (``events``), in the
shape of a delivery's event objects, so tests can replay them to the receiver.

Merges follow ``POST /crm/objects/2026-09/{objectType}/merge`` (crm-contacts.json,
crm-companies.json): the primary record survives **under its own id** (HubSpot
may give the survivor a new id: this sandbox does not), its values win where it
has one and the merged record's fill its blanks, unique values included (a
unique value of the merged record moves only where the primary has none), the
merged record's associations move to the survivor, and the survivor lists the
merged ids in ``hs_merged_object_ids`` (``;``-separated). Whether a read of the
merged-away id answers 404 or the survivor is UNCONFIRMED (hubspot-notes.md):
``merged_reads`` picks one, ``"survivor"`` (the default) or ``"missing"``.

A GDPR delete (``POST .../contacts/gdpr-delete``, contacts only) removes the
record for good: no read finds it, not even among archived records.

Every function expects the caller to hold ``store.lock`` (the store's public
methods take it).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from syncworker_sandbox.hubspot_common import JSON, PORTAL_ID, SINGULAR, ApiError

if TYPE_CHECKING:
    from syncworker_sandbox.hubspot_store import HubSpotStore, Record

MERGED_IDS = "hs_merged_object_ids"
MERGED_READS = ("survivor", "missing")
_APP_ID = 4_200_001
_SUBSCRIPTION_ID = 7_100_001


class Lifecycle:
    """The lifecycle state of a :class:`HubSpotStore`: merged-away ids, privacy
    deletions and the events recorded."""

    def __init__(self) -> None:
        self.events: list[JSON] = []
        self.merged_into: dict[str, dict[str, str]] = {}  # type -> merged id -> survivor
        self.erased: dict[str, set[str]] = {}  # type -> ids deleted for privacy
        self.merged_reads = "survivor"
        self._event_ids = itertools.count(1)

    def record(
        self,
        store: HubSpotStore,
        object_type: str,
        change: str,
        object_id: str,
        source: str = "CRM_UI",
        **extra: Any,
    ) -> None:
        event: JSON = {
            "eventId": next(self._event_ids),
            "subscriptionId": _SUBSCRIPTION_ID,
            "portalId": PORTAL_ID,
            "appId": _APP_ID,
            "occurredAt": round(store.clock() * 1000),
            "subscriptionType": f"{SINGULAR[object_type]}.{change}",
            "attemptNumber": 0,
            "objectId": int(object_id),
            "changeSource": source,
            **extra,
        }
        self.events.append(event)

    def survivor(self, object_type: str, object_id: str) -> str | None:
        """The record a merged-away id was merged into (following later merges)."""
        seen: set[str] = set()
        merged = self.merged_into.get(object_type, {})
        current = object_id
        while current in merged and current not in seen:
            seen.add(current)
            current = merged[current]
        return current if current != object_id else None


def _drop_unique(store: HubSpotStore, object_type: str, record: Record) -> None:
    for name, index in store._unique[object_type].items():
        value = record.props.get(name)
        if value and index.get(store.fold(object_type, name, value)) == record.id:
            del index[store.fold(object_type, name, value)]


def restore(store: HubSpotStore, object_type: str, object_id: str) -> None:
    """Bring a deleted (archived) record back from the recycle bin; ValueError when
    one of its unique values now belongs to another record (HubSpot refuses too)."""
    record = store.records[object_type].get(object_id)
    if record is None or not record.archived:
        raise KeyError(f"{object_type} {object_id} is not in the recycle bin")
    for name, index in store._unique[object_type].items():
        value = record.props.get(name)
        if value and store.fold(object_type, name, value) in index:
            raise ValueError(f"value of {name} already belongs to another record")
    record.archived, record.archived_at = False, None
    for name, index in store._unique[object_type].items():
        value = record.props.get(name)
        if value:
            index[store.fold(object_type, name, value)] = record.id
    store.write(object_type, record, {}, "CRM_UI", force=True)
    store.lifecycle.record(store, object_type, "restore", object_id)


def merge(
    store: HubSpotStore, object_type: str, primary_id: str, merged_id: str, source: str = "CRM_UI"
) -> Record:
    """Merge ``merged_id`` into ``primary_id``; the survivor (``primary_id``)."""
    if primary_id == merged_id:
        raise ApiError(400, "Cannot merge an object with itself", "VALIDATION_ERROR")
    records = store.records[object_type]
    missing = [i for i in (primary_id, merged_id) if not store.exists(object_type, i)]
    if missing:
        raise ApiError(
            400,
            f"Could not merge: {', '.join(missing)} not found",
            "VALIDATION_ERROR",
            context={"ids": missing},
        )
    primary, merged = records[primary_id], records[merged_id]
    _drop_unique(store, object_type, merged)
    del records[merged_id]
    changes: dict[str, str] = {}
    skip = {"hs_object_id", "createdate", MERGED_IDS}
    for name, value in merged.props.items():
        if name in skip or not value or primary.props.get(name):
            continue
        if store.owner(object_type, name, value) is not None:
            continue  # a unique value held elsewhere stays there
        changes[name] = value
    before = [i for i in (primary.props.get(MERGED_IDS) or "").split(";") if i]
    also = [i for i in (merged.props.get(MERGED_IDS) or "").split(";") if i]
    changes[MERGED_IDS] = ";".join(dict.fromkeys([*before, merged_id, *also]))
    store.write(object_type, primary, changes, "MERGE")
    for to_type in ("contacts", "companies", "deals"):
        if to_type == object_type:
            continue
        for other in store.assoc.neighbors(object_type, merged_id, to_type):
            kinds = store.assoc.kinds(object_type, merged_id, to_type, other)
            store.assoc.remove(object_type, merged_id, to_type, other)
            store.assoc.add(object_type, primary_id, to_type, other, "default")
            if "primary" in kinds and not store.assoc.neighbors(object_type, primary_id, to_type):
                store.assoc.add(object_type, primary_id, to_type, other, "primary")
    moved = store.lifecycle.merged_into.setdefault(object_type, {})
    for old, into in list(moved.items()):
        if into == merged_id:
            moved[old] = primary_id
    moved[merged_id] = primary_id
    store.lifecycle.record(
        store,
        object_type,
        "merge",
        primary_id,
        source,
        primaryObjectId=int(primary_id),
        mergedObjectIds=[int(primary_id), int(merged_id)],
        newObjectId=int(primary_id),
        numberOfPropertiesMoved=len(changes) - 1,
    )
    return primary


def gdpr_delete(
    store: HubSpotStore, object_type: str, object_id: str, id_property: str | None = None
) -> None:
    """Delete a contact for good (by id, or by a unique property such as ``email``)."""
    records = store.records[object_type]
    record: Record | None
    if id_property and id_property != "hs_object_id":
        record = store.lookup(object_type, id_property, object_id)
    else:
        record = records.get(object_id)
    if record is None:
        raise ApiError(404, "resource not found", "OBJECT_NOT_FOUND", context={"id": [object_id]})
    _drop_unique(store, object_type, record)
    del records[record.id]
    store.lifecycle.erased.setdefault(object_type, set()).add(record.id)
    store.lifecycle.record(store, object_type, "privacyDeletion", record.id, "GDPR")


def merge_input(body: Any) -> tuple[str, str]:
    """(primaryObjectId, objectIdToMerge) of a ``PublicMergeInput``."""
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid input JSON: expected a PublicMergeInput object")
    missing = [k for k in ("primaryObjectId", "objectIdToMerge") if body.get(k) in (None, "")]
    if missing:
        raise ApiError(
            400,
            f"Some required fields were not set: [{', '.join(missing)}]",
            "VALIDATION_ERROR",
            context={"missingAttributes": missing},
        )
    return str(body["primaryObjectId"]), str(body["objectIdToMerge"])


def gdpr_input(body: Any) -> tuple[str, str | None]:
    """(objectId, idProperty) of a ``PublicGdprDeleteInput``."""
    if not isinstance(body, dict) or body.get("objectId") in (None, ""):
        raise ApiError(
            400,
            "Some required fields were not set: [objectId]",
            "VALIDATION_ERROR",
            context={"missingAttributes": ["objectId"]},
        )
    id_property = body.get("idProperty")
    return str(body["objectId"]), str(id_property) if id_property else None
