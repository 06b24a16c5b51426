"""Process counters: what this process asked HubSpot and the sources, and how they answered.

Every process (Celery pool children, the CLI, the ops app) counts into its own
``prometheus_client`` values. With ``PROMETHEUS_MULTIPROC_DIR`` set, those values
live in files in that directory and the ops app's ``/metrics`` sums every
process's files (prometheus_client's multiprocess mode): counters then include
every worker, alive or gone. Without it, ``/metrics`` shows the ops app's own
counters only (the database-backed metrics are complete either way).

Labels are bounded and carry nothing personal: operation kinds the gateway
names, HTTP status codes (or ``error`` when no answer came), policy names.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
from collections.abc import Mapping

from prometheus_client import values
from prometheus_client.metrics import Counter, Gauge

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def _process_identifier() -> str:
    """Host and pid: containers sharing one metrics volume all have a pid 1."""
    host = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"
    return f"{host}{os.getpid()}"


_directory = multiprocess_dir()
if _directory:
    os.makedirs(_directory, exist_ok=True)  # prometheus_client fails on a missing folder
    # Before any metric below exists: their values are files named after this id.
    values.ValueClass = values.MultiProcessValue(_process_identifier)  # type: ignore[no-untyped-call]

HUBSPOT_REQUESTS = Counter(
    "syncworker_hubspot_requests",
    "HubSpot API requests sent, by operation and HTTP status (error: no answer).",
    ["operation", "status"],
)
HUBSPOT_RATE_LIMITED = Counter(
    "syncworker_hubspot_rate_limited",
    "HubSpot answers 429, by policy (TEN_SECONDLY_ROLLING, DAILY, ...).",
    ["policy"],
)


class _LazyGauge:
    """A gauge created when first set: never observed, it is not exported (not 0)."""

    def __init__(self, name: str, documentation: str) -> None:
        self.name, self.documentation = name, documentation
        self.gauge: Gauge | None = None
        self._lock = threading.Lock()

    def set(self, value: float) -> None:
        with self._lock:
            if self.gauge is None:
                self.gauge = Gauge(self.name, self.documentation, multiprocess_mode="mostrecent")
        self.gauge.set(value)


HUBSPOT_DAILY_REMAINING = _LazyGauge(
    "syncworker_hubspot_daily_budget_remaining",
    "Requests left in HubSpot's daily budget, as its last X-HubSpot-RateLimit-Daily-Remaining "
    "header said.",
)
HUBSPOT_DAILY_LIMIT = _LazyGauge(
    "syncworker_hubspot_daily_budget_limit",
    "HubSpot's daily request budget, as its last X-HubSpot-RateLimit-Daily header said.",
)
SOURCE_REQUESTS = Counter(
    "syncworker_source_requests",
    "Requests sent to a source platform, by source and HTTP status (error: no answer).",
    ["source", "status"],
)
WEBHOOK_DELIVERIES = Counter(
    "syncworker_webhook_deliveries",
    "HubSpot webhook deliveries received, by result.",
    ["result"],
)

_KNOWN_POLICIES = frozenset({"DAILY", "TEN_SECONDLY_ROLLING", "SECONDLY", "SEARCH"})


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def hubspot_answer(operation: str, status: int | None, headers: Mapping[str, str]) -> None:
    """One HubSpot request answered (``status`` None: no answer at all)."""
    try:
        HUBSPOT_REQUESTS.labels(operation, str(status) if status else "error").inc()
        remaining = _header(headers, "X-HubSpot-RateLimit-Daily-Remaining")
        if remaining is not None and remaining.isdigit():
            HUBSPOT_DAILY_REMAINING.set(int(remaining))
        limit = _header(headers, "X-HubSpot-RateLimit-Daily")
        if limit is not None and limit.isdigit():
            HUBSPOT_DAILY_LIMIT.set(int(limit))
    except Exception:  # noqa: BLE001, S110 - counting never breaks a sync
        pass


def hubspot_rate_limited(daily: bool, policy: str | None = None) -> None:
    name = (policy or "").upper()
    if name not in _KNOWN_POLICIES:
        name = "DAILY" if daily else "TEN_SECONDLY_ROLLING"
    with contextlib.suppress(Exception):  # counting never breaks a sync
        HUBSPOT_RATE_LIMITED.labels(name).inc()


def source_answer(source: str, status: int | None) -> None:
    """One request to a source platform (``Workways``, ``Workadu``) answered or not."""
    with contextlib.suppress(Exception):  # counting never breaks a sync
        SOURCE_REQUESTS.labels(source.lower(), str(status) if status else "error").inc()


WEBHOOK_RESULTS = {
    200: "accepted",
    400: "malformed",
    401: "invalid_signature",
    413: "too_large",
    503: "unavailable",
}


def webhook_delivery(status: int) -> None:
    WEBHOOK_DELIVERIES.labels(WEBHOOK_RESULTS.get(status, "other")).inc()
