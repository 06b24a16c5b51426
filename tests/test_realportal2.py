"""A real portal, second part (issue 17): companies adopted by exact name (opt-in),
keys that stay with their records on the sync's side, a clash reported once.
On PostgreSQL and the sandboxes."""

from __future__ import annotations

import logging

import pytest

from syncworker.config import ConfigError, Settings
from syncworker.hubspot.schema import ensure_schema
from syncworker.mapping import custom_properties
from syncworker.sources.workways.streams import WORKWAYS_ORGANIZATIONS
from syncworker.store.reports import AMBIGUOUS
from tests.checks import hubspot_by_key
from tests.conftest import Wired


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
