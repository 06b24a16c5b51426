"""Celery settings for syncworker workers and beat: the package's defaults.

Read by ``syncworker.celery_app`` when no ``celeryconfig`` module is importable;
the checkout's top-level ``celeryconfig.py`` imports them, and a deployment's own
``celeryconfig`` can do the same and override some. Everything that varies by
deployment comes from the environment (see the README's configuration table).
"""

from __future__ import annotations

import os
from typing import Any

from syncworker.config import Settings, whole_number_setting

_settings = Settings.from_env()  # a malformed value stops here, naming the variable
broker_url = _settings.redis_url or "redis://127.0.0.1:6379/0"
# Task results are not needed: runs are recorded in the database.
task_ignore_result = True
result_backend: str | None = None

# JSON only: task arguments are ids and flags, never pickled objects.
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]

# A task is acknowledged after it ran, so a worker killed mid-task has its task
# redelivered; tasks are idempotent, so a redelivery is harmless.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
# Redelivery of an unacknowledged task happens after this many seconds.
# The sweep that puts messages of dead workers back runs every
# CELERY_RESTORE_INTERVAL seconds and redelivers those unacknowledged for longer
# than CELERY_VISIBILITY_TIMEOUT.
broker_transport_options: dict[str, Any] = {
    "visibility_timeout": whole_number_setting(os.environ, "CELERY_VISIBILITY_TIMEOUT", 3600),
    "unacked_restore_interval": whole_number_setting(os.environ, "CELERY_RESTORE_INTERVAL", 60),
    "unacked_restore_throttle": 1,
    "socket_connect_timeout": 5,
}
broker_connection_retry_on_startup = True
worker_hijack_root_logger = False
worker_send_task_events = False
timezone = "UTC"

_interval = float(_settings.sync_interval_seconds)
_writeback_interval = float(_settings.writeback_interval_seconds)
_reconcile_interval = float(_settings.reconcile_interval_seconds)
beat_schedule: dict[str, dict[str, Any]] = {
    "sync-workways-to-hubspot": {
        "task": "syncworker.sync_all",
        "schedule": _interval,
        "kwargs": {"trigger": "beat"},
        # A run that could not start in one interval is superseded by the next one.
        "options": {"expires": _interval},
    },
    "write-back-hubspot-to-workways": {
        "task": "syncworker.writeback_poll",
        "schedule": _writeback_interval,
        "kwargs": {"trigger": "beat"},
        "options": {"expires": _writeback_interval},
    },
    # Alerts (ALERT_WEBHOOK_URL): conditions read from the database, retries of deliveries.
    "check-alerts": {
        "task": "syncworker.check_alerts",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    "reconcile-hubspot-drift": {
        "task": "syncworker.reconcile",
        "schedule": _reconcile_interval,
        "kwargs": {"trigger": "beat"},
        "options": {"expires": _reconcile_interval},
    },
    # Retention (RETENTION_DAYS): processed events, done write-backs, old task rows.
    "purge-old-rows": {
        "task": "syncworker.purge",
        "schedule": 86_400.0,
        "options": {"expires": 86_400.0},
    },
}

__all__ = [
    "accept_content",
    "beat_schedule",
    "broker_connection_retry_on_startup",
    "broker_transport_options",
    "broker_url",
    "result_backend",
    "result_serializer",
    "task_acks_late",
    "task_ignore_result",
    "task_reject_on_worker_lost",
    "task_serializer",
    "timezone",
    "worker_hijack_root_logger",
    "worker_prefetch_multiplier",
    "worker_send_task_events",
]
