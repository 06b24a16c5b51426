"""A bad value fails its record, never the run (issue 17, point 2).

A date in another format, an impossible date, a word where a number belongs:
the record holding it fails alone, named with the field at fault (never the
value) in the failures table and under the run's summary; every other change
of the run reaches HubSpot; the run exits 1, and so does the next one, which
still writes its own changes. Expected values are written by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from syncworker_sandbox.runner import Sandboxes

from syncworker.cli.main import main
from syncworker.mapping import FieldValueError
from syncworker.normalise import BadValue, Kind, normalise
from syncworker.sources.workways.mapping import COMPANY_MAPPING, CONTACT_MAPPING
from syncworker.sources.workways.streams import WORKWAYS_ORGANIZATIONS, WORKWAYS_USERS
from tests.checks import hubspot_by_key, mismatches
from tests.conftest import Wired
from tests.oracle import expected_company, expected_contact

# ------------------------------------------------------------------ normalisers


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (Kind.DATE, "2025-01-15", "2025-01-15"),
        (Kind.DATE, " 2025-01-15T09:30:00Z ", "2025-01-15"),
        (Kind.DATE, "", ""),
        (Kind.DATE, None, ""),
        (Kind.DATETIME, "2025-01-15", "2025-01-15T00:00:00Z"),
        (Kind.NUMBER, 1300.0, "1300"),
        (Kind.NUMBER, "12.5", "12.5"),
        (Kind.NUMBER, " 7 ", "7"),
        (Kind.BOOL, True, "true"),
        (Kind.BOOL, "False", "false"),
        (Kind.BOOL, 0, "false"),
        (Kind.EMAIL, "  Jean.Dupont@Acme.COM ", "jean.dupont@acme.com"),
        (Kind.STRING, 75001, "75001"),
    ],
)
def test_good_values_keep_their_normal_form(kind: Kind, value: Any, expected: str) -> None:
    assert normalise(kind, value) == expected


@pytest.mark.parametrize(
    ("kind", "value", "reason"),
    [
        (Kind.DATE, "15/01/2025", "expected a date as YYYY-MM-DD"),
        (Kind.DATE, "2025-13-45", "expected a date as YYYY-MM-DD"),
        (Kind.DATE, 20250115, "expected a date as YYYY-MM-DD, got a int"),
        (Kind.DATETIME, "2025-02-30", "expected a date as YYYY-MM-DD"),
        (Kind.NUMBER, "ten", "expected a number"),
        (Kind.NUMBER, float("nan"), "expected a finite number"),
        (Kind.NUMBER, True, "expected a number, got a bool"),
        (Kind.NUMBER, [1], "expected a number, got a list"),
        (Kind.BOOL, "yes", "expected a boolean (true or false)"),
        (Kind.BOOL, 2, "expected a boolean (true or false)"),
        (Kind.EMAIL, ["a@b.io"], "expected an e-mail address (text), got a list"),
        (Kind.STRING, {"x": 1}, "expected text, got a dict"),
    ],
)
def test_bad_values_are_refused_with_a_reason(kind: Kind, value: Any, reason: str) -> None:
    with pytest.raises(BadValue) as refused:
        normalise(kind, value)
    assert str(refused.value) == reason


def test_the_mapping_names_the_field_never_the_value() -> None:
    user = {
        "_id": "u1",
        "firstName": "Jean",
        "lastName": "Dupont",
        "email": "jean.dupont@acme.com",
        "role": "user",
        "newsOptin": True,
        "mailValid": True,
        "isUserArchived": False,
        "updatedAt": "15/01/2025",
    }
    with pytest.raises(FieldValueError) as refused:
        CONTACT_MAPPING.to_properties(user)
    assert str(refused.value) == (
        "field updatedAt (HubSpot workways_updated_at): expected a date as YYYY-MM-DD"
    )
    assert "15/01/2025" not in str(refused.value)
    org = {"_id": "o1", "name": "Acme", "isArchived": False, "isMember": True}
    with pytest.raises(FieldValueError) as refused:
        COMPANY_MAPPING.to_properties({**org, "sitesCount": 1, "maxResidentUsers": "ten"})
    assert refused.value.source == "maxResidentUsers"
    assert refused.value.target == "workways_max_resident_users"


# ------------------------------------------------------------------------ runs


def spoil(boxes: Sandboxes) -> dict[str, tuple[str, str]]:
    """Three malformed values in three records (one user, two organizations), each
    in a record already in HubSpot: {source id: (stream, field)}."""
    user = next(u for u in boxes.workways.users() if not u["isUserArchived"])
    date_org, number_org = (o["_id"] for o in boxes.workways.organizations()[:2])
    boxes.workways.update_user(user["_id"], title="Concierge", updatedAt="15/01/2025")
    boxes.workways.update_organization(date_org, contractEndDate="2025-13-45")
    boxes.workways.update_organization(number_org, maxResidentUsers="ten")
    return {
        user["_id"]: (WORKWAYS_USERS.name, "updatedAt"),
        date_org: (WORKWAYS_ORGANIZATIONS.name, "contractEndDate"),
        number_org: (WORKWAYS_ORGANIZATIONS.name, "maxResidentUsers"),
    }


def edit_others(boxes: Sandboxes, spoiled: dict[str, tuple[str, str]], n: int) -> set[str]:
    """New job titles for ``n`` users holding no bad value: their ids."""
    users = [u for u in boxes.workways.users() if u["_id"] not in spoiled]
    for i, user in enumerate(users[:n]):
        boxes.workways.update_user(user["_id"], title=f"Host {i}")
    return {u["_id"] for u in users[:n]}


def assert_everything_else_in_hubspot(
    boxes: Sandboxes, spoiled: dict[str, tuple[str, str]]
) -> None:
    contacts = {
        u["_id"]: expected_contact(u) for u in boxes.workways.users() if u["_id"] not in spoiled
    }
    companies = {
        o["_id"]: expected_company(o, boxes.workways.get_organization(o["_id"]))
        for o in boxes.workways.organizations()
        if o["_id"] not in spoiled
    }
    problems = mismatches(contacts, hubspot_by_key(boxes, "contacts", "workways_user_id"))
    problems += mismatches(companies, hubspot_by_key(boxes, "companies", "workways_org_id"))
    assert problems == []


def test_three_bad_values_fail_three_records_and_the_rest_goes_through(wired: Wired) -> None:
    wired.sync_all()
    boxes = wired.boxes
    spoiled = spoil(boxes)
    edited = edit_others(boxes, spoiled, 15)
    before = hubspot_by_key(boxes, "contacts", "workways_user_id")
    bad_user = next(sid for sid, (s, _) in spoiled.items() if s == WORKWAYS_USERS.name)

    orgs, users = wired.sync_all()

    assert (orgs.status, orgs.counts["failed"]) == ("finished_with_failures", 2)
    assert (users.status, users.counts["failed"]) == ("finished_with_failures", 1)
    assert users.counts["updated"] == len(edited)
    failures = {f.source_id: f for f in wired.store.failures.rows()}
    assert set(failures) == set(spoiled)
    for source_id, (stream, field) in spoiled.items():
        failure = failures[source_id]
        assert failure.stream == stream and field in failure.last_error
        assert failure.quarantined_at is None and failure.attempts == 1
    assert failures[bad_user].stage == "mapping"
    assert "15/01/2025" not in failures[bad_user].last_error
    assert_everything_else_in_hubspot(boxes, spoiled)
    after = hubspot_by_key(boxes, "contacts", "workways_user_id")
    assert after[bad_user]["properties"] == before[bad_user]["properties"]  # held back whole

    # The next run is not blocked: it writes its own change and fails the same three.
    (newly,) = edit_others(boxes, {**spoiled, **dict.fromkeys(edited, ("", ""))}, 1)
    orgs, users = wired.sync_all()
    assert orgs.counts["failed"] + users.counts["failed"] == 3
    assert users.counts["updated"] == 1
    contact = hubspot_by_key(boxes, "contacts", "workways_user_id")[newly]
    assert contact["properties"]["jobtitle"] == "Host 0"
    assert {f.source_id: f.attempts for f in wired.store.failures.rows()} == dict.fromkeys(
        spoiled, 2
    )

    # Fixed at the source, each record goes through and its failure is gone.
    boxes.workways.update_user(bad_user, updatedAt="2025-01-15")
    orgs, users = wired.sync_all()
    assert users.counts["failed"] == 0 and users.counts["updated"] == 1
    assert {f.source_id for f in wired.store.failures.rows()} == set(spoiled) - {bad_user}


# ------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database: str) -> Iterator[Sandboxes]:
    with Sandboxes(users=300, orgs=30, seed=23) as boxes:
        for name, value in boxes.environment(database).items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("REDIS_URL", raising=False)
        monkeypatch.delenv("LOG_LEVEL", raising=False)
        yield boxes


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_bad_values_exit_1_never_2_and_are_listed_by_record_and_field(
    cli_env: Sandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "sync", "--quiet")[0] == 0
    spoiled = spoil(cli_env)
    edited = edit_others(cli_env, spoiled, 20)

    code, out, err = cli(capsys, "sync", "--quiet")
    assert code == 1, err
    assert "Traceback" not in err and "month must be" not in err
    for source_id, (stream, field) in spoiled.items():  # named under the summary
        assert any(source_id in line and field in line for line in out.splitlines())
    code, listing, _ = cli(capsys, "failures", "list")
    rows = [line for line in listing.splitlines() if any(s in line for s in spoiled)]
    assert len(rows) == 3 and len(listing.strip().splitlines()) == 4  # header + 3
    for source_id, (stream, field) in spoiled.items():
        (row,) = [line for line in rows if source_id in line]
        assert stream in row and field in row
    assert "15/01/2025" not in listing and "2025-13-45" not in listing
    assert_everything_else_in_hubspot(cli_env, spoiled)
    assert all(
        hubspot_by_key(cli_env, "contacts", "workways_user_id")[uid]["properties"]["jobtitle"]
        for uid in edited
    )

    code, out, err = cli(capsys, "sync", "--quiet")
    assert code == 1, err
    code, out, _ = cli(capsys, "status")
    assert code == 0 and "3 retrying, 0 quarantined" in out
