"""Celery settings of this checkout: the package's defaults.

``syncworker.celery_app`` reads a ``celeryconfig`` module when one is importable
(this file in a checkout, or a deployment's own on the path), else
``syncworker.celery_defaults`` directly. To change a setting, import the
defaults and override below, e.g. ``worker_max_tasks_per_child = 100``.
"""

from syncworker.celery_defaults import *  # noqa: F403
