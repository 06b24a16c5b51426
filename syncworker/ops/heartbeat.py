"""The Celery worker's heartbeat: a bootstep touching a file from the worker's timer.

The worker's timer runs in its event loop (prefork pool with Redis), so the file
stops being touched when that loop stalls: a stuck consumer, not only a dead
process, fails the probe. Registered by ``syncworker.celery_app``.
"""

from __future__ import annotations

from typing import Any

from celery import bootsteps

from syncworker.config import Settings
from syncworker.ops.health import touch


class WorkerHeartbeat(bootsteps.StartStopStep):  # type: ignore[misc]
    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        settings = Settings.from_env()
        self.path = settings.worker_heartbeat_file
        self.interval = settings.worker_heartbeat_seconds
        self.tref: Any = None
        super().__init__(worker, **kwargs)

    def start(self, worker: Any) -> None:
        touch(self.path)
        self.tref = worker.timer.call_repeatedly(self.interval, touch, (self.path,), priority=10)

    def stop(self, worker: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
