"""Settings, read once from the environment.

Every variable is documented in the README's configuration table. A missing or
malformed value raises :class:`~syncworker.errors.ConfigError` naming the
variable; the CLI prints that one line and exits 2.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from syncworker.errors import ConfigError

DEFAULT_HUBSPOT_BASE_URL = "https://api.hubapi.com"
DEFAULT_DATABASE_URL = "sqlite:///syncworker.db"
# HubSpot's date-based API versions the gateway speaks (HUBSPOT_API_VERSION); the
# first is the default. A version is supported for 18 months after its release.
HUBSPOT_API_VERSIONS = ("2026-09", "2026-03")
DEFAULT_HEARTBEAT_FILE = "/tmp/syncworker-worker.heartbeat"  # noqa: S108 (a liveness stamp)


class Secret:
    """A string that never shows itself in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class RateBudget:
    """HubSpot's request budget: ``per_window`` requests every ``window_seconds``."""

    per_window: int = 190
    window_seconds: float = 10.0
    daily: int = 625_000


# HubSpot's published tiers (hubspot-notes.md); HUBSPOT_RATE_TIER picks one.
RATE_TIERS: dict[str, RateBudget] = {
    "free": RateBudget(100, 10.0, 250_000),
    "starter": RateBudget(100, 10.0, 250_000),
    "professional": RateBudget(190, 10.0, 625_000),
    "enterprise": RateBudget(190, 10.0, 1_000_000),
    "api-add-on": RateBudget(250, 10.0, 2_000_000),
}


