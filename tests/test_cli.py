"""The command line, in-process, against the sandboxes and a SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from syncworker_sandbox.runner import Sandboxes

from syncworker.cli.main import main
from syncworker.locks import StreamLeases
from syncworker.store.database import SCHEMA_HEAD, make_engine, migration_heads, upgrade
from tests.checks import assert_hubspot_equals_workways


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Sandboxes]:
    with Sandboxes(users=60, orgs=8, seed=5) as boxes:
        for name, value in boxes.environment(f"sqlite:///{tmp_path / 'cli.db'}").items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("REDIS_URL", raising=False)
        monkeypatch.delenv("LOG_LEVEL", raising=False)
        yield boxes


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_malformed_setting_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HUBSPOT_BASE_URL", "api.hubapi.com")
    code, _, err = run(capsys, "status")
    assert code == 2
    assert err.strip().count("\n") == 0 and "HUBSPOT_BASE_URL" in err
    assert "Traceback" not in err


def test_missing_credentials_exit_2(
    env: Sandboxes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WORKWAYS_API_TOKEN")
    assert run(capsys, "db", "upgrade")[0] == 0
    code, _, err = run(capsys, "sync")
    assert code == 2 and "WORKWAYS_API_TOKEN" in err


def test_unmigrated_database_is_explained(
    env: Sandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "sync")
    assert code == 2 and "syncworker db upgrade" in err


def test_schema_head_names_the_newest_migration() -> None:
    assert migration_heads() == {SCHEMA_HEAD}


def test_database_one_migration_behind_is_explained(
    env: Sandboxes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from alembic.script import ScriptDirectory

    from syncworker.store.database import alembic_config

    # the revision before the newest (not SCHEMA_HEAD - 1: branches number theirs apart)
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(SCHEMA_HEAD)
    assert head is not None and isinstance(head.down_revision, str)
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    upgrade(engine, head.down_revision)
    engine.dispose()
    code, _, err = run(capsys, "sync")
    assert code == 2 and "syncworker db upgrade" in err
    assert run(capsys, "db", "upgrade")[0] == 0
    assert run(capsys, "sync", "--entity", "organizations")[0] == 0


def test_laptop_mode_sync_status_and_dry_run(
    env: Sandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "db", "upgrade")[0] == 0
    code, out, err = run(capsys, "sync")
    assert code == 0, err
    assert "workways.users (incremental) run #2: succeeded" in out
    assert "seen 60, created 60" in out and "HubSpot calls:" in out
    assert "page 1/1" in err  # progress
    assert_hubspot_equals_workways(env)
    user = env.workways.users()[0]
    env.workways.update_user(user["_id"], title="Night porter")
    code, out, _ = run(capsys, "sync", "--entity", "users", "--dry-run")
    assert code == 0 and "'Night porter'" in out and "updated 1" in out
    code, out, _ = run(capsys, "status")
    assert code == 0 and "workways.users" in out and "0 retrying, 0 quarantined" in out
    assert len(env.hubspot.store.objects("contacts")) == 60


def test_record_failures_exit_1_and_can_be_retried(
    env: Sandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "db", "upgrade")
    bad = next(u for u in env.workways.users() if not u["isUserArchived"])
    env.workways.update_user(bad["_id"], email="nobody-at-example")
    code, out, _ = run(capsys, "sync")
    assert code == 1 and "1 record(s) failed: see `syncworker failures list`" in out
    code, out, _ = run(capsys, "failures", "list")
    assert bad["_id"] in out and "upsert" in out and "nobody-at-example" not in out
    env.workways.update_user(bad["_id"], email="somebody@example.com")
    code, out, _ = run(capsys, "failures", "retry", "--all", "--now")
    assert code == 0 and "released 1 failure(s)" in out
    assert run(capsys, "failures", "list")[1].strip() == "no failures"


def test_refused_credentials_abort_with_exit_3(
    env: Sandboxes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "db", "upgrade")
    monkeypatch.setenv("WORKWAYS_API_TOKEN", "ww_dev_" + "0" * 64)
    code, out, err = run(capsys, "sync")
    assert code == 3 and "Workways refused the credentials" in err
    assert "ww_dev_" not in err + out


def test_run_in_progress_is_refused(
    env: Sandboxes,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    redis_client: redis.Redis[bytes],
) -> None:
    from tests.conftest import REDIS_TEST_URL

    run(capsys, "db", "upgrade")
    monkeypatch.setenv("REDIS_URL", REDIS_TEST_URL)
    with StreamLeases(redis_client).hold("workways.organizations"):
        code, _, err = run(capsys, "sync")
    assert code == 3 and "already in progress" in err
    assert run(capsys, "sync")[0] == 0


def test_writeback_command_and_outbox(env: Sandboxes, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "db", "upgrade")
    assert run(capsys, "sync")[0] == 0
    org = next(o for o in env.workways.organizations() if not o["isArchived"])
    company = next(
        c
        for c in env.hubspot.store.objects("companies")
        if c["properties"]["workways_org_id"] == org["_id"]
    )
    env.hubspot.store.edit_property(
        "companies", company["id"], "workways_rental_comment", "Keys at the front desk"
    )
    code, out, _ = run(capsys, "writeback")
    assert code == 0 and "1 written to Workways" in out
    assert env.workways.get_organization(org["_id"])["rentalComment"] == "Keys at the front desk"
    code, out, _ = run(capsys, "writeback", "list", "--status", "done")
    assert code == 0 and "rentalComment" in out and org["_id"] in out
    code, out, _ = run(capsys, "status")
    assert "Write-back outbox: 0 pending, 0 quarantined, 1 done" in out


def test_unconfigured_source_is_skipped_with_one_line(
    env: Sandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "db", "upgrade")
    code, out, _ = run(capsys, "sync")
    assert code == 0
    assert "workadu: skipped, not configured (WORKADU_BASE_URL is not set)" in out
    code, _, err = run(capsys, "sync", "--source", "workadu")
    assert code == 2 and "WORKADU_BASE_URL" in err


def test_a_run_that_held_a_mass_archive_exits_1_without_failed_records() -> None:
    from syncworker.cli.commands import exit_code
    from syncworker.engine.state import RunResult

    held = RunResult("workways.users", status="finished_with_failures", error="held")
    assert held.counts["failed"] == 0
    assert exit_code([RunResult("workways.organizations", status="succeeded"), held]) == 1


def test_reconcile_lists_repairs_on_a_dry_run_then_repairs_and_status_counts_suppressed(
    env: Sandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "db", "upgrade")[0] == 0
    assert run(capsys, "sync", "--quiet")[0] == 0
    hub = env.hubspot.store
    by_key = {c["properties"]["workways_user_id"]: c["id"] for c in hub.objects("contacts")}
    deleted, erased = sorted(by_key)[:2]
    hub.delete_object("contacts", by_key[deleted])
    hub.gdpr_delete("contacts", by_key[erased])

    code, out, _ = run(capsys, "reconcile", "--dry-run")
    assert code == 0
    assert "reconcile (dry run): checked 68 record(s); repairs: recreated 1, suppressed 1" in out
    assert f"  recreated workways.users {deleted} (HubSpot {by_key[deleted]})" in out
    assert deleted not in {c["properties"]["workways_user_id"] for c in hub.objects("contacts")}

    code, out, _ = run(capsys, "reconcile")
    assert code == 0 and "repairs: recreated 1, suppressed 1" in out
    keys = [c["properties"].get("workways_user_id") for c in hub.objects("contacts")]
    assert keys.count(deleted) == 1 and erased not in keys
    code, out, _ = run(capsys, "status")
    assert "Suppressed people: 1 deleted for privacy in HubSpot" in out
    assert " reconcile " in out  # the run record
