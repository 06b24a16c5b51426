"""Newsletter consent on the command line (issue 20): each run's consent decisions
on its row and in ``status``, and ``consent log`` (newest first, by user, only
conflicts, no e-mail address). In-process, against the sandboxes and SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import sessionmaker
from syncworker_sandbox.runner import Sandboxes

from syncworker.cli.main import main
from syncworker.normalise import Kind, normalise
from syncworker.sources.workways.streams import WORKWAYS_USERS
from syncworker.store.database import make_engine
from syncworker.store.snapshots import SnapshotStore


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Sandboxes]:
    with Sandboxes(users=24, orgs=4, seed=11) as boxes:
        for name, value in boxes.environment(f"sqlite:///{tmp_path / 'consent.db'}").items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("HUBSPOT_NEWSLETTER_SUBSCRIPTION", "Newsletter")  # id 101
        monkeypatch.delenv("REDIS_URL", raising=False)
        monkeypatch.delenv("LOG_LEVEL", raising=False)
        monkeypatch.delenv("CONSENT_RESUBSCRIBE", raising=False)
        yield boxes


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def users_runs(tmp_path: Path) -> list[Any]:
    engine = make_engine(f"sqlite:///{tmp_path / 'consent.db'}")
    try:
        store = SnapshotStore(sessionmaker(engine, expire_on_commit=False))
        return store.recent_runs(10, stream=WORKWAYS_USERS.name)  # newest first
    finally:
        engine.dispose()


def test_consent_counts_on_the_run_row_in_status_and_the_log(
    env: Sandboxes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    people = [u for u in env.workways.users() if not u["isUserArchived"]]
    for user in env.workways.users():
        env.workways.update_user(user["_id"], newsOptin=False)
    a, b, c, d = people[:4]
    for user in (a, b, c):
        env.workways.update_user(user["_id"], newsOptin=True)
    assert run(capsys, "db", "upgrade")[0] == 0

    code, out = run(capsys, "sync", "--quiet")
    assert code == 0, out
    assert "  newsletter consent: subscribed 3, unsubscribed 0, conflicts 0" in out.splitlines()

    # c opts out in Workways; d unsubscribes in HubSpot by the e-mail link, then opts
    # in in Workways: a conflict, not re-subscribed under the default rule.
    env.workways.update_user(c["_id"], newsOptin=False)
    env.hubspot.store.consent.unsubscribe_by_link(normalise(Kind.EMAIL, d["email"]), "101")
    env.workways.update_user(d["_id"], newsOptin=True)
    code, out = run(capsys, "sync", "--quiet", "--entity", "users")
    assert code == 0, out
    assert (
        "  newsletter consent: subscribed 0, unsubscribed 1, conflicts 1"
        " (see `syncworker consent log --conflicts`)"
    ) in out.splitlines()
    assert env.hubspot.store.consent.status(normalise(Kind.EMAIL, d["email"]), "101") == (
        "UNSUBSCRIBED"
    )

    second, first = users_runs(tmp_path)[:2]
    assert (first.consent_subscribed, first.consent_unsubscribed, first.consent_conflicts) == (
        3,
        0,
        0,
    )
    assert (second.consent_subscribed, second.consent_unsubscribed, second.consent_conflicts) == (
        0,
        1,
        1,
    )

    code, out = run(capsys, "status")
    assert code == 0
    lines = out.splitlines()
    assert (
        lines.count(
            "      └ newsletter consent: subscribed 0, unsubscribed 1, conflicts 1"
            " (see `syncworker consent log --conflicts`)"
        )
        == 1
    )
    assert lines.count("      └ newsletter consent: subscribed 3, unsubscribed 0, conflicts 0") == 1
    assert (
        "Newsletter consent conflicts left alone: 1 (see `syncworker consent log --conflicts`)"
        in lines
    )

    # The log: newest first; c's unsubscribe came after the three subscribes.
    code, out = run(capsys, "consent", "log")
    assert code == 0
    rows = out.splitlines()[1:]
    assert len(rows) == 5  # 3 subscribed, 1 unsubscribed, 1 conflict
    actions = [(row.split()[3], row.split()[5]) for row in rows]
    assert sorted(actions[:2]) == [
        (f"workways.users:{c['_id']}", "unsubscribed"),
        (f"workways.users:{d['_id']}", "conflict"),
    ]
    assert sorted(actions[2:]) == sorted(
        (f"workways.users:{u['_id']}", "subscribed") for u in (a, b, c)
    )
    everything = out
    for user in people:
        assert normalise(Kind.EMAIL, user["email"]) not in everything
        assert user["email"] not in everything

    code, out = run(capsys, "consent", "log", "--user", c["_id"])
    assert code == 0
    rows = out.splitlines()[1:]
    assert [r.split()[4:9] for r in rows] == [
        ["to-hubspot", "unsubscribed", "SUBSCRIBED", "→", "UNSUBSCRIBED"],
        ["to-hubspot", "subscribed", "NOT_SPECIFIED", "→", "SUBSCRIBED"],
    ]
    assert all(r.split()[9] == "CONSENT_WITH_NOTICE" for r in rows)

    code, out = run(capsys, "consent", "log", "--conflicts")
    rows = out.splitlines()[1:]
    assert [r.split()[3:9] for r in rows] == [
        [f"workways.users:{d['_id']}", "none", "conflict", "UNSUBSCRIBED", "→", "UNSUBSCRIBED"]
    ]
    assert "CONSENT_RESUBSCRIBE=never" in rows[0]

    code, out = run(capsys, "consent", "log", "--limit", "1")
    assert len(out.splitlines()) == 2

    code, out = run(capsys, "consent", "log", "--user", a["_id"], "--conflicts")
    assert (code, out) == (0, "no consent conflicts recorded\n")
