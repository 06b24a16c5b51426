"""Redis (broker, locks, shared rate budget) down for 30 seconds in the middle of a run."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis
from syncworker_sandbox.runner import Sandboxes
from syncworker_sandbox.server import free_port

from syncworker.store.snapshots import SnapshotStore
from tests.checks import assert_converged
from tests.conftest import IN_CI
from tests.integration import celery_process, holds, wait_until, worker_args

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OUTAGE_SECONDS = 30  # the scenario's length, not a synchronisation delay


def start_redis(port: int, folder: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        if IN_CI:
            pytest.fail("redis-server is not installed (CI=true)")
        pytest.skip("redis-server is not installed")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    client = redis.Redis(port=port)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return process.poll() is not None  # died: stop waiting, fail below

    wait_until(answers, 20, f"redis-server on port {port}")
    client.close()
    assert process.poll() is None, "redis-server exited"
    return process


def stop_redis(process: subprocess.Popen[bytes]) -> None:
    process.kill()  # as abrupt as an outage
    process.wait(timeout=10)


def test_redis_down_for_30_seconds_mid_run(
    database: str, database_store: SnapshotStore, tmp_path: Path
) -> None:
    port = free_port()
    server = start_redis(port, tmp_path)
    try:
        with Sandboxes(users=4000, orgs=100, seed=30, latency_ms=15) as boxes:
            env = {
                **boxes.environment(database),
                "REDIS_URL": f"redis://127.0.0.1:{port}/0",
                "SYNC_INTERVAL_SECONDS": "5",
                "SYNC_LOCK_TTL_SECONDS": "20",
            }
            beat_args = ("beat", f"--schedule={tmp_path / 'beat'}", "--loglevel=WARNING")

            def contacts() -> int:
                return len(boxes.hubspot.store.objects("contacts"))

            with (
                celery_process(worker_args("outage"), env) as worker,
                celery_process(beat_args, env) as beat,
            ):
                wait_until(lambda: contacts() >= 300, 90, "the first sync to be under way")
                assert contacts() < 4000, "the outage must start mid-run"
                stop_redis(server)  # Redis goes away: broker, locks, shared budget at once
                time.sleep(OUTAGE_SECONDS)
                assert worker.poll() is None and beat.poll() is None, "they outlive the outage"
                server = start_redis(port, tmp_path)  # empty: nothing survived the outage
                wait_until(
                    holds(lambda: assert_converged(boxes, database_store)),
                    150,
                    "HubSpot to converge once Redis is back",
                )
                assert worker.poll() is None and beat.poll() is None
    finally:
        stop_redis(server)
