"""Settings, read once from the environment.

Every variable is documented in the README's configuration table. A missing or
malformed value raises :class:`~syncworker.errors.ConfigError` naming the
variable; the CLI prints that one line and exits 2.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from syncworker.consent import CONSENT_LEGAL_BASES
from syncworker.errors import ConfigError

DEFAULT_HUBSPOT_BASE_URL = "https://api.hubapi.com"
DEFAULT_DATABASE_URL = "sqlite:///syncworker.db"
# HubSpot's date-based API versions the gateway speaks (HUBSPOT_API_VERSION); the
# first is the default. A version is supported for 18 months after its release.
HUBSPOT_API_VERSIONS = ("2026-09", "2026-03")
DEFAULT_HEARTBEAT_FILE = "/tmp/syncworker-worker.heartbeat"  # noqa: S108 (a liveness stamp)
# The largest whole-number setting: beyond it intervals overflow datetime arithmetic.
MAX_SETTING = 1_000_000_000
# DETAIL_REFRESH_HOURS is subtracted from today's date: ten years at most.
MAX_DETAIL_REFRESH_HOURS = 87_600

# SHA-256 fingerprints of the sandboxes' published credentials (the constants of
# sandbox/syncworker_sandbox/__init__.py and workadu.py, listed in the README's
# sandbox table).
# Anyone can read them, so they are refused unless every base URL they would be
# sent to is a loopback address. Fingerprints, not the values: the product
# never imports the sandbox package, and a grep for the tokens finds only it.
SANDBOX_CREDENTIAL_FINGERPRINTS = {
    "WORKWAYS_API_TOKEN": "ceea07c0ae36b291cb1131a425074bdd34ec19573a0f8430220f7cc2a3318542",
    "HUBSPOT_ACCESS_TOKEN": "c87a1745e5f119926646ae8c2b5e351d68784276313b56c73666ba95c8cd3d1c",
    "HUBSPOT_CLIENT_SECRET": "abf6de3d466bac7525b47a3d73ed24246643b08819e362332dff5ebb12183b88",
    "WORKADU_API_KEY": "bf44f92e9fe2484b0af61fdafa0172c9f9c6a1f76025d018a0e0943acaf18f5b",
}
# Which base URL each credential is sent to.
CREDENTIAL_BASE_URL = {
    "WORKWAYS_API_TOKEN": "WORKWAYS_BASE_URL",
    "HUBSPOT_ACCESS_TOKEN": "HUBSPOT_BASE_URL",
    "HUBSPOT_CLIENT_SECRET": "HUBSPOT_BASE_URL",
    "WORKADU_API_KEY": "WORKADU_BASE_URL",
}


def fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def is_loopback(url: str) -> bool:
    """Whether ``url``'s host is ``localhost`` or in 127.0.0.0/8 or ``::1``."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def whole_number_setting(env: Mapping[str, str], name: str, default: int) -> int:
    """A count, interval, limit or TTL: an integer >= 1 (0 would stop or spin)."""
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(name, f"must be a whole number, got {value!r}") from None
    if not 1 <= number <= MAX_SETTING:
        raise ConfigError(name, f"must be between 1 and {MAX_SETTING:_}, got {value!r}")
    return number


def hide_password(url: str) -> str:
    """``url`` with the password of its user info (``user:password@``) replaced by ``***``.

    Everything up to the last ``@`` of the URL counts as user info, so a
    password holding an unescaped ``@`` or ``/`` is hidden whole."""
    scheme, sep, rest = url.partition("://")
    at = rest.rfind("@")
    if not sep or at < 0:
        return url
    user, colon, _ = rest[:at].partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{rest[at + 1 :]}"


def url_passwords(url: str | None) -> set[str]:
    """The password of ``url``'s user info, as written and percent-decoded."""
    if not url or "://" not in url:
        return set()
    rest = url.partition("://")[2]
    at = rest.rfind("@")
    if at < 0 or ":" not in rest[:at]:
        return set()
    password = rest[:at].partition(":")[2]
    return {password, unquote(password)} - {""}


