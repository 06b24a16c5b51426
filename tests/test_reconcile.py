"""Drift repair (issue 17, point 3) on PostgreSQL and the sandboxes: what people do
in HubSpot (delete, merge, unlink, delete for privacy) is found by ``reconcile``
and repaired, through the sync, without duplicates and without bringing back a
person deleted for privacy."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from syncworker.app.reconcile import ReconcileOutcome, event_scope, run_reconcile
from syncworker.cli import output
from syncworker.engine.reconcile import Reconciler
from syncworker.locks import StreamLeases
from syncworker.sources.workways.streams import WORKWAYS_STREAMS, WORKWAYS_USERS
from syncworker.store.drift import DriftStore
from syncworker.store.models import SyncRun
from syncworker.webhooks.events import WebhookEventStore, parse_events
from tests.checks import assert_converged, hubspot_by_key
from tests.conftest import Wired


def reconcile(wired: Wired, *, dry_run: bool = False, events: Any = None) -> ReconcileOutcome:
    only, privacy = event_scope(events) if events is not None else (None, {})
    return run_reconcile(
        Reconciler(DriftStore(wired.store.sessions), wired.gateway, WORKWAYS_STREAMS),
        StreamLeases(None),
        lambda again: wired.run_streams(again),
        dry_run=dry_run,
        only=only,
        privacy=privacy,
    )


def contacts(wired: Wired) -> dict[str, dict[str, Any]]:
    return hubspot_by_key(wired.boxes, "contacts", "workways_user_id")


def companies(wired: Wired) -> dict[str, dict[str, Any]]:
    return hubspot_by_key(wired.boxes, "companies", "workways_org_id")


def members(wired: Wired) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for user in wired.boxes.workways.users():
        if user.get("organizationId"):
            found.setdefault(user["organizationId"], []).append(user["_id"])
    return found


def test_deleted_contacts_and_company_come_back_with_the_companys_members(wired: Wired) -> None:
    wired.sync_all()
    hub = wired.boxes.hubspot.store
    org, its_members = max(members(wired).items(), key=lambda item: len(item[1]))
    assert len(its_members) >= 2
    outsiders = [u["_id"] for u in wired.boxes.workways.users() if u["_id"] not in its_members]
    gone_users = outsiders[:2]
    old = {uid: contacts(wired)[uid]["id"] for uid in gone_users}
    old_company = companies(wired)[org]["id"]
    for uid in gone_users:
        hub.delete_object("contacts", old[uid])
    hub.delete_object("companies", old_company)
    total = len(hub.objects("contacts"))

    planned = reconcile(wired, dry_run=True)
    listed = {(r.kind, r.source_id) for r in planned.report.repairs}
    assert listed == {("recreated", uid) for uid in gone_users} | {("recreated", org)} | {
        ("relinked", uid) for uid in its_members
    }
    assert len(hub.objects("contacts")) == total  # a dry run writes nothing
    assert (
        wired.store.load(WORKWAYS_USERS.name, gone_users)[gone_users[0]].hubspot_id
        == old[gone_users[0]]
    )

    outcome = reconcile(wired)
    assert outcome.report.counts == Counter(recreated=3, relinked=len(its_members))
    now = contacts(wired)
    for uid in gone_users:
        assert now[uid]["id"] != old[uid]  # created again
    assert companies(wired)[org]["id"] != old_company
    linked = companies(wired)[org]["id"]
    for uid in its_members:
        assert hub.associations("contacts", now[uid]["id"], "companies") == [linked]
    assert_converged(wired.boxes, wired.store)
    with wired.store.sessions() as session:
        run = session.get_one(SyncRun, outcome.run_id)
        assert (run.stream, run.trigger, run.status) == ("reconcile", "cli", "succeeded")
        assert run.repairs == {"recreated": 3, "relinked": len(its_members)}

    assert reconcile(wired).report.repairs == []  # repaired once


def test_an_association_removed_by_hand_is_restored_one_added_by_hand_is_left(
    wired: Wired,
) -> None:
    wired.sync_all()
    hub = wired.boxes.hubspot.store
    (org, (first, *_)), (other_org, (second, *_)) = list(members(wired).items())[:2]
    c1, c2 = contacts(wired)[first]["id"], contacts(wired)[second]["id"]
    company, other_company = companies(wired)[org]["id"], companies(wired)[other_org]["id"]
    hub.assoc.remove("contacts", c1, "companies", company)
    hub.assoc.add("contacts", c2, "companies", company, "default")  # added by hand

    outcome = reconcile(wired)
    assert [(r.kind, r.source_id) for r in outcome.report.repairs] == [("relinked", first)]
    assert hub.associations("contacts", c1, "companies") == [company]
    assert set(hub.associations("contacts", c2, "companies")) == {company, other_company}


@pytest.mark.parametrize("merged_reads", ["survivor", "missing"])
def test_merged_contacts_leave_one_contact_and_the_snapshot_on_the_survivor(
    wired: Wired, merged_reads: str
) -> None:
    wired.sync_all()
    hub = wired.boxes.hubspot.store
    hub.merged_reads = merged_reads
    keeper, merged = sorted(u["_id"] for u in wired.boxes.workways.users())[:2]
    primary, away = contacts(wired)[keeper]["id"], contacts(wired)[merged]["id"]
    hub.merge_objects("contacts", primary, away)
    total = len(hub.objects("contacts"))

    wired.sync_all()  # nothing changed in Workways: nothing sent
    outcome = reconcile(wired)
    assert outcome.report.counts == Counter(merged=1)
    # a later change of the merged-away user is not pushed: it would create a contact
    wired.boxes.workways.update_user(merged, firstName="Changed")
    wired.boxes.workways.update_user(keeper, firstName="Kept")
    wired.sync_all()

    assert len(hub.objects("contacts")) == total  # no duplicate was created
    assert contacts(wired)[keeper]["id"] == primary
    assert contacts(wired)[keeper]["properties"]["firstname"] == "Kept"
    assert merged not in contacts(wired)
    snapshots = wired.store.load(WORKWAYS_USERS.name, [keeper, merged])
    assert snapshots[keeper].hubspot_id == primary and snapshots[merged].hubspot_id == primary
    assert DriftStore(wired.store.sessions).suppressed_counts() == Counter(merged=1)
    assert reconcile(wired).report.repairs == []


def test_a_survivor_left_with_the_merged_away_key_gets_the_keepers_key(wired: Wired) -> None:
    wired.sync_all()
    hub = wired.boxes.hubspot.store
    keeper, merged = sorted(u["_id"] for u in wired.boxes.workways.users())[:2]
    primary, away = contacts(wired)[keeper]["id"], contacts(wired)[merged]["id"]
    hub.merge_objects("contacts", primary, away)
    hub.force_property("contacts", primary, "workways_user_id", merged)  # as a merge may leave

    outcome = reconcile(wired)
    assert outcome.report.counts == Counter(merged=1, rekeyed=1)
    survivor = hub.get("contacts", primary) or {}
    assert survivor["properties"]["workways_user_id"] == keeper
    assert merged not in contacts(wired)


def test_a_person_deleted_for_privacy_is_never_brought_back(wired: Wired) -> None:
    wired.sync_all()
    hub = wired.boxes.hubspot.store
    person = wired.boxes.workways.users()[3]["_id"]
    hub.gdpr_delete("contacts", contacts(wired)[person]["id"])
    total = len(hub.objects("contacts"))

    outcome = reconcile(wired)
    assert [(r.kind, r.source_id) for r in outcome.report.repairs] == [("suppressed", person)]
    wired.boxes.workways.update_user(person, firstName="Changed")
    _orgs, users = wired.sync_all()
    assert users.counts["created"] == 0 and reconcile(wired).report.repairs == []
    wired.sync_all(full=True)

    assert person not in contacts(wired) and len(hub.objects("contacts")) == total
    (row,) = wired.store.load(WORKWAYS_USERS.name, [person]).values()
    assert row.hubspot_id is None and row.properties == {}  # nothing kept about the person
    counts = DriftStore(wired.store.sessions).suppressed_counts()
    assert counts == Counter(privacy=1)
    assert output.suppressed_line(counts) == (
        "Suppressed people: 1 deleted for privacy in HubSpot (never brought back), "
        "0 merged into another user's contact"
    )


def test_deletion_events_alone_repair_what_they_name(wired: Wired) -> None:
    """With webhooks on: the stored deletion and privacy-deletion events are repaired
    for just the objects they name, without a full check."""
    wired.sync_all()
    hub = wired.boxes.hubspot.store
    deleted, erased = (u["_id"] for u in wired.boxes.workways.users()[:2])
    hub.delete_object("contacts", contacts(wired)[deleted]["id"])
    hub.gdpr_delete("contacts", contacts(wired)[erased]["id"])
    store = WebhookEventStore(wired.store.sessions)
    ids = store.add(parse_events(json.dumps(hub.events()).encode()))
    events = store.get(ids)

    outcome = reconcile(wired, events=events)
    assert outcome.report.checked == 2  # only the named objects
    assert {(r.kind, r.source_id) for r in outcome.report.repairs} == {
        ("recreated", deleted),
        ("suppressed", erased),
    }
    assert deleted in contacts(wired) and erased not in contacts(wired)
    with wired.store.sessions() as session:
        runs = session.scalars(select(SyncRun).where(SyncRun.stream == "reconcile")).all()
        assert [r.repairs for r in runs] == [{"recreated": 1, "suppressed": 1}]
