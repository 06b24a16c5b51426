"""A Celery app for one test: a task that kills the worker process running it."""

from __future__ import annotations

import os
import signal
from typing import Any

from syncworker.celery_app import app
from syncworker.tasks import SyncWorkerTask


@app.task(base=SyncWorkerTask, bind=True, name="tests.poison")
def poison(self: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # as an out-of-memory kill would
