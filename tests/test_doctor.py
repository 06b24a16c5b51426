"""``syncworker doctor`` against the sandboxes: every check's ✓ or ✗ with its fix,
the exit code, and no write anywhere (HubSpot's request log, the SQLite file)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from syncworker_sandbox.hubspot_scopes import ALL_SYNC_SCOPES
from syncworker_sandbox.runner import Sandboxes

from syncworker.cli.main import main
from syncworker.config import Settings
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.hubspot.responses import missing_scopes
from syncworker.hubspot.schema import ensure_schema
from syncworker.mapping import custom_properties
from syncworker.sources.workways.streams import WORKWAYS_STREAMS
from syncworker.store.database import make_engine, upgrade
from tests.conftest import service_missing

DOCTOR_REDIS_URL = "redis://127.0.0.1:6379/7"  # this suite's own Redis database
PUBLIC_URL = "https://hooks.example.test"
SETTINGS = (
    "REDIS_URL",
    "LOG_LEVEL",
    "HUBSPOT_API_VERSION",
    "WORKADU_BASE_URL",
    "WORKADU_API_KEY",
    "WEBHOOK_PUBLIC_URL",
    "HUBSPOT_NEWSLETTER_SUBSCRIPTION",
)
READ_ONLY_POSTS = ("/search", "/batch/read")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Sandboxes]:
    """Sandboxes, a migrated SQLite store, and the settings pointing at them."""
    database = tmp_path / "doctor.db"
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    engine.dispose()
    with Sandboxes(users=30, orgs=5, seed=3) as boxes:
        for name in SETTINGS:
            monkeypatch.delenv(name, raising=False)
        for name, value in boxes.environment(f"sqlite:///{database}").items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("WEBHOOK_PUBLIC_URL", PUBLIC_URL)
        yield boxes


def create_schema(boxes: Sandboxes) -> None:
    """The group and custom properties, as a first sync leaves them."""
    settings = Settings.from_env(boxes.environment("sqlite://"))
    base_url, token = settings.require_hubspot()
    gateway = HubSpotGateway(base_url, token)
    try:
        ensure_schema(gateway, custom_properties(*(s.mapping for s in WORKWAYS_STREAMS)))
    finally:
        gateway.close()
    boxes.hubspot.clear_log()


def doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["doctor"])
    return code, capsys.readouterr().out.splitlines()


def hubspot_writes(boxes: Sandboxes) -> list[tuple[str, str]]:
    """Every request that could have changed HubSpot (read-only POSTs left out)."""
    return [
        (e.method, e.path)
        for e in boxes.hubspot.request_log
        if e.method in ("POST", "PATCH", "PUT", "DELETE")
        and not (e.method == "POST" and e.path.endswith(READ_ONLY_POSTS))
    ]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_all_checks_pass_and_nothing_is_written(
    env: Sandboxes,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client: redis.Redis[bytes] = redis.Redis.from_url(DOCTOR_REDIS_URL)
    try:
        client.ping()
        keys_before = client.dbsize()
    except redis.RedisError as exc:
        service_missing("Redis at 127.0.0.1:6379", exc)
    monkeypatch.setenv("REDIS_URL", DOCTOR_REDIS_URL)
    create_schema(env)
    store_before = digest(tmp_path / "doctor.db")

    code, lines = doctor(capsys)

    assert lines == [
        "✓ settings parse (HUBSPOT_API_VERSION 2026-09)",
        "✓ database (sqlite) reachable and migrated (revision 0016)",
        "✓ Redis reachable",
        "✓ Workways token accepted",
        "✓ HubSpot credential accepted; API version 2026-09 served",
        "✓ HubSpot read scopes granted (crm.objects.companies.read, crm.objects.contacts.read,"
        " crm.schemas.companies.read, crm.schemas.contacts.read); write scopes"
        " (crm.objects.*.write, crm.schemas.*.write) show only on the first write",
        "✓ HubSpot companies: all 28 custom properties present in group 'workways',"
        " right types, workways_org_id unique",
        "✓ HubSpot contacts: all 9 custom properties present in group 'workways',"
        " right types, workways_user_id unique",
        f"✓ webhooks: receiver's public URL set ({PUBLIC_URL}/webhooks/hubspot)",
    ]
    assert code == 0
    assert hubspot_writes(env) == []
    # properties, group and a one-record search for each object type
    assert len(env.hubspot.request_log) == 6
    assert digest(tmp_path / "doctor.db") == store_before
    assert client.dbsize() == keys_before
    client.close()


def test_a_fresh_portal_is_ready_the_first_sync_creates_the_schema(
    env: Sandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = doctor(capsys)
    assert (
        "✓ HubSpot contacts: property group 'workways' and 9 custom properties not there"
        " yet: will be created on first sync"
    ) in lines
    assert code == 0
    assert hubspot_writes(env) == []


def test_wrong_hubspot_token(
    env: Sandboxes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-na1-00000000-0000-4000-8000-000000000000")
    code, lines = doctor(capsys)
    at = lines.index("✗ HubSpot refused HUBSPOT_ACCESS_TOKEN (401: unknown, expired or revoked)")
    assert lines[at + 1].startswith("    fix: create a Service Key (HubSpot: Settings >")
    assert "00000000-0000" not in "\n".join(lines)
    assert code == 1
    assert [(e.method, e.status) for e in env.hubspot.request_log] == [("GET", 401)]


def test_token_missing_a_scope(env: Sandboxes, capsys: pytest.CaptureFixture[str]) -> None:
    create_schema(env)
    env.hubspot.set_scopes(set(ALL_SYNC_SCOPES) - {"crm.objects.contacts.read"})
    code, lines = doctor(capsys)
    at = lines.index("✗ HubSpot token lacks scopes: crm.objects.contacts.read")
    assert lines[at + 1].startswith("    fix: add them to the Service Key (or the app) in HubSpot")
    assert "✓ HubSpot credential accepted; API version 2026-09 served" in lines
    assert code == 1
    assert env.hubspot.count(status=403) == 1
    assert hubspot_writes(env) == []


def test_database_one_migration_behind(
    env: Sandboxes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "doctor.db").unlink()
    engine = make_engine(f"sqlite:///{tmp_path / 'doctor.db'}")
    upgrade(engine, "0005")
    engine.dispose()
    code, lines = doctor(capsys)
    at = lines.index(
        "✗ database (sqlite) reachable but not migrated: at revision 0005, this version needs 0016"
    )
    assert lines[at + 1] == "    fix: run `syncworker db upgrade`"
    assert code == 1
    assert hubspot_writes(env) == []


def test_a_missing_sqlite_file_is_not_created(
    env: Sandboxes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "doctor.db").unlink()
    code, lines = doctor(capsys)
    assert f"✗ database: the SQLite file {tmp_path / 'doctor.db'} does not exist" in lines
    assert code == 1
    assert not (tmp_path / "doctor.db").exists()


def test_deleted_custom_property(env: Sandboxes, capsys: pytest.CaptureFixture[str]) -> None:
    create_schema(env)
    with env.hubspot.store.lock:
        env.hubspot.store.delete_property("contacts", "workways_role")
    code, lines = doctor(capsys)
    at = lines.index(
        "✗ HubSpot contacts: custom properties missing (deleted in HubSpot?): workways_role"
    )
    assert lines[at + 1].startswith("    fix: restore them in HubSpot")
    assert any(line.startswith("✓ HubSpot companies: all 28 custom properties") for line in lines)
    assert code == 1
    assert hubspot_writes(env) == []


def test_newsletter_subscription_type_found_by_name_one_read_more(
    env: Sandboxes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    create_schema(env)
    monkeypatch.setenv("HUBSPOT_NEWSLETTER_SUBSCRIPTION", "newsletter")
    code, lines = doctor(capsys)
    assert lines[-2:] == [
        "✓ newsletter consent: HUBSPOT_NEWSLETTER_SUBSCRIPTION is the subscription type"
        " 'Newsletter' (id 101)",
        f"✓ webhooks: receiver's public URL set ({PUBLIC_URL}/webhooks/hubspot)",
    ]
    assert code == 0
    assert hubspot_writes(env) == []
    assert len(env.hubspot.request_log) == 7  # the six reads, and the definitions
    assert env.hubspot.count(path_contains="/communication-preferences/2026-09/definitions") == 1


def test_newsletter_subscription_type_missing_is_bad_configuration(
    env: Sandboxes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    create_schema(env)
    monkeypatch.setenv("HUBSPOT_NEWSLETTER_SUBSCRIPTION", "Digest")
    code, lines = doctor(capsys)
    at = lines.index(
        "✗ newsletter consent: HUBSPOT_NEWSLETTER_SUBSCRIPTION: no subscription type has the"
        " name or id 'Digest' (HubSpot has: Newsletter (101), Product updates (102))"
    )
    assert lines[at + 1].startswith(
        "    fix: set HUBSPOT_NEWSLETTER_SUBSCRIPTION to the id (or the one name)"
    )
    assert code == 2
    assert hubspot_writes(env) == []


def test_newsletter_subscription_name_held_by_two_types_asks_for_the_id(
    env: Sandboxes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    create_schema(env)
    env.hubspot.store.consent.add_subscription_type("Newsletter", "103")
    monkeypatch.setenv("HUBSPOT_NEWSLETTER_SUBSCRIPTION", "Newsletter")
    code, lines = doctor(capsys)
    assert (
        "✗ newsletter consent: HUBSPOT_NEWSLETTER_SUBSCRIPTION: 2 subscription types are"
        " named 'Newsletter' (ids 101, 103): give the id"
    ) in lines
    assert code == 2
    monkeypatch.setenv("HUBSPOT_NEWSLETTER_SUBSCRIPTION", "103")
    code, lines = doctor(capsys)
    assert (
        "✓ newsletter consent: HUBSPOT_NEWSLETTER_SUBSCRIPTION is the subscription type"
        " 'Newsletter' (id 103)"
    ) in lines
    assert code == 0
    assert hubspot_writes(env) == []


def test_client_secret_without_public_url(
    env: Sandboxes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WEBHOOK_PUBLIC_URL")
    code, lines = doctor(capsys)
    at = lines.index("✗ webhooks: HUBSPOT_CLIENT_SECRET is set but WEBHOOK_PUBLIC_URL is not")
    assert lines[at + 1].startswith("    fix: set WEBHOOK_PUBLIC_URL to the public https base URL")
    assert code == 1


def test_bad_configuration_exits_2(
    env: Sandboxes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HUBSPOT_API_VERSION", "2025-01")
    code, lines = doctor(capsys)
    assert lines[0].startswith("✗ settings: HUBSPOT_API_VERSION: must be one of 2026-09, 2026-03")
    assert code == 2
    assert env.hubspot.request_log == []


def test_missing_credential_is_bad_configuration(
    env: Sandboxes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN")
    code, lines = doctor(capsys)
    assert "✗ configuration: HUBSPOT_ACCESS_TOKEN: is not set" in lines
    assert code == 2


def test_missing_scopes_are_read_from_either_place_of_a_403_body() -> None:
    spec_form = {"category": "MISSING_SCOPES", "context": {"missingScopes": ["crm.a.read"]}}
    answer_form = {
        "category": "MISSING_SCOPES",
        "errors": [{"context": {"requiredGranularScopes": ["crm.b.read", "not a scope!"]}}],
    }
    assert missing_scopes(spec_form) == ("crm.a.read",)
    assert missing_scopes(answer_form) == ("crm.b.read",)
