"""``/metrics`` of a real ``syncworker serve`` after syncs run by two other processes."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from syncworker_sandbox.runner import Sandboxes

from syncworker.store.database import make_engine, session_factory
from syncworker.store.models import SyncRun
from tests.conftest import fresh_database
from tests.integration import ROOT
from tests.opsproc import samples, serve_process

pytestmark = pytest.mark.integration

TOKEN = "ops-metrics-test-token-5f2a"
OUTCOMES = ("created", "updated", "unchanged", "archived", "failed")
DAILY_LIMIT = 100_000


def sync_in_new_process(env: dict[str, str]) -> None:
    answer = subprocess.run(
        [sys.executable, "-m", "syncworker.cli.main", "sync", "--source", "workways", "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert answer.returncode == 0, answer.stdout + answer.stderr


def runs(url: str) -> list[SyncRun]:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(select(SyncRun)))
    finally:
        engine.dispose()


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    return samples(answer.text)


def by_name(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> dict:
    return {labels: value for (n, labels), value in found.items() if n == name}


def test_metrics_match_the_runs_and_sum_every_process(tmp_path: Path) -> None:
    import os

    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    with (
        fresh_database("syncworker_ops_metrics") as url,
        Sandboxes(users=60, orgs=10, seed=5, daily_limit=DAILY_LIMIT) as boxes,
    ):
        env = {
            **os.environ,
            **boxes.environment(url),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "OPS_TOKEN": TOKEN,
        }
        env.pop("REDIS_URL", None)
        sync_in_new_process(env)  # first process: the full sync
        with serve_process(env) as base:
            first = scrape(base)
            first_runs = runs(url)
            calls_first = sum(r.hubspot_calls for r in first_runs)
            assert calls_first > 0
            requests = by_name(first, "syncworker_hubspot_requests_total")
            assert sum(requests.values()) == calls_first

            # a second process does work: Workways changed, an incremental sync
            for user in boxes.workways.users()[:3]:
                boxes.workways.update_user(user["_id"], title="Ops metrics test")
            sync_in_new_process(env)
            # an unsigned webhook delivery, refused, counted by the serve process itself
            refused = httpx.post(f"{base}/webhooks/hubspot", content=b"[]")
            assert refused.status_code == 401

            found = scrape(base)

        all_runs = runs(url)
        assert len(all_runs) == 2 * len(first_runs)
        # HubSpot calls per operation, over both processes: the runs' own totals
        requests = by_name(found, "syncworker_hubspot_requests_total")
        calls = sum(r.hubspot_calls for r in all_runs)
        assert calls > calls_first
        assert sum(requests.values()) == calls
        operations = {dict(labels)["operation"] for labels in requests}
        assert "upsert" in operations or any(op.startswith("upsert") for op in operations)
        assert all(dict(labels)["status"].isdigit() for labels in requests)
        source = by_name(found, "syncworker_source_requests_total")
        assert sum(source.values()) == sum(r.source_calls for r in all_runs)
        assert {dict(labels)["source"] for labels in source} == {"workways"}

        # records per outcome: what the runs table says, per stream
        expected: Counter[tuple[str, str]] = Counter()
        for run in all_runs:
            for outcome in OUTCOMES:
                expected[(run.stream, outcome)] += getattr(run, outcome)
        records = by_name(found, "syncworker_records_total")
        assert {
            (dict(labels)["stream"], dict(labels)["outcome"]): int(value)
            for labels, value in records.items()
        } == dict(expected)
        # three users changed in Workways: the second run of users updated them
        second_users = max(
            (r for r in all_runs if r.stream == "workways.users"), key=lambda r: r.id
        )
        assert second_users.updated == 3

        # last success per stream: when its newest run finished
        last = by_name(found, "syncworker_run_last_success_timestamp_seconds")
        for stream in {r.stream for r in all_runs}:
            newest = max(
                (r.finished_at for r in all_runs if r.stream == stream and r.finished_at),
            )
            assert last[(("stream", stream),)] == pytest.approx(newest.timestamp())
        durations = by_name(found, "syncworker_run_duration_seconds_count")
        assert durations[(("stream", "workways.users"),)] == 2

        assert by_name(found, "syncworker_webhook_deliveries_total") == {
            (("result", "invalid_signature"),): 1
        }
        remaining = by_name(found, "syncworker_hubspot_daily_budget_remaining")[()]
        assert boxes.hubspot.daily.remaining() <= remaining < DAILY_LIMIT
        assert by_name(found, "syncworker_hubspot_daily_budget_limit")[()] == DAILY_LIMIT
        assert by_name(found, "syncworker_writeback_outbox")[(("status", "pending"),)] == 0
        assert by_name(found, "syncworker_database_up")[()] == 1

        # no label carries personal data or record ids
        ids = {u["_id"] for u in boxes.workways.users()} | {
            o["_id"] for o in boxes.workways.organizations()
        }
        for _, labels in found:
            for _, value in labels:
                assert "@" not in value
                assert value not in ids


def test_metrics_need_the_token(tmp_path: Path) -> None:
    import os

    with fresh_database("syncworker_ops_token") as url:
        env = {**os.environ, "DATABASE_URL": url, "OPS_TOKEN": TOKEN}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        with serve_process(env) as base:
            assert httpx.get(f"{base}/metrics").status_code == 401
            wrong = {"Authorization": "Bearer not-the-token"}
            assert httpx.get(f"{base}/metrics", headers=wrong).status_code == 401
            right = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert right.status_code == 200
            assert "syncworker_database_up 1.0" in right.text
