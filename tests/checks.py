"""The three end-of-scenario checks, computed from the sandboxes' own state.

- HubSpot equals Workways: every Workways record has exactly one HubSpot object,
  carrying the value the hand-written oracle (``tests/oracle.py``) expects for
  every property, and the right association. Passenger properties
  (``workways_updated_at``) travel with other changes only, so they may lag
  and are not compared.
- No duplicates: no two HubSpot objects share a Workways id (or an e-mail).
- Snapshot equals HubSpot: every snapshot row holds what HubSpot holds.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from syncworker_sandbox.runner import Sandboxes

from syncworker.sources.workways.streams import WORKWAYS_ORGANIZATIONS, WORKWAYS_USERS
from syncworker.store.snapshots import SnapshotStore
from tests.oracle import PASSENGERS, differences, expected_company, expected_contact


def expected_companies(boxes: Sandboxes) -> dict[str, dict[str, str]]:
    return {
        org["_id"]: expected_company(org, boxes.workways.get_organization(org["_id"]))
        for org in boxes.workways.organizations()
    }


def expected_contacts(boxes: Sandboxes) -> dict[str, dict[str, str]]:
    return {u["_id"]: expected_contact(u) for u in boxes.workways.users()}


def hubspot_by_key(boxes: Sandboxes, object_type: str, key: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for obj in boxes.hubspot.store.objects(object_type):
        value = obj["properties"].get(key)
        if value:
            found[value] = obj
    return found


def mismatches(expected: dict[str, dict[str, str]], actual: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    for source_id, props in expected.items():
        obj = actual.get(source_id)
        if obj is None:
            problems.append(f"{source_id}: missing in HubSpot")
            continue
        problems += differences(source_id, props, obj["properties"], skip=PASSENGERS)
    return problems


def assert_hubspot_equals_workways(boxes: Sandboxes) -> None:
    companies = hubspot_by_key(boxes, "companies", "workways_org_id")
    contacts = hubspot_by_key(boxes, "contacts", "workways_user_id")
    problems = mismatches(expected_companies(boxes), companies)
    problems += mismatches(expected_contacts(boxes), contacts)
    for user in boxes.workways.users():
        contact = contacts.get(user["_id"])
        if contact is None:
            continue
        linked = set(boxes.hubspot.store.associations("contacts", contact["id"], "companies"))
        org_id = user.get("organizationId")
        wanted = {companies[org_id]["id"]} if org_id in companies else set()
        if linked != wanted:
            problems.append(f"user {user['_id']}: associated to {linked}, expected {wanted}")
    assert not problems, f"{len(problems)} difference(s): " + "; ".join(problems[:10])


def assert_no_duplicates(boxes: Sandboxes) -> None:
    for object_type, key in (("contacts", "workways_user_id"), ("companies", "workways_org_id")):
        counts = Counter(  # a portal's own records (no key) are not duplicates of ours
            o["properties"][key]
            for o in boxes.hubspot.store.objects(object_type)
            if o["properties"].get(key)
        )
        dupes = {k: n for k, n in counts.items() if n > 1}
        assert not dupes, f"duplicate {object_type}: {dupes}"
    emails = Counter(
        (o["properties"].get("email") or "").lower()
        for o in boxes.hubspot.store.objects("contacts")
        if o["properties"].get("email")
    )
    assert not {e for e, n in emails.items() if n > 1}, "duplicate e-mails among contacts"


def assert_snapshot_equals_hubspot(boxes: Sandboxes, store: SnapshotStore) -> None:
    problems = []
    for stream, object_type in (
        (WORKWAYS_ORGANIZATIONS, "companies"),
        (WORKWAYS_USERS, "contacts"),
    ):
        hubspot = hubspot_by_key(boxes, object_type, stream.id_property)
        snapshot = store.load(stream.name, list(hubspot))
        for source_id, snap in snapshot.items():
            obj = hubspot[source_id]
            if snap.hubspot_id != obj["id"]:
                problems.append(f"{source_id}: snapshot id {snap.hubspot_id} != {obj['id']}")
            for name, value in snap.properties.items():
                have = obj["properties"].get(name) or ""
                if have != value:
                    problems.append(f"{source_id}.{name}: snapshot {value!r}, HubSpot {have!r}")
    assert not problems, f"{len(problems)} difference(s): " + "; ".join(problems[:10])


def assert_converged(boxes: Sandboxes, store: SnapshotStore) -> None:
    assert_hubspot_equals_workways(boxes)
    assert_no_duplicates(boxes)
    assert_snapshot_equals_hubspot(boxes, store)
