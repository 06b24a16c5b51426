"""Issue acceptance at scale: 5,000 users and 600 organizations."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from syncworker_sandbox.runner import Sandboxes

from syncworker.app.container import Container
from syncworker.config import Settings
from syncworker.store.snapshots import SnapshotStore
from tests.checks import assert_converged
from tests.conftest import Wired
from tests.test_sync import RecordingGateway, write_calls

pytestmark = pytest.mark.slow


@pytest.fixture
def big(database_store: SnapshotStore) -> Iterator[Wired]:
    store = database_store
    with Sandboxes(users=5000, orgs=600, seed=2026) as boxes:
        settings = Settings.from_env(boxes.environment("sqlite://"))
        workways = Container(settings).workways()
        gateway = RecordingGateway(boxes.hubspot_url, settings.require_hubspot()[1])
        gateway.sent = []
        concurrency = {"source_concurrency": 4, "push_concurrency": 4}  # as in production
        yield Wired(boxes, store, workways, gateway, settings, engine_options=concurrency)
        workways.close()


def test_5000_users_and_600_organizations(big: Wired) -> None:
    hubspot, ww = big.boxes.hubspot, big.boxes.workways
    results = big.sync_all()
    assert [r.counts["created"] for r in results] == [600, 5000]
    assert hubspot.count(path_contains="/batch/upsert") <= 50 + 6
    assert hubspot.count(path_contains="/batch/upsert") == math.ceil(600 / 100) + 5000 // 100
    assert_converged(big.boxes, big.store)

    hubspot.clear_log()
    results = big.sync_all()
    assert write_calls(big) == 0
    assert sum(r.counts["unchanged"] for r in results) == 5600

    gateway: RecordingGateway = big.gateway  # type: ignore[assignment]
    gateway.sent.clear()
    users = [u for u in ww.users() if not u["isUserArchived"]][:37]
    for n, user in enumerate(users):
        ww.update_user(user["_id"], mobilePhone=f"+33 6 00 00 {n:02d} 00")
    orgs = ww.organizations()[:4]
    for org in orgs:
        ww.update_organization(org["_id"], vatNumber=f"FR00{org['_id'][-6:]}")
    results = big.sync_all()
    assert [r.counts["updated"] for r in results] == [4, 37]
    sent = {(kind, r.key): set(r.properties) for kind, r in gateway.sent}
    assert set(sent) == {("companies", o["_id"]) for o in orgs} | {
        ("contacts", u["_id"]) for u in users
    }
    assert all(
        props <= {"mobilephone", "workways_vat_number", "workways_updated_at"}
        for props in sent.values()
    )
    assert_converged(big.boxes, big.store)
