"""The /ops page's rate budget, consent and drift counts, in-process on SQLite."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from starlette.testclient import TestClient

from syncworker.app.container import Container
from syncworker.config import Settings
from syncworker.ops.app import ops_app
from syncworker.ops.metrics import exposition
from syncworker.store.database import make_engine, upgrade
from syncworker.store.models import ConsentEvent, SyncedRecord, SyncRun


def services_at(tmp_path: Path, **env: str) -> Container:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return Container(Settings.from_env({"DATABASE_URL": url, **env}))


def text_of(html: str) -> str:
    """The page's text, tags removed, spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def section(html: str, name: str) -> str:
    start = html.index(f'<section id="{name}">')
    return text_of(html[start : html.index("</section>", start)])


def event(direction: str, action: str, n: int) -> ConsentEvent:
    return ConsentEvent(
        direction=direction,
        action=action,
        stream="workways.users",
        source_id=f"u-{n}",
        hubspot_id=None,
        subscription_id="42",
        old_status="NOT_SUBSCRIBED",
        new_status="SUBSCRIBED",
        legal_basis=None,
        trigger="test",
    )


def seed(services: Container) -> datetime:
    now = datetime.now(UTC)
    old = now - timedelta(days=3)
    with services.store.sessions.begin() as session:
        session.add_all(
            [
                SyncRun(  # two days ago: not today, no consent decision
                    stream="workways.users",
                    trigger="beat",
                    mode="full",
                    status="succeeded",
                    started_at=now - timedelta(days=2),
                    finished_at=now - timedelta(days=2) + timedelta(seconds=5),
                    hubspot_calls=400,
                ),
                SyncRun(
                    stream="workways.users",
                    trigger="beat",
                    mode="incremental",
                    status="succeeded",
                    started_at=now - timedelta(seconds=1),
                    finished_at=now + timedelta(seconds=19),
                    hubspot_calls=50,
                    consent_subscribed=3,
                    consent_unsubscribed=1,
                    consent_conflicts=2,
                ),
                SyncRun(
                    stream="reconcile",
                    trigger="beat",
                    mode="reconcile",
                    status="succeeded",
                    started_at=old,
                    finished_at=old,
                    seen=30,
                    hubspot_calls=4,
                    repairs={"recreated": 2, "suppressed": 1},
                ),
                SyncRun(
                    stream="reconcile",
                    trigger="cli",
                    mode="reconcile",
                    status="aborted",
                    started_at=old + timedelta(hours=1),
                    finished_at=old + timedelta(hours=1),
                    seen=40,
                    hubspot_calls=6,
                    repairs={"merged": 1, "suppressed": 3},
                    error="HubSpot refused user@example.com",
                ),
                event("to-hubspot", "subscribed", 1),
                event("to-hubspot", "subscribed", 2),
                event("to-hubspot", "unsubscribed", 3),
                event("to-workways", "unsubscribed", 4),
                event("none", "conflict", 5),
                event("none", "conflict", 6),
                *(
                    SyncedRecord(stream="workways.users", source_id=f"p-{i}", suppressed="privacy")
                    for i in range(3)
                ),
                SyncedRecord(stream="workways.users", source_id="m-1", suppressed="merged"),
                SyncedRecord(stream="workways.users", source_id="k-1", hubspot_id="901"),
            ]
        )
    return now


