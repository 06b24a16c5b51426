"""Details that do not go stale (issue #19, point 2).

An organization's rooms, sites and options come from one detail call per
organization, made when a listed field changes. A room's price changed alone
must still reach HubSpot within ``DETAIL_REFRESH_HOURS``, with a bounded share
of detail calls per run and none in a run right after a sync. Time moves with
the snapshot store's clock, never with a sleep; every expected number is
written by hand.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient
from syncworker_sandbox.runner import Sandboxes

from syncworker.app.container import Container
from syncworker.cli.main import main
from syncworker.config import Settings
from syncworker.engine.details import DetailRefresh
from syncworker.errors import ConfigError
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.hubspot.responses import RecordOutcome, UpsertRecord
from syncworker.ops.app import ops_app
from syncworker.sources.workways.streams import WORKWAYS_ORGANIZATIONS
from syncworker.store.database import make_engine
from syncworker.store.models import SyncedRecord, SyncRun
from syncworker.store.snapshots import SnapshotStore
from tests.checks import hubspot_by_key
from tests.conftest import Wired
from tests.oracle import expected_company

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
DETAIL_FIELDS = ("allocatedRooms", "accessibleSites", "contractOptions")
# DETAIL_REFRESH_HOURS=2 with a run every 15 minutes: details are due at 1 hour old,
# and a page of 20 organizations refreshes ceil(20 x 15 min / 1 h) = 5 per run.
REFRESH = DetailRefresh(every=timedelta(hours=2), interval=timedelta(minutes=15))
SHARE = 5


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(wired: Wired) -> Iterator[Clock]:
    """The snapshot store's clock, moved by the test."""
    at = Clock(T0)
    wired.store = SnapshotStore(wired.store.sessions, clock=at)
    yield at


class UpdateSpy(HubSpotGateway):
    """The real gateway, remembering what each update by id carried (a spy)."""

    sent: list[UpsertRecord]

    def update_records(
        self, object_type: str, records: Sequence[tuple[str, UpsertRecord]]
    ) -> list[RecordOutcome]:
        self.sent.extend(r for _, r in records)
        return super().update_records(object_type, records)


def detail_calls(wired: Wired) -> int:
    """Detail calls served so far: ``GET /api/organization-info?id=…``."""
    return sum(
        1
        for r in wired.boxes.workways.request_log
        if r.path == "/api/organization-info" and "id" in r.query
    )


def run_organizations(wired: Wired, **kw: Any) -> tuple[int, SyncRun]:
    """One run of the organizations: its detail calls and its row."""
    before = detail_calls(wired)
    result = wired.run(WORKWAYS_ORGANIZATIONS, detail_refresh=REFRESH, **kw)
    assert result.status == "succeeded", result.error
    with wired.store.sessions() as session:
        row = session.get_one(SyncRun, result.run_id)
    return detail_calls(wired) - before, row


def listed(org: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in org.items() if k not in DETAIL_FIELDS}


def details_at(wired: Wired) -> dict[str, datetime | None]:
    with wired.store.sessions() as session:
        rows = session.execute(
            select(SyncedRecord.source_id, SyncedRecord.details_at).where(
                SyncedRecord.stream == WORKWAYS_ORGANIZATIONS.name
            )
        )
        return {sid: at for sid, at in rows}


# ------------------------------------------------------------- the acceptance


