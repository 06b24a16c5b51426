"""A real portal, second part (issue 17): companies adopted by exact name (opt-in),
keys that stay with their records on the sync's side, a clash reported once.
On PostgreSQL and the sandboxes."""

from __future__ import annotations

import logging

import pytest

from syncworker.config import ConfigError, Settings
from syncworker.hubspot.schema import ensure_schema
from syncworker.mapping import custom_properties
from syncworker.sources.workways.streams import WORKWAYS_ORGANIZATIONS, WORKWAYS_USERS
from syncworker.store.reports import AMBIGUOUS, CLASH
from tests.checks import hubspot_by_key
from tests.conftest import Wired
from tests.test_reconcile import reconcile


def test_adopt_companies_by_name_is_an_opt_in_setting() -> None:
    assert Settings.from_env({}).adopt_companies_by_name is False
    assert Settings.from_env({"ADOPT_COMPANIES_BY_NAME": "true"}).adopt_companies_by_name
    assert not Settings.from_env({"ADOPT_COMPANIES_BY_NAME": "off"}).adopt_companies_by_name
    with pytest.raises(ConfigError, match="ADOPT_COMPANIES_BY_NAME"):
        Settings.from_env({"ADOPT_COMPANIES_BY_NAME": "maybe"})


def _seed_companies(wired: Wired) -> tuple[str, str, str, dict[str, str]]:
    """Three organizations named by hand, and the companies a portal already holds:
    one with the first's name (other letter case), two with the second's, one with
    the third's that already holds another organization's key. Returns the three
    organization ids and {label: seeded company id}."""
    ensure_schema(wired.gateway, custom_properties(WORKWAYS_ORGANIZATIONS.mapping))
    first, second, third = (o["_id"] for o in wired.boxes.workways.organizations()[:3])
    wired.boxes.workways.update_organization(first, name="  Acme Coworking Ltd ")
    wired.boxes.workways.update_organization(second, name="Twin Desks")
    wired.boxes.workways.update_organization(third, name="Keyed Space")
    add = wired.boxes.hubspot.store.add_object
    seeded = {
        "acme": add("companies", {"name": "ACME coworking LTD", "domain": "acme.example"}),
        "twin1": add("companies", {"name": "Twin Desks"}),
        "twin2": add("companies", {"name": "twin desks"}),
        "keyed": add("companies", {"name": "Keyed Space", "workways_org_id": "elsewhere-1"}),
        "other": add("companies", {"name": "Unrelated Ltd"}),
    }
    return first, second, third, seeded


def test_off_by_default_an_existing_company_of_the_same_name_is_left_alone(
    wired: Wired,
) -> None:
    first, _second, _third, seeded = _seed_companies(wired)
    orgs, _users = wired.sync_all()
    assert orgs.counts["adopted"] == 0
    companies = hubspot_by_key(wired.boxes, "companies", "workways_org_id")
    assert companies[first]["id"] != seeded["acme"]
    acme = wired.boxes.hubspot.store.get("companies", seeded["acme"]) or {}
    assert acme["properties"].get("workways_org_id", "") == ""


def test_one_company_of_the_same_name_is_adopted_several_are_reported_once(
    wired: Wired, caplog: pytest.LogCaptureFixture
) -> None:
    first, second, third, seeded = _seed_companies(wired)
    wired.engine_options["adopt_by_name"] = True
    total = len(wired.boxes.workways.organizations())

    (planned,) = wired.run_streams((WORKWAYS_ORGANIZATIONS,), dry_run=True)
    adoptions = {c.source_id: c.previous for c in planned.planned if c.action == "adopt"}
    assert adoptions == {first: {"hs_object_id": seeded["acme"]}}
    assert hubspot_by_key(wired.boxes, "companies", "workways_org_id") == {
        "elsewhere-1": wired.boxes.hubspot.store.get("companies", seeded["keyed"])
    }

    with caplog.at_level(logging.WARNING):
        orgs, _users = wired.sync_all()
    assert orgs.status == "succeeded" and wired.store.failures.rows() == []
    assert (orgs.counts["adopted"], orgs.counts["created"]) == (1, total - 1)
    companies = hubspot_by_key(wired.boxes, "companies", "workways_org_id")
    acme = companies[first]
    assert acme["id"] == seeded["acme"]  # the same company, keyed and mapped
    assert acme["properties"]["name"] == "Acme Coworking Ltd"  # the mapped (trimmed) name
    assert acme["properties"]["domain"] == "acme.example"  # not the mapping's: kept
    assert wired.store.load(WORKWAYS_ORGANIZATIONS.name, [first])[first].hubspot_id == acme["id"]
    # several candidates: none taken, a company of its own, reported once with their ids
    assert companies[second]["id"] not in (seeded["twin1"], seeded["twin2"])
    for label in ("twin1", "twin2"):
        twin = wired.boxes.hubspot.store.get("companies", seeded[label]) or {}
        assert twin["properties"].get("workways_org_id", "") == ""
    # the one candidate holds another organization's key: not ours
    assert companies[third]["id"] != seeded["keyed"]
    assert companies["elsewhere-1"]["id"] == seeded["keyed"]
    reports = wired.store.reports.listed(WORKWAYS_ORGANIZATIONS.name)
    expected_ids = ", ".join(sorted((seeded["twin1"], seeded["twin2"]), key=int))
    assert [(r.source_id, r.kind, r.other) for r in reports] == [(second, AMBIGUOUS, expected_ids)]
    ambiguous = [r for r in caplog.records if "hold its name" in r.getMessage()]
    assert len(ambiguous) == 1 and second in ambiguous[0].getMessage()
    assert "Twin" not in ambiguous[0].getMessage()  # ids, never the name

    orgs, _users = wired.sync_all()  # adopted once: nothing left to do
    assert (orgs.counts["adopted"], orgs.counts["created"], orgs.counts["updated"]) == (0, 0, 0)


