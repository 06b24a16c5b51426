"""Secrets and personal data never reach logs, task messages or stored errors."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import text
from syncworker_sandbox import (
    SANDBOX_HUBSPOT_CLIENT_SECRET,
    SANDBOX_HUBSPOT_TOKEN,
    SANDBOX_WORKWAYS_TOKEN,
)
from syncworker_sandbox.runner import Sandboxes

from syncworker.store.database import make_engine
from tests.conftest import REDIS_TEST_URL, service_missing
from tests.integration import ROOT, celery_process, send_task, stop, wait_until, worker_args

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BROKER_URL = REDIS_TEST_URL.rsplit("/", 1)[0] + "/12"


def personal_data(boxes: Sandboxes) -> set[str]:
    values: set[str] = set()
    for user in boxes.workways.users():
        for field in ("email", "phone", "mobilePhone"):
            value = (user.get(field) or "").strip()
            if value:
                values |= {value, value.lower(), value.replace(" ", "")}
    for org in boxes.workways.organizations():
        for field in ("billingEmail", "contactPhone"):
            value = (org.get(field) or "").strip()
            if value:
                values |= {value, value.lower(), value.replace(" ", "")}
    return values


def force_errors(boxes: Sandboxes) -> None:
    users = [u for u in boxes.workways.users() if not u["isUserArchived"]]
    boxes.workways.update_user(users[0]["_id"], email="jean dupont@@example.org")  # invalid
    # someone typed a Workways user's e-mail into HubSpot by hand: a 409 conflict
    response = httpx.post(
        f"{boxes.hubspot_url}/crm/v3/objects/contacts/batch/create",
        headers={"Authorization": f"Bearer {SANDBOX_HUBSPOT_TOKEN}"},
        json={"inputs": [{"properties": {"email": users[1]["email"].strip().lower()}}]},
    )
    assert response.status_code in (200, 201)
    boxes.hubspot.set_fault(error_rate=0.15, error_status=503, seed=99)


def test_nothing_secret_or_personal_leaks(database: str, tmp_path: Path) -> None:
    client: redis.Redis[bytes] = redis.Redis.from_url(BROKER_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing("Redis at 127.0.0.1:6379", exc)
    client.flushdb()
    seen_by_redis: list[str] = []
    monitor_done = threading.Event()

    def watch() -> None:  # every command sent to Redis, task messages included
        with client.monitor() as monitor:
            for command in monitor.listen():
                seen_by_redis.append(str(command.get("command", "")))
                if monitor_done.is_set():
                    return

    with Sandboxes(users=80, orgs=10, seed=21) as boxes:
        force_errors(boxes)
        secrets = {SANDBOX_HUBSPOT_TOKEN, SANDBOX_WORKWAYS_TOKEN, SANDBOX_HUBSPOT_CLIENT_SECRET}
        personal = personal_data(boxes) | {"jean dupont@@example.org"}
        env = {
            **boxes.environment(database),
            "REDIS_URL": BROKER_URL,
            "LOG_LEVEL": "DEBUG",
            "LOG_FORMAT": "json",
        }
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        engine = make_engine(database)

        def finished_runs() -> int:
            with engine.connect() as conn:
                return int(
                    conn.execute(
                        text("select count(*) from sync_runs where status <> 'running'")
                    ).scalar()
                    or 0
                )

        with celery_process(worker_args("leak"), env) as worker:
            send_task(BROKER_URL, "syncworker.sync_all", trigger="cli")
            wait_until(lambda: finished_runs() >= 2, 90, "both runs to finish")
            worker_log = stop(worker)
        monitor_done.set()
        client.ping()  # wakes the monitor loop so it can end
        cli = subprocess.run(
            [sys.executable, "-m", "syncworker", "sync"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={
                **os.environ,
                **env,
                "REDIS_URL": "",
                "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
            },
            timeout=120,
        )
        subprocess.run(
            [sys.executable, "-m", "syncworker", "db", "upgrade"],
            cwd=ROOT,
            env={**os.environ, **env, "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"},
            capture_output=True,
            timeout=60,
        )
        with engine.connect() as conn:
            stored = [
                str(v)
                for row in conn.execute(
                    text(
                        "select error from sync_runs union all "
                        "select first_error from record_failures union all "
                        "select last_error from record_failures"
                    )
                )
                for v in row
                if v
            ]
            failures = conn.execute(text("select count(*) from record_failures")).scalar()
        engine.dispose()

    assert failures and failures >= 1, "the forced errors happened"
    assert len(personal) > 100 and len(worker_log) > 5000, "there was something to find"
    assert '"level": "DEBUG"' in worker_log, "DEBUG logging was on"
    assert any("syncworker.sync_all" in line for line in seen_by_redis), "messages were seen"
    corpus = {
        "worker log": worker_log,
        "CLI output": cli.stdout + cli.stderr,
        "task messages": "\n".join(seen_by_redis),
        "stored errors": "\n".join(stored),
    }
    for where, text_ in corpus.items():
        leaked = sorted(v for v in secrets | personal if v and v in text_)
        assert not leaked, f"{where} contains {len(leaked)} secret/personal value(s)"