def test_a_room_price_changed_alone_reaches_hubspot_within_the_window(
    wired: Wired, clock: Clock
) -> None:
    ww = wired.boxes.workways
    orgs = sorted(ww.organizations(), key=lambda o: o["_id"])
    assert len(orgs) == 20
    calls, row = run_organizations(wired)
    assert (calls, row.created, row.details_refreshed) == (20, 20, 0)

    # The last organization by id with a priced room: refreshed last of its page.
    org = next(
        o
        for o in reversed(orgs)
        if any(r["price"] for r in ww.get_organization(o["_id"])["allocatedRooms"])
    )
    rooms = ww.get_organization(org["_id"])["allocatedRooms"]
    assert org["_id"] == "5ee017b98fa2b0f8a400003a" and rooms[0]["price"] == 440
    clock.now = changed_at = T0 + timedelta(minutes=1)
    rooms[0]["price"] = 455
    ww.update_organization(org["_id"], allocatedRooms=rooms, updatedAt=org["updatedAt"])
    assert listed(ww.organizations()[-1]) == listed(org)  # no listed field changed

    # A run right after: nothing is due yet, so not one detail call.
    calls, row = run_organizations(wired)
    assert (calls, row.unchanged, row.updated, row.details_refreshed) == (0, 20, 0, 0)

    def in_hubspot() -> str:
        company = hubspot_by_key(wired.boxes, "companies", "workways_org_id")[org["_id"]]
        return str(company["properties"]["workways_allocated_rooms"])

    assert "455 €/month" not in in_hubspot()

    # A run every 15 minutes. Details are due at 1 hour old; each run refreshes its
    # share (5) of the oldest, ties by id: the changed organization comes 20th.
    expected = {  # minutes after T0: (detail calls, details_changed, updated)
        15: (0, 0, 0),
        30: (0, 0, 0),
        45: (0, 0, 0),
        60: (5, 0, 0),
        75: (5, 0, 0),
        90: (5, 0, 0),
        105: (5, 1, 1),  # the last five, with the changed room
        120: (5, 0, 0),  # those refreshed at 60 minutes are due again
    }
    arrived = None
    for minutes, (wanted_calls, changed, updated) in expected.items():
        clock.now = T0 + timedelta(minutes=minutes)
        calls, row = run_organizations(wired)
        assert calls <= SHARE  # never more than its share
        assert (calls, row.details_refreshed, row.details_changed, row.updated) == (
            wanted_calls,
            wanted_calls,
            changed,
            updated,
        ), minutes
        assert row.unchanged == 20 - updated
        if arrived is None and "455 €/month" in in_hubspot():
            arrived = clock.now
    assert arrived == T0 + timedelta(minutes=105)
    assert arrived - changed_at <= timedelta(hours=2)  # within DETAIL_REFRESH_HOURS
    detail = ww.get_organization(org["_id"])
    assert in_hubspot() == expected_company(org, detail)["workways_allocated_rooms"]
    # Every organization's details were found as HubSpot holds them within the window.
    assert all(
        at is not None and at >= T0 + timedelta(minutes=60) for at in details_at(wired).values()
    )


def test_only_the_changed_detail_property_is_sent(wired: Wired, clock: Clock) -> None:
    ww = wired.boxes.workways
    run_organizations(wired)
    org = ww.organizations()[0]
    options = ww.get_organization(org["_id"])["contractOptions"]
    options[0]["quantity"] = options[0].get("quantity", 1) + 3
    ww.update_organization(org["_id"], contractOptions=options, updatedAt=org["updatedAt"])
    spy = UpdateSpy(wired.boxes.hubspot_url, wired.settings.require_hubspot()[1])
    spy.sent = []
    wired.gateway = spy
    clock.now = T0 + timedelta(hours=1)  # the first five by id are due: org among them
    calls, row = run_organizations(wired)
    assert (calls, row.details_refreshed, row.details_changed, row.updated) == (5, 5, 1, 1)
    assert [(r.key, set(r.properties)) for r in spy.sent] == [
        (org["_id"], {"workways_contract_options"})
    ]


def test_a_no_change_run_after_a_full_sync_makes_no_detail_call(wired: Wired, clock: Clock) -> None:
    run_organizations(wired)
    clock.now = T0 + timedelta(minutes=59)
    calls, row = run_organizations(wired, full=True)
    assert (calls, row.details_refreshed) == (20, 0)  # a full run fetches every detail
    clock.now = T0 + timedelta(minutes=60)  # 1 hour after the first sync, 1 minute after --full
    calls, row = run_organizations(wired)
    assert (calls, row.details_refreshed, row.unchanged) == (0, 0, 20)


def test_unknown_ages_are_refreshed_first(wired: Wired, clock: Clock) -> None:
    """After the upgrade that added ``details_at``, every row's age is unknown:
    due at once, a share per run, and nothing else is due before them."""
    run_organizations(wired)
    ids = sorted(details_at(wired))
    with wired.store.sessions.begin() as session:
        session.execute(
            update(SyncedRecord).where(SyncedRecord.source_id.in_(ids[-7:])).values(details_at=None)
        )
    clock.now = T0 + timedelta(minutes=70)  # everybody else is due too (1 h 10 old)
    calls, row = run_organizations(wired)
    assert (calls, row.details_refreshed, row.details_changed) == (5, 5, 0)
    ages = details_at(wired)
    assert [sid for sid in ids if ages[sid] == clock.now] == ids[-7:-2]  # unknown ones, by id
    assert [sid for sid in ids if ages[sid] is None] == ids[-2:]


def test_a_listed_change_fetches_details_and_they_are_fresh_then(
    wired: Wired, clock: Clock
) -> None:
    ww = wired.boxes.workways
    run_organizations(wired)
    org = ww.organizations()[3]
    clock.now = T0 + timedelta(minutes=50)
    ww.update_organization(org["_id"], description="Now with a rooftop")
    calls, row = run_organizations(wired)
    assert (calls, row.updated, row.details_refreshed) == (1, 1, 0)  # not a refresh
    assert details_at(wired)[org["_id"]] == clock.now
    clock.now = T0 + timedelta(minutes=60)
    calls, row = run_organizations(wired)
    assert (calls, row.details_refreshed) == (5, 5)
    assert details_at(wired)[org["_id"]] == T0 + timedelta(minutes=50)  # not due yet


