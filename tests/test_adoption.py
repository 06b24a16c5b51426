"""Adopt what HubSpot already has (issue 17, point 1), on PostgreSQL and the sandboxes.

A portal is seeded with 30 contacts holding the e-mails of Workways users (every
other one in upper case) and 5 unrelated contacts, each with a lifecycle stage.
The first sync adopts the 30: same HubSpot ids, the Workways key and mapped
properties added, the lifecycle stage untouched, no second contact for any
e-mail, no failure, 30 adopted in the run's counts.
"""

from __future__ import annotations

from typing import Any

import pytest

from syncworker.sources.workways.streams import WORKWAYS_USERS
from syncworker.store.models import SyncRun
from tests.checks import assert_converged, hubspot_by_key
from tests.conftest import Wired
from tests.oracle import expected_contact

SEEDED, UNRELATED = 30, 5


@pytest.fixture
def portal(wired: Wired) -> dict[str, dict[str, Any]]:
    """Seed the portal; {user id: the contact seeded with that user's e-mail}."""
    users = wired.boxes.workways.users()[:SEEDED]
    ids = wired.boxes.hubspot.seed_portal([u["email"] for u in users], unrelated=UNRELATED)
    store = wired.boxes.hubspot.store
    pairs = zip(users, ids[:SEEDED], strict=True)
    return {u["_id"]: store.get("contacts", i) or {} for u, i in pairs}


def test_first_sync_adopts_every_contact_holding_a_users_email(
    wired: Wired, portal: dict[str, dict[str, Any]]
) -> None:
    users_total = len(wired.boxes.workways.users())
    _orgs, users = wired.sync_all()

    assert users.status == "succeeded" and wired.store.failures.rows() == []
    assert (users.counts["adopted"], users.counts["created"]) == (SEEDED, users_total - SEEDED)
    assert users.counts["clashes"] == 0
    contacts = hubspot_by_key(wired.boxes, "contacts", "workways_user_id")
    assert len(wired.boxes.hubspot.store.objects("contacts")) == users_total + UNRELATED
    snapshots = wired.store.load(WORKWAYS_USERS.name, list(portal))
    for user_id, seeded in portal.items():
        adopted = contacts[user_id]
        assert adopted["id"] == seeded["id"]  # the same contact, not a new one
        assert snapshots[user_id].hubspot_id == seeded["id"]
        props = adopted["properties"]
        assert props["lifecyclestage"] == seeded["properties"]["lifecyclestage"]  # not ours
        expected = expected_contact(wired.boxes.workways.get_user(user_id))
        assert {k: props.get(k, "") for k in expected} == expected
    assert_converged(wired.boxes, wired.store)  # no duplicate e-mail, snapshot = HubSpot

    with wired.store.sessions() as session:  # the run record keeps the count (for status)
        run = session.get_one(SyncRun, users.run_id)
        assert (run.adopted, run.failed) == (SEEDED, 0)

    _orgs, users = wired.sync_all()  # adopted once: the next run has nothing to do
    assert (users.counts["adopted"], users.counts["created"], users.counts["updated"]) == (0, 0, 0)


def test_dry_run_shows_the_adoptions_and_writes_nothing(
    wired: Wired, portal: dict[str, dict[str, Any]]
) -> None:
    wired.sync_all(dry_run=True)  # organizations would be created first: nothing written
    before = {c["id"]: c["properties"] for c in wired.boxes.hubspot.store.objects("contacts")}
    (users,) = wired.run_streams((WORKWAYS_USERS,), dry_run=True)
    assert users.counts["adopted"] == SEEDED
    adoptions = {c.source_id: c for c in users.planned if c.action == "adopt"}
    assert set(adoptions) == set(portal)
    for user_id, seeded in portal.items():
        assert f"(HubSpot {seeded['id']})" in adoptions[user_id].describe(frozenset({"email"}))
    after = {c["id"]: c["properties"] for c in wired.boxes.hubspot.store.objects("contacts")}
    assert after == before and wired.store.load(WORKWAYS_USERS.name, list(portal)) == {}


def test_a_contact_holding_another_users_key_is_not_adopted(wired: Wired) -> None:
    """Two Workways users, one e-mail (as HubSpot compares them): the user whose
    contact holds it keeps it; the other is created without the e-mail, counted as
    a clash, never a failure, and both are in HubSpot."""
    first, second = wired.boxes.workways.users()[:2]
    wired.sync_all()
    holder = hubspot_by_key(wired.boxes, "contacts", "workways_user_id")[first["_id"]]
    wired.boxes.workways.allow_duplicate_emails()
    wired.boxes.workways.update_user(first["_id"], email="Shared.Person@Example.org")
    wired.sync_all()
    wired.boxes.workways.update_user(second["_id"], email="shared.person@example.ORG")
    _orgs, users = wired.sync_all()
    assert users.counts["clashes"] == 1 and users.counts["failed"] == 0
    contacts = hubspot_by_key(wired.boxes, "contacts", "workways_user_id")
    assert contacts[first["_id"]]["id"] == holder["id"]
    assert contacts[first["_id"]]["properties"]["email"] == "shared.person@example.org"
    assert contacts[second["_id"]]["id"] != holder["id"]
    assert contacts[second["_id"]]["properties"].get("email", "") != "shared.person@example.org"
    assert wired.store.failures.rows() == []