@dataclass(frozen=True)
class Settings:
    workways_base_url: str | None = None
    workways_api_token: Secret | None = None
    workadu_base_url: str | None = None
    workadu_api_key: Secret | None = None
    hubspot_base_url: str = DEFAULT_HUBSPOT_BASE_URL
    hubspot_access_token: Secret | None = None
    hubspot_client_secret: Secret | None = None
    hubspot_api_version: str = HUBSPOT_API_VERSIONS[0]
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    sync_interval_seconds: int = 900
    lock_ttl_seconds: int = 300
    writeback_interval_seconds: int = 300
    reconcile_interval_seconds: int = 86_400
    conflict_policy: str = "hubspot"
    writeback_retry_seconds: float = 30.0
    http_timeout_seconds: float = 30.0
    source_concurrency: int = 8
    detail_concurrency: int = 16
    push_concurrency: int = 8
    unit_concurrency: int = 3
    max_record_attempts: int = 5
    rate_budget: RateBudget = field(default_factory=RateBudget)
    log_level: str = "INFO"
    log_format: str = "text"
    webhook_public_url: str | None = None
    ops_token: Secret | None = None
    worker_heartbeat_file: str = DEFAULT_HEARTBEAT_FILE
    worker_heartbeat_seconds: float = 10.0

    # ------------------------------------------------------------------ access
    def require_workways(self) -> tuple[str, Secret]:
        if not self.workways_base_url:
            raise ConfigError("WORKWAYS_BASE_URL", "is not set")
        if not self.workways_api_token:
            raise ConfigError("WORKWAYS_API_TOKEN", "is not set")
        return self.workways_base_url, self.workways_api_token

    def require_workadu(self) -> tuple[str, Secret]:
        if not self.workadu_base_url:
            raise ConfigError("WORKADU_BASE_URL", "is not set")
        if not self.workadu_api_key:
            raise ConfigError("WORKADU_API_KEY", "is not set")
        return self.workadu_base_url, self.workadu_api_key

    def require_hubspot(self) -> tuple[str, Secret]:
        if not self.hubspot_access_token:
            raise ConfigError("HUBSPOT_ACCESS_TOKEN", "is not set")
        return self.hubspot_base_url, self.hubspot_access_token

    def require_client_secret(self) -> Secret:
        if not self.hubspot_client_secret:
            raise ConfigError("HUBSPOT_CLIENT_SECRET", "is not set")
        return self.hubspot_client_secret

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def url(name: str, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
            value = text(name)
            if value is None:
                return None
            parts = urlsplit(value)
            if parts.scheme not in schemes or not parts.netloc:
                raise ConfigError(name, f"must be a {'/'.join(schemes)} URL, got {value!r}")
            return value.rstrip("/")

        def secret(name: str) -> Secret | None:
            value = text(name)
            if value is not None and any(c.isspace() for c in value):
                raise ConfigError(name, "must not contain white space")
            return Secret(value) if value else None

        def positive_number(name: str, default: float) -> float:
            value = text(name)
            if value is None:
                return default
            try:
                number = float(value)
            except ValueError:
                raise ConfigError(name, f"must be a number, got {value!r}") from None
            if number <= 0:
                raise ConfigError(name, f"must be greater than 0, got {value!r}")
            return number

        def choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
            value = (text(name) or default).lower()
            if value not in allowed:
                raise ConfigError(name, f"must be one of {', '.join(allowed)}, got {value!r}")
            return value

        database_url = text("DATABASE_URL") or DEFAULT_DATABASE_URL
        if "://" not in database_url:
            raise ConfigError("DATABASE_URL", f"must be a SQLAlchemy URL, got {database_url!r}")
        redis_url = url("REDIS_URL", ("redis", "rediss", "unix"))

        tier = choice("HUBSPOT_RATE_TIER", "professional", tuple(RATE_TIERS))
        budget = RATE_TIERS[tier]
        per_window = text("HUBSPOT_RATE_LIMIT_PER_10S")
        if per_window is not None:
            budget = RateBudget(
                int(positive_number("HUBSPOT_RATE_LIMIT_PER_10S", 0)), 10.0, budget.daily
            )

        return cls(
            workways_base_url=url("WORKWAYS_BASE_URL"),
            workways_api_token=secret("WORKWAYS_API_TOKEN"),
            workadu_base_url=url("WORKADU_BASE_URL"),
            workadu_api_key=secret("WORKADU_API_KEY"),
            hubspot_base_url=url("HUBSPOT_BASE_URL") or DEFAULT_HUBSPOT_BASE_URL,
            hubspot_access_token=secret("HUBSPOT_ACCESS_TOKEN"),
            hubspot_client_secret=secret("HUBSPOT_CLIENT_SECRET"),
            hubspot_api_version=choice(
                "HUBSPOT_API_VERSION", HUBSPOT_API_VERSIONS[0], HUBSPOT_API_VERSIONS
            ),
            database_url=database_url,
            redis_url=redis_url,
            sync_interval_seconds=int(positive_number("SYNC_INTERVAL_SECONDS", 900)),
            lock_ttl_seconds=int(positive_number("SYNC_LOCK_TTL_SECONDS", 300)),
            writeback_interval_seconds=int(positive_number("WRITEBACK_INTERVAL_SECONDS", 300)),
            reconcile_interval_seconds=int(positive_number("RECONCILE_INTERVAL_SECONDS", 86_400)),
            writeback_retry_seconds=positive_number("WRITEBACK_RETRY_SECONDS", 30.0),
            conflict_policy=choice("WRITEBACK_CONFLICT_POLICY", "hubspot", ("hubspot", "workways")),
            http_timeout_seconds=positive_number("HTTP_TIMEOUT_SECONDS", 30.0),
            source_concurrency=int(positive_number("SOURCE_CONCURRENCY", 8)),
            detail_concurrency=int(positive_number("SOURCE_DETAIL_CONCURRENCY", 16)),
            push_concurrency=int(positive_number("HUBSPOT_CONCURRENCY", 8)),
            unit_concurrency=int(positive_number("SYNC_UNIT_CONCURRENCY", 3)),
            max_record_attempts=int(positive_number("MAX_RECORD_ATTEMPTS", 5)),
            rate_budget=budget,
            log_level=choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper(),
            log_format=choice("LOG_FORMAT", "text", ("text", "json")),
            webhook_public_url=url("WEBHOOK_PUBLIC_URL"),
            ops_token=secret("OPS_TOKEN"),
            worker_heartbeat_file=text("WORKER_HEARTBEAT_FILE") or DEFAULT_HEARTBEAT_FILE,
            worker_heartbeat_seconds=positive_number("WORKER_HEARTBEAT_SECONDS", 10.0),
        )