def test_a_dry_run_fetches_what_is_due_and_writes_nothing(wired: Wired, clock: Clock) -> None:
    run_organizations(wired)
    before = details_at(wired)
    clock.now = T0 + timedelta(hours=1)
    result = wired.run(WORKWAYS_ORGANIZATIONS, detail_refresh=REFRESH, dry_run=True)
    assert result.counts["details_refreshed"] == 5
    assert details_at(wired) == before


# ------------------------------------------------------------- the share, by hand


@pytest.mark.parametrize(
    ("hours", "interval_seconds", "records", "share"),
    [
        (24, 900, 200, 5),  # 200 x 900 / 43,200 = 4.17
        (24, 900, 20, 1),  # 0.42: at least one
        (2, 900, 20, 5),  # 20 x 900 / 3,600
        (24, 3600, 200, 17),  # 16.67
        (1, 3600, 7, 7),  # never more than the page holds
        (24, 900, 0, 0),
    ],
)
def test_the_share_of_a_page(hours: int, interval_seconds: int, records: int, share: int) -> None:
    refresh = DetailRefresh(timedelta(hours=hours), timedelta(seconds=interval_seconds))
    assert refresh.share(records) == share


def test_the_oldest_due_go_first() -> None:
    refresh = DetailRefresh(timedelta(hours=24), timedelta(hours=2))  # share: 1 in 6
    now = T0 + timedelta(days=3)
    ages = {
        "a": now - timedelta(hours=11),  # not due: less than 12 hours old
        "b": now - timedelta(hours=12),  # due: exactly 12 hours old
        "c": now - timedelta(hours=30),
        "d": None,  # never known: first
        "e": now - timedelta(hours=30),  # as old as c: by id
        "f": now - timedelta(hours=13),
    }
    assert refresh.due(ages, 12, now) == {"d", "c"}
    assert refresh.due(ages, 18, now) == {"d", "c", "e"}
    assert refresh.due(ages, 600, now) == {"b", "c", "d", "e", "f"}
    assert refresh.due({"a": ages["a"]}, 600, now) == set()


# ------------------------------------------------------------------- the setting


def test_detail_refresh_hours_defaults_to_24_and_takes_whole_hours() -> None:
    assert Settings.from_env({}).detail_refresh_hours == 24
    assert Settings.from_env({"DETAIL_REFRESH_HOURS": " 6 "}).detail_refresh_hours == 6
    assert Settings.from_env({"DETAIL_REFRESH_HOURS": "87600"}).detail_refresh_hours == 87_600


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "nan", "inf", "a day", "87601", "1e9"])
def test_detail_refresh_hours_refuses_what_is_not_a_whole_hour_count(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DETAIL_REFRESH_HOURS": value})
    assert caught.value.variable == "DETAIL_REFRESH_HOURS"


# ------------------------------------------------------- where run history is shown


def test_the_cli_and_the_ops_page_show_the_refreshes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    with Sandboxes(users=10, orgs=8, seed=5) as boxes:
        for name, value in boxes.environment(url).items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("REDIS_URL", raising=False)
        # 8 organizations, a run every 900 s, due at 1 hour: ceil(8 x 900 / 3600) = 2 a run
        monkeypatch.setenv("DETAIL_REFRESH_HOURS", "2")
        monkeypatch.setenv("SYNC_INTERVAL_SECONDS", "900")
        assert main(["db", "upgrade"]) == 0
        assert main(["sync", "--entity", "organizations", "--quiet"]) == 0
        # As after the upgrade that added details_at: no age known, all due.
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(update(SyncedRecord).values(details_at=None))
        engine.dispose()
        first = min(o["_id"] for o in boxes.workways.organizations())
        org = next(o for o in boxes.workways.organizations() if o["_id"] == first)
        locker = {
            "id": 9,
            "name": "Casier",
            "key": "locker",
            "quantity": 1,
            "price": 12,
            "pricePromo": None,
            "startDate": "2027-01-01",
            "endDate": "",
        }
        boxes.workways.update_organization(
            first, contractOptions=[locker], updatedAt=org["updatedAt"]
        )
        capsys.readouterr()
        assert main(["sync", "--entity", "organizations"]) == 0
        out = capsys.readouterr().out
        assert "updated 1, unchanged 7," in out
        assert ", details refreshed 2 (1 changed)" in out
        assert main(["status"]) == 0
        assert "      └ details refreshed 2 (1 changed)" in capsys.readouterr().out

        services = Container(Settings.from_env(boxes.environment(url)))
        with TestClient(ops_app(services, host="127.0.0.1", daily_budget=lambda: None)) as web:
            html = web.get("/ops").text
        card = html[html.index('data-stream="workways.organizations"') :]
        card = card[: card.index("</article>")]
        assert (
            "seen 8, created 0, updated 1, unchanged 7, archived 0, failed 0, "
            "details refreshed 2 (1 changed)" in card
        )