def _stray_key(wired: Wired) -> tuple[str, str, str]:
    """A synced user whose key someone took off its contact and put on a second one,
    created by hand: (user id, its contact's id, the second contact's id)."""
    wired.sync_all()
    user = next(u for u in wired.boxes.workways.users() if not u["isUserArchived"])
    own = hubspot_by_key(wired.boxes, "contacts", "workways_user_id")[user["_id"]]["id"]
    hubspot = wired.boxes.hubspot.store
    hubspot.edit_property("contacts", own, "workways_user_id", None)
    stray = hubspot.add_object(
        "contacts",
        {"email": "copied@portal-seed.example", "firstname": "Copied", "jobtitle": "Importer"},
    )
    hubspot.edit_property("contacts", stray, "workways_user_id", user["_id"])
    return user["_id"], own, stray


def test_a_key_on_another_contact_never_steers_the_sync_there(wired: Wired) -> None:
    user_id, own, stray = _stray_key(wired)
    wired.boxes.workways.update_user(user_id, title="Head of plants")
    _orgs, users = wired.sync_all()
    assert (users.counts["updated"], users.counts["failed"]) == (1, 0)
    hubspot = wired.boxes.hubspot.store
    assert (hubspot.get("contacts", own) or {})["properties"]["jobtitle"] == "Head of plants"
    stray_props = (hubspot.get("contacts", stray) or {})["properties"]
    assert (stray_props["jobtitle"], stray_props["firstname"]) == ("Importer", "Copied")
    assert wired.store.load(WORKWAYS_USERS.name, [user_id])[user_id].hubspot_id == own


def test_reconcile_lists_a_stray_key_and_takes_it_off(wired: Wired) -> None:
    user_id, own, stray = _stray_key(wired)
    planned = reconcile(wired, dry_run=True).report.repairs
    strays = [(r.source_id, r.hubspot_id) for r in planned if r.kind == "stray"]
    assert strays == [(user_id, stray)]
    assert any(r.kind == "rekeyed" and r.hubspot_id == own for r in planned)
    hubspot = wired.boxes.hubspot.store
    assert (hubspot.get("contacts", stray) or {})["properties"]["workways_user_id"] == user_id

    reconcile(wired)  # the key leaves the stray contact and goes back to its own
    unkeyed = (hubspot.get("contacts", stray) or {})["properties"]
    assert unkeyed.get("workways_user_id") in ("", None)
    assert (hubspot.get("contacts", own) or {})["properties"]["workways_user_id"] == user_id
    assert [r for r in reconcile(wired, dry_run=True).report.repairs if r.kind == "stray"] == []


def test_a_deleted_contacts_key_on_another_contact_fails_the_record_not_the_contact(
    wired: Wired,
) -> None:
    """The snapshot's contact is gone and a hand-made contact holds its key: the sync
    writes nothing to that contact; the record fails, naming both ids."""
    wired.sync_all()
    user = next(u for u in wired.boxes.workways.users() if not u["isUserArchived"])
    hubspot = wired.boxes.hubspot.store
    own = hubspot_by_key(wired.boxes, "contacts", "workways_user_id")[user["_id"]]["id"]
    hubspot.delete_object("contacts", own)
    stray = hubspot.add_object("contacts", {"firstname": "Copied", "jobtitle": "Importer"})
    hubspot.edit_property("contacts", stray, "workways_user_id", user["_id"])
    wired.boxes.workways.update_user(user["_id"], title="Head of plants")
    _orgs, users = wired.sync_all()
    assert users.counts["failed"] == 1
    assert (hubspot.get("contacts", stray) or {})["properties"]["jobtitle"] == "Importer"
    (failure,) = wired.store.failures.rows()
    assert (failure.source_id, failure.category) == (user["_id"], "STRAY_KEY")
    assert own in failure.last_error and stray in failure.last_error


def test_a_clash_is_reported_once_with_both_user_ids(
    wired: Wired, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = wired.boxes.workways.users()[:2]
    wired.sync_all()
    wired.boxes.workways.allow_duplicate_emails()
    wired.boxes.workways.update_user(first["_id"], email="shared.person@example.org")
    wired.sync_all()
    with caplog.at_level(logging.WARNING):
        for n in range(3):  # the second user changes on every run: it meets the clash
            wired.boxes.workways.update_user(
                second["_id"], email="Shared.Person@example.org", title=f"Title {n}"
            )
            _orgs, users = wired.sync_all()
            assert users.counts["clashes"] == 1
    warned = [r.getMessage() for r in caplog.records if "its e-mail is held by" in r.getMessage()]
    assert len(warned) == 1
    assert second["_id"] in warned[0] and first["_id"] in warned[0]
    assert "example.org" not in warned[0].lower()
    reports = wired.store.reports.listed(WORKWAYS_USERS.name)
    assert [(r.source_id, r.kind, r.other) for r in reports] == [
        (second["_id"], CLASH, first["_id"])
    ]
