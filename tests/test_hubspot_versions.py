"""HubSpot's date-based API versions: the setting, and whole runs on dated paths only.

The HubSpot sandbox here serves only the dated paths (``dated_only=True``): a
numeric ``/crm/v3`` or ``/crm/v4`` request answers 404, so a run that still
sent one would fail, and the request log is checked besides.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from syncworker_sandbox import SANDBOX_HUBSPOT_TOKEN
from syncworker_sandbox.runner import Sandboxes

from syncworker.app.container import Container
from syncworker.app.reconcile import run_reconcile
from syncworker.config import Settings
from syncworker.engine.reconcile import Reconciler
from syncworker.errors import ConfigError
from syncworker.locks import StreamLeases
from syncworker.sources.workways.streams import WORKWAYS_STREAMS
from syncworker.store.drift import DriftStore
from syncworker.store.snapshots import SnapshotStore
from syncworker.writeback.outbox import Outbox
from syncworker.writeback.service import WritebackService
from tests.checks import assert_converged, hubspot_by_key
from tests.conftest import Wired

# ------------------------------------------------------------------- the setting


def test_api_version_defaults_to_2026_09_and_accepts_2026_03() -> None:
    assert Settings.from_env({}).hubspot_api_version == "2026-09"
    assert Settings.from_env({"HUBSPOT_API_VERSION": "2026-03"}).hubspot_api_version == "2026-03"


@pytest.mark.parametrize("value", ["v3", "2025-09", "2026-9", "latest", "2026-09-01"])
def test_any_other_api_version_is_a_config_error_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"HUBSPOT_API_VERSION": value})
    assert caught.value.variable == "HUBSPOT_API_VERSION"
    assert str(caught.value).startswith("HUBSPOT_API_VERSION: must be one of 2026-09, 2026-03")


# ------------------------------------------------------- the sandbox, dated only


def test_dated_only_sandbox_answers_404_on_numeric_paths() -> None:
    with Sandboxes(users=3, orgs=1, seed=1, hubspot_dated_only=True) as boxes:
        auth = {"Authorization": f"Bearer {SANDBOX_HUBSPOT_TOKEN}"}
        with httpx.Client(base_url=boxes.hubspot_url, headers=auth) as http:
            for version in ("2026-03", "2026-09"):
                assert http.get(f"/crm/properties/{version}/contacts").status_code == 200
            old = http.get("/crm/v3/properties/contacts")
            assert old.status_code == 404 and old.json()["category"] == "OBJECT_NOT_FOUND"
            assert http.post("/crm/v3/objects/contacts/search", json={}).status_code == 404
            body = {"inputs": [{"from": {"id": "1"}, "to": {"id": "2"}}]}
            r = http.post(
                "/crm/v4/associations/contacts/companies/batch/associate/default", json=body
            )
            assert r.status_code == 404


# ------------------------------------------------------ whole runs, dated only


@pytest.fixture(params=["2026-09", "2026-03"])
def dated(request: pytest.FixtureRequest, store: SnapshotStore) -> Iterator[Wired]:
    version: str = request.param
    with Sandboxes(users=120, orgs=20, seed=11, hubspot_dated_only=True) as boxes:
        env = {**boxes.environment("sqlite://"), "HUBSPOT_API_VERSION": version}
        settings = Settings.from_env(env)
        services = Container(settings)
        workways = services.workways()
        yield Wired(boxes, store, workways, services.gateway(), settings)
        workways.close()


def paths_sent(wired: Wired) -> list[str]:
    return [entry.path for entry in wired.boxes.hubspot.request_log]


def test_full_and_incremental_sync_writeback_and_reconcile_on_dated_paths_only(
    dated: Wired,
) -> None:
    version = dated.settings.hubspot_api_version
    hubspot, ww = dated.boxes.hubspot, dated.boxes.workways

    # a full sync
    results = dated.sync_all()
    assert [r.status for r in results] == ["succeeded", "succeeded"]
    assert_converged(dated.boxes, dated.store)
    full = paths_sent(dated)
    assert f"/crm/objects/{version}/contacts/batch/upsert" in full
    assert f"/crm/objects/{version}/companies/batch/upsert" in full
    assert f"/crm/associations/{version}/contacts/companies/batch/associate/default" in full
    assert f"/crm/properties/{version}/contacts" in full

    # an incremental sync: a changed title and a user moving organization
    hubspot.clear_log()
    user = next(u for u in ww.users() if u["organizationId"] and not u["isUserArchived"])
    target = next(o for o in ww.organizations() if o["_id"] != user["organizationId"])
    ww.update_user(user["_id"], organizationId=target["_id"], title="Head of plants")
    results = dated.sync_all()
    assert [r.status for r in results] == ["succeeded", "succeeded"]
    assert_converged(dated.boxes, dated.store)
    contact = hubspot_by_key(dated.boxes, "contacts", "workways_user_id")[user["_id"]]
    company = hubspot_by_key(dated.boxes, "companies", "workways_org_id")[target["_id"]]
    assert contact["properties"]["jobtitle"] == "Head of plants"
    assert hubspot.store.associations("contacts", contact["id"], "companies") == [company["id"]]
    incremental = paths_sent(dated)
    assert f"/crm/associations/{version}/contacts/companies/batch/archive" in incremental

    # a write-back found by polling: the opt-in flipped in HubSpot
    hubspot.clear_log()
    flipped = "false" if user["newsOptin"] else "true"
    hubspot.store.edit_property("contacts", contact["id"], "workways_newsletter_optin", flipped)
    outbox = Outbox(dated.store.sessions, retry_seconds=0.001)
    result = WritebackService(dated.store, outbox, dated.gateway, dated.workways).poll()
    assert result.written == 1
    assert ww.get_user(user["_id"])["newsOptin"] is (flipped == "true")
    writeback = paths_sent(dated)
    assert f"/crm/objects/{version}/contacts/search" in writeback

    # reconcile: a contact deleted in HubSpot comes back
    hubspot.clear_log()
    gone = hubspot_by_key(dated.boxes, "contacts", "workways_user_id")[user["_id"]]
    hubspot.store.delete_object("contacts", gone["id"])
    outcome = run_reconcile(
        Reconciler(DriftStore(dated.store.sessions), dated.gateway, WORKWAYS_STREAMS),
        StreamLeases(None),
        lambda again: dated.run_streams(again),
    )
    assert [(r.kind, r.source_id) for r in outcome.report.repairs] == [("recreated", user["_id"])]
    back = hubspot_by_key(dated.boxes, "contacts", "workways_user_id")[user["_id"]]
    assert back["id"] != gone["id"]
    reconciled = paths_sent(dated)
    assert f"/crm/objects/{version}/contacts/batch/read" in reconciled

    every = full + incremental + writeback + reconciled
    assert not [p for p in every if "/v3/" in p or "/v4/" in p]
    assert all(f"/{version}/" in p for p in every)
    assert hubspot.count(status=404) == 0
