"""The Celery application: ``celery -A syncworker.celery_app worker`` / ``beat``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import setup_logging

from syncworker.config import Settings
from syncworker.logs import configure

_ROOT = Path(__file__).resolve().parents[1]
if (_ROOT / "celeryconfig.py").exists() and str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

app = Celery("syncworker", include=["syncworker.tasks"])
app.config_from_object("celeryconfig")


@setup_logging.connect
def _configure_logging(**_: Any) -> None:
    """Use syncworker's redacting logging set-up in workers and beat."""
    settings = Settings.from_env()
    configure(settings.log_level, settings.log_format)
