"""Delete and restore, merge and GDPR delete in the HubSpot sandbox, over real HTTP,
with the webhook events each records (hubspot_lifecycle.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from syncworker_sandbox import SANDBOX_HUBSPOT_TOKEN
from syncworker_sandbox.hubspot_app import HubSpotSandbox
from syncworker_sandbox.server import ServerThread

AUTH = {"Authorization": f"Bearer {SANDBOX_HUBSPOT_TOKEN}"}
OBJECTS = "/crm/objects/2026-09/contacts"


@pytest.fixture
def hub() -> Iterator[tuple[HubSpotSandbox, httpx.Client]]:
    sandbox = HubSpotSandbox(clock=lambda: 1_800_000_000.0)
    server = ServerThread(sandbox.app).start()
    client = httpx.Client(base_url=server.url, headers=AUTH, timeout=5)
    try:
        yield sandbox, client
    finally:
        client.close()
        server.stop()


def _read(http: httpx.Client, ids: list[str], archived: bool = False) -> httpx.Response:
    return http.post(
        f"{OBJECTS}/batch/read",
        params={"archived": "true"} if archived else None,
        json={"inputs": [{"id": i} for i in ids], "properties": ["email", "hs_merged_object_ids"]},
    )


def test_merge_keeps_the_primary_lists_the_merged_id_and_records_the_event(
    hub: tuple[HubSpotSandbox, httpx.Client],
) -> None:
    sandbox, http = hub
    store = sandbox.store
    primary = store.add_object("contacts", {"email": "one@example.test", "firstname": "Ann"})
    merged = store.add_object("contacts", {"email": "two@example.test", "lastname": "Lee"})
    company = store.add_object("companies", {"name": "Acme"})
    store.assoc.add("contacts", merged, "companies", company, "default")

    r = http.post(f"{OBJECTS}/merge", json={"primaryObjectId": primary, "objectIdToMerge": merged})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == primary
    assert body["properties"]["hs_merged_object_ids"] == merged
    survivor = store.get("contacts", primary) or {}
    assert survivor["properties"]["email"] == "one@example.test"  # the primary's value wins
    assert survivor["properties"]["lastname"] == "Lee"  # the merged record fills blanks
    assert store.associations("contacts", primary, "companies") == [company]
    assert [o["id"] for o in store.objects("contacts")] == [primary]

    # default: a read of the merged-away id answers the survivor
    read = _read(http, [merged]).json()
    assert [o["id"] for o in read["results"]] == [primary]
    store.merged_reads = "missing"
    r = _read(http, [merged])
    assert r.status_code == 207 and r.json()["results"] == []

    (event,) = store.events()
    assert event["subscriptionType"] == "contact.merge"
    assert event["objectId"] == int(primary)
    assert event["mergedObjectIds"] == [int(primary), int(merged)]


def test_merge_refuses_an_unknown_id_and_a_merge_with_itself(
    hub: tuple[HubSpotSandbox, httpx.Client],
) -> None:
    sandbox, http = hub
    one = sandbox.store.add_object("contacts", {"email": "one@example.test"})
    assert http.post(f"{OBJECTS}/merge", json={"primaryObjectId": one}).status_code == 400
    r = http.post(f"{OBJECTS}/merge", json={"primaryObjectId": one, "objectIdToMerge": one})
    assert r.status_code == 400
    r = http.post(f"{OBJECTS}/merge", json={"primaryObjectId": one, "objectIdToMerge": "999999"})
    assert r.status_code == 400
    assert sandbox.store.events() == []


def test_delete_and_restore_record_events_and_free_then_take_back_unique_values(
    hub: tuple[HubSpotSandbox, httpx.Client],
) -> None:
    sandbox, http = hub
    store = sandbox.store
    contact = store.add_object("contacts", {"email": "one@example.test"})
    store.delete_object("contacts", contact)
    assert _read(http, [contact]).status_code == 207
    archived = _read(http, [contact], archived=True).json()["results"]
    assert [o["id"] for o in archived] == [contact]
    store.restore_object("contacts", contact)
    assert [o["id"] for o in _read(http, [contact]).json()["results"]] == [contact]
    kinds = [e["subscriptionType"] for e in store.events()]
    assert kinds == ["contact.deletion", "contact.restore"]

    store.delete_object("contacts", contact)
    store.add_object("contacts", {"email": "ONE@example.test"})  # the e-mail is taken again
    with pytest.raises(ValueError):
        store.restore_object("contacts", contact)


def test_gdpr_delete_removes_a_contact_for_good(hub: tuple[HubSpotSandbox, httpx.Client]) -> None:
    sandbox, http = hub
    store = sandbox.store
    contact = store.add_object("contacts", {"email": "gone@example.test"})
    r = http.post(f"{OBJECTS}/gdpr-delete", json={"objectId": contact})
    assert r.status_code == 204
    assert _read(http, [contact]).json()["results"] == []
    assert _read(http, [contact], archived=True).json()["results"] == []
    assert store.get("contacts", contact) is None
    (event,) = store.events()
    assert event["subscriptionType"] == "contact.privacyDeletion"
    assert event["objectId"] == int(contact)
    assert http.post(f"{OBJECTS}/gdpr-delete", json={"objectId": contact}).status_code == 404
    # by e-mail, and only for contacts
    other = store.add_object("contacts", {"email": "other@example.test"})
    r = http.post(
        f"{OBJECTS}/gdpr-delete", json={"objectId": "OTHER@example.test", "idProperty": "email"}
    )
    assert r.status_code == 204 and store.get("contacts", other) is None
    r = http.post("/crm/objects/2026-09/companies/gdpr-delete", json={"objectId": "1"})
    assert r.status_code == 404
