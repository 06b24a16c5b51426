"""The Prometheus rules and the Grafana dashboard name only metrics /metrics exports.

The exported names are read from a scrape of the ops app's ``/metrics`` in-process
(a SQLite store with a run, a quarantined record and a pending write-back), not
from a list written here.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from syncworker.app.container import Container
from syncworker.config import Settings
from syncworker.ops import instruments
from syncworker.ops.app import ops_app
from syncworker.ops.metrics import EXPORTED
from syncworker.store.database import make_engine, upgrade
from syncworker.store.models import SyncRun, WritebackIntent

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "syncworker.json"

# PromQL words the files use (functions, aggregations, modifiers): anything else is a metric.
PROMQL_WORDS = {
    "time", "rate", "increase", "delta", "sum", "by", "without", "histogram_quantile",
    "and", "or", "unless", "on", "ignoring", "bool", "max", "min", "avg", "count",
}  # fmt: skip
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count")}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every series name a scrape of /metrics holds (histogram and counter suffixes included)."""
    folder = tmp_path_factory.mktemp("scrape")
    url = f"sqlite:///{folder / 'ops.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    services = Container(Settings.from_env({"DATABASE_URL": url}))
    now = datetime.now(UTC)
    with services.store.sessions.begin() as session:
        session.add(
            SyncRun(
                stream="workways.users",
                trigger="cli",
                mode="full",
                status="succeeded",
                started_at=now - timedelta(minutes=2),
                finished_at=now,
            )
        )
        session.add(
            WritebackIntent(
                stream="workways.users",
                source_id="u-1",
                hubspot_id="1",
                property="p",
                parameter="optin",
                value="true",
            )
        )
    services.store.failures.record(
        "workways.users", "u-2", stage="upsert", message="HTTP 400", max_attempts=1
    )
    # the daily-budget gauges exist once a HubSpot answer carried the headers (none used)
    instruments.HUBSPOT_DAILY_LIMIT.set(625_000)
    instruments.HUBSPOT_DAILY_REMAINING.set(625_000)
    try:
        with TestClient(ops_app(services, host="127.0.0.1")) as client:
            answer = client.get("/metrics")
    finally:
        services.db.dispose()
    assert answer.status_code == 200
    names = set()
    for family in text_string_to_metric_families(answer.text):
        if family.type != "counter":  # a counter's series are <name>_total (and _created)
            names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
    return names


def metrics_named(expr: str) -> set[str]:
    """The metric names in a PromQL expression."""
    bare = re.sub(r'"[^"]*"', "", expr)  # label values
    bare = re.sub(r"\{[^}]*\}", "", bare)  # label matchers
    bare = re.sub(r"\[[^\]]*\]", "", bare)  # range durations
    bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", bare)  # grouping labels
    words = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", bare))
    return words - PROMQL_WORDS


def rule_expressions() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def test_the_scrape_exports_the_documented_names(exported: set[str]) -> None:
    assert set(EXPORTED) <= exported
    ours = {n for n in exported if n.startswith("syncworker_")}
    assert {n for n in ours if not n.endswith(("_bucket", "_sum", "_count", "_created"))} == set(
        EXPORTED
    )


def test_the_extractor_finds_metrics_and_skips_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (stream, le) (rate(x_bucket{stream="a b"}[1h])))'
        " / on(stream) time() - y_total"
    )
    assert metrics_named(expr) == {"x_bucket", "y_total"}


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_expression_names_only_exported_metrics(exported: set[str], source: str) -> None:
    expressions = rule_expressions() if source == "rules" else dashboard_expressions()
    assert len(expressions) >= 8
    for expr in expressions:
        named = metrics_named(expr)
        assert named, f"no metric in {expr!r}"
        assert named <= exported, f"{expr!r} names {named - exported}"


def test_the_rules_cover_what_the_issue_asks() -> None:
    used = set().union(*(metrics_named(e) for e in rule_expressions()))
    assert {
        "syncworker_run_last_success_timestamp_seconds",
        "syncworker_failures",
        "syncworker_hubspot_daily_budget_remaining",
        "syncworker_writeback_oldest_pending_age_seconds",
        "syncworker_database_up",
    } <= used
    assert 'syncworker_failures{state="quarantined"}' in "".join(rule_expressions())


def test_the_dashboard_panels_are_placed_and_unique() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all({"x", "y", "w", "h"} <= p["gridPos"].keys() for p in dashboard["panels"])
    assert dashboard["uid"] == "syncworker"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_rules() -> None:
    checked = subprocess.run(
        ["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 9 rules found" in checked.stdout