def test_the_page_shows_budget_consent_and_drift_counts(tmp_path: Path) -> None:
    services = services_at(tmp_path)
    seed(services)
    app = ops_app(services, host="127.0.0.1", daily_budget=lambda: (100_000.0, 625_000.0))
    with TestClient(app) as client:
        html = client.get("/ops").text
        fragment = client.get("/ops/fragment").text

    budget = section(html, "budget")
    assert "the configured budget is 190 requests per 10 s" in budget  # professional tier
    assert (
        "Last run that called HubSpot: #2 workways.users made 50 calls in 20.0 s, "
        "on average 25.0 per 10 s." in budget
    )
    assert "525,000 of 625,000 requests used (84%), 100,000 left" in budget
    assert "Runs started since 00:00 UTC made 50 HubSpot calls" in budget

    consent = section(html, "consent")
    assert (
        "in HubSpot 2 subscribed, 1 unsubscribed; written back to Workways 0 subscribed, "
        "1 unsubscribed; 2 conflicts left alone." in consent
    )
    rows = re.findall(r'<tr data-consent-run="\d+">(.*?)</tr>', html)
    assert len(rows) == 1  # the older run made no consent decision
    cells = re.findall(r"<td>(.*?)</td>", rows[0])
    assert cells[:2] + cells[3:] == ["2", "workways.users", "3", "1", "2"]

    drift = section(html, "drift")
    assert "Last reconcile run #4 aborted" in drift
    assert "checked 40 records; repairs: merged 1, suppressed 3." in drift
    assert "All reconcile runs: merged 1, recreated 2, suppressed 4." in drift
    assert "3 deleted for privacy in HubSpot, 1 merged into another user's contact" in drift
    assert "user@example.com" not in html  # the reconcile error is masked
    assert "HubSpot refused" in drift

    # the self-refresh replaces <main> with the fragment: the same sections are in it
    for name in ("budget", "consent", "drift"):
        assert section(fragment, name) == section(html, name)


def test_an_empty_store_says_what_is_not_known(tmp_path: Path) -> None:
    services = services_at(tmp_path, HUBSPOT_RATE_LIMIT_PER_10S="120")
    with TestClient(ops_app(services, host="127.0.0.1", daily_budget=lambda: None)) as client:
        html = client.get("/ops/fragment").text
    budget = section(html, "budget")
    assert "the configured budget is 120 requests per 10 s" in budget
    assert "No finished run has called HubSpot yet." in budget
    assert "Today (HubSpot's count): not known yet" in budget
    assert "made 0 HubSpot calls" in budget
    assert "no run has made a consent decision" in section(html, "consent")
    drift = section(html, "drift")
    assert "No drift repair (reconcile) has run yet." in drift
    assert "All reconcile runs: none." in drift
    assert "0 deleted for privacy in HubSpot, 0 merged" in drift


def test_metrics_export_the_same_counts_without_personal_labels(tmp_path: Path) -> None:
    services = services_at(tmp_path)
    seed(services)
    text = exposition(services.store.sessions).decode()
    ours = {
        line
        for line in text.splitlines()
        if line.startswith(
            (
                "syncworker_consent_decisions_total",
                "syncworker_drift_repairs_total",
                "syncworker_suppressed_records",
            )
        )
    }
    assert ours == {
        'syncworker_consent_decisions_total{decision="subscribed",stream="workways.users"} 3.0',
        'syncworker_consent_decisions_total{decision="unsubscribed",stream="workways.users"} 1.0',
        'syncworker_consent_decisions_total{decision="conflict",stream="workways.users"} 2.0',
        'syncworker_drift_repairs_total{kind="merged"} 1.0',
        'syncworker_drift_repairs_total{kind="recreated"} 2.0',
        'syncworker_drift_repairs_total{kind="rekeyed"} 0.0',
        'syncworker_drift_repairs_total{kind="relinked"} 0.0',
        'syncworker_drift_repairs_total{kind="stray"} 0.0',
        'syncworker_drift_repairs_total{kind="suppressed"} 4.0',
        'syncworker_suppressed_records{reason="merged"} 1.0',
        'syncworker_suppressed_records{reason="privacy"} 3.0',
    }
    # No label names a record: check the label sets only (a sample's value, e.g. a
    # process counter's creation time, may hold any digits).
    labels = [line.split("{", 1)[1].rsplit("}", 1)[0] for line in text.splitlines() if "{" in line]
    for record_id in ("u-1", "p-0", "m-1", "k-1", "901"):
        assert not [label for label in labels if record_id in label]