DEFAULT_CONSENT_EXPLANATION = "The person opted in to the newsletter in Workways."
CONSENT_RESUBSCRIBE_RULES = ("never", "workways-newer")


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
    partition_concurrency: int = 3
    max_record_attempts: int = 5
    retention_days: int = 30  # processed events, done intents, old task rows: then purged
    archive_guard_percent: int = 10  # a pass archiving more of a stream is held (100: never)
    # Every organization's details (rooms, sites, options) are fetched again at least
    # this often, even when none of its listed fields changed (see engine/details.py).
    detail_refresh_hours: int = 24
    adopt_companies_by_name: bool = False  # new organizations adopt a same-name company
    rate_budget: RateBudget = field(default_factory=RateBudget)
    log_level: str = "INFO"
    log_format: str = "text"
    webhook_public_url: str | None = None
    # `syncworker serve` under load: connections and requests at once (more: 503),
    # seconds a request may take to send its headers or its whole body (then cut
    # off), seconds an idle keep-alive connection is kept.
    serve_limit_concurrency: int = 200
    serve_read_timeout_seconds: float = 10.0
    serve_keepalive_seconds: int = 5
    ops_token: Secret | None = None
    worker_heartbeat_file: str = DEFAULT_HEARTBEAT_FILE
    worker_heartbeat_seconds: float = 10.0
    alert_webhook_url: Secret | None = None  # Slack-style incoming webhooks hold a token
    alert_format: str = "slack"
    alert_stale_after_seconds: float | None = None  # None: 3 x the stream's interval

    # Newsletter consent as a HubSpot subscription type (None: consent is not synced).
    newsletter_subscription: str | None = None
    consent_legal_basis: str = CONSENT_LEGAL_BASES[0]
    consent_explanation: str = DEFAULT_CONSENT_EXPLANATION
    consent_resubscribe: str = CONSENT_RESUBSCRIBE_RULES[0]

    def __repr__(self) -> str:
        """The fields, with the password of every URL hidden (secrets hide themselves)."""
        shown = []
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, str) and "://" in value:
                value = hide_password(value)
            shown.append(f"{item.name}={value!r}")
        return f"Settings({', '.join(shown)})"

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
                shown = hide_password(value) if "://" in value or "@" not in value else "…"
                raise ConfigError(name, f"must be a {'/'.join(schemes)} URL, got {shown!r}")
            return value.rstrip("/")

        def api_url(name: str) -> str | None:
            """A base URL that requests carry a token to: https, or plain http on loopback."""
            value = url(name)
            plain = value is not None and not value.lower().startswith("https://")
            if value is not None and plain and not is_loopback(value):
                raise ConfigError(
                    name,
                    "must be an https:// URL (plain http only on loopback), "
                    f"got {hide_password(value)!r}",
                )
            return value

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
            if not math.isfinite(number) or not 0 < number <= MAX_SETTING:
                raise ConfigError(
                    name,
                    f"must be a finite number above 0 and at most {MAX_SETTING:_}, got {value!r}",
                )
            return number

        def whole_number(name: str, default: int) -> int:
            return whole_number_setting(env, name, default)

        def hours(name: str, default: int, most: int) -> int:
            number = whole_number(name, default)
            if number > most:
                raise ConfigError(
                    name, f"must be a number of hours from 1 to {most:_}, got {number}"
                )
            return number

        def percent(name: str, default: int) -> int:
            number = whole_number(name, default)
            if number > 100:
                raise ConfigError(name, f"must be a percentage from 1 to 100, got {number}")
            return number

        def flag(name: str, default: bool) -> bool:
            value = text(name)
            if value is None:
                return default
            if value.lower() in ("true", "1", "yes", "on"):
                return True
            if value.lower() in ("false", "0", "no", "off"):
                return False
            raise ConfigError(name, f"must be true or false, got {value!r}")

        def choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
            value = (text(name) or default).lower()
            if value not in allowed:
                raise ConfigError(name, f"must be one of {', '.join(allowed)}, got {value!r}")
            return value

        def legal_basis() -> str:
            value = (text("HUBSPOT_CONSENT_LEGAL_BASIS") or CONSENT_LEGAL_BASES[0]).upper()
            if value not in CONSENT_LEGAL_BASES:
                raise ConfigError(
                    "HUBSPOT_CONSENT_LEGAL_BASIS",
                    f"must be one of {', '.join(CONSENT_LEGAL_BASES)}, got {value!r}",
                )
            return value

        database_url = text("DATABASE_URL") or DEFAULT_DATABASE_URL
        if "://" not in database_url:  # not echoed: it may hold a password
            raise ConfigError("DATABASE_URL", "must be a SQLAlchemy URL (dialect://user@host/name)")
        redis_url = url("REDIS_URL", ("redis", "rediss", "unix"))

        tier = choice("HUBSPOT_RATE_TIER", "professional", tuple(RATE_TIERS))
        budget = RATE_TIERS[tier]
        per_window = text("HUBSPOT_RATE_LIMIT_PER_10S")
        if per_window is not None:
            budget = RateBudget(whole_number("HUBSPOT_RATE_LIMIT_PER_10S", 0), 10.0, budget.daily)

        hubspot_base_url = api_url("HUBSPOT_BASE_URL") or DEFAULT_HUBSPOT_BASE_URL
        base_urls = {
            "WORKWAYS_BASE_URL": api_url("WORKWAYS_BASE_URL"),
            "WORKADU_BASE_URL": api_url("WORKADU_BASE_URL"),
            "HUBSPOT_BASE_URL": hubspot_base_url,
        }
        credentials = {name: secret(name) for name in CREDENTIAL_BASE_URL}
        for name, credential in credentials.items():
            if credential is None:
                continue
            if fingerprint(credential.reveal()) != SANDBOX_CREDENTIAL_FINGERPRINTS[name]:
                continue
            base_url = base_urls[CREDENTIAL_BASE_URL[name]]
            if base_url is None or not is_loopback(base_url):
                raise ConfigError(
                    name,
                    "is the sandbox's published credential; it is refused unless "
                    f"{CREDENTIAL_BASE_URL[name]} is a loopback address",
                )

        return cls(
            workways_base_url=base_urls["WORKWAYS_BASE_URL"],
            workways_api_token=credentials["WORKWAYS_API_TOKEN"],
            workadu_base_url=base_urls["WORKADU_BASE_URL"],
            workadu_api_key=credentials["WORKADU_API_KEY"],
            hubspot_base_url=hubspot_base_url,
            hubspot_access_token=credentials["HUBSPOT_ACCESS_TOKEN"],
            hubspot_client_secret=credentials["HUBSPOT_CLIENT_SECRET"],
            hubspot_api_version=choice(
                "HUBSPOT_API_VERSION", HUBSPOT_API_VERSIONS[0], HUBSPOT_API_VERSIONS
            ),
            database_url=database_url,
            redis_url=redis_url,
            sync_interval_seconds=whole_number("SYNC_INTERVAL_SECONDS", 900),
            lock_ttl_seconds=whole_number("SYNC_LOCK_TTL_SECONDS", 300),
            writeback_interval_seconds=whole_number("WRITEBACK_INTERVAL_SECONDS", 300),
            reconcile_interval_seconds=whole_number("RECONCILE_INTERVAL_SECONDS", 86_400),
            writeback_retry_seconds=positive_number("WRITEBACK_RETRY_SECONDS", 30.0),
            conflict_policy=choice("WRITEBACK_CONFLICT_POLICY", "hubspot", ("hubspot", "workways")),
            http_timeout_seconds=positive_number("HTTP_TIMEOUT_SECONDS", 30.0),
            source_concurrency=whole_number("SOURCE_CONCURRENCY", 8),
            detail_concurrency=whole_number("SOURCE_DETAIL_CONCURRENCY", 16),
            push_concurrency=whole_number("HUBSPOT_CONCURRENCY", 8),
            partition_concurrency=whole_number(  # (its name until December 2026 still works)
                "SYNC_PARTITION_CONCURRENCY", whole_number("SYNC_UNIT_CONCURRENCY", 3)
            ),
            max_record_attempts=whole_number("MAX_RECORD_ATTEMPTS", 5),
            retention_days=whole_number("RETENTION_DAYS", 30),
            archive_guard_percent=percent("ARCHIVE_GUARD_PERCENT", 10),
            detail_refresh_hours=hours("DETAIL_REFRESH_HOURS", 24, MAX_DETAIL_REFRESH_HOURS),
            adopt_companies_by_name=flag("ADOPT_COMPANIES_BY_NAME", False),
            rate_budget=budget,
            log_level=choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper(),
            log_format=choice("LOG_FORMAT", "text", ("text", "json")),
            webhook_public_url=url("WEBHOOK_PUBLIC_URL"),
            serve_limit_concurrency=whole_number("SERVE_LIMIT_CONCURRENCY", 200),
            serve_read_timeout_seconds=positive_number("SERVE_READ_TIMEOUT_SECONDS", 10.0),
            serve_keepalive_seconds=whole_number("SERVE_KEEPALIVE_SECONDS", 5),
            ops_token=secret("OPS_TOKEN"),
            worker_heartbeat_file=text("WORKER_HEARTBEAT_FILE") or DEFAULT_HEARTBEAT_FILE,
            worker_heartbeat_seconds=positive_number("WORKER_HEARTBEAT_SECONDS", 10.0),
            alert_webhook_url=_secret_url("ALERT_WEBHOOK_URL", text("ALERT_WEBHOOK_URL")),
            alert_format=choice("ALERT_FORMAT", "slack", ("slack", "json")),
            alert_stale_after_seconds=(
                positive_number("ALERT_STALE_AFTER_SECONDS", 1)
                if text("ALERT_STALE_AFTER_SECONDS")
                else None
            ),
            newsletter_subscription=text("HUBSPOT_NEWSLETTER_SUBSCRIPTION"),
            consent_legal_basis=legal_basis(),
            consent_explanation=text("HUBSPOT_CONSENT_EXPLANATION") or DEFAULT_CONSENT_EXPLANATION,
            consent_resubscribe=choice(
                "CONSENT_RESUBSCRIBE", CONSENT_RESUBSCRIBE_RULES[0], CONSENT_RESUBSCRIBE_RULES
            ),
        )


def _secret_url(name: str, value: str | None) -> Secret | None:
    """A URL that holds a credential (a Slack webhook's path): never echoed in errors."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(name, "must be an http/https URL (value not shown: it may hold a token)")
    return Secret(value)
