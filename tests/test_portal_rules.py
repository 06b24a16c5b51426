"""Issue 16, point 3, as an operator meets it: a rule of the HubSpot portal
("jobtitle required when lifecyclestage is customer") refuses 3 of 250 contacts
in a real sync; the other 247 are written, the 3 are in the failures list with
the rule named and the portal's settings (not the data) blamed, and the run
finishes with failures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from syncworker_sandbox.runner import Sandboxes

from syncworker.cli.commands import exit_code
from syncworker.cli.output import failures_table
from tests.conftest import Wired

RULE = "Customers need a job title"
USERS = 250


@pytest.fixture
def sandboxes() -> Iterator[Sandboxes]:  # the `wired` fixture's sandboxes, 250 users
    with Sandboxes(users=USERS, orgs=20, seed=16) as boxes:
        yield boxes


def test_a_portal_rule_fails_3_of_250_contacts_and_the_failures_list_blames_the_portal(
    wired: Wired,
) -> None:
    first = {r.stream: r for r in wired.sync_all()}
    assert first["workways.users"].status == "succeeded"
    assert first["workways.users"].counts["created"] == USERS

    hubspot, workways = wired.boxes.hubspot, wired.boxes.workways
    # Three users with a job title became customers in HubSpot (sales' doing)...
    titled = [u for u in workways.users() if u.get("title") and not u["isUserArchived"]][:3]
    assert len(titled) == 3
    ids = {}
    for user in titled:
        (contact,) = hubspot.store.find_by_property("contacts", "workways_user_id", user["_id"])
        hubspot.store.edit_property("contacts", contact["id"], "lifecyclestage", "customer")
        ids[user["_id"]] = contact["id"]
    # ...the admin made a job title required for customers...
    hubspot.add_validation_rule(
        "contacts", "jobtitle", when_property="lifecyclestage", when_value="customer", name=RULE
    )
    # ...and in Workways those three lost their title.
    for user in titled:
        workways.update_user(user["_id"], title=None)

    results = {r.stream: r for r in wired.sync_all(full=True)}

    assert results["workways.organizations"].status == "succeeded"
    result = results["workways.users"]
    assert result.status == "finished_with_failures"
    assert result.counts["failed"] == 3
    assert result.counts["updated"] == 247  # a full run rewrites every contact
    assert exit_code(list(results.values())) == 1  # what `syncworker sync --full` exits with
    failures = wired.store.failures.rows()
    assert sorted(f.source_id for f in failures) == sorted(ids)
    for user in titled:  # HubSpot kept what it had: the portal refused the change
        contact = hubspot.store.get("contacts", ids[user["_id"]])
        assert contact is not None and contact["properties"]["jobtitle"] == user["title"]
    listing = failures_table(failures)
    lines = listing.splitlines()
    for failure in failures:
        (row,) = [n for n, line in enumerate(lines) if line.startswith(f"{failure.id:>5} ")]
        assert "refused by the HubSpot portal's settings, not the data" in lines[row]
        assert f'validation rule "{RULE}"' in lines[row + 1]
        assert '"jobtitle" is required when "lifecyclestage" is "customer"' in lines[row + 1]
        assert lines[row + 2].startswith("      fix: the data is not at fault")
