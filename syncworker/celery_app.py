"""The Celery application: ``celery -A syncworker.celery_app worker`` / ``beat``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_init, worker_process_init

from syncworker.config import Settings
from syncworker.logs import configure
from syncworker.runtime import tune_garbage_collector

_ROOT = Path(__file__).resolve().parents[1]
if (_ROOT / "celeryconfig.py").exists() and str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))  # a checkout: its celeryconfig.py, wherever celery runs

# A ``celeryconfig`` module on the path (a checkout's, or a deployment's own that
# overrides some defaults) wins; an installed package alone runs on its defaults.
# Either is imported lazily, when Celery first reads its configuration.
CONFIG_MODULE = (
    "celeryconfig"
    if importlib.util.find_spec("celeryconfig") is not None
    else "syncworker.celery_defaults"
)

app = Celery("syncworker", include=["syncworker.tasks"])
app.config_from_object(CONFIG_MODULE)


@setup_logging.connect
def _configure_logging(**_: Any) -> None:
    """Use syncworker's redacting logging set-up in workers and beat."""
    settings = Settings.from_env()
    configure(settings.log_level, settings.log_format)


@worker_init.connect  # before the pool forks (and the solo pool's own process)
@worker_process_init.connect
def _tune_worker_process(**_: Any) -> None:
    """A worker syncs thousands of records per partition: see runtime.py."""
    tune_garbage_collector()


def _register_heartbeat() -> None:
    from syncworker.ops.heartbeat import WorkerHeartbeat

    app.steps["worker"].add(WorkerHeartbeat)  # `syncworker health --worker` reads its file


_register_heartbeat()
