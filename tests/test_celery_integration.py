"""Real Celery worker and beat processes, real Redis and PostgreSQL, the sandboxes.

Nobody calls the engine here: beat schedules, the worker syncs, HubSpot converges.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from syncworker_sandbox.runner import Sandboxes

from syncworker.store.database import make_engine, session_factory
from syncworker.store.snapshots import SnapshotStore
from tests.checks import assert_converged, assert_hubspot_equals_workways, hubspot_by_key
from tests.integration import celery_process, holds, stop, wait_until, worker_args

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_worker_and_beat_keep_hubspot_converged(broker: str, database: str, tmp_path: Path) -> None:
    engine = make_engine(database)
    store = SnapshotStore(session_factory(engine))
    with Sandboxes(users=150, orgs=25, seed=3) as boxes:
        env = {**boxes.environment(database), "REDIS_URL": broker, "SYNC_INTERVAL_SECONDS": "2"}
        beat_args = ("beat", f"--schedule={tmp_path / 'beat-schedule'}", "--loglevel=WARNING")
        with (
            celery_process(worker_args("it"), env) as worker,
            celery_process(beat_args, env) as beat,
        ):
            wait_until(
                holds(lambda: assert_converged(boxes, store)), 90, "HubSpot to converge to Workways"
            )

            user = next(u for u in boxes.workways.users() if not u["isUserArchived"])
            boxes.workways.update_user(user["_id"], title="Chief coffee officer")
            wait_until(
                lambda: (
                    hubspot_by_key(boxes, "contacts", "workways_user_id")[user["_id"]][
                        "properties"
                    ].get("jobtitle")
                    == "Chief coffee officer"
                ),
                60,
                "the changed title to reach HubSpot",
            )
            assert_hubspot_equals_workways(boxes)
            assert worker.poll() is None and beat.poll() is None, stop(worker) + stop(beat)

        runs = store.recent_runs(limit=50)
        assert {r.trigger for r in runs} == {"beat"}
        assert {r.stream for r in runs} == {"workways.organizations", "workways.users"}
        assert all(r.status in ("succeeded", "interrupted", "aborted") for r in runs)
        assert any(
            r.status == "succeeded" and r.updated == 1 for r in runs if r.stream == "workways.users"
        )
    engine.dispose()
